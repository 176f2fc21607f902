"""Figures of the AAR-balance regressions, built as :class:`matplotlib.figure.Figure` objects (the job saves them)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from modeling.mass_balance.maps import DEFAULT_PREDICTOR
from modeling.mass_balance.regression import ALL_GLACIERS, aar_and_balance


def _glacier_colours(glaciers: Sequence[str]) -> dict[str, Any]:
    cmap = matplotlib.colormaps["tab20"]
    return {g: cmap(i % 20) for i, g in enumerate(sorted(set(glaciers)))}


def _label(summary: Mapping[str, Any]) -> str:
    s = summary["score"]
    return f"r {s['r']['value']:.2f}, RMSE {s['rmse']['value']:.2f} m w.e. (n {s['n']})"


def _balance_limits(observed: np.ndarray) -> tuple[float, float]:
    """Axis limits (m w.e.): the observed range widened by half its span, so wild extrapolations do not hide the data."""
    low, high = float(np.nanmin(observed)), float(np.nanmax(observed))
    pad = 0.5 * (high - low) + 0.1
    return low - pad, high + pad


def _off_scale(predicted: pd.Series, limits: tuple[float, float]) -> str:
    n = int(((predicted < limits[0]) | (predicted > limits[1])).sum())
    return f", {n} beyond the axes" if n else ""


def plot_scatter(
    table: pd.DataFrame,
    summary: Mapping[str, Any],
    predictions: Mapping[str, pd.DataFrame],
    *,
    predictor: str = DEFAULT_PREDICTOR,
) -> Figure:
    """Left: AAR vs balance by glacier with the pooled and glacier-specific lines; right: cross-validated predictions vs observed.

    Args:
        table: the matched glacier-years (``aar_{predictor}``, ``balance`` in m w.e.).
        summary, predictions: :func:`~modeling.mass_balance.regression.regress` outputs for ``predictor``.
        predictor: the class set on the x axis.
    """
    colours = _glacier_colours(table["glacier"])
    lim = _balance_limits(table["balance"].to_numpy(float))
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    grid = np.linspace(0, 1, 2)
    for glacier, rows in table.groupby("glacier"):
        gx, gy = aar_and_balance(rows, predictor)
        left.scatter(gx, gy, color=colours[glacier], s=24, label=glacier)
        line = summary.get("glacier_specific", {}).get("in_sample", {}).get("slope", {}).get(glacier)
        if line:
            intercept = summary["glacier_specific"]["in_sample"]["intercept"][glacier]["value"]
            span = np.array([gx.min(), gx.max()])
            left.plot(span, intercept + line["value"] * span, color=colours[glacier], lw=0.8)
    pooled = summary["pooled"]["in_sample"]
    slope, intercept = pooled["slope"][ALL_GLACIERS], pooled["intercept"][ALL_GLACIERS]
    left.plot(
        grid,
        intercept["value"] + slope["value"] * grid,
        color="k",
        lw=1.5,
        label=f"pooled: {slope['value']:.2f} [{slope['low']:.2f}, {slope['high']:.2f}] m w.e./AAR",
    )
    left.set_xlabel(f"AAR ({predictor.replace('_', ' + ')}, observed area)")
    left.set_ylabel("annual balance (m w.e.)")
    left.set_xlim(0, 1)
    left.legend(fontsize="x-small", ncols=2)
    for model, marker in (("pooled", "o"), ("glacier_specific", "s"), ("glacier_offsets", "^")):
        if model in predictions:
            cv = predictions[model]
            right.scatter(
                cv["observed"],
                cv["predicted"],
                marker=marker,
                s=20,
                alpha=0.7,
                label=f"{model.replace('_', ' ')} ({summary[model]['cross_validated']['scheme']}): "
                f"{_label(summary[model]['cross_validated'])}{_off_scale(cv['predicted'], lim)}",
            )
    right.plot(lim, lim, color="0.5", lw=0.8)
    right.set_xlim(lim)
    right.set_ylim(lim)
    right.set_xlabel("observed balance (m w.e.)")
    right.set_ylabel("cross-validated prediction (m w.e.)")
    right.legend(fontsize="x-small", loc="upper left")
    return fig


def plot_timeseries(predictions: Mapping[str, pd.DataFrame]) -> Figure:
    """Per glacier: observed balances and cross-validated predictions of each model over the years.

    Args:
        predictions: model -> :class:`~modeling.mass_balance.regression.CrossValidation` predictions
            (glacier, year, observed and predicted balances in m w.e.).
    """
    pooled = predictions["pooled"]
    limits = _balance_limits(pooled["observed"].to_numpy(float))
    glaciers = sorted(set(pooled["glacier"]))
    cols = min(4, len(glaciers))
    rows = math.ceil(len(glaciers) / cols)
    fig = Figure(figsize=(3.4 * cols, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for ax, glacier in zip(axes.flat, glaciers):
        obs = pooled[pooled["glacier"] == glacier].sort_values("year")
        ax.plot(obs["year"], obs["observed"], "ko-", ms=4, lw=1, label="observed")
        for model, style in (("pooled", "C0s--"), ("glacier_specific", "C1^:"), ("glacier_offsets", "C2v:")):
            if model in predictions:
                cv = predictions[model]
                cv = cv[cv["glacier"] == glacier].sort_values("year")
                ax.plot(
                    cv["year"],
                    cv["predicted"],
                    style,
                    ms=4,
                    lw=1,
                    label=f"{model.replace('_', ' ')} (CV{_off_scale(predictions[model]['predicted'], limits)})",
                )
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_title(glacier, fontsize="small")
    for ax in axes.flat[len(glaciers) :]:
        ax.set_axis_off()
    axes[0, 0].set_ylabel("balance (m w.e.)")
    axes[0, 0].set_ylim(limits)
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    axes.flat[0].legend(fontsize="xx-small")
    return fig
