"""Build, load and prune the glacier facies benchmark as a Hugging Face dataset."""

from dataset_builder.errors import SchemaError
from dataset_builder.schema import BAND_NAMES, BANDS, CLASS_NAMES, NUM_FOLDS, PATCH_SIZE, Band, cv_split, make_features

__all__ = [
    "BAND_NAMES",
    "BANDS",
    "CLASS_NAMES",
    "NUM_FOLDS",
    "PATCH_SIZE",
    "Band",
    "SchemaError",
    "cv_split",
    "make_features",
]
