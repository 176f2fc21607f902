"""Figures of the pruning report: pruned share per class and fold, lowest-quality examples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dataset_builder.quicklook import save_figure, true_colour  # noqa: E402
from dataset_builder.schema import CLASS_NAMES  # noqa: E402
from dataset_builder.writer import iter_rows  # noqa: E402

if TYPE_CHECKING:
    from dataset_builder.pruning import PruneResult


def plot_flagged_share(result: "PruneResult", out_png: str | Path) -> Path:
    """Bars: share of labels flagged per class and per fold (with counts), the overall share as a line."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [8, 6]})
    for ax, flagged, rows, title in (
        (axes[0], result.flagged_per_class, result.rows_per_class, "per class"),
        (axes[1], result.flagged_per_fold, result.rows_per_fold, "per fold"),
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
        ax.axhline(100 * result.share, color="#cc3311", lw=1, ls="--", label=f"overall {100 * result.share:.1f} %")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("flagged as label issue (%)")
        ax.set_title(f"Pruned share {title}")
        ax.legend(fontsize=8)
    return save_figure(fig, out_png, dpi=110)


def plot_lowest_quality(
    rows: dict[str, np.ndarray], dataset: str | Path, out_png: str | Path, *, n_examples: int = 24
) -> Path:
    """A grid of the flagged labels with the lowest quality: true-colour patch, given -> suggested label."""
    flagged = np.flatnonzero(rows["issue"])
    order = flagged[np.argsort(rows["quality"][flagged], kind="stable")][:n_examples]
    wanted = {rows["sample_id"][i]: i for i in order}
    patches: dict[str, np.ndarray] = {}
    if wanted:
        for batch in iter_rows(dataset):
            for j, sid in enumerate(batch.sample_id):
                if sid in wanted:
                    patches[sid] = batch.patches[j]
            if len(patches) == len(wanted):
                break
    cols = 6
    n_rows = max(1, -(-len(order) // cols))
    fig, axes = plt.subplots(n_rows, cols, figsize=(cols * 1.9, n_rows * 2.1), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), order):
        sid = rows["sample_id"][i]
        ax.imshow(true_colour(patches[sid]), interpolation="nearest")
        given, suggested = CLASS_NAMES[rows["label"][i]], CLASS_NAMES[int(np.argmax(rows["proba"][i]))]
        ax.set_title(f"{given} -> {suggested}\nq={rows['quality'][i]:.2f}", fontsize=7)
        ax.plot(16, 16, "+", color="red", ms=6)
    if not len(order):
        axes[0, 0].text(0.5, 0.5, "no label flagged", ha="center", va="center")
    fig.suptitle("Lowest-quality flagged labels: given -> suggested (red + = labelled pixel)", fontsize=9)
    return save_figure(fig, out_png, dpi=110)
