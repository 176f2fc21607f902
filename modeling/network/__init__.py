"""The network wing: FaciesCNN, its config, normalisation, inference and the Keras weight conversion.

Layering inside the wing: ``config`` < ``normalization`` < ``inference`` < ``facies_cnn`` < ``keras_conversion``.
"""

from modeling.network.config import FaciesCNNConfig, JsonOptions, mapping_geometry_problem
from modeling.network.facies_cnn import PICKLE_SUFFIXES, FaciesCNN, centre, render_model_card
from modeling.network.inference import ConfiguredNetwork, predict, predict_proba
from modeling.network.keras_conversion import convert_folder, convert_keras_weights, load_keras_weights
from modeling.network.normalization import normalize

__all__ = [
    "ConfiguredNetwork",
    "FaciesCNN",
    "FaciesCNNConfig",
    "JsonOptions",
    "PICKLE_SUFFIXES",
    "centre",
    "convert_folder",
    "convert_keras_weights",
    "load_keras_weights",
    "mapping_geometry_problem",
    "normalize",
    "predict",
    "predict_proba",
    "render_model_card",
]
