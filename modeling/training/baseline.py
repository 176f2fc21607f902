"""The non-deep baseline: gradient-boosted trees on the centre pixel and simple neighbourhood statistics.

Features per patch and band (raw values; NaN pixels are ignored, and trees handle NaN features):
the centre pixel, and the mean and standard deviation over centred windows of ``windows`` pixels.
The classifier is scikit-learn's ``HistGradientBoostingClassifier`` with the CNN's sample weights
(N / N_class) * (N / N_scene), early-stopped on the validation fold (t-1). Its probabilities are
temperature-calibrated on the same validation fold and evaluated exactly like the CNN's
(:func:`modeling.training.folds.finish_fold`).

Saving: there is no safe serialisation of a fitted scikit-learn model (only pickles, which this project
never writes or loads). A baseline run therefore keeps its predictions, results and ``baseline.json``
(options, features, boosting iterations); it refits in seconds from the same options and seed.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from dataset_builder.atomic import atomic_write_text
from dataset_builder.loading import CONFIGS, TorchPatches
from dataset_builder.schema import NUM_CLASSES, PATCH_SIZE, check_bands
from modeling.errors import ConfigError
from modeling.network import JsonOptions
from modeling.training.data import centre_crop, load_fold
from modeling.training.folds import FoldResult, finish_fold

BASELINE_FILE = "baseline.json"


@dataclass(frozen=True)
class BaselineConfig(JsonOptions):
    """Options of the gradient-boosted baseline (see the module docstring).

    Attributes:
        dataset_config: labels to train and validate on, ``pruned`` or ``full``.
        bands: bands to use (default: all the dataset holds).
        windows: sides (odd, pixels) of the centred windows of the mean/std features.
        max_iter, learning_rate, max_leaf_nodes, l2_regularization: boosting options.
        n_iter_no_change: early-stopping patience (iterations) on the validation-fold loss.
        class_scene_weights: weight samples by (N / N_class) * (N / N_scene).
        calibrate: fit temperature scaling on the validation fold.
        seed: seed of the boosting.
        threads: OpenMP threads of the boosting (default: all cores).
    """

    OPTION_ERROR = ConfigError

    OPTION_KIND = "baseline option"

    dataset_config: str = "pruned"
    bands: tuple[str, ...] | None = None
    windows: tuple[int, ...] = (5, 15)
    max_iter: int = 500
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    l2_regularization: float = 0.0
    n_iter_no_change: int = 20
    class_scene_weights: bool = True
    calibrate: bool = True
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.dataset_config not in CONFIGS:
            raise ConfigError(f"dataset_config must be one of {CONFIGS}, got {self.dataset_config!r}")
        if not self.windows or any(w < 1 or w % 2 == 0 or w > PATCH_SIZE for w in self.windows):
            raise ConfigError(f"windows must be odd sides between 1 and {PATCH_SIZE}, got {self.windows}")
        if self.bands is not None:
            object.__setattr__(self, "bands", check_bands(self.bands))
        object.__setattr__(self, "windows", tuple(int(w) for w in self.windows))


def feature_names(bands: Sequence[str], windows: Sequence[int]) -> list[str]:
    """Names of the feature columns: ``{band}_centre``, then ``{band}_mean{w}`` and ``{band}_std{w}`` per window."""
    names = [f"{b}_centre" for b in bands]
    for w in windows:
        names += [f"{b}_mean{w}" for b in bands] + [f"{b}_std{w}" for b in bands]
    return names


def patch_features(patches: np.ndarray, windows: Sequence[int]) -> np.ndarray:
    """Features (N, bands * (1 + 2 * len(windows))) float32 of patches (N, bands, H, W); order of :func:`feature_names`."""
    h, w = patches.shape[2:]
    columns = [patches[:, :, h // 2, w // 2]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN features, which trees handle
        for size in windows:
            window = centre_crop(patches, size)
            columns += [np.nanmean(window, axis=(2, 3)), np.nanstd(window, axis=(2, 3))]
    return np.concatenate(columns, axis=1).astype(np.float32)


def view_features(
    view: TorchPatches, windows: Sequence[int], *, chunk: int = 2048, progress: bool = False, desc: str = "features"
) -> np.ndarray:
    """:func:`patch_features` of every row of a split view, read in chunks."""
    parts = [np.zeros((0, len(view.bands) * (1 + 2 * len(windows))), np.float32)]
    for start in tqdm(range(0, len(view), chunk), desc=desc, unit="chunk", disable=not progress):
        parts.append(patch_features(view.patches(np.arange(start, min(start + chunk, len(view)))), windows))
    return np.concatenate(parts)


def _full_proba(model: HistGradientBoostingClassifier, features: np.ndarray) -> np.ndarray:
    """Probabilities over all classes (N, 8): classes absent from training get 0."""
    out = np.zeros((len(features), NUM_CLASSES), np.float32)
    out[:, model.classes_] = model.predict_proba(features)
    return out


def train_baseline_fold(
    dataset_dir: str | Path, test_fold: int, config: BaselineConfig, out_dir: str | Path, *, progress: bool = True
) -> FoldResult:
    """Fit the baseline for test fold ``test_fold`` and write predictions, results, plots and ``baseline.json``."""
    out_dir = Path(out_dir)
    started = time.perf_counter()
    data = load_fold(
        dataset_dir,
        test_fold,
        dataset_config=config.dataset_config,
        bands=config.bands,
        class_scene_weights=config.class_scene_weights,
    )
    x_train = view_features(data.train, config.windows, progress=progress, desc=f"fold {test_fold} train features")
    x_val = view_features(data.validation, config.windows, progress=progress, desc="validation features")
    x_test = view_features(data.test, config.windows, progress=progress, desc="test features")
    y_train, y_val = data.train.labels.numpy(), data.validation.labels.numpy()
    model = HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes,
        l2_regularization=config.l2_regularization,
        early_stopping=True,
        n_iter_no_change=config.n_iter_no_change,
        random_state=config.seed,
    )
    known = np.isin(y_val, np.unique(y_train))  # early stopping can only score classes seen in training
    with threadpool_limits(config.threads, user_api="openmp"):
        model.fit(x_train, y_train, sample_weight=data.weights, X_val=x_val[known], y_val=y_val[known])
        val_proba, test_proba = _full_proba(model, x_val), _full_proba(model, x_test)
    fit_seconds = time.perf_counter() - started
    details = {
        "method": "baseline",
        "dataset_config": config.dataset_config,
        "options": config.to_dict(),
        "features": feature_names(data.bands, config.windows),
        "boosting_iterations": int(model.n_iter_),
        "fit_seconds": fit_seconds,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / BASELINE_FILE, json.dumps(details, indent=2) + "\n")
    return finish_fold(
        out_dir,
        data,
        "baseline",
        val_proba,
        test_proba,
        temperature=None if config.calibrate else 1.0,
        seed=config.seed,
        details=details,
    )


__all__ = ["BaselineConfig", "feature_names", "patch_features", "train_baseline_fold", "view_features"]
