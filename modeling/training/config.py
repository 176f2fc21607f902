"""Training options: :class:`TrainConfig` (its defaults are the published recipe) and the named profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from dataset_builder.loading import CONFIGS
from dataset_builder.schema import check_bands
from modeling.errors import ConfigError
from modeling.network import FaciesCNNConfig, JsonOptions, mapping_geometry_problem

#: Architecture fields of ``FaciesCNNConfig`` that ``TrainConfig.model`` may override.
ARCHITECTURE_FIELDS = ("filters", "depths", "dense_units", "dropout", "pool_size")


@dataclass(frozen=True)
class TrainConfig(JsonOptions):
    """How to train one fold; the defaults are the published recipe.

    Attributes:
        dataset_config: labels to train and validate on, ``pruned`` or ``full``.
        epochs: training epochs (the study: 1000).
        batch_size: global batch size, summed over ranks.
        learning_rate: initial Adam learning rate; cosine decay to 0 over all steps.
        focal_gamma: focusing parameter of the focal loss.
        label_smoothing: label smoothing of the focal loss targets.
        class_scene_weights: weight samples by (N / N_class) * (N / N_scene).
        augment: random flips, rot90, contrast and brightness.
        contrast: range of the contrast factor.
        brightness: half-width of the additive brightness shift (normalised units).
        bands: input bands (default: every band the dataset holds).
        crop: side of the centre crop fed to the network (default: the whole 33-pixel patch); whole-scene
            mapping must be able to serve it (``modeling.network.config.mapping_geometry_problem``).
        samples_per_epoch: random training samples per epoch (default: all, each once).
        seed: seeds initialisation, sampling, augmentation and dropout.
        calibrate: fit temperature scaling on the validation fold.
        eval_batch_size: patches per forward pass in evaluation.
        bn_recalibration: before each validation, re-estimate the BatchNorm running statistics as plain
            averages over this many (unaugmented) training samples ("precise BN"; 0: off, as published).
            Keras' BN momentum (0.99) suits 1000 epochs; in a short run the running statistics lag the
            weights and evaluation-mode scores suffer.
        cache_gb: keep the normalised training and validation inputs in memory when they fit in this
            many GB per rank (else they are read from the Arrow files per batch).
        threads: torch CPU threads (default: torch's, or cores / local ranks under torchrun).
        model: overrides of architecture fields (``ARCHITECTURE_FIELDS``) of ``FaciesCNNConfig``.
    """

    OPTION_ERROR = ConfigError

    OPTION_KIND = "training option"

    dataset_config: str = "pruned"
    epochs: int = 1000
    batch_size: int = 512
    learning_rate: float = 1e-3
    focal_gamma: float = 2.0
    label_smoothing: float = 0.1
    class_scene_weights: bool = True
    augment: bool = True
    contrast: tuple[float, float] = (0.95, 1.05)
    brightness: float = 0.01
    bands: tuple[str, ...] | None = None
    crop: int | None = None
    samples_per_epoch: int | None = None
    seed: int = 0
    calibrate: bool = True
    eval_batch_size: int = 1024
    bn_recalibration: int = 0
    cache_gb: float = 4.0
    threads: int | None = None
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dataset_config not in CONFIGS:
            raise ConfigError(f"dataset_config must be one of {CONFIGS}, got {self.dataset_config!r}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.crop is not None:
            problem = mapping_geometry_problem(self.crop, int(self.model.get("pool_size", FaciesCNNConfig.pool_size)))
            if problem:
                raise ConfigError(
                    f"crop {self.crop} would leave a model that whole-scene mapping cannot serve: {problem}"
                )
        if self.samples_per_epoch is not None and self.samples_per_epoch < 1:
            raise ConfigError(f"samples_per_epoch must be positive, got {self.samples_per_epoch}")
        if not self.learning_rate > 0 or self.focal_gamma < 0 or not 0 <= self.label_smoothing < 1:
            raise ConfigError("learning_rate must be > 0, focal_gamma >= 0 and label_smoothing in [0, 1)")
        lo, hi = self.contrast
        if not 0 < lo <= hi or self.brightness < 0:
            raise ConfigError(
                f"contrast must be 0 < low <= high and brightness >= 0, got {self.contrast}, {self.brightness}"
            )
        unknown = sorted(set(self.model) - set(ARCHITECTURE_FIELDS))
        if unknown:
            raise ConfigError(f"model overrides {unknown} are not architecture fields {list(ARCHITECTURE_FIELDS)}")
        object.__setattr__(self, "contrast", (float(lo), float(hi)))
        if self.bands is not None:
            object.__setattr__(self, "bands", check_bands(self.bands))

    @classmethod
    def demo(cls, **changes: Any) -> "TrainConfig":
        """The short profile: the recipe cut down to cross-validate the default synthetic benchmark on a CPU.

        Same loss, weights, augmentation, optimiser (Adam from 1e-3, cosine decay), schedule and best-epoch
        selection as the recipe, with: a 9 x 9 centre crop (the network is fully convolutional, and the cost per
        sample grows with the crop's area), 45 epochs of at most 4,096 random training samples, batch 128, no
        dropout (the recipe's 0.5 suits 1000 epochs over the whole dataset, not a short run), and BatchNorm
        statistics re-estimated on 1,024 training samples before each validation (in a short run the running
        averages lag the weights). The learning rate stays at the recipe's: larger ones stop the network from
        fitting its training folds.
        """
        base = dict(
            epochs=45,
            batch_size=128,
            learning_rate=1e-3,
            crop=9,
            samples_per_epoch=4096,
            bn_recalibration=1024,
            model={"dropout": 0.0},
        )
        return cls(**(base | changes))


#: Named starting points of the options: the published recipe and the short demo profile.
PROFILES: dict[str, Callable[[], TrainConfig]] = {"published": TrainConfig, "demo": TrainConfig.demo}
