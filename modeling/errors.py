"""The modelling layer's errors, all subclasses of :class:`dataset_builder.errors.GlacierFaciesError`."""

from __future__ import annotations

from dataset_builder.errors import GlacierFaciesError, PlacedError


class ConfigError(GlacierFaciesError, ValueError):
    """A FaciesCNN config that is malformed; the message names the field."""


class WeightsError(GlacierFaciesError, ValueError):
    """Weights that do not fit the model, or a folder without loadable weights; the message says which."""


class NormalizationMissingError(GlacierFaciesError, RuntimeError):
    """The model's config carries no normalisation statistics."""


class CheckpointError(GlacierFaciesError, RuntimeError):
    """A checkpoint that cannot resume this run; the message says why."""


class DeviceError(GlacierFaciesError, RuntimeError):
    """A device that cannot be used (e.g. ``cuda`` without a CUDA device); the message says why."""


class DenseInferenceError(GlacierFaciesError, ValueError):
    """A model or request that whole-scene inference cannot serve; the message says why."""


class SceneInputError(PlacedError, ValueError):
    """An input that whole-scene mapping cannot use; the message names the file and says why."""


class MassBalanceInputError(GlacierFaciesError, ValueError):
    """An input that cannot be used at all (unreadable, missing columns, wrong units)."""


class SubmissionError(GlacierFaciesError, ValueError):
    """A submission that breaks the format; the message names the file, field or row."""


class PublishError(GlacierFaciesError, ValueError):
    """A folder that is not fit to publish; the message says what is wrong."""
