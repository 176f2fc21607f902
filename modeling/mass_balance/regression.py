"""AAR-balance regressions: pooled and glacier-specific least-squares fits, their scores and cross-validation.

Balances are in m w.e.; slopes are m w.e. per unit AAR. Inputs are the matched glacier-year tables
(``glacier``, ``year``, ``balance``, ``aar_{class set}``); outputs are plain numbers and JSON-ready summaries.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from modeling.errors import MassBalanceInputError
from modeling.mass_balance.maps import DEFAULT_PREDICTOR
from modeling.mass_balance.notes import warn

#: Regression models: one line for all glaciers, one per glacier, one shared slope with glacier offsets.
MODELS: tuple[str, ...] = ("pooled", "glacier_specific", "glacier_offsets")
#: Key of the shared slope/intercept in :attr:`Fit.slope` and :attr:`Fit.intercept`.
ALL_GLACIERS = "*"
#: Fewest glacier-years a glacier needs in the leave-one-year-out cross-validation of glacier-specific lines: each
#: fold fits the glacier's line on its other years, and a line through two points has no residual to say how wrong
#: it is; where their AARs nearly agree its slope explodes (three scenes per glacier gave a cross-validated RMSE of
#: 3 km w.e. that way). Glacier offsets share one slope and need no more than ``min_years``.
GLACIER_LINE_CV_MIN_YEARS = 4


@dataclass(frozen=True)
class Estimate:
    """A fitted value with its two-sided confidence interval (NaN where undefined)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Fit:
    """Fitted lines: balance (m w.e.) = intercept + slope * AAR.

    Attributes:
        model: one of :data:`MODELS`.
        predictor: the class set name.
        slope: glacier (or :data:`ALL_GLACIERS` when shared) -> slope, m w.e. per unit AAR.
        intercept: glacier (or :data:`ALL_GLACIERS`) -> intercept, m w.e.
        n: records used.
    """

    model: str
    predictor: str
    slope: dict[str, Estimate]
    intercept: dict[str, Estimate]
    n: int

    def predict(self, glaciers: Sequence[str], aar: np.ndarray) -> np.ndarray:
        """``(n,)`` balances in m w.e. for glaciers and AARs; NaN for glaciers the fit does not cover."""

        def value(table: dict[str, Estimate], glacier: str) -> float:
            return table.get(glacier, table.get(ALL_GLACIERS, Estimate(math.nan, math.nan, math.nan))).value

        return np.array(
            [value(self.intercept, g) + value(self.slope, g) * x for g, x in zip(glaciers, np.asarray(aar, float))]
        )


@dataclass(frozen=True)
class Score:
    """Agreement of predictions with observed balances.

    Attributes:
        n: records compared.
        r: Pearson r with a Fisher-z interval (needs n > 3).
        rmse: root-mean-square error in m w.e., interval from n * rmse^2 / sigma^2 ~ chi2(n).
        bias: mean predicted - observed, m w.e.
    """

    n: int
    r: Estimate
    rmse: Estimate
    bias: float


def _ols(design: np.ndarray, y: np.ndarray, confidence: float) -> list[Estimate]:
    """Least squares with t intervals: ``design`` ``(n, p)``, ``y`` ``(n,)`` -> p estimates."""
    n, p = design.shape
    if np.linalg.matrix_rank(design) < p:
        raise np.linalg.LinAlgError("the AARs do not vary enough to fit a slope")
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = n - p
    if dof == 0:
        return [Estimate(float(c), math.nan, math.nan) for c in coef]
    sigma2 = float(np.sum((y - design @ coef) ** 2)) / dof
    se = np.sqrt(np.diag(np.linalg.inv(design.T @ design)) * sigma2)
    half = stats.t.ppf(0.5 + confidence / 2, dof) * se
    return [Estimate(float(c), float(c - h), float(c + h)) for c, h in zip(coef, half)]


def aar_and_balance(table: pd.DataFrame, predictor: str) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` AARs of class set ``predictor`` (0-1) and ``(n,)`` balances (m w.e.) of the glacier-years in ``table``."""
    column = f"aar_{predictor}"
    if column not in table:
        raise ValueError(f"no column {column!r}: predictor must be one of the class sets")
    return table[column].to_numpy(float), table["balance"].to_numpy(float)


def fit_pooled(table: pd.DataFrame, *, predictor: str = DEFAULT_PREDICTOR, confidence: float = 0.95) -> Fit:
    """One line for all glaciers.

    Args:
        table: glacier-years with ``glacier``, ``balance`` (m w.e.) and ``aar_{predictor}``.
        predictor: class set name.
        confidence: level of the intervals (0-1).
    """
    x, y = aar_and_balance(table, predictor)
    intercept, slope = _ols(np.column_stack([np.ones_like(x), x]), y, confidence)
    return Fit("pooled", predictor, {ALL_GLACIERS: slope}, {ALL_GLACIERS: intercept}, len(y))


def _glaciers_with_years(table: pd.DataFrame, min_years: int) -> tuple[pd.DataFrame, list[str]]:
    """The records of glaciers with at least ``min_years`` of them, and the glaciers left out (sorted)."""
    counts = table["glacier"].value_counts()
    few = sorted(counts.index[counts < min_years])
    return table[~table["glacier"].isin(few)], few


def fit_glacier_specific(
    table: pd.DataFrame,
    *,
    predictor: str = DEFAULT_PREDICTOR,
    shared_slope: bool = False,
    min_years: int = 3,
    confidence: float = 0.95,
    quiet: bool = False,
) -> Fit:
    """Glacier-specific calibration: a line per glacier, or one slope with an intercept per glacier.

    Glaciers with fewer than ``min_years`` records (or AARs that do not vary) are left out, with a
    warning unless ``quiet``.

    Args:
        table: glacier-years with ``glacier``, ``balance`` (m w.e.) and ``aar_{predictor}``.
        predictor: class set name.
        shared_slope: fit one slope for all glaciers with glacier offsets (model ``glacier_offsets``).
        min_years: fewest records per glacier (2 fit a line exactly, without an interval).
        confidence: level of the intervals (0-1).
        quiet: no warnings (cross-validation refits).
    """
    if min_years < 2:
        raise ValueError(f"min_years must be at least 2, got {min_years}")
    table, few = _glaciers_with_years(table, min_years)
    if few and not quiet:
        warn(
            f"{len(few)} glacier(s) with fewer than {min_years} glacier-years left out of glacier-specific fits: {', '.join(few)}"
        )
    if table.empty:
        raise MassBalanceInputError(f"no glacier has {min_years} or more glacier-years for a glacier-specific fit")
    if shared_slope:
        glaciers = sorted(set(table["glacier"]))
        x, y = aar_and_balance(table, predictor)
        dummies = (table["glacier"].to_numpy()[:, None] == np.array(glaciers)[None, :]).astype(float)
        *intercepts, slope = _ols(np.column_stack([dummies, x]), y, confidence)
        return Fit("glacier_offsets", predictor, {ALL_GLACIERS: slope}, dict(zip(glaciers, intercepts)), len(y))
    slopes, intercepts, n = {}, {}, 0
    for glacier, rows in table.groupby("glacier"):
        x, y = aar_and_balance(rows, predictor)
        try:
            intercepts[glacier], slopes[glacier] = _ols(np.column_stack([np.ones_like(x), x]), y, confidence)
            n += len(y)
        except np.linalg.LinAlgError as err:
            if not quiet:
                warn(f"{glacier}: no glacier-specific fit ({err})")
    return Fit("glacier_specific", predictor, slopes, intercepts, n)


def score(observed: np.ndarray, predicted: np.ndarray, *, confidence: float = 0.95) -> Score:
    """r, RMSE (m w.e.) and bias of ``(n,)`` predictions against ``(n,)`` observations; NaN pairs are skipped."""
    observed, predicted = np.asarray(observed, float), np.asarray(predicted, float)
    ok = np.isfinite(observed) & np.isfinite(predicted)
    o, p = observed[ok], predicted[ok]
    n = int(ok.sum())
    nan = Estimate(math.nan, math.nan, math.nan)
    if n < 2:
        return Score(n, nan, nan, math.nan)
    alpha = 1 - confidence
    r = float(np.corrcoef(o, p)[0, 1]) if np.std(o) > 0 and np.std(p) > 0 else math.nan
    if n > 3 and np.isfinite(r):
        z, half = np.arctanh(np.clip(r, -0.999999, 0.999999)), stats.norm.ppf(1 - alpha / 2) / math.sqrt(n - 3)
        r_est = Estimate(r, float(np.tanh(z - half)), float(np.tanh(z + half)))
    else:
        r_est = Estimate(r, math.nan, math.nan)
    sse = float(np.sum((p - o) ** 2))
    rmse = Estimate(
        math.sqrt(sse / n),
        math.sqrt(sse / stats.chi2.ppf(1 - alpha / 2, n)),
        math.sqrt(sse / stats.chi2.ppf(alpha / 2, n)),
    )
    return Score(n, r_est, rmse, float(np.mean(p - o)))


def fit(
    table: pd.DataFrame,
    *,
    model: str,
    predictor: str = DEFAULT_PREDICTOR,
    confidence: float = 0.95,
    min_years: int = 3,
    quiet: bool = False,
) -> Fit:
    """Fit one of :data:`MODELS` (:func:`fit_pooled` or :func:`fit_glacier_specific`; ``min_years`` and ``quiet`` for the latter)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")
    if model == "pooled":
        return fit_pooled(table, predictor=predictor, confidence=confidence)
    return fit_glacier_specific(
        table,
        predictor=predictor,
        shared_slope=model == "glacier_offsets",
        min_years=min_years,
        confidence=confidence,
        quiet=quiet,
    )


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-sample predictions of one model.

    Attributes:
        model: one of :data:`MODELS`.
        scheme: ``"leave one glacier out"`` (pooled) or ``"leave one year out"`` (glacier-specific).
        predictions: glacier, year, observed, predicted (m w.e.; NaN where no fit covered the record).
        fold_slopes: ``(folds,)`` (or ``(folds x glaciers,)``) slopes fitted on the training sets, m w.e. per unit AAR.
        score: :func:`score` of the predictions.
    """

    model: str
    scheme: str
    predictions: pd.DataFrame
    fold_slopes: np.ndarray
    score: Score


def cross_validation(
    table: pd.DataFrame, *, model: str, predictor: str = DEFAULT_PREDICTOR, confidence: float = 0.95, min_years: int = 3
) -> CrossValidation:
    """Cross-validate a model: leave one glacier out (pooled) or leave one balance year out (glacier-specific).

    Each fold refits on the other glaciers (years) and predicts the held-out records; glacier-specific
    models use only glaciers with ``min_years`` (at least 3; for a line per glacier at least
    :data:`GLACIER_LINE_CV_MIN_YEARS`) records in the whole table, refitted on the other years. With none,
    nothing is predicted and the score is undefined (n 0, NaN).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")
    if min_years < 3:
        raise ValueError(f"min_years must be at least 3 for cross-validation (2 left to fit), got {min_years}")
    if model == "pooled":
        group, scheme = "glacier", "leave one glacier out"
    else:
        if model == "glacier_specific":
            min_years = max(min_years, GLACIER_LINE_CV_MIN_YEARS)
        table, few = _glaciers_with_years(table, min_years)
        if few:
            warn(f"{model} cross-validation leaves out {len(few)} glacier(s) with fewer than {min_years} glacier-years")
        group, scheme = "year", "leave one year out"
    predicted = np.full(len(table), math.nan)
    slopes: list[float] = []
    for held_out in sorted(set(table[group])):
        test = (table[group] == held_out).to_numpy()
        try:
            fold = fit(
                table[~test],
                model=model,
                predictor=predictor,
                confidence=confidence,
                min_years=min_years - 1,
                quiet=True,
            )
        except (np.linalg.LinAlgError, MassBalanceInputError):
            continue
        predicted[test] = fold.predict(table["glacier"].to_numpy()[test], aar_and_balance(table[test], predictor)[0])
        slopes.extend(e.value for e in fold.slope.values())
    observed = table["balance"].to_numpy(float)
    predictions = pd.DataFrame(
        {
            "glacier": table["glacier"].to_numpy(),
            "year": table["year"].to_numpy(),
            "observed": observed,
            "predicted": predicted,
        }
    )
    return CrossValidation(
        model, scheme, predictions, np.array(slopes), score(observed, predicted, confidence=confidence)
    )


def _model_summary(fitted: Fit, in_sample: Score, cv: CrossValidation) -> dict[str, Any]:
    return {
        "in_sample": {
            "score": asdict(in_sample),
            "slope": {g: asdict(e) for g, e in fitted.slope.items()},
            "intercept": {g: asdict(e) for g, e in fitted.intercept.items()},
            "n": fitted.n,
        },
        "cross_validated": {
            "scheme": cv.scheme,
            "score": asdict(cv.score),
            "fold_slopes": {
                "n": int(cv.fold_slopes.size),
                **(
                    {
                        "min": float(cv.fold_slopes.min()),
                        "median": float(np.median(cv.fold_slopes)),
                        "max": float(cv.fold_slopes.max()),
                    }
                    if cv.fold_slopes.size
                    else {}
                ),
            },
            "not_predicted": int(cv.predictions["predicted"].isna().sum()),
        },
    }


def regress(
    table: pd.DataFrame, *, predictor: str, confidence: float = 0.95, min_years: int = 3
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """All :data:`MODELS` for one predictor, in-sample and cross-validated.

    Returns:
        The summary per model (JSON-ready) and the cross-validated predictions per model.
    """
    summary, predictions = {}, {}
    for model in MODELS:
        try:
            fitted = fit(table, model=model, predictor=predictor, confidence=confidence, min_years=min_years)
        except (np.linalg.LinAlgError, MassBalanceInputError) as err:
            warn(f"{predictor}: no {model} fit ({err})")
            continue
        x, y = aar_and_balance(table, predictor)
        cv = cross_validation(table, model=model, predictor=predictor, confidence=confidence, min_years=min_years)
        summary[model] = _model_summary(
            fitted, score(y, fitted.predict(table["glacier"].to_numpy(), x), confidence=confidence), cv
        )
        predictions[model] = cv.predictions
    return summary, predictions


def compare_with_generating(summary: Mapping[str, Any], generating: Mapping[str, Any]) -> dict[str, Any]:
    """Fitted slopes and intercepts of one predictor's :func:`regress` summary beside the generating ones (m w.e.)."""
    out: dict[str, Any] = {
        "generating_slope": generating["slope"],
        "generating_intercept": generating["intercept"],
        "noise_sd": generating["noise_sd"],
    }
    for model in ("pooled", "glacier_offsets"):
        if model in summary:
            slope = summary[model]["in_sample"]["slope"][ALL_GLACIERS]
            out[f"{model}_slope"] = slope
            out[f"{model}_slope_ci_covers_generating"] = bool(slope["low"] <= generating["slope"] <= slope["high"])
    if "pooled" in summary:
        out["pooled_intercept"] = summary["pooled"]["in_sample"]["intercept"][ALL_GLACIERS]
    if "glacier_offsets" in summary:
        fitted = summary["glacier_offsets"]["in_sample"]["intercept"]
        out["glacier_offsets_intercepts"] = {
            g: {
                "generating": generating["intercept_per_glacier"].get(g),
                "fitted": e["value"],
                "low": e["low"],
                "high": e["high"],
            }
            for g, e in fitted.items()
        }
    return out
