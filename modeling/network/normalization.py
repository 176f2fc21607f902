"""Normalisation of raw band values into the network's input, as the config says.

Normalisation (the published one): every band is mapped to ``(x - min) / (max - min)`` with the global
per-band minimum and maximum of the dataset, stored in ``FaciesCNNConfig.normalization``.

When ``config.per_glacier_elevation_scaling`` is set, the elevation band is first scaled per glacier,
``(elevation - glacier_min) / (glacier_max - glacier_min)``, and then globally as above (the config's
elevation min/max then refer to that per-glacier scaled band). The caller passes each patch's glacier
elevation range in metres as ``elevation_range``: one ``(min, max)`` pair for all patches, or an
``(N, 2)`` array, one pair per patch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from modeling.errors import NormalizationMissingError
from modeling.network.config import FaciesCNNConfig


def as_patch_array(patches: np.ndarray | torch.Tensor, config: FaciesCNNConfig) -> np.ndarray:
    """``patches`` as a numpy array, checked to be (N, bands, H, W) for the config's bands."""
    array = patches.detach().cpu().numpy() if isinstance(patches, torch.Tensor) else np.asarray(patches)
    if array.ndim != 4 or array.shape[1] != config.num_bands:
        raise ValueError(
            f"expected patches of shape (N, {config.num_bands}, H, W) for bands {list(config.bands)}, got {array.shape}"
        )
    return array


def elevation_ranges(
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


def require_normalization(config: FaciesCNNConfig) -> None:
    """Raise :class:`NormalizationMissingError`, saying where to get statistics, when the config has none."""
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
    require_normalization(config)
    array = as_patch_array(patches, config).astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("patches contain NaN or infinite values; fill or drop them before predicting")
    ranges = elevation_ranges(elevation_range, config, len(array))
    if ranges is not None:
        e = config.bands.index("elevation")
        lo, hi = ranges[:, 0, None, None], ranges[:, 1, None, None]
        array[:, e] = (array[:, e] - lo) / (hi - lo)
    lo = np.asarray(config.normalization["min"])[None, :, None, None]
    hi = np.asarray(config.normalization["max"])[None, :, None, None]
    return ((array - lo) / (hi - lo)).astype(np.float32)
