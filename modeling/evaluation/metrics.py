"""Classification metrics: confusion matrices, per-class and summary scores, bootstrap intervals, glacier-wise scores.

Metric semantics follow scikit-learn: rows of a confusion matrix are true classes, columns predictions;
macro averages (F1, IoU) run over the classes present in the reference or the predictions, balanced
accuracy over the classes present in the reference. Bootstrap intervals resample samples with replacement
(drawn as multinomial counts over the confusion cells, the same distribution at a fraction of the cost).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from dataset_builder.schema import CLASS_NAMES, NUM_CLASSES

#: Headline metrics that get bootstrap intervals.
SUMMARY_METRICS = ("accuracy", "macro_f1", "mean_iou", "balanced_accuracy")


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


def paired_bootstrap(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    num_classes: int = NUM_CLASSES,
) -> dict[str, Any]:
    """Metrics of two predictions of the same samples, and a bootstrap interval of their macro-F1 difference.

    Samples are resampled jointly (a multinomial draw over the (true, a, b) triples), so the interval of
    ``macro_f1(a) - macro_f1(b)`` accounts for the two methods erring on the same samples.

    Args:
        y_true, pred_a, pred_b: (N,) class indices of the same samples.

    Returns:
        ``a`` and ``b`` (:func:`metrics_from_confusion` of each, arrays as lists), ``difference`` (a - b macro-F1)
        and ``interval`` ([low, high] at ``level``; empty when ``n_bootstrap`` is 0), ``n``.
    """
    k = num_classes
    triples = (np.asarray(y_true, np.int64) * k + np.asarray(pred_a, np.int64)) * k + np.asarray(pred_b, np.int64)
    joint = np.bincount(triples, minlength=k**3)
    scores = {
        name: metrics_from_confusion(confusion_matrix(y_true, p, k)) for name, p in (("a", pred_a), ("b", pred_b))
    }
    out: dict[str, Any] = {
        name: {m: (v.tolist() if np.ndim(v) else float(v)) for m, v in s.items()} for name, s in scores.items()
    }
    out["difference"] = float(scores["a"]["macro_f1"] - scores["b"]["macro_f1"])
    out["n"] = int(joint.sum())
    out["interval"] = []
    if n_bootstrap > 0 and out["n"]:
        draws = np.random.default_rng(seed).multinomial(out["n"], joint / out["n"], size=n_bootstrap)
        draws = draws.reshape(-1, k, k, k)
        diff = (
            metrics_from_confusion(draws.sum(axis=3))["macro_f1"]
            - metrics_from_confusion(draws.sum(axis=2))["macro_f1"]
        )
        tail = 100 * (1 - level) / 2
        out["interval"] = [float(v) for v in np.percentile(diff, [tail, 100 - tail])]
    return out


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
