"""Whole-scene inference with FaciesCNN, tile by tile: dense (the default), exact and per-patch.

- ``"dense"``: the scale-1 convs run once over the tile; a stride-1 max-pool ``pool x pool`` gives every
  pixel's pooled cell; the scale-2 convs run dilated by ``pool``, so the scale-2 map holds every pixel's grid
  cells at offsets ``pool * k``; the centre features are read at each pixel, and the global max becomes a
  sliding max over a ``G x G`` window of dilation ``pool`` (offsets -15..15 step 3 by default). Every stage
  is "valid" (unpadded): each map covers just what the next one reads, down to the classified pixels' box.
  ~1/500 of the FLOPs of a patch per pixel. The centre features equal the per-patch ones; the global max does
  not quite: per patch, the scale-1 map is zero-padded at the patch border (its outermost ``d1`` rows/columns,
  which feed the outer ring of pooled cells, differ) and the scale-2 convs are zero-padded at the grid border,
  while the dense maps see the real neighbourhood.
- ``"exact"`` and ``"patch"``: per-patch results (:mod:`modeling.mapping.per_patch`): computed with what the
  patches share, or one patch per pixel (the published way).

Images are zero beyond their edge in the normalised space (as zero-filled patches are), so every mode gives the
same result tiled or untiled: tiles are read with a halo (:meth:`PatchGeometry.halo`) that covers the mode's
receptive field. :func:`predict_array` (and :mod:`modeling.mapping.classify`) fit the tiles to the classified
pixels (:func:`modeling.mapping.tiles.fitted_windows`): a scene's small glaciers cost a small tile each, with one
halo, not a tile grid over the scene. The geometry and the folded conv stages are in :mod:`modeling.mapping.stages`;
a scene folds them once (:class:`FoldedNetwork`).
"""

from __future__ import annotations

import math
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
from rasterio.windows import Window

from dataset_builder.schema import PATCH_SIZE
from modeling.errors import DenseInferenceError
from modeling.mapping.per_patch import exact_features, patch_features, shares_borders
from modeling.mapping.stages import FoldedNetwork, Mode, PatchGeometry, check_mode, pixels_of, run_stage, window_max
from modeling.mapping.tile_inputs import GroupReader, group_reader
from modeling.mapping.tiles import DEFAULT_TILE, fitted_windows, padded_window, tile_windows, window_slices
from modeling.network import FaciesCNN, FaciesCNNConfig, evaluating


def dense_fits(config: FaciesCNNConfig) -> bool:
    """Whether dense inference approximates per-patch inference well for this model: for full-size
    (33 px) patches it does; on small patches their own zero padding reaches most of the patch (a 9 px
    model agreed with per-patch on 80 % of pixels, 8 macro-F1 points lower: scripts/benchmark_mapping.py)."""
    return config.patch_size >= PATCH_SIZE


def conv_macs(config: FaciesCNNConfig) -> tuple[float, float, float]:
    """Multiply-accumulates per position of the scale-1 stack and of the scale-2 stack, and per pixel of the head."""
    f1, f2 = config.filters
    scale1 = 9 * (config.num_bands * f1 + (config.depths[0] - 1) * f1 * f1)
    block2 = 9 * f1 * f2  # the first scale-2 block; later ones are f2 * f2
    widths = (f1 + 2 * f2, *config.dense_units, config.num_classes)
    head = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return float(scale1), float(block2 + 9 * (config.depths[1] - 1) * f2 * f2), float(head)


def flops_per_pixel(config: FaciesCNNConfig, mode: Mode) -> float:
    """Analytic FLOPs (2 x MACs) per classified pixel, without tile halos.

    ``patch``: every position of the patch at scale 1 and of the pooled grid at scale 2. ``dense``: one position
    of each. ``exact`` (:mod:`modeling.mapping.per_patch`): the dense maps, and per level of reach ``m`` the
    ``4 m^2`` corner cells of the pixel and its share of the strips of its tile row and column, ``4 m`` lines
    (for blocks of the tile full of pixels); as ``patch`` where it computes per patch.
    """
    check_mode(mode)
    geo = PatchGeometry.from_config(config)
    scale1, scale2, head = conv_macs(config)
    if mode == "dense":
        return 2.0 * (scale1 + scale2 + head)
    if mode == "patch" or not shares_borders(geo):
        return 2.0 * (geo.patch_size**2 * scale1 + geo.grid**2 * scale2 + head)
    f1, f2 = config.filters
    blocks1 = [9 * config.num_bands * f1] + [9 * f1 * f1] * (geo.depth1 - 1)
    blocks2 = [9 * f1 * f2] + [9 * f2 * f2] * (geo.depth2 - 1)
    reach0 = math.ceil(geo.depth1 / geo.pool)
    shared = sum(macs * 4 * m * (m + 1) for m, macs in enumerate(blocks1, start=1))
    shared += sum(macs * 4 * m * (m + 1) for m, macs in enumerate(blocks2, start=reach0 + 1))
    return 2.0 * (scale1 + scale2 + shared + head)


# -- the three ways to get logits for pixels of one tile ------------------------------------------------------


def dense_features(
    model: FaciesCNN, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, net: FoldedNetwork | None = None
) -> torch.Tensor:
    """Head inputs (N, filters[0] + 2 filters[1]) of pixels (rows, cols) of a normalised tile x (1, bands, H, W),
    computed densely (every pixel at least ``halo("dense")`` from the tile edge; ``net``: the model folded).

    The stages run unpadded on the part of the tile the pixels' box and its halo cover; each map ``k`` holds
    the value at tile pixel ``(i + o_k, j + o_k)`` at ``(i, j)``, its offset ``o_k`` the receptive half-width so far.
    """
    net = net or FoldedNetwork.of(model)
    geo = net.geometry
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != model.config.num_bands:
        raise DenseInferenceError(f"expected a tile (1, {model.config.num_bands}, H, W), got {tuple(x.shape)}")
    halo = geo.halo("dense")
    top, left = int(rows.min()) - halo, int(cols.min()) - halo
    x = x[:, :, top : int(rows.max()) + halo + 1, left : int(cols.max()) + halo + 1]
    rows, cols = rows - top, cols - left
    valid = (0, 0, 0, 0)
    map1 = run_stage(net.stage1, x, pad=valid)
    map2 = run_stage(net.stage2, window_max(map1, geo.pool), pad=valid, dilation=geo.pool)
    glob = window_max(map2, geo.grid, geo.pool)
    offset2 = halo - geo.pool * (geo.grid // 2)
    return torch.cat(
        [
            pixels_of(map1[0], rows - geo.depth1, cols - geo.depth1),
            pixels_of(map2[0], rows - offset2, cols - offset2),
            pixels_of(glob[0], rows - halo, cols - halo),
        ],
        dim=1,
    )


def tile_logits(
    model: FaciesCNN,
    x: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    mode: Mode = "dense",
    batch_size: int = 1024,
    net: FoldedNetwork | None = None,
) -> torch.Tensor:
    """Logits (N, classes) of pixels (rows, cols) of a normalised tile x (1, bands, H, W).

    Every pixel must lie at least ``PatchGeometry.halo(mode)`` from the tile edge; the tile is
    zero beyond the scene. ``batch_size`` bounds the pixels processed at once in the exact and
    patch modes (the dense mode computes the whole tile at once). ``net``: the model folded, once per
    scene (here when not given).
    """
    check_mode(mode)
    net = net or FoldedNetwork.of(model)
    halo = net.geometry.halo(mode)
    if len(rows) and (
        rows.min() < halo or cols.min() < halo or rows.max() >= x.shape[2] - halo or cols.max() >= x.shape[3] - halo
    ):
        raise DenseInferenceError(f"pixels closer than the {mode} halo ({halo} px) to the tile edge")
    if not len(rows):
        return torch.zeros((0, model.config.num_classes), dtype=x.dtype)
    if mode == "dense":
        features = dense_features(model, x, rows, cols, net)
    elif mode == "exact":
        features = exact_features(model, x, rows, cols, batch_size, net)
    else:
        features = patch_features(model, x, rows, cols, min(batch_size, 256), net)
    return model.head(features)


# -- scenes, tile by tile ---------------------------------------------------------------------------------


def predict_tiled(
    model: FaciesCNN,
    read: GroupReader,
    shape: tuple[int, int],
    *,
    mode: Mode = "dense",
    tile_size: int = DEFAULT_TILE,
    windows: Sequence[Window] | None = None,
    batch_size: int = 1024,
) -> Iterator[tuple[Window, np.ndarray]]:
    """Class probabilities of a scene, tile by tile, with bounded memory.

    Args:
        model: the network (eval mode is used; calibration from ``model.config.calibration``).
        read: returns each tile's normalised inputs with a halo (see :data:`GroupReader`).
        shape: (rows, cols) of the scene grid.
        mode: ``dense`` (default), ``exact`` or ``patch``.
        tile_size: core tile side in pixels (dense memory grows with its square: ~0.6 GB at 512 px; exact mode works
            in blocks of :data:`modeling.mapping.per_patch.EXACT_BLOCK` px, ~0.4 GB).
        windows: core windows to predict (default :func:`tile_windows`); they may overlap.
        batch_size: pixels per forward pass in ``exact`` and ``patch`` modes.

    Yields:
        ``(core window, probabilities (classes, h, w) float32)``; NaN where no group claims a pixel.
    """
    check_mode(mode)
    net = FoldedNetwork.of(model)
    halo = net.geometry.halo(mode)
    temperature = model.config.calibration["temperature"] if model.config.calibration else 1.0
    with evaluating(model):
        for window in windows if windows is not None else tile_windows(shape, tile_size):
            proba = np.full((model.config.num_classes, window.height, window.width), np.nan, dtype=np.float32)
            for x, claim in read(window, halo):
                r, c = np.nonzero(claim)
                if r.size:  # crop the tile to the claimed pixels' box and its halo: less work on sparse tiles
                    top, left = r.min(), c.min()
                    x = np.ascontiguousarray(x[:, top : r.max() + 1 + 2 * halo, left : c.max() + 1 + 2 * halo])
                    rows, cols = torch.from_numpy(r - top + halo), torch.from_numpy(c - left + halo)
                    logits = tile_logits(model, torch.from_numpy(x)[None], rows, cols, mode, batch_size, net)
                    proba[:, r, c] = torch.softmax(logits / temperature, dim=1).T.numpy()
            yield window, proba


def predict_array(
    model: FaciesCNN,
    raw: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    mode: Mode = "dense",
    tile_size: int = DEFAULT_TILE,
    glacier_index: np.ndarray | None = None,
    elevation_ranges: Mapping[int, tuple[float, float]] | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Probabilities (classes, H, W) float32 of the pixels of an in-memory scene raw (bands, H, W).

    ``mask`` (H, W) bool selects the pixels (default: all); others are NaN. Tiles of at most ``tile_size`` px are
    fitted to them (:func:`modeling.mapping.tiles.fitted_windows`). See :func:`predict_tiled`.
    """
    mask = np.ones(raw.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.full((model.config.num_classes, *raw.shape[1:]), np.nan, dtype=np.float32)
    read = group_reader(lambda window: padded_window(raw, window), model.config, mask, glacier_index, elevation_ranges)
    windows = fitted_windows(mask, tile_size, PatchGeometry.from_config(model.config).halo(mode))
    for window, proba in predict_tiled(model, read, raw.shape[1:], mode=mode, windows=windows, batch_size=batch_size):
        rows, cols = window_slices(window)
        out[:, rows, cols] = proba
    return out
