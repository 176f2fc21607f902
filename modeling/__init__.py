"""The FaciesCNN model: architecture, hub loading, weight conversion and inference."""

from modeling.config import ConfigError, FaciesCNNConfig
from modeling.facies_cnn import FaciesCNN, WeightsError
from modeling.predict import NormalizationMissingError, normalize, predict, predict_proba

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
