"""Confidence calibration: expected calibration error, reliability curve, temperature scaling and its undoing.

Confidence is the max-softmax probability, as in the study. Temperature scaling divides the logits by one
scalar ``T`` fitted on the validation fold by minimising the negative log-likelihood; it never changes
the predicted class. ``FaciesCNNConfig.calibration = {"temperature": T}`` stores it (plain JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax

#: Search range of the temperature (log-uniform bounds).
TEMPERATURE_BOUNDS = (0.05, 20.0)
_LOG_FLOOR = 1e-12


def _check(scores: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"expected scores of shape (N, classes >= 2), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    if y is None:
        return scores, None
    y = np.asarray(y)
    if y.shape != (len(scores),):
        raise ValueError(f"expected {len(scores)} labels, got shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= scores.shape[1]):
        raise ValueError(f"labels must be label codes 0-{scores.shape[1] - 1}")
    return scores, y.astype(np.int64)


def is_probability(scores: np.ndarray) -> bool:
    """True when every row of ``scores`` (N, classes) lies in [0, 1] and sums to 1 (within 1e-4)."""
    scores = np.asarray(scores, dtype=np.float64)
    return bool(np.all((scores >= 0) & (scores <= 1)) and np.allclose(scores.sum(axis=1), 1, atol=1e-4))


def as_logits(logits_or_proba: np.ndarray) -> np.ndarray:
    """Logits (N, classes) float64: probabilities are turned into log-probabilities (logits up to a row shift)."""
    scores, _ = _check(logits_or_proba)
    return np.log(np.clip(scores, _LOG_FLOOR, None)) if is_probability(scores) else scores


def apply_temperature(logits_or_proba: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities (N, classes) float32: ``softmax(logits / T)``.

    Applying ``1 / T`` to probabilities calibrated with ``T`` gives back the uncalibrated ones.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return softmax(as_logits(logits_or_proba) / temperature, axis=1).astype(np.float32)


def fit_temperature(logits_or_proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the mean negative log-likelihood of ``softmax(logits / T)`` on (scores, y).

    Args:
        logits_or_proba: (N, classes) logits, or probabilities (recognised by :func:`is_probability`).
        y: (N,) true label codes.

    Returns:
        T in ``TEMPERATURE_BOUNDS``; T > 1 softens over-confident scores.
    """
    logits, y = _check(as_logits(logits_or_proba), y)
    if len(y) == 0:
        raise ValueError("cannot fit a temperature on zero samples")
    true = logits[np.arange(len(y)), y]

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        return float(np.mean(logsumexp(z, axis=1) - true / np.exp(log_t)))

    lo, hi = np.log(TEMPERATURE_BOUNDS)
    best = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-5})
    return float(np.exp(best.x))


@dataclass(frozen=True)
class ReliabilityCurve:
    """Max-softmax confidence against accuracy in equal-width bins over [0, 1].

    Attributes:
        edges: (n_bins + 1,) bin edges.
        confidence: (n_bins,) mean confidence per bin (NaN for empty bins).
        accuracy: (n_bins,) accuracy per bin (NaN for empty bins).
        count: (n_bins,) samples per bin.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over bins of (share of samples) * |accuracy - confidence|."""
        filled = self.count > 0
        weights = self.count[filled] / self.count.sum()
        return float(np.sum(weights * np.abs(self.accuracy[filled] - self.confidence[filled])))


def reliability_curve(proba: np.ndarray, y: np.ndarray, n_bins: int = 15) -> ReliabilityCurve:
    """Bin the max-softmax confidence of ``proba`` (N, classes) into ``n_bins`` equal-width bins (right-closed)."""
    proba, y = _check(proba, y)
    if n_bins < 1:
        raise ValueError(f"n_bins must be positive, got {n_bins}")
    if len(y) == 0:
        raise ValueError("no samples")
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        acc = np.bincount(which, weights=correct, minlength=n_bins) / count
    return ReliabilityCurve(edges, conf, acc, count)


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of the max-softmax confidence, ``n_bins`` equal-width bins."""
    return reliability_curve(proba, y, n_bins).ece


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
