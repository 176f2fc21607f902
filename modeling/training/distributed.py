"""Data-parallel training under ``torchrun``: the process group, per-rank reductions and pooled BatchNorm.

Every rank trains on its share (rows ``r::world``) of each global batch and evaluates its share of the
validation fold; gradients are averaged by DistributedDataParallel and BatchNorm statistics pooled over ranks
(``nn.SyncBatchNorm`` on GPUs, :class:`PooledBatchNorm2d` on the CPU), so the model matches a one-process run
up to floating-point reduction order (dropout masks are drawn per rank). Rank 0 writes every file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce

from modeling.training.device import bf16_supported, process_group_backend, resolve_device


@dataclass(frozen=True)
class Runtime:
    """Where this process trains: its rank among ``world`` processes, its device, and whether the forward passes
    of training run under bf16 autocast (GPUs only, see :mod:`modeling.training.device`)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    bf16: bool = False

    @property
    def distributed(self) -> bool:
        """More than one process trains."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that writes files."""
        return self.rank == 0


def init_runtime(threads: int | None = None, device: str = "auto", bf16: bool = True) -> Runtime:
    """Pick the device (:func:`~modeling.training.device.resolve_device`; under ``torchrun`` the local rank's GPU)
    and join the process group when started by ``torchrun`` (NCCL between GPUs, gloo on the CPU).

    Sets torch's CPU threads to ``threads``, or under torchrun on the CPU to the cores per local rank. ``bf16``:
    autocast training's forward passes to bf16 where the device supports it (GPUs only).
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = resolve_device(device, local_rank)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(process_group_backend(target))
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    if threads is None and world > 1 and target.type == "cpu":
        threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    if threads:
        torch.set_num_threads(threads)
    return Runtime(rank, world, target, bf16=bf16 and bf16_supported(target))


def all_sum(values: np.ndarray, runtime: Runtime) -> np.ndarray:
    """Element-wise sum of a float64 array over ranks."""
    if not runtime.distributed:
        return values
    tensor = torch.as_tensor(
        values, dtype=torch.float64, device=runtime.device if runtime.device.type == "cuda" else "cpu"
    )
    dist.all_reduce(tensor)
    return tensor.cpu().numpy()


def barrier(runtime: Runtime) -> None:
    """Wait for every rank (a no-op in a one-process run)."""
    if runtime.distributed:
        dist.barrier()


class PooledBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode batch statistics are pooled over all ranks (any backend, e.g. gloo).

    ``nn.SyncBatchNorm`` runs on GPUs only; this one sums per-channel counts, sums and squared sums with a
    differentiable all-reduce (in float64). Evaluation mode is plain BatchNorm2d; state dict keys are the same.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        c = x.shape[1]
        x64 = x.double()
        count = torch.tensor([x.shape[0] * x.shape[2] * x.shape[3]], dtype=torch.float64, device=x.device)
        stats = all_reduce(torch.cat([x64.sum(dim=(0, 2, 3)), (x64 * x64).sum(dim=(0, 2, 3)), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.running_mean.mul_(1 - factor).add_(factor * mean.to(x.dtype))
            self.running_var.mul_(1 - factor).add_(factor * (var * n / max(float(n) - 1, 1.0)).to(x.dtype))
        scale = (self.weight.double() / torch.sqrt(var + self.eps)).to(x.dtype)
        shift = (self.bias.double() - mean * self.weight.double() / torch.sqrt(var + self.eps)).to(x.dtype)
        return x * scale[None, :, None, None] + shift[None, :, None, None]


def pool_batchnorm(model: nn.Module, runtime: Runtime) -> nn.Module:
    """Make every BatchNorm2d of ``model`` pool its statistics over ranks (in place; returns the model)."""
    if not runtime.distributed:
        return model
    if runtime.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = PooledBatchNorm2d  # same parameters and buffers, pooled forward
    return model
