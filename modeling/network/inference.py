"""Prediction on raw band values: normalisation from the config (:mod:`modeling.network.normalization`),
batched, no gradient, eval mode, temperature calibration from the config.

The functions take any :class:`ConfiguredNetwork` (a FaciesCNN is one); FaciesCNN's own ``predict`` /
``predict_proba`` methods delegate here.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
import torch

from modeling.network.config import FaciesCNNConfig
from modeling.network.normalization import as_patch_array, elevation_ranges, normalize, require_normalization


class ConfiguredNetwork(Protocol):
    """What inference needs of a network: a ``torch.nn.Module`` mapping normalised input (N, bands, H, W)
    to logits (N, classes), carrying the ``FaciesCNNConfig`` that says how to normalise and calibrate."""

    config: FaciesCNNConfig
    training: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """``model`` in eval mode under ``torch.inference_mode``; its training flag is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


@torch.no_grad()
def predict_proba(
    model: ConfiguredNetwork,
    patches: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 256,
    elevation_range: Sequence[float] | np.ndarray | None = None,
    compile: bool = False,
) -> np.ndarray:
    """Class probabilities for raw patches.

    Args:
        model: a network (e.g. a FaciesCNN) whose config holds the normalisation.
        patches: (N, bands, H, W) raw values in the bands' units (bands as in ``model.config.bands``).
        batch_size: patches per forward pass.
        elevation_range: glacier elevation range(s) in metres, only for models with
            ``per_glacier_elevation_scaling`` (see :mod:`modeling.network.normalization`).
        compile: run the network through ``torch.compile`` (compiled once per model and kept): 1.6-1.7x
            the patches/s of eager fp32 on a 2-core CPU, probabilities within 1e-6 (see
            ``scripts/benchmark_training.py``); worth its warm-up of some seconds from ~10k patches on.

    Returns:
        float32 array (N, classes); rows sum to 1. Temperature scaling from ``config.calibration`` is applied.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    config = model.config
    require_normalization(config)
    array = as_patch_array(patches, config)
    ranges = elevation_ranges(elevation_range, config, len(array))
    temperature = config.calibration["temperature"] if config.calibration else 1.0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    network = compiled(model) if compile else model
    try:
        out = [np.zeros((0, config.num_classes), dtype=np.float32)]
        for start in range(0, len(array), batch_size):
            stop = start + batch_size
            x = normalize(array[start:stop], config, elevation_range=None if ranges is None else ranges[start:stop])
            logits = network(torch.from_numpy(x).to(device))
            out.append(torch.softmax(logits / temperature, dim=1).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out)


def compiled(model: ConfiguredNetwork) -> torch.nn.Module:
    """``torch.compile(model, dynamic=True)``, made once per model instance and kept on it."""
    if getattr(model, "_compiled", None) is None:
        object.__setattr__(model, "_compiled", torch.compile(model, dynamic=True))
    return model._compiled


def predict(
    model: ConfiguredNetwork,
    patches: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 256,
    elevation_range: Sequence[float] | np.ndarray | None = None,
    compile: bool = False,
) -> np.ndarray:
    """Label codes (N,) int64 (index into ``model.config.class_names``) for raw patches; see :func:`predict_proba`."""
    return predict_proba(
        model, patches, batch_size=batch_size, elevation_range=elevation_range, compile=compile
    ).argmax(axis=1)
