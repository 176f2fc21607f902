"""Where the network runs: the device (``auto``, ``cpu`` or ``cuda``), the process-group backend, and what a GPU
gets that the CPU does not.

On a CUDA device, training runs its forward passes under bf16 autocast (where the GPU supports bf16; the loss
and the optimiser stay in float32), keeps the network and its input batches in channels-last memory, and copies
batches from pinned host memory without blocking. On the CPU none of this is used, so CPU results are those of
plain float32: ``scripts/benchmark_training.py`` measured channels-last and bf16 autocast under 10 % faster on
2 CPU cores, with bf16 moving probabilities by 5e-3. Prediction (evaluation) is never autocast.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager

import numpy as np
import torch

from modeling.errors import DeviceError

#: The choices of ``--device``: a GPU when CUDA has one, the CPU, or a GPU required.
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """The device ``name`` asks for: ``auto`` is GPU ``local_rank`` when CUDA is available, else the CPU.

    Raises:
        DeviceError: an unknown name, ``cuda`` without a CUDA device, or a local rank without its own GPU.
    """
    if name not in DEVICES:
        raise DeviceError(f"unknown device {name!r}; expected one of {DEVICES}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU-only wheel)"
        raise DeviceError(f"device cuda requested, but no CUDA device is available (torch built with {built})")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise DeviceError(f"local rank {local_rank} has no GPU of its own: {count} visible; start fewer processes")
    return torch.device("cuda", local_rank)


def process_group_backend(device: torch.device) -> str:
    """The ``torch.distributed`` backend for processes on ``device``: NCCL between GPUs, gloo on the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU with bf16 arithmetic (training autocasts to bf16 there)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def autocast(enabled: bool) -> ContextManager:
    """bf16 autocast on the current CUDA device when ``enabled``, else nothing."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if enabled else nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on a GPU (the layout its convolution kernels prefer), the default layout on the CPU."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def to_device(array: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host batch on ``device``: through pinned memory with a non-blocking copy to a GPU; unchanged (no copy)
    on the CPU."""
    tensor = torch.as_tensor(array)
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)
