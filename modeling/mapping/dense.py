"""Whole-scene inference with FaciesCNN: per-patch (the published way), dense, and exact-accelerated.

Geometry, from the config (patch side ``P = pool * G``, ``pool`` and ``G`` odd; ``d1``, ``d2`` conv
blocks per scale; defaults P = 33, pool = 3, G = 11, d1 = d2 = 3). Per patch, the pooled grid has
``G x G`` cells centred at offsets ``pool * k``, ``k = -G//2 .. G//2``, around the classified pixel
(-15..15 step 3 by default), each the max of a ``pool x pool`` block of the scale-1 map.

- ``"patch"`` (the reference): one ``P x P`` patch per pixel (cut with ``PatchCutter``, batched),
  every conv zero-padded at the patch border; ~0.2 GFLOP per pixel.
- ``"dense"`` (the default): the scale-1 convs run once over the tile; a stride-1 max-pool
  ``pool x pool`` gives every pixel's pooled cell; the scale-2 convs run dilated by ``pool``
  (padding ``pool``), so the scale-2 map holds every pixel's grid cells at offsets ``pool * k``;
  the centre features are read at each pixel, and the global max becomes a sliding max over a
  ``G x G`` window of dilation ``pool`` (offsets -15..15 step 3; :func:`window_max`).
  ~1/500 of the FLOPs. The centre features equal the per-patch ones; the global max does not
  quite: per patch, the scale-1 map is zero-padded at the patch border (its outermost
  ``d1`` rows/columns, which feed the outer ring of pooled cells, differ) and the scale-2 convs
  are zero-padded at the grid border, while the dense maps see the real neighbourhood.
- ``"exact"``: per-patch results (within float rounding) at a fraction of the cost. The scale-1
  map and the inner ``(G-2)^2`` pooled cells come from the dense maps (the patch border does not
  reach them when ``d1 <= pool``); the outer ring is recomputed with the patch border as a zero
  padding - edge cells from one strip of ``pool + d1`` lines per patch border line (shared by all
  pixels of a tile row or column), corner cells from a ``(pool + d1)^2`` window per pixel - and
  the scale-2 convs run on each pixel's ``G x G`` grid as in the patch model.

Images are zero beyond their edge in the normalised space (as zero-filled patches are), so every
mode gives the same result tiled or untiled: tiles are read with a halo (:meth:`PatchGeometry.halo`)
that covers the mode's receptive field. All modes run the conv blocks with the batch norm folded into
the convolutions (:func:`fold_stage`) on channels-last tensors; they equal ``model.features`` to ~1e-6.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Literal, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from rasterio.windows import Window
from torch import nn

from dataset_builder.scenes import PatchCutter
from dataset_builder.schema import PATCH_SIZE
from modeling.errors import DenseInferenceError
from modeling.mapping.tile_inputs import GroupReader, group_reader
from modeling.mapping.tiles import DEFAULT_TILE, padded_window, tile_windows, window_slices
from modeling.network import FaciesCNN, FaciesCNNConfig, centre, mapping_geometry_problem

Mode = Literal["dense", "exact", "patch"]
MODES: tuple[str, ...] = ("dense", "exact", "patch")


@dataclass(frozen=True)
class PatchGeometry:
    """The patch model's geometry, from its config (see the module docstring)."""

    patch_size: int
    pool: int
    grid: int
    depth1: int
    depth2: int

    @classmethod
    def from_config(cls, config: FaciesCNNConfig) -> "PatchGeometry":
        problem = mapping_geometry_problem(config.patch_size, config.pool_size)
        if problem:
            raise DenseInferenceError(f"whole-scene inference cannot serve this model: {problem}")
        return cls(config.patch_size, config.pool_size, config.patch_size // config.pool_size, *config.depths)

    @property
    def half(self) -> int:
        """Pixels from the patch centre to its edge (16 for 33 px)."""
        return self.patch_size // 2

    @property
    def offsets(self) -> torch.Tensor:
        """Offsets in pixels of the pooled grid's cell centres from the patch centre, (G,) int64."""
        return self.pool * (torch.arange(self.grid) - self.grid // 2)

    def halo(self, mode: Mode) -> int:
        """Context in pixels on each side a tile needs: the mode's receptive half-width.

        ``patch``/``exact``: half a patch. ``dense``: scale 1 (``d1``) + the stride-1 pool
        (``pool // 2``) + the dilated scale 2 (``d2 * pool``) + the dilated global max
        (``pool * (G // 2)``): 28 px by default.
        """
        check_mode(mode)
        if mode == "dense":
            return self.depth1 + self.pool // 2 + self.depth2 * self.pool + self.pool * (self.grid // 2)
        return self.half


def check_mode(mode: str) -> Mode:
    """``mode`` if it is one of :data:`MODES`, else a :class:`DenseInferenceError`."""
    if mode not in MODES:
        raise DenseInferenceError(f"unknown inference mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


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

    ``patch``: every position of the patch at scale 1 and of the pooled grid at scale 2.
    ``dense``: one position of each. ``exact``: dense scale 1, the per-pixel ``G x G`` scale 2 and
    the outer ring (an upper bound: four corner windows of ``(pool + d1)^2`` positions per pixel, and
    ~4 x ``(pool + d1)`` strip positions per pixel for square tiles).
    """
    check_mode(mode)
    geo = PatchGeometry.from_config(config)
    scale1, scale2, head = conv_macs(config)
    if mode == "patch":
        macs = geo.patch_size**2 * scale1 + geo.grid**2 * scale2 + head
    elif mode == "dense":
        macs = scale1 + scale2 + head
    else:
        lines = geo.pool + geo.depth1
        macs = scale1 + geo.grid**2 * scale2 + head + 4 * (lines * lines + lines) * scale1
    return 2.0 * macs


# -- the three ways to get logits for pixels of one tile ------------------------------------------------------


#: A conv-BN-ELU stage with the (eval-mode) batch norm folded into the convolutions: [(weight, bias)].
FoldedStage = list[tuple[torch.Tensor, torch.Tensor]]


def fold_stage(stage: nn.Sequential) -> FoldedStage:
    """Fold each block's BatchNorm (running statistics) into its convolution: same function, one pass fewer.

    ``bn(conv(x)) = conv'(x)`` with ``weight' = weight * s`` and ``bias' = (bias - mean) * s + beta``,
    ``s = gamma / sqrt(var + eps)``; equal up to float rounding (~1e-6).
    """
    folded = []
    for block in stage:
        scale = block.bn.weight / torch.sqrt(block.bn.running_var + block.bn.eps)
        folded.append(
            (
                block.conv.weight * scale[:, None, None, None],
                (block.conv.bias - block.bn.running_mean) * scale + block.bn.bias,
            )
        )
    return folded


def _run(
    stage: FoldedStage, x: torch.Tensor, *, pad: tuple[int, int, int, int] = (1, 1, 1, 1), dilation: int = 1
) -> torch.Tensor:
    """Run a folded stage: per block zero padding ``pad`` (left, right, top, bottom; in units of ``dilation``),
    the 3x3 convolution dilated by ``dilation``, ELU. A 0 in ``pad`` lets the map shrink by one line per block
    (a "valid" side); a 1 is a "same" side - at a patch border, the per-patch zero padding."""
    x = x.contiguous(memory_format=torch.channels_last)
    same = len(set(pad)) == 1  # symmetric: the convolution pads by itself (an explicit pad copies the map)
    for weight, bias in stage:
        if same:
            x = F.conv2d(x, weight, bias, padding=pad[0] * dilation, dilation=dilation)
        else:
            x = F.conv2d(F.pad(x, tuple(p * dilation for p in pad)), weight, bias, dilation=dilation)
        x = F.elu(x, inplace=True)
    return x


def _at(feature_map: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Features (N, C) of a (C, H, W) map at pixels (rows, cols); gathered from the channels-last layout."""
    return feature_map.permute(1, 2, 0)[rows, cols]


def sliding_max(x: torch.Tensor, taps: int, step: int, dim: int) -> torch.Tensor:
    """Max over ``taps`` samples ``step`` apart along ``dim``, no padding: output i = max x[i + step * (0..taps-1)].

    By doubling (log2(taps) + 1 element-wise maxima instead of ``taps``); the length shrinks by ``step * (taps - 1)``.
    """
    span = 1
    while 2 * span <= taps:
        length = x.shape[dim] - step * span
        x = torch.maximum(x.narrow(dim, 0, length), x.narrow(dim, step * span, length))
        span *= 2
    if span < taps:
        length = x.shape[dim] - step * (taps - span)
        x = torch.maximum(x.narrow(dim, 0, length), x.narrow(dim, step * (taps - span), length))
    return x


def window_max(x: torch.Tensor, taps: int, step: int = 1) -> torch.Tensor:
    """Max over a ``taps x taps`` window of samples ``step`` apart, over the last two axes, no padding:
    output (i, j) is centred on input (i + r, j + r), ``r = step * (taps // 2)``."""
    return sliding_max(sliding_max(x, taps, step, x.ndim - 2), taps, step, x.ndim - 1)


class _TileMaps:
    """The dense maps of one normalised tile x (1, bands, H, W): scale 1 and its stride-1 pooled cells.

    ``pooled`` is unpadded: ``pooled[:, i, j]`` is the cell centred on pixel ``(i + pool//2, j + pool//2)``.
    """

    def __init__(self, model: FaciesCNN, x: torch.Tensor):
        self.geo = PatchGeometry.from_config(model.config)
        if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != model.config.num_bands:
            raise DenseInferenceError(f"expected a tile (1, {model.config.num_bands}, H, W), got {tuple(x.shape)}")
        self.stage1, self.stage2 = fold_stage(model.stage1), fold_stage(model.stage2)
        self.map1 = _run(self.stage1, x)[0]
        self.pooled = window_max(self.map1, self.geo.pool)

    def cells(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Pooled cells centred on pixels (rows, cols) (broadcast) -> (*shape, filters[0])."""
        r = self.geo.pool // 2
        return self.pooled.permute(1, 2, 0)[rows - r, cols - r]


def dense_features(model: FaciesCNN, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Head inputs (N, filters[0] + 2 filters[1]) of pixels (rows, cols) of a normalised tile (1, bands, H, W),
    computed densely (every pixel at least ``halo("dense")`` from the tile edge)."""
    maps = _TileMaps(model, x)
    geo = maps.geo
    # map2 (i, j) is the scale-2 map at pixel (i + shift, j + shift); values near the tile edge, where the
    # convolutions' zero padding reaches, are never read (the dense halo covers that reach)
    shift = geo.pool // 2
    map2 = _run(maps.stage2, maps.pooled[None], dilation=geo.pool)[0]
    reach = geo.pool * (geo.grid // 2)  # the global window's offsets run from -reach to reach
    glob = window_max(map2, geo.grid, geo.pool)
    return torch.cat(
        [
            _at(maps.map1, rows, cols),
            _at(map2, rows - shift, cols - shift),
            _at(glob, rows - shift - reach, cols - shift - reach),
        ],
        dim=1,
    )


def _edge_cells(
    maps: _TileMaps, x: torch.Tensor, starts: torch.Tensor, axis: int, high: bool, chunk: int = 64
) -> torch.Tensor:
    """Pooled outer-ring cells along one patch border, for patch borders at lines ``starts``.

    For each start, a strip of ``pool + d1`` lines of the tile (rows when ``axis`` is 2, columns when 3),
    beginning at the patch's first line (``high``: ending at its last line), goes through scale 1 with the
    patch border as zero padding; the ``pool`` lines next to the border are max-pooled, then a stride-1
    ``pool`` window runs along the strip.

    Returns:
        (len(starts), filters[0], L): the cell centred at position ``i + pool//2`` along the strip at ``i``.
    """
    geo = maps.geo
    lines = geo.pool + geo.depth1
    if axis == 2:
        pad = (1, 1, 0, 1) if high else (1, 1, 1, 0)
    else:
        pad = (0, 1, 1, 1) if high else (1, 0, 1, 1)
    out = []
    for part in starts.split(chunk):
        index = (part[:, None] + torch.arange(lines)).reshape(-1)
        strips = x[0].index_select(axis - 1, index)
        if axis == 2:
            strips = strips.reshape(x.shape[1], len(part), lines, x.shape[3]).permute(1, 0, 2, 3)
        else:
            strips = strips.reshape(x.shape[1], x.shape[2], len(part), lines).permute(2, 0, 1, 3)
        cells = _run(maps.stage1, strips, pad=pad).amax(dim=axis)
        out.append(sliding_max(cells, geo.pool, 1, 2))
    return torch.cat(out)


def _corner_cells(
    maps: _TileMaps, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, bottom: bool, right: bool
) -> torch.Tensor:
    """One pooled corner cell of each pixel's patch, (N, filters[0]), from a (pool + d1)^2 window."""
    geo = maps.geo
    lines = geo.pool + geo.depth1
    step = torch.arange(lines)
    top = rows + geo.half - lines + 1 if bottom else rows - geo.half
    left = cols + geo.half - lines + 1 if right else cols - geo.half
    windows = x[0][:, (top[:, None] + step)[:, :, None], (left[:, None] + step)[:, None, :]].permute(1, 0, 2, 3)
    pad = ((0, 1) if right else (1, 0)) + ((0, 1) if bottom else (1, 0))
    return _run(maps.stage1, windows, pad=pad).amax(dim=(2, 3))


def exact_features(
    model: FaciesCNN, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, batch_size: int = 1024
) -> torch.Tensor:
    """Head inputs (N, filters[0] + 2 filters[1]) of pixels (rows, cols) with per-patch semantics, accelerated
    (see the module docstring); every pixel at least ``half`` a patch from the tile edge."""
    maps = _TileMaps(model, x)
    geo = maps.geo
    if geo.depth1 > geo.pool:
        raise DenseInferenceError(f"exact mode needs depths[0] <= pool_size, got {geo.depth1} > {geo.pool}")
    g, h, lines, shift = geo.grid, geo.half, geo.pool + geo.depth1, geo.pool // 2
    inner = geo.offsets[1:-1]
    # the four patch borders: (first line of the strip, axis across it, border after the strip, ring index in the grid)
    borders = [
        (rows - h, 2, False, 0),
        (rows + h - lines + 1, 2, True, g - 1),
        (cols - h, 3, False, 0),
        (cols + h - lines + 1, 3, True, g - 1),
    ]
    edges = []
    for line, axis, high, _ in borders:
        starts, inverse = torch.unique(line, return_inverse=True)
        edges.append((_edge_cells(maps, x, starts, axis, high), inverse))
    out = [torch.zeros((0, model.config.filters[0] + 2 * model.config.filters[1]), dtype=x.dtype)]
    for index in torch.arange(len(rows)).split(batch_size):
        r, c = rows[index], cols[index]
        rr, cc = r[:, None] + inner, c[:, None] + inner  # (n, G-2)
        grid = torch.empty((len(r), g, g, maps.map1.shape[0]), dtype=x.dtype)
        grid[:, 1:-1, 1:-1] = maps.cells(rr[:, :, None], cc[:, None, :])
        for (cells, inverse), (_, axis, _, ring) in zip(edges, borders):
            along = (cc if axis == 2 else rr) - shift
            values = cells[inverse[index][:, None], :, along]  # (n, G-2, filters)
            if axis == 2:
                grid[:, ring, 1:-1] = values
            else:
                grid[:, 1:-1, ring] = values
        for bottom in (False, True):
            for right in (False, True):
                grid[:, -1 if bottom else 0, -1 if right else 0] = _corner_cells(maps, x, r, c, bottom, right)
        map2 = _run(maps.stage2, grid.permute(0, 3, 1, 2))
        out.append(torch.cat([_at(maps.map1, r, c), centre(map2), map2.amax(dim=(2, 3))], dim=1))
    return torch.cat(out)


def patch_features(
    model: FaciesCNN, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    """Head inputs (N, filters[0] + 2 filters[1]) of pixels (rows, cols) the published way: one patch per pixel,
    cut from the tile with :class:`PatchCutter` (zero beyond the tile) and batched; ``model.features`` with the
    batch norms folded (:func:`fold_stage`) and channels-last tensors, as the other modes."""
    geo = PatchGeometry.from_config(model.config)
    stage1, stage2 = fold_stage(model.stage1), fold_stage(model.stage2)
    cutter = PatchCutter(x[0].numpy(), geo.patch_size, fill=0.0)
    r, c = rows.numpy(), cols.numpy()
    parts = [torch.zeros((0, model.config.filters[0] + 2 * model.config.filters[1]), dtype=x.dtype)]
    for start in range(0, len(r), batch_size):
        patches, _ = cutter(r[start : start + batch_size], c[start : start + batch_size])
        map1 = _run(stage1, torch.from_numpy(patches))
        map2 = _run(stage2, F.max_pool2d(map1, geo.pool, stride=geo.pool))
        parts.append(torch.cat([centre(map1), centre(map2), map2.amax(dim=(2, 3))], dim=1))
    return torch.cat(parts)


def tile_logits(
    model: FaciesCNN,
    x: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    mode: Mode = "dense",
    batch_size: int = 1024,
) -> torch.Tensor:
    """Logits (N, classes) of pixels (rows, cols) of a normalised tile x (1, bands, H, W).

    Every pixel must lie at least ``PatchGeometry.halo(mode)`` from the tile edge; the tile is
    zero beyond the scene. ``batch_size`` bounds the pixels processed at once in the exact and
    patch modes (the dense mode computes the whole tile at once).
    """
    check_mode(mode)
    halo = PatchGeometry.from_config(model.config).halo(mode)
    if len(rows) and (
        rows.min() < halo or cols.min() < halo or rows.max() >= x.shape[2] - halo or cols.max() >= x.shape[3] - halo
    ):
        raise DenseInferenceError(f"pixels closer than the {mode} halo ({halo} px) to the tile edge")
    if mode == "dense":
        features = dense_features(model, x, rows, cols)
    elif mode == "exact":
        features = exact_features(model, x, rows, cols, batch_size)
    else:
        features = patch_features(model, x, rows, cols, min(batch_size, 256))
    return model.head(features)


# -- scenes, tile by tile ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _inference(model: FaciesCNN) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


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
        tile_size: core tile side in pixels (memory grows with its square; 512 px: ~0.6 GB dense).
        windows: core windows to predict (default :func:`tile_windows`); they may overlap.
        batch_size: pixels per forward pass in ``exact`` and ``patch`` modes.

    Yields:
        ``(core window, probabilities (classes, h, w) float32)``; NaN where no group claims a pixel.
    """
    check_mode(mode)
    halo = PatchGeometry.from_config(model.config).halo(mode)
    temperature = model.config.calibration["temperature"] if model.config.calibration else 1.0
    with _inference(model):
        for window in windows if windows is not None else tile_windows(shape, tile_size):
            proba = np.full((model.config.num_classes, window.height, window.width), np.nan, dtype=np.float32)
            for x, claim in read(window, halo):
                r, c = np.nonzero(claim)
                if r.size:  # crop the tile to the claimed pixels' box and its halo: less work on sparse tiles
                    top, left = r.min(), c.min()
                    x = np.ascontiguousarray(x[:, top : r.max() + 1 + 2 * halo, left : c.max() + 1 + 2 * halo])
                    rows, cols = torch.from_numpy(r - top + halo), torch.from_numpy(c - left + halo)
                    logits = tile_logits(model, torch.from_numpy(x)[None], rows, cols, mode, batch_size)
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

    ``mask`` (H, W) bool selects the pixels (default: all); others are NaN. See :func:`predict_tiled`.
    """
    mask = np.ones(raw.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.full((model.config.num_classes, *raw.shape[1:]), np.nan, dtype=np.float32)
    read = group_reader(lambda window: padded_window(raw, window), model.config, mask, glacier_index, elevation_ranges)
    for window, proba in predict_tiled(
        model, read, raw.shape[1:], mode=mode, tile_size=tile_size, batch_size=batch_size
    ):
        rows, cols = window_slices(window)
        out[:, rows, cols] = proba
    return out
