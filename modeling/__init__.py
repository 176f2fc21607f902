"""The FaciesCNN model: architecture, hub loading, weight conversion and inference."""

from modeling.errors import ConfigError, NormalizationMissingError, WeightsError
from modeling.network import FaciesCNN, FaciesCNNConfig, normalize, predict, predict_proba

__all__ = [
    "ConfigError",
    "FaciesCNN",
    "FaciesCNNConfig",
    "NormalizationMissingError",
    "WeightsError",
    "normalize",
    "predict",
    "predict_proba",
]
