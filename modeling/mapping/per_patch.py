"""Head inputs of pixels of a tile with per-patch semantics: one patch per pixel (``patch``), or the same numbers
computed once for all that the patches share (``exact``).

:func:`patch_features` is the published way: a ``P x P`` patch per pixel (cut with ``PatchCutter``, batched), every
conv zero-padded at the patch border; ~0.2 GFLOP per pixel.

:func:`exact_features` equals it within float rounding. Seen from a patch, each scale of the network is a window of
``n x n`` cells ``s`` px apart centred on the pixel (scale 1: the ``P x P`` pixels, s = 1; scale 2: the ``G x G``
pooled cells, s = pool) that ``d`` conv blocks run on, each zero-padded at the window border. After ``l`` blocks the
padding has reached the cells less than ``m_l = m_0 + l`` cells from a border; ``m_0`` is 0 on the input and, on
the pooled grid, the rings of cells that pool scale-1 cells the border reached (``ceil(d1 / pool)``, 1 by default).
Every cell of level ``l`` is then

- dense: reached by no border. It equals the scene-wide computation at its position, shared by all patches: one
  convolution over the tile per level, dilated by ``s`` on scale 2;
- on a strip: reached by one border (the top, say) only. It depends on the pixel's row, its distance from the top
  border and its column, not on the pixel's column: all pixels of a tile row share it. Per tile row, a strip of
  ``m_l`` lines along the whole tile is computed from the level below (strip lines, dense lines, the zero padding);
- in a corner: reached by two borders, the ``m_l x m_l`` cells nearest each window corner: computed per pixel from
  the level below (corner, strip and dense cells, the zero padding).

The pooled grid's first strips and corners are max-pools of scale 1's last ones. The features are the dense centre
cells of both scales and the max over scale 2's last level, gathered from its four corner quarters. Per pixel this
computes ``4 * (1 + 4 + 9)`` scale-1 and ``4 * (4 + 9 + 16)`` scale-2 positions, per tile row and column ``6`` and
``9`` strip lines (defaults) instead of ``3 * 33^2`` and ``3 * 11^2``: ~12x fewer FLOPs for 33 px models
(:func:`modeling.mapping.dense.flops_per_pixel`; the corners alone bound the gain at ~16x). Strips are shared within
blocks of :data:`EXACT_BLOCK` pixels (memory grows with its square). All per-level inputs are gathered from one
table per level (:class:`_Level`) with one index per cell, and run through the folded convolutions as in the
other modes.

Corners that meet (``2 (m_0 + d2) > G``: patches of 21 px or less with the default depths, whose own padding reaches
most of the patch) leave nothing to share: those models are computed per patch, which is cheap for small patches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from dataset_builder.scenes import PatchCutter
from modeling.errors import DenseInferenceError
from modeling.mapping.stages import FoldedNetwork, FoldedStage, PatchGeometry, pixels_of, run_stage
from modeling.network import FaciesCNN, centre

#: Side in pixels of the blocks of a tile whose pixels share strips in :func:`exact_features`: strips span the block
#: and up to half a patch on both sides (a 96 px block computes them on up to 128 px), and their memory grows with
#: the block's square (~0.4 GB at 96 px for 33 px models).
EXACT_BLOCK = 96

#: Most pixels whose corner cells :func:`exact_features` computes at once (~25 MB per step for 33 px models).
EXACT_BATCH = 512

#: The window borders, as (axis, high): top (rows, low), bottom, left (columns, low), right.
SIDES: tuple[tuple[int, bool], ...] = ((0, False), (0, True), (1, False), (1, True))
#: The window corners, as (bottom, right) flags: top-left, top-right, bottom-left, bottom-right.
CORNERS: tuple[tuple[bool, bool], ...] = ((False, False), (False, True), (True, False), (True, True))


def patch_features(
    model: FaciesCNN,
    x: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    batch_size: int = 256,
    net: FoldedNetwork | None = None,
) -> torch.Tensor:
    """Head inputs (N, filters[0] + 2 filters[1]) of pixels (rows, cols) the published way: one patch per pixel,
    cut from the tile with :class:`PatchCutter` (zero beyond the tile) and batched; ``model.features`` with the
    batch norms folded (``net``, folded here when not given) and channels-last tensors, as the other modes."""
    net = net or FoldedNetwork.of(model)
    geo = net.geometry
    cutter = PatchCutter(x[0].numpy(), geo.patch_size, fill=0.0)
    r, c = rows.numpy(), cols.numpy()
    parts = [torch.zeros((0, model.config.filters[0] + 2 * model.config.filters[1]), dtype=x.dtype)]
    for start in range(0, len(r), batch_size):
        patches, _ = cutter(r[start : start + batch_size], c[start : start + batch_size])
        map1 = run_stage(net.stage1, torch.from_numpy(patches))
        map2 = run_stage(net.stage2, F.max_pool2d(map1, geo.pool, stride=geo.pool))
        parts.append(torch.cat([centre(map1), centre(map2), map2.amax(dim=(2, 3))], dim=1))
    return torch.cat(parts)


def shares_borders(geo: PatchGeometry) -> bool:
    """Whether :func:`exact_features` shares work for this geometry: its corners do not meet, ``2 (m_0 + d2) <= G``."""
    return 2 * (math.ceil(geo.depth1 / geo.pool) + geo.depth2) <= geo.grid


@dataclass(frozen=True)
class _Scale:
    """One scale as a patch sees it: a window of ``size`` x ``size`` cells ``step`` px apart centred on the pixel,
    the padding's reach ``reach0`` on its input, and the folded blocks that run on it."""

    size: int
    step: int
    reach0: int
    blocks: FoldedStage

    def lines(self, high: bool, extent: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``pad`` padding lines and ``extent`` window lines nearest the low (or high) border, ascending: their
        distances from that border (E,) (-1 for padding) and their offsets in tile lines from the window centre (E,)."""
        distance = torch.arange(extent - 1, -pad - 1, -1) if high else torch.arange(-pad, extent)
        window = self.size - 1 - distance if high else distance
        return distance, self.step * (window - self.size // 2)


class _Pixels(NamedTuple):
    """Pixels of a block: their rows and columns (N,) and the indices (N,) of their row and column among the anchors."""

    rows: torch.Tensor
    cols: torch.Tensor
    row_anchor: torch.Tensor
    col_anchor: torch.Tensor


class _Level:
    """One level of a scale on a block, as rows of one table (R, C) that every input of the next level is gathered
    from with one index per cell: the dense map (H, W, C), per side (:data:`SIDES`) its strips (anchors, reach,
    length, C) - for each anchor (a pixel row for top and bottom, a column for left and right) the ``reach`` window
    lines nearest the border in ascending order, along the block (its columns, or its rows) - a zero row (the
    padding) and room for a batch's corner cells (N, 4, reach, reach, C), ascending order. The stages are unpadded:
    the dense map and the strips start ``origin`` px into the block (its receptive half-width so far)."""

    def __init__(
        self, scale: _Scale, reach: int, origin: int, dense: torch.Tensor, strips: list[torch.Tensor], corners: int
    ):
        self.scale, self.reach, self.origin, self.shape = scale, reach, origin, dense.shape[:2]
        parts = [dense.reshape(-1, dense.shape[2]), *(s.reshape(-1, dense.shape[2]) for s in strips)]
        sizes = [len(p) for p in parts] + [1, corners * reach * reach]
        self.starts = torch.tensor([0, *sizes]).cumsum(0).tolist()  # dense, 4 strips, zero row, corner cells
        self.zero_row, self.corner_start = self.starts[-3], self.starts[-2]
        self.table = dense.new_empty((self.starts[-1], dense.shape[2]))
        for part, start in zip(parts, self.starts):
            self.table[start : start + len(part)] = part
        self.table[self.zero_row] = 0.0
        self.dense = self.table[: sizes[0]].view(dense.shape)
        self._templates: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """The table's rows at ``index`` (any shape) -> (*index.shape, C)."""
        return F.embedding(index, self.table)  # a row gather; faster here than ``index_select`` on the same rows

    def set_corners(self, corners: torch.Tensor) -> None:
        """Store a batch's corner cells (N 4, reach, reach, C)."""
        end = self.corner_start + corners.shape[0] * self.reach**2
        self.table[self.corner_start : end] = corners.reshape(-1, self.table.shape[1])

    def _near(self, high: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        """Index among the ``reach`` stored lines (ascending window order) of lines at ``distance`` from a border."""
        return torch.where(high, self.reach - 1 - distance, distance)

    def strip_index(self, side: int, anchors: torch.Tensor, extent: int, pad: int) -> torch.Tensor:
        """Table rows (anchors, pad + extent, length) of the ``extent`` window lines nearest a side's border, with
        ``pad`` zero lines beyond it, in ascending window order, along the block."""
        axis, high = SIDES[side]
        distance, offset = self.scale.lines(high, extent, pad)
        lines = (anchors[:, None] + offset - self.origin)[:, :, None]  # map lines (A, E, 1)
        along = torch.arange(self.shape[1 - axis])
        dense = lines * self.shape[1] + along if axis == 0 else along * self.shape[1] + lines
        near = self._near(torch.tensor(high), distance)[:, None]
        strip = self.starts[1 + side] + (torch.arange(len(anchors))[:, None, None] * self.reach + near) * len(along)
        index = torch.where((distance < self.reach)[:, None], strip + along, dense)
        return torch.where((distance < 0)[:, None], self.zero_row, index)

    def corner_index(self, pixels: _Pixels, extent: int, pad: int) -> torch.Tensor:
        """Table rows (N, 4, pad + extent, pad + extent) of each corner's ``extent x extent`` window cells nearest
        it (:data:`CORNERS` order), with ``pad`` zero lines beyond both borders, in ascending window order: a
        per-level template (the source of each cell and its row there for a pixel at the origin) plus the pixel's
        own offset into that source."""
        if (extent, pad) not in self._templates:
            self._templates[extent, pad] = self._corner_template(extent, pad)
        source, row = self._templates[extent, pad]
        height, width = self.shape
        per_pixel = torch.stack(  # (5 sources, N): corner slot, top/bottom strips, left/right strips, dense, zero
            [
                torch.arange(len(pixels.rows)) * len(CORNERS) * self.reach**2,
                pixels.row_anchor * self.reach * width + pixels.cols,
                pixels.col_anchor * self.reach * height + pixels.rows,
                pixels.rows * width + pixels.cols,
                torch.zeros_like(pixels.rows),
            ]
        )
        return row + per_pixel[source, torch.arange(len(pixels.rows))[:, None, None, None]]

    def _corner_template(self, extent: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`corner_index`'s template: the source (0 corner slot, 1 top/bottom strip, 2 left/right strip,
        3 dense map, 4 zero row) of each cell (1, 4, E, E), and its table row for a pixel at (0, 0), anchor 0."""
        bottom, right = (torch.tensor(flags)[:, None, None] for flags in zip(*CORNERS))  # (4, 1, 1)
        d_row, row_offset = (
            torch.stack(t)[:, :, None] for t in zip(*(self.scale.lines(b, extent, pad) for b, _ in CORNERS))
        )
        d_col, col_offset = (
            torch.stack(t)[:, None, :] for t in zip(*(self.scale.lines(r, extent, pad) for _, r in CORNERS))
        )
        q_row, q_col = self._near(bottom, d_row), self._near(right, d_col)
        rows, cols = row_offset - self.origin, col_offset - self.origin  # map rows (4, E, 1) and columns (4, 1, E)
        height, width = self.shape
        starts = torch.tensor(self.starts)
        corner = torch.arange(len(CORNERS))[:, None, None] * self.reach**2 + q_row * self.reach + q_col
        row = torch.stack(
            torch.broadcast_tensors(
                self.corner_start + corner,
                starts[1 + bottom.long()] + q_row * width + cols,
                starts[3 + right.long()] + q_col * height + rows,
                rows * width + cols,
                torch.full((1, 1, 1), self.zero_row),
            )
        )  # (5, 4, E, E)
        near_row, near_col = d_row < self.reach, d_col < self.reach
        source = torch.where(near_row, torch.where(near_col, 0, 1), torch.where(near_col, 2, 3))
        source = torch.where((d_row < 0) | (d_col < 0), 4, source)
        return source[None], row.gather(0, source[None])


def _block(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, **conv) -> torch.Tensor:
    """One folded conv-ELU block on a channels-last (N, H, W, C) tensor -> (N, H', W', C') (``conv``: conv2d options)."""
    return F.elu(F.conv2d(x.permute(0, 3, 1, 2), weight, bias, **conv), inplace=True).permute(0, 2, 3, 1)


def _next_corners(level: _Level, pixels: _Pixels, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The next level's corner cells (N 4, reach + 1, reach + 1, C') from this level's (stored): each corner's
    ``reach + 2`` square, zero-padded at both borders, gathered and run through one block (one convolution)."""
    index = level.corner_index(pixels, level.reach + 2, pad=1)
    return _block(level.gather(index.flatten(0, 1)), weight, bias)


def _pool_lines(x: torch.Tensor, pool: int, dim: int) -> torch.Tensor:
    """Max over consecutive groups of ``pool`` lines along ``dim`` (whose length is a multiple of ``pool``)."""
    return x.unflatten(dim, (x.shape[dim] // pool, pool)).amax(dim + 1)


def _levels(first: _Level, anchors: tuple[torch.Tensor, torch.Tensor], corners: int) -> list[_Level]:
    """A scale's levels on a block from its first: each block's dense map and strips, unpadded (one convolution for
    top and bottom, one with the transposed kernel for left and right: ``reach + 2`` lines, zero-padded at the
    border)."""
    levels, scale = [first], first.scale
    for weight, bias in scale.blocks:
        below, step = levels[-1], scale.step
        dense = _block(below.dense[None], weight, bias, dilation=step)[0]
        strips = []
        for axis, kernel in enumerate((weight, weight.transpose(2, 3))):
            sides = [side for side, (on, _) in enumerate(SIDES) if on == axis]
            index = torch.cat([below.strip_index(side, anchors[axis], below.reach + 2, pad=1) for side in sides])
            strips += _block(below.gather(index), kernel, bias, dilation=(1, step)).chunk(2)
        levels.append(_Level(scale, below.reach + 1, below.origin + step, dense, strips, corners))
    return levels


def _exact_block(
    net: FoldedNetwork, x: torch.Tensor, pixels: _Pixels, anchors: tuple[torch.Tensor, torch.Tensor], batch_size: int
) -> torch.Tensor:
    """:func:`exact_features` of the pixels of one block; x (bands, H, W) covers them and half a patch around."""
    geo = net.geometry
    reach0 = math.ceil(geo.depth1 / geo.pool)
    scale1 = _Scale(geo.patch_size, 1, 0, net.stage1)
    scale2 = _Scale(geo.grid, geo.pool, reach0, net.stage2)
    corners = len(CORNERS) * min(batch_size, len(pixels.rows))
    image = x.permute(1, 2, 0).contiguous()
    lengths = (image.shape[1], image.shape[0])
    empty = [image.new_empty((len(anchors[axis]), 0, lengths[axis], image.shape[2])) for axis, _ in SIDES]
    levels1 = _levels(_Level(scale1, 0, 0, image, empty, corners), anchors, corners)
    top1, extent = levels1[-1], geo.pool * reach0  # the scale-1 lines that pool into the first ring(s) of cells
    pooled = F.max_pool2d(top1.dense.permute(2, 0, 1)[None], geo.pool, stride=1)
    strips = []
    for side, (axis, _) in enumerate(SIDES):
        lines = _pool_lines(top1.gather(top1.strip_index(side, anchors[axis], extent, pad=0)), geo.pool, 1)
        along = F.max_pool2d(lines.permute(0, 3, 1, 2), (1, geo.pool), stride=1)
        strips.append(along.permute(0, 2, 3, 1))
    origin = top1.origin + geo.pool // 2
    levels2 = _levels(_Level(scale2, reach0, origin, pooled[0].permute(1, 2, 0), strips, corners), anchors, corners)
    out = []
    for batch in zip(*(t.split(batch_size) for t in pixels)):
        part = _Pixels(*batch)
        cells = image.new_empty((corners, 0, 0, image.shape[2]))
        for level, (weight, bias) in zip(levels1, scale1.blocks):
            level.set_corners(cells)
            cells = _next_corners(level, part, weight, bias)
        top1.set_corners(cells)
        cells = _pool_lines(
            _pool_lines(top1.gather(top1.corner_index(part, extent, 0).flatten(0, 1)), geo.pool, 1), geo.pool, 2
        )
        for level, (weight, bias) in zip(levels2, scale2.blocks):
            level.set_corners(cells)
            cells = _next_corners(level, part, weight, bias)
        last = levels2[-1]
        last.set_corners(cells)
        quarters = last.corner_index(part, geo.grid // 2 + 1, pad=0)  # per pixel, its 4 quarters
        glob = last.gather(quarters.flatten(1)).amax(dim=1)
        centres = [
            pixels_of(lv.dense.permute(2, 0, 1), part.rows - lv.origin, part.cols - lv.origin) for lv in (top1, last)
        ]
        out.append(torch.cat([*centres, glob], dim=1))
    return torch.cat(out)


def exact_features(
    model: FaciesCNN,
    x: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    batch_size: int = 1024,
    net: FoldedNetwork | None = None,
) -> torch.Tensor:
    """Head inputs (N, filters[0] + 2 filters[1]) of pixels (rows, cols) of a normalised tile x (1, bands, H, W)
    equal to :func:`patch_features` (within float rounding), computing once what the patches share (see the module
    docstring); every pixel at least half a patch from the tile edge. ``batch_size`` bounds the pixels whose corner
    cells are computed at once; ``net`` is the model folded (here when not given)."""
    net = net or FoldedNetwork.of(model)
    geo = net.geometry
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != model.config.num_bands:
        raise DenseInferenceError(f"expected a tile (1, {model.config.num_bands}, H, W), got {tuple(x.shape)}")
    if not shares_borders(geo):
        return patch_features(model, x, rows, cols, min(batch_size, 256), net)
    out = torch.zeros((len(rows), model.config.filters[0] + 2 * model.config.filters[1]), dtype=x.dtype)
    if not len(rows):
        return out
    block_row, block_col = (rows - rows.min()) // EXACT_BLOCK, (cols - cols.min()) // EXACT_BLOCK
    blocks, which = torch.unique(block_row * (int(block_col.max()) + 1) + block_col, return_inverse=True)
    for b in range(len(blocks)):
        index = torch.nonzero(which == b)[:, 0]
        r, c = rows[index], cols[index]
        top, left, half = int(r.min()) - geo.half, int(c.min()) - geo.half, geo.half
        crop = x[0, :, top : int(r.max()) + half + 1, left : int(c.max()) + half + 1]
        anchor_rows, row_anchor = torch.unique(r - top, return_inverse=True)
        anchor_cols, col_anchor = torch.unique(c - left, return_inverse=True)
        pixels = _Pixels(r - top, c - left, row_anchor, col_anchor)
        out[index] = _exact_block(net, crop, pixels, (anchor_rows, anchor_cols), min(batch_size, EXACT_BATCH))
    return out
