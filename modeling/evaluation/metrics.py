"""Evaluation: classification metrics, bootstrap intervals, glacier-wise scores, one results JSON schema, plots.

Metric semantics follow scikit-learn: rows of a confusion matrix are true classes, columns predictions;
macro averages (F1, IoU) run over the classes present in the reference or the predictions, balanced
accuracy over the classes present in the reference. Bootstrap intervals resample samples with replacement
(drawn as multinomial counts over the confusion cells, the same distribution at a fraction of the cost).
Calibration functions live in :mod:`modeling.evaluation.calibration` and are re-exported here.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dataset_builder.atomic import atomic_write_text  # noqa: E402
from dataset_builder.loading import CONFIGS, load_facies  # noqa: E402
from dataset_builder.predictions import Predictions  # noqa: E402
from dataset_builder.quicklook import save_figure  # noqa: E402
from dataset_builder.schema import CLASS_NAMES, NUM_CLASSES, SPLIT_NAMES  # noqa: E402
from dataset_builder.writer import MANIFEST_FILE  # noqa: E402
from modeling.evaluation.calibration import (
    ReliabilityCurve,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)

RESULTS_SCHEMA_VERSION = 1
#: Headline metrics that get bootstrap intervals.
SUMMARY_METRICS = ("accuracy", "macro_f1", "mean_iou", "balanced_accuracy")


# -- metrics ----------------------------------------------------------------------------------------------


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts (classes, classes) int64: row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} holds values outside the label codes 0-{num_classes - 1}")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)), where=den > 0)


def _mean_over(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return _ratio((values * mask).sum(axis=-1), mask.sum(axis=-1).astype(np.float64))


def metrics_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class and summary metrics of confusion matrices (..., K, K); every entry keeps the leading shape.

    Returns:
        ``precision``, ``recall``, ``f1``, ``iou``, ``support`` (..., K) and ``accuracy``, ``macro_f1``,
        ``mean_iou``, ``balanced_accuracy`` (...).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support, predicted = cm.sum(axis=-1), cm.sum(axis=-2)
    present = (support + predicted) > 0
    f1 = _ratio(2 * tp, support + predicted)
    iou = _ratio(tp, support + predicted - tp)
    recall = _ratio(tp, support)
    return {
        "precision": _ratio(tp, predicted),
        "recall": recall,
        "f1": f1,
        "iou": iou,
        "support": support,
        "accuracy": _ratio(tp.sum(axis=-1), cm.sum(axis=(-2, -1))),
        "macro_f1": _mean_over(f1, present),
        "mean_iou": _mean_over(iou, present),
        "balanced_accuracy": _mean_over(recall, support > 0),
    }


def bootstrap_intervals(
    cm: np.ndarray, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals of the summary metrics from a confusion matrix (K, K).

    Resampling N samples with replacement equals drawing multinomial(N, cell shares) confusion counts.
    """
    n = int(cm.sum())
    if n_bootstrap < 1 or n == 0:
        return {}
    rng = np.random.default_rng(seed)
    k = cm.shape[0]
    draws = rng.multinomial(n, cm.ravel() / n, size=n_bootstrap).reshape(n_bootstrap, k, k)
    scores = metrics_from_confusion(draws)
    tail = 100 * (1 - level) / 2
    return {m: [float(v) for v in np.percentile(scores[m], [tail, 100 - tail])] for m in SUMMARY_METRICS}


def glacier_scores(y_true: np.ndarray, y_pred: np.ndarray, glaciers: np.ndarray) -> dict[str, Any]:
    """Macro-F1 of each glacier (classes present on it) and their mean and standard deviation (ddof=0)."""
    glaciers = np.asarray(glaciers).astype(str)
    if glaciers.shape != np.shape(y_true):
        raise ValueError(f"glaciers must have one entry per sample, got {glaciers.shape} for {np.shape(y_true)}")
    names, which = np.unique(glaciers, return_inverse=True)
    per = {
        str(g): float(metrics_from_confusion(confusion_matrix(y_true[which == i], y_pred[which == i]))["macro_f1"])
        for i, g in enumerate(names)
    }
    values = np.array(list(per.values()))
    return {
        "mean": float(values.mean()) if len(values) else None,
        "std": float(values.std()) if len(values) else None,
        "n_glaciers": len(values),
        "per_glacier": per,
    }


def classification_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    glaciers: np.ndarray | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    class_names: Sequence[str] = CLASS_NAMES,
) -> dict[str, Any]:
    """Every classification figure of one evaluation, as JSON-ready values.

    Args:
        y_true, y_pred: (N,) label codes.
        glaciers: (N,) glacier of each sample, for the glacier-wise macro-F1 (mean +- std over glaciers).
        n_bootstrap: bootstrap resamples for the 95 % intervals (0: none).
        seed: seed of the bootstrap.
        class_names: names of the label codes.

    Returns:
        ``n``, ``accuracy``, ``macro_f1``, ``mean_iou``, ``balanced_accuracy``, ``per_class`` (precision,
        recall, f1, iou, support per class; null for a class absent from reference and predictions),
        ``confusion_matrix`` (counts), ``confusion_matrix_normalized`` (rows sum to 1; null rows without
        support), ``ci95`` (per summary metric), ``n_bootstrap`` and ``glacier_macro_f1`` (or null).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion_matrix(y_true, y_pred, len(class_names))
    m = metrics_from_confusion(cm)
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    per_class = {
        name: (
            {k: float(m[k][i]) for k in ("precision", "recall", "f1", "iou")} | {"support": int(m["support"][i])}
            if present[i]
            else None
        )
        for i, name in enumerate(class_names)
    }
    row_sums = cm.sum(axis=1, keepdims=True)
    normalized = [[float(v) for v in row / s] if s else None for row, s in zip(cm, row_sums[:, 0])]
    return {
        "n": int(cm.sum()),
        **{k: float(m[k]) for k in SUMMARY_METRICS},
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": normalized,
        "ci95": bootstrap_intervals(cm, n_bootstrap, seed),
        "n_bootstrap": int(n_bootstrap),
        "glacier_macro_f1": None if glaciers is None else glacier_scores(y_true, y_pred, glaciers),
    }


# -- results JSON -------------------------------------------------------------------------------------------


def dataset_revision(dataset_dir: str | Path) -> str:
    """Revision of a built dataset: ``sha256:`` + the SHA-256 of its ``manifest.json``."""
    return "sha256:" + hashlib.sha256((Path(dataset_dir) / MANIFEST_FILE).read_bytes()).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ResultsRecord:
    """One evaluation result (a fold or a pooled cross-validation), the schema every results JSON uses.

    Attributes:
        method: what made the predictions (``cnn``, ``baseline``, ...).
        dataset: ``{"path", "config" (labels trained on), "revision" (see :func:`dataset_revision`)}``.
        folds: test folds covered (pooled when several).
        seeds: training seeds.
        metrics: per label config (``pruned``, ``full``), a :func:`classification_report` dict plus
            ``calibration`` (``ece`` and, when known, ``ece_before`` / ``ece_after``).
        details: anything else (training recipe, validation scores, timings); ``temperature`` maps each
            test fold (as a string) to the temperature its probabilities were calibrated with.
        created: ISO 8601 UTC timestamp.
    """

    method: str
    dataset: dict[str, Any]
    folds: list[int]
    seeds: list[int]
    metrics: dict[str, dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=_now)
    schema_version: int = RESULTS_SCHEMA_VERSION

    def temperatures(self) -> dict[int, float]:
        """Per test fold, the temperature its probabilities were calibrated with (``details.temperature``)."""
        return {int(k): float(v) for k, v in (self.details.get("temperature") or {}).items()}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "ResultsRecord":
        data = json.loads(text)
        version = data.get("schema_version")
        if version != RESULTS_SCHEMA_VERSION:
            raise ValueError(f"results schema version {version!r}; this code reads version {RESULTS_SCHEMA_VERSION}")
        required = {"method", "dataset", "folds", "seeds", "metrics"}
        missing = sorted(required - set(data))
        if missing:
            raise ValueError(f"results JSON lacks field(s) {missing}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "ResultsRecord":
        return cls.from_json(Path(path).read_text())


# -- evaluating predictions against a built dataset -------------------------------------------------------------


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


def calibration_summary(
    proba: np.ndarray, y: np.ndarray, fold: np.ndarray, temperatures: Mapping[int, float] | None, n_bins: int = 15
) -> dict[str, Any]:
    """ECE of ``proba`` and, given each fold's temperature, of the uncalibrated probabilities too."""
    out: dict[str, Any] = {"n_bins": n_bins, "ece": expected_calibration_error(proba, y, n_bins)}
    if temperatures:
        out["ece_after"] = out["ece"]
        out["ece_before"] = expected_calibration_error(uncalibrated(proba, fold, temperatures), y, n_bins)
        out["temperature"] = {str(k): float(v) for k, v in sorted(temperatures.items())}
    return out


def uncalibrated(proba: np.ndarray, fold: np.ndarray, temperatures: Mapping[int, float]) -> np.ndarray:
    """Undo per-fold temperature scaling of probabilities (N, classes)."""
    out = np.asarray(proba, dtype=np.float32).copy()
    for f in np.unique(fold):
        rows = fold == f
        out[rows] = apply_temperature(proba[rows], 1.0 / temperatures[int(f)])
    return out


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
        Per label config, a :func:`classification_report` dict plus ``calibration``.
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


def summary_table(metrics: Mapping[str, Mapping[str, Any]], class_names: Sequence[str] = CLASS_NAMES) -> str:
    """A Markdown table of per-class F1 and the summary metrics, one column per label config."""
    configs = list(metrics)

    def pct(v: Any) -> str:
        return "-" if v is None else f"{100 * v:.1f}"

    rows = [f"| metric | {' | '.join(configs)} |", "|---|" + "---|" * len(configs)]
    for name in class_names:
        rows.append(
            f"| F1 {name} | " + " | ".join(pct((metrics[c]["per_class"][name] or {}).get("f1")) for c in configs) + " |"
        )
    for key in SUMMARY_METRICS:
        cells = []
        for c in configs:
            ci = metrics[c]["ci95"].get(key)
            cells.append(pct(metrics[c][key]) + (f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else ""))
        rows.append(f"| {key} | " + " | ".join(cells) + " |")
    glacier = [metrics[c]["glacier_macro_f1"] for c in configs]
    rows.append(
        "| glacier-wise macro_f1 | "
        + " | ".join(f"{pct(g['mean'])} +- {pct(g['std'])}" if g else "-" for g in glacier)
        + " |"
    )
    cal = [metrics[c].get("calibration", {}) for c in configs]
    if all("ece_before" in c for c in cal):
        rows.append(
            "| ECE before -> after | "
            + " | ".join(f"{c['ece_before']:.3f} -> {c['ece_after']:.3f}" for c in cal)
            + " |"
        )
    elif all("ece" in c for c in cal):
        rows.append("| ECE | " + " | ".join(f"{c['ece']:.3f}" for c in cal) + " |")
    return "\n".join(rows)


# -- plots ------------------------------------------------------------------------------------------------------


def plot_confusion_matrix(
    cm: np.ndarray, path: str | Path, *, class_names: Sequence[str] = CLASS_NAMES, title: str = ""
) -> None:
    """PNG of the confusion matrix (K, K), rows = true classes: each cell shows the count and its row share,
    coloured by the row share."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig, ax = plt.subplots(figsize=(8, 7), layout="constrained")
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j,
            i,
            f"{v}\n{norm[i, j]:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if norm[i, j] > 0.5 else "black",
        )
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: counts and row-normalised shares" if title else "counts and row-normalised shares")
    fig.colorbar(image, ax=ax, label="share of the true class")
    save_figure(fig, path)


def plot_reliability_diagram(curves: Mapping[str, ReliabilityCurve], path: str | Path, *, title: str = "") -> None:
    """PNG: accuracy against max-softmax confidence per bin for each curve, with the ECE in the legend."""
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=[3, 1], sharex=True, layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for name, c in curves.items():
        filled = c.count > 0
        ax.plot(c.confidence[filled], c.accuracy[filled], marker="o", label=f"{name} (ECE {c.ece:.3f})")
        centres = (c.edges[:-1] + c.edges[1:]) / 2
        hist.bar(centres, c.count / c.count.sum(), width=np.diff(c.edges), alpha=0.5, label=name)
    ax.set_ylabel("accuracy")
    ax.set_title(title or "reliability diagram")
    ax.legend(loc="upper left")
    hist.set_xlabel("confidence (max probability)")
    hist.set_ylabel("share of samples")
    hist.set_xlim(0, 1)
    save_figure(fig, path)


def plot_training_curves(log: Sequence[Mapping[str, float]], path: str | Path, *, title: str = "") -> None:
    """PNG of a per-epoch log: training and validation loss, validation mean IoU, macro-F1 and accuracy."""
    epochs = [row["epoch"] for row in log]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for key in ("train_loss", "val_loss"):
        left.plot(epochs, [row[key] for row in log], marker=".", label=key)
    left.set_xlabel("epoch")
    left.set_ylabel("focal loss")
    left.legend()
    for key in ("val_mean_iou", "val_macro_f1", "val_accuracy"):
        right.plot(epochs, [row[key] for row in log], marker=".", label=key)
    best = max(log, key=lambda row: row["val_mean_iou"]) if log else None
    if best:
        right.axvline(best["epoch"], color="grey", linestyle=":", label=f"best epoch {best['epoch']}")
    right.set_xlabel("epoch")
    right.legend()
    fig.suptitle(title)
    save_figure(fig, path)


__all__ = [
    "LabelledPredictions",
    "ResultsRecord",
    "align_labels",
    "apply_temperature",
    "bootstrap_intervals",
    "calibration_summary",
    "classification_report",
    "confusion_matrix",
    "dataset_revision",
    "evaluate_predictions",
    "expected_calibration_error",
    "fit_temperature",
    "glacier_scores",
    "metrics_from_confusion",
    "plot_confusion_matrix",
    "plot_reliability_diagram",
    "plot_training_curves",
    "reliability_curve",
    "summary_table",
    "uncalibrated",
]
