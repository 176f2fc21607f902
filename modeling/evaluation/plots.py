"""Evaluation figures: confusion matrix, reliability diagram, training curves.

The ``*_figure`` functions build a :class:`matplotlib.figure.Figure` (no pyplot, no backend switching) and
return it; the ``plot_*`` functions write one as PNG with :func:`dataset_builder.quicklook.save_figure`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from dataset_builder.quicklook import save_figure
from dataset_builder.schema import CLASS_NAMES
from modeling.evaluation.calibration import ReliabilityCurve


def confusion_matrix_figure(cm: np.ndarray, *, class_names: Sequence[str] = CLASS_NAMES, title: str = "") -> Figure:
    """The confusion matrix (K, K), rows = true classes: each cell shows the count and its row share,
    coloured by the row share."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig = Figure(figsize=(8, 7), layout="constrained")
    ax = fig.subplots()
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
    return fig


def reliability_diagram_figure(curves: Mapping[str, ReliabilityCurve], *, title: str = "") -> Figure:
    """Accuracy against max-softmax confidence per bin for each curve, with the ECE in the legend, above
    the share of samples per bin."""
    fig = Figure(figsize=(6, 7), layout="constrained")
    ax, hist = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
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
    return fig


def training_curves_figure(log: Sequence[Mapping[str, float]], *, title: str = "") -> Figure:
    """A per-epoch log: training and validation loss, validation mean IoU, macro-F1 and accuracy."""
    epochs = [row["epoch"] for row in log]
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
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
    return fig


def plot_confusion_matrix(
    cm: np.ndarray, path: str | Path, *, class_names: Sequence[str] = CLASS_NAMES, title: str = ""
) -> Path:
    """Write :func:`confusion_matrix_figure` as PNG to ``path``."""
    return save_figure(confusion_matrix_figure(cm, class_names=class_names, title=title), path)


def plot_reliability_diagram(curves: Mapping[str, ReliabilityCurve], path: str | Path, *, title: str = "") -> Path:
    """Write :func:`reliability_diagram_figure` as PNG to ``path``."""
    return save_figure(reliability_diagram_figure(curves, title=title), path)


def plot_training_curves(log: Sequence[Mapping[str, float]], path: str | Path, *, title: str = "") -> Path:
    """Write :func:`training_curves_figure` as PNG to ``path``."""
    return save_figure(training_curves_figure(log, title=title), path)
