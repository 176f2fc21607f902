"""Window arithmetic on a scene grid: tiling, halos, clipping, and reading windows that reach beyond an array.

Windows are integer :class:`rasterio.windows.Window` objects in grid pixels (``col_off``, ``row_off``,
``width``, ``height``); a grid or array shape is ``(rows, cols)``.
"""

from __future__ import annotations

import math

import numpy as np
from rasterio.windows import Window
from scipy import ndimage

from modeling.errors import DenseInferenceError

#: Default core tile side of the inference in pixels (memory grows with its square).
DEFAULT_TILE = 512


def tile_windows(shape: tuple[int, int], tile_size: int = DEFAULT_TILE) -> list[Window]:
    """Non-overlapping core windows of at most ``tile_size`` px covering a (rows, cols) grid, row by row."""
    if tile_size < 1:
        raise DenseInferenceError(f"tile_size must be positive, got {tile_size}")
    rows, cols = shape
    return [
        Window(c, r, min(tile_size, cols - c), min(tile_size, rows - r))
        for r in range(0, rows, tile_size)
        for c in range(0, cols, tile_size)
    ]


def fitted_windows(mask: np.ndarray, tile_size: int = DEFAULT_TILE, gap: int = 1) -> list[Window]:
    """Windows of at most ``tile_size`` px fitted to the True pixels of a (rows, cols) mask, covering each once.

    Pixels are grouped on a grid of ``gap`` px cells: cells holding some touch their neighbours', and each group
    of touching cells (e.g. a glacier, or glaciers less than ~``gap`` px apart, whose tile halos overlap) gets
    the box of its pixels, split evenly into tiles where wider than ``tile_size``. A scene's few small glaciers
    thus cost a few small tiles, each with one halo, instead of a tile grid over the scene; ordered row by row.
    """
    if tile_size < 1 or gap < 1:
        raise DenseInferenceError(f"tile_size and gap must be positive, got {tile_size} and {gap}")
    occupied = np.flatnonzero(mask.any(axis=1))  # one pass over the mask; then only its rows with pixels
    r, c = np.nonzero(mask[occupied])
    r = occupied[r]
    cells = np.zeros((math.ceil(mask.shape[0] / gap), math.ceil(mask.shape[1] / gap)), dtype=bool)
    cells[r // gap, c // gap] = True
    groups, _ = ndimage.label(cells, structure=np.ones((3, 3), dtype=bool))
    group = groups[r // gap, c // gap]
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.diff(group[order], prepend=0))
    windows = []
    for top, bottom, left, right in zip(
        *(f.reduceat(v[order], starts) for v in (r, c) for f in (np.minimum, np.maximum))
    ):
        height, width = bottom - top + 1, right - left + 1
        row_edges = top + np.linspace(0, height, math.ceil(height / tile_size) + 1).round().astype(int)
        col_edges = left + np.linspace(0, width, math.ceil(width / tile_size) + 1).round().astype(int)
        windows += [
            Window(int(c0), int(r0), int(c1 - c0), int(r1 - r0))
            for r0, r1 in zip(row_edges[:-1], row_edges[1:])
            for c0, c1 in zip(col_edges[:-1], col_edges[1:])
        ]
    return sorted(windows, key=lambda w: (w.row_off, w.col_off))


def window_slices(window: Window) -> tuple[slice, slice]:
    """Row and column slices of an integer window."""
    return slice(window.row_off, window.row_off + window.height), slice(window.col_off, window.col_off + window.width)


def relative_slices(inner: Window, outer: Window) -> tuple[slice, slice]:
    """Row and column slices of window ``inner`` in an array that covers window ``outer`` (inner lies within)."""
    return window_slices(
        Window(inner.col_off - outer.col_off, inner.row_off - outer.row_off, inner.width, inner.height)
    )


def clip(window: Window, shape: tuple[int, int]) -> Window:
    """The part of ``window`` inside a (rows, cols) grid; zero width or height when they do not meet."""
    r0, c0 = max(window.row_off, 0), max(window.col_off, 0)
    r1, c1 = min(window.row_off + window.height, shape[0]), min(window.col_off + window.width, shape[1])
    return Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))


def grow(window: Window, pixels: int, shape: tuple[int, int] | None = None) -> Window:
    """``window`` grown by ``pixels`` on each side (a halo), clipped to a (rows, cols) grid when ``shape`` is given."""
    grown = Window(
        window.col_off - pixels, window.row_off - pixels, window.width + 2 * pixels, window.height + 2 * pixels
    )
    return grown if shape is None else clip(grown, shape)


def decimated_shape(shape: tuple[int, int], max_size: int) -> tuple[int, int]:
    """(rows, cols) of a grid read every ``step`` pixels, the smallest step that keeps both sides <= ``max_size``."""
    step = max(1, math.ceil(max(shape) / max_size))
    return math.ceil(shape[0] / step), math.ceil(shape[1] / step)


def padded_window(array: np.ndarray, window: Window, fill: float = np.nan) -> np.ndarray:
    """``array[..., window]`` for a window that may extend beyond the array's last two axes, ``fill`` there:
    (..., window.height, window.width), the array's dtype."""
    out = np.full(array.shape[:-2] + (window.height, window.width), fill, dtype=array.dtype)
    inside = clip(window, array.shape[-2:])
    if inside.height and inside.width:
        out[(..., *relative_slices(inside, window))] = array[(..., *window_slices(inside))]
    return out
