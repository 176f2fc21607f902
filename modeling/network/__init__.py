"""The network wing: FaciesCNN, its config, normalisation, inference, the Keras weight conversion and the
registry of the authors' published models.

Layering inside the wing: ``config`` < ``normalization`` < ``inference``, ``keras_conversion``, ``published``
< ``facies_cnn`` < ``conversion``.
"""

from modeling.network.config import FaciesCNNConfig, JsonOptions, mapping_geometry_problem, read_config
from modeling.network.conversion import convert_folder, convert_keras_weights, published_folder, write_published
from modeling.network.facies_cnn import PICKLE_SUFFIXES, FaciesCNN, centre, render_model_card
from modeling.network.inference import ConfiguredNetwork, evaluating, predict, predict_proba
from modeling.network.normalization import normalize
from modeling.network.published import PUBLISHED, PublishedWeights, published_weights

#: The former name of :meth:`FaciesCNN.from_keras`, kept for the scripts that use it.
load_keras_weights = FaciesCNN.from_keras

__all__ = [
    "ConfiguredNetwork",
    "FaciesCNN",
    "FaciesCNNConfig",
    "JsonOptions",
    "PICKLE_SUFFIXES",
    "PUBLISHED",
    "PublishedWeights",
    "centre",
    "convert_folder",
    "convert_keras_weights",
    "evaluating",
    "load_keras_weights",
    "mapping_geometry_problem",
    "normalize",
    "predict",
    "predict_proba",
    "published_folder",
    "published_weights",
    "read_config",
    "render_model_card",
    "write_published",
]
