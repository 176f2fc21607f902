"""Evaluate predictions against a built dataset: align them with each label config's reference rows, then
report every classification and calibration figure, and optionally draw them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from dataset_builder.loading import CONFIGS, load_facies
from dataset_builder.predictions import Predictions
from dataset_builder.schema import SPLIT_NAMES
from modeling.evaluation.calibration import calibration_summary, reliability_curve, uncalibrated
from modeling.evaluation.metrics import classification_report
from modeling.evaluation.plots import plot_confusion_matrix, plot_reliability_diagram


@dataclass(frozen=True)
class LabelledPredictions:
    """Predictions aligned with the reference rows of one label config."""

    predictions: Predictions
    label: np.ndarray
    glacier: np.ndarray


def align_labels(dataset_dir: str | Path, predictions: Predictions, config: str) -> LabelledPredictions:
    """The prediction of every row of ``config`` in the predicted folds, with its label and glacier.

    Raises:
        ValueError: when a row of those folds has no prediction (predictions of other rows are ignored,
            e.g. label issues when evaluating on ``pruned``).
    """
    folds = sorted({int(f) for f in predictions.fold})
    data = load_facies(dataset_dir, config)
    ids, labels, glaciers = [], [], []
    for f in folds:
        rows = data[SPLIT_NAMES[f]].select_columns(["sample_id", "label", "glacier"]).data
        ids += rows.column("sample_id").to_pylist()
        labels.append(rows.column("label").to_numpy())
        glaciers += rows.column("glacier").to_pylist()
    position = {s: i for i, s in enumerate(predictions.sample_id)}
    missing = [s for s in ids if s not in position]
    if missing:
        raise ValueError(
            f"{len(missing)} row(s) of {config} fold(s) {folds} have no prediction, e.g. {missing[:3]}; "
            "predict the whole test fold(s)"
        )
    index = np.array([position[s] for s in ids], dtype=np.int64)
    return LabelledPredictions(predictions.select(index), np.concatenate(labels).astype(np.int64), np.asarray(glaciers))


def evaluate_predictions(
    dataset_dir: str | Path,
    predictions: Predictions,
    *,
    label_configs: Sequence[str] = CONFIGS,
    temperatures: Mapping[int, float] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    plot_dir: str | Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Reports on each label config's rows of the predicted folds (pooled over folds).

    Args:
        dataset_dir: the built dataset holding the reference labels.
        predictions: predictions covering every row of the predicted folds in ``label_configs``.
        label_configs: ``pruned`` and/or ``full``.
        temperatures: per fold, the temperature the probabilities were calibrated with (for ECE before).
        n_bootstrap, seed: bootstrap of the intervals.
        plot_dir: when given, writes ``confusion_{config}.png`` and ``reliability_{config}.png`` there.

    Returns:
        Per label config, a :func:`modeling.evaluation.metrics.classification_report` dict plus ``calibration``.
    """
    out = {}
    for config in label_configs:
        aligned = align_labels(dataset_dir, predictions, config)
        p = aligned.predictions
        report = classification_report(
            aligned.label, p.pred, glaciers=aligned.glacier, n_bootstrap=n_bootstrap, seed=seed
        )
        report["calibration"] = calibration_summary(p.proba, aligned.label, p.fold, temperatures)
        out[config] = report
        if plot_dir is not None:
            folds = ", ".join(str(f) for f in sorted(set(p.fold.tolist())))
            title = f"{config} labels, test fold(s) {folds}"
            plot_confusion_matrix(
                np.array(report["confusion_matrix"]), Path(plot_dir) / f"confusion_{config}.png", title=title
            )
            curves = {"calibrated" if temperatures else "model": reliability_curve(p.proba, aligned.label)}
            if temperatures:
                curves = {
                    "uncalibrated": reliability_curve(uncalibrated(p.proba, p.fold, temperatures), aligned.label)
                } | curves
            plot_reliability_diagram(curves, Path(plot_dir) / f"reliability_{config}.png", title=title)
    return out
