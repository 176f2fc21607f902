"""The patch model's geometry and its conv stages, folded once, as every inference mode runs them on tiles.

Geometry, from the config (patch side ``P = pool * G``, ``pool`` and ``G`` odd; ``d1``, ``d2`` conv blocks per
scale; defaults P = 33, pool = 3, G = 11, d1 = d2 = 3). Per patch, the pooled grid has ``G x G`` cells centred at
offsets ``pool * k``, ``k = -G//2 .. G//2``, around the classified pixel (-15..15 step 3 by default), each the max
of a ``pool x pool`` block of the scale-1 map.

All modes run the conv blocks with the batch norm folded into the convolutions (:class:`FoldedNetwork`, set up
once per scene) on channels-last tensors; they equal ``model.features`` to ~1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from modeling.errors import DenseInferenceError
from modeling.network import FaciesCNN, FaciesCNNConfig, mapping_geometry_problem

Mode = Literal["dense", "exact", "patch"]
MODES: tuple[str, ...] = ("dense", "exact", "patch")


def check_mode(mode: str) -> Mode:
    """``mode`` if it is one of :data:`MODES`, else a :class:`DenseInferenceError`."""
    if mode not in MODES:
        raise DenseInferenceError(f"unknown inference mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


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
                (block.conv.weight * scale[:, None, None, None]).detach(),
                ((block.conv.bias - block.bn.running_mean) * scale + block.bn.bias).detach(),
            )
        )
    return folded


@dataclass(frozen=True)
class FoldedNetwork:
    """A FaciesCNN's geometry and conv stages with their batch norms folded (:func:`fold_stage`): the set-up every
    mode needs, done once per scene. The head stays on the model."""

    geometry: PatchGeometry
    stage1: FoldedStage
    stage2: FoldedStage

    @classmethod
    def of(cls, model: FaciesCNN) -> "FoldedNetwork":
        with torch.no_grad():
            return cls(PatchGeometry.from_config(model.config), fold_stage(model.stage1), fold_stage(model.stage2))


def run_stage(
    stage: FoldedStage, x: torch.Tensor, *, pad: tuple[int, int, int, int] = (1, 1, 1, 1), dilation: int = 1
) -> torch.Tensor:
    """Run a folded stage: per block zero padding ``pad`` (left, right, top, bottom; in units of ``dilation``),
    the 3x3 convolution dilated by ``dilation``, ELU. A 0 in ``pad`` lets the map shrink by ``dilation`` lines per
    block (a "valid" side); a 1 is a "same" side - at a patch border, the per-patch zero padding."""
    x = x.contiguous(memory_format=torch.channels_last)
    same = len(set(pad)) == 1  # symmetric: the convolution pads by itself (an explicit pad copies the map)
    for weight, bias in stage:
        if same:
            x = F.conv2d(x, weight, bias, padding=pad[0] * dilation, dilation=dilation)
        else:
            x = F.conv2d(F.pad(x, tuple(p * dilation for p in pad)), weight, bias, dilation=dilation)
        x = F.elu(x, inplace=True)
    return x


def pixels_of(feature_map: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Features (N, C) of a (C, H, W) map at pixels (rows, cols): rows of its channels-last layout."""
    table = feature_map.permute(1, 2, 0)
    if not table.is_contiguous():
        table = table.contiguous()
    return table.reshape(-1, table.shape[2]).index_select(0, rows * table.shape[1] + cols)


def window_max(x: torch.Tensor, taps: int, step: int = 1) -> torch.Tensor:
    """Max over a ``taps x taps`` window of samples ``step`` apart of a (N, C, H, W) tensor, no padding: output
    (i, j) is centred on input (i + r, j + r), ``r = step * (taps // 2)``. Separable: a column then a row max-pool
    (2 taps comparisons per value instead of taps^2)."""
    x = F.max_pool2d(x, (taps, 1), stride=1, dilation=(step, 1))
    return F.max_pool2d(x, (1, taps), stride=1, dilation=(1, step))
