"""Prediction on raw band values: normalisation from the config, batched, no gradient, eval mode.

Normalisation (the published one): every band is mapped to ``(x - min) / (max - min)`` with the global
per-band minimum and maximum of the dataset, stored in ``FaciesCNNConfig.normalization``.

When ``config.per_glacier_elevation_scaling`` is set, the elevation band is first scaled per glacier,
``(elevation - glacier_min) / (glacier_max - glacier_min)``, and then globally as above (the config's
elevation min/max then refer to that per-glacier scaled band). The caller passes each patch's glacier
elevation range in metres as ``elevation_range``: one ``(min, max)`` pair for all patches, or an
``(N, 2)`` array, one pair per patch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from modeling.errors import NormalizationMissingError
from modeling.network.config import FaciesCNNConfig

if TYPE_CHECKING:
    from modeling.network.facies_cnn import FaciesCNN


def _as_array(patches: np.ndarray | torch.Tensor, config: FaciesCNNConfig) -> np.ndarray:
    array = patches.detach().cpu().numpy() if isinstance(patches, torch.Tensor) else np.asarray(patches)
    if array.ndim != 4 or array.shape[1] != config.num_bands:
        raise ValueError(
            f"expected patches of shape (N, {config.num_bands}, H, W) for bands {list(config.bands)}, got {array.shape}"
        )
    return array


def _elevation_ranges(
    elevation_range: Sequence[float] | np.ndarray | None, config: FaciesCNNConfig, n: int
) -> np.ndarray | None:
    """Per-patch (min, max) glacier elevations, shape (n, 2), or None when the config needs none."""
    if not config.per_glacier_elevation_scaling:
        if elevation_range is not None:
            raise ValueError("elevation_range given, but this model does not use per-glacier elevation scaling")
        return None
    if elevation_range is None:
        raise ValueError(
            "this model expects per-glacier elevation scaling: pass elevation_range=(glacier_min_m, glacier_max_m) "
            "or an (N, 2) array with each patch's glacier elevation range"
        )
    ranges = np.asarray(elevation_range, dtype=np.float64)
    if ranges.shape not in ((2,), (n, 2)):
        raise ValueError(f"elevation_range must have shape (2,) or ({n}, 2), got {ranges.shape}")
    ranges = np.broadcast_to(ranges, (n, 2))
    if not np.all(ranges[:, 1] > ranges[:, 0]):
        raise ValueError("elevation_range: every glacier maximum must exceed its minimum")
    return ranges


def _require_normalization(config: FaciesCNNConfig) -> None:
    if config.normalization is None:
        raise NormalizationMissingError(
            "this model carries no normalisation statistics (converted models do not: the authors' are not public); "
            "take them from the built dataset: convert with --stats DATASET_FOLDER, or use "
            "FaciesCNN.with_statistics(DatasetStatistics.load(folder)) / FaciesCNNConfig.with_statistics(...)"
        )


def normalize(
    patches: np.ndarray | torch.Tensor,
    config: FaciesCNNConfig,
    *,
    elevation_range: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Map raw patches (N, bands, H, W), in the bands' units, to the network's input (float32, same shape).

    Raises:
        NormalizationMissingError: when ``config.normalization`` is None.
        ValueError: for a wrong shape, non-finite values or a missing/needless ``elevation_range``.
    """
    _require_normalization(config)
    array = _as_array(patches, config).astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("patches contain NaN or infinite values; fill or drop them before predicting")
    ranges = _elevation_ranges(elevation_range, config, len(array))
    if ranges is not None:
        e = config.bands.index("elevation")
        lo, hi = ranges[:, 0, None, None], ranges[:, 1, None, None]
        array[:, e] = (array[:, e] - lo) / (hi - lo)
    lo = np.asarray(config.normalization["min"])[None, :, None, None]
    hi = np.asarray(config.normalization["max"])[None, :, None, None]
    return ((array - lo) / (hi - lo)).astype(np.float32)


@torch.no_grad()
def predict_proba(
    model: FaciesCNN,
    patches: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 256,
    elevation_range: Sequence[float] | np.ndarray | None = None,
    compile: bool = False,
) -> np.ndarray:
    """Class probabilities for raw patches.

    Args:
        model: a FaciesCNN whose config holds the normalisation.
        patches: (N, bands, H, W) raw values in the bands' units (bands as in ``model.config.bands``).
        batch_size: patches per forward pass.
        elevation_range: glacier elevation range(s) in metres, only for models with
            ``per_glacier_elevation_scaling`` (see the module docstring).
        compile: run the network through ``torch.compile`` (compiled once per model and kept): 1.6-1.7x
            the patches/s of eager fp32 on a 2-core CPU, probabilities within 1e-6 (see
            ``scripts/benchmark_training.py``); worth its warm-up of some seconds from ~10k patches on.

    Returns:
        float32 array (N, classes); rows sum to 1. Temperature scaling from ``config.calibration`` is applied.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    config = model.config
    _require_normalization(config)
    array = _as_array(patches, config)
    ranges = _elevation_ranges(elevation_range, config, len(array))
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


def compiled(model: FaciesCNN) -> torch.nn.Module:
    """``torch.compile(model, dynamic=True)``, made once per model instance and kept on it."""
    if getattr(model, "_compiled", None) is None:
        object.__setattr__(model, "_compiled", torch.compile(model, dynamic=True))
    return model._compiled


def predict(
    model: FaciesCNN,
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
