"""The network inputs of one tile: raw bands normalised per group (one group, or one per glacier).

A :data:`GroupReader` serves a tile's normalised inputs with a halo to
:func:`modeling.mapping.dense.predict_tiled`; :func:`group_reader` builds one over any source of raw
values (an in-memory array, a prepared scene's input stack).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
from rasterio.windows import Window

from modeling.errors import DenseInferenceError
from modeling.mapping.tiles import grow, window_slices
from modeling.network import FaciesCNNConfig, normalize

#: Reads the inputs of one tile: ``(core window, halo)`` -> ``[(normalised (bands, h + 2 halo, w + 2 halo)
#: float32, claim (h, w) bool)]``, one entry per normalisation group (e.g. per glacier), claims disjoint.
GroupReader = Callable[[Window, int], Sequence[tuple[np.ndarray, np.ndarray]]]
#: Raw values of a window that may reach beyond the scene: (bands, h, w) float32, NaN = no data.
RawReader = Callable[[Window], np.ndarray]


def normalised_groups(
    raw: np.ndarray,
    config: FaciesCNNConfig,
    claim: np.ndarray,
    glacier_index: np.ndarray | None = None,
    elevation_ranges: Mapping[int, tuple[float, float]] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The network inputs of one tile, per normalisation group.

    Args:
        raw: (bands, H, W) raw values in the bands' units (``config.bands``), the tile with its halo;
            NaN where there is no data (also beyond the scene): normalised to 0, as zero-filled patches.
        config: the model's config (normalisation, per-glacier elevation scaling).
        claim: (h, w) bool, the core pixels to classify.
        glacier_index: (h, w) int, each core pixel's glacier; needed with per-glacier elevation scaling.
        elevation_ranges: glacier index -> (min, max) elevation in metres; same condition.

    Returns:
        ``[(normalised (bands, H, W) float32, claim (h, w) bool)]``: one group, or one per glacier
        when the config scales elevation per glacier (every pixel's patch is scaled with its glacier's range).
    """
    invalid = ~np.isfinite(raw)
    filled = np.where(invalid, 0.0, raw)[None]

    def one(elevation_range: tuple[float, float] | None) -> np.ndarray:
        x = normalize(filled, config, elevation_range=elevation_range)[0]
        x[invalid] = 0.0
        return x

    if not config.per_glacier_elevation_scaling:
        return [(one(None), claim)]
    if glacier_index is None or elevation_ranges is None:
        raise DenseInferenceError("this model scales elevation per glacier: pass glacier_index and elevation_ranges")
    groups = []
    for g in np.unique(glacier_index[claim]):
        groups.append((one(tuple(elevation_ranges[int(g)])), claim & (glacier_index == g)))
    return groups


def group_reader(
    read_raw: RawReader,
    config: FaciesCNNConfig,
    mask: np.ndarray,
    glacier_index: np.ndarray | None = None,
    elevation_ranges: Mapping[int, tuple[float, float]] | None = None,
) -> GroupReader:
    """A :data:`GroupReader` over a source of raw values in ``config.bands`` order.

    Args:
        read_raw: raw values of a window (see :data:`RawReader`); called with the tile grown by its halo.
        config: the model's config.
        mask: (H, W) bool, the grid pixels to classify; tiles without any are skipped (no group).
        glacier_index: (H, W) int, each pixel's glacier; with ``elevation_ranges``, see :func:`normalised_groups`.
        elevation_ranges: glacier index -> (min, max) elevation in metres.
    """

    def read(window: Window, halo: int) -> list[tuple[np.ndarray, np.ndarray]]:
        rows, cols = window_slices(window)
        claim = mask[rows, cols]
        if not claim.any():
            return []
        index = None if glacier_index is None else glacier_index[rows, cols]
        return normalised_groups(read_raw(grow(window, halo)), config, claim, index, elevation_ranges)

    return read
