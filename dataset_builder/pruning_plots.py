"""Figures of the pruning report: pruned share per class and fold, lowest-quality examples.

They take plain counts and arrays and return :class:`matplotlib.figure.Figure` objects; the caller saves them
(:func:`dataset_builder.quicklook.save_figure`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from dataset_builder.quicklook import true_colour


def plot_flagged_share(
    flagged_per_class: Mapping[str, int],
    rows_per_class: Mapping[str, int],
    flagged_per_fold: Mapping[str, int],
    rows_per_fold: Mapping[str, int],
) -> Figure:
    """Bars: share of labels flagged per class and per fold (with counts), the overall share as a line."""
    overall = sum(flagged_per_class.values()) / max(sum(rows_per_class.values()), 1)
    fig = Figure(figsize=(11, 3.8))
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [8, 6]})
    for ax, flagged, rows, title in (
        (axes[0], flagged_per_class, rows_per_class, "per class"),
        (axes[1], flagged_per_fold, rows_per_fold, "per fold"),
    ):
        names = list(rows)
        share = [100 * flagged[n] / rows[n] if rows[n] else 0.0 for n in names]
        bars = ax.bar(range(len(names)), share, color="#4477aa")
        for bar, n in zip(bars, names):
            ax.annotate(
                f"{flagged[n]}/{rows[n]}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.axhline(100 * overall, color="#cc3311", lw=1, ls="--", label=f"overall {100 * overall:.1f} %")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("flagged as label issue (%)")
        ax.set_title(f"Pruned share {title}")
        ax.legend(fontsize=8)
    return fig


def plot_lowest_quality(
    patches: np.ndarray, given: Sequence[str], suggested: Sequence[str], quality: Sequence[float]
) -> Figure:
    """A grid of flagged labels, six per row: true-colour patch, given -> suggested class, label quality.

    Args:
        patches: ``(N, bands, size, size)`` patches, blue, green, red first; N may be 0.
        given, suggested: the given and the suggested class name of each patch.
        quality: the label quality (0-1) of each patch.
    """
    cols = 6
    n_rows = max(1, -(-len(patches) // cols))
    fig = Figure(figsize=(cols * 1.9, n_rows * 2.1))
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, patch, was, better, q in zip(axes.ravel(), patches, given, suggested, quality):
        ax.imshow(true_colour(patch), interpolation="nearest")
        ax.set_title(f"{was} -> {better}\nq={q:.2f}", fontsize=7)
        ax.plot(patch.shape[-1] // 2, patch.shape[-2] // 2, "+", color="red", ms=6)
    if not len(patches):
        axes[0, 0].text(0.5, 0.5, "no label flagged", ha="center", va="center")
    fig.suptitle("Lowest-quality flagged labels: given -> suggested (red + = labelled pixel)", fontsize=9)
    return fig
