"""The results JSON every evaluation writes (:class:`ResultsRecord`), the dataset revision it names, and its
Markdown summary table."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from dataset_builder.atomic import atomic_write_text
from dataset_builder.schema import CLASS_NAMES
from hub_cards.markdown import table
from modeling.evaluation.metrics import SUMMARY_METRICS
from modeling.network import JsonOptions

RESULTS_SCHEMA_VERSION = 1


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ResultsRecord(JsonOptions):
    """One evaluation result (a fold or a pooled cross-validation), the schema every results JSON uses.

    Attributes:
        method: what made the predictions (``cnn``, ``baseline``, ...).
        dataset: ``{"path", "config" (labels trained on), "revision" (see :func:`dataset_revision`)}``.
        folds: test folds covered (pooled when several).
        seeds: training seeds.
        metrics: per label config (``pruned``, ``full``), a :func:`modeling.evaluation.metrics.classification_report` dict plus
            ``calibration`` (``ece`` and, when known, ``ece_before`` / ``ece_after``).
        details: anything else (training recipe, validation scores, timings); ``temperature`` maps each
            test fold (as a string) to the temperature its probabilities were calibrated with.
        created: ISO 8601 UTC timestamp.
    """

    OPTION_KIND = "results field"

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
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "ResultsRecord":
        data = json.loads(text)
        version = data.get("schema_version")
        if version != RESULTS_SCHEMA_VERSION:
            raise ValueError(f"results schema version {version!r}; this code reads version {RESULTS_SCHEMA_VERSION}")
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "ResultsRecord":
        return cls.from_json(Path(path).read_text())


def summary_table(metrics: Mapping[str, Mapping[str, Any]], class_names: Sequence[str] = CLASS_NAMES) -> str:
    """A Markdown table of per-class F1 and the summary metrics, one column per label config."""
    configs = list(metrics)

    def pct(v: Any) -> str:
        return "-" if v is None else f"{100 * v:.1f}"

    rows = [
        [f"F1 {name}", *(pct((metrics[c]["per_class"][name] or {}).get("f1")) for c in configs)] for name in class_names
    ]
    for key in SUMMARY_METRICS:
        cells = []
        for c in configs:
            ci = metrics[c]["ci95"].get(key)
            cells.append(pct(metrics[c][key]) + (f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else ""))
        rows.append([key, *cells])
    glacier = [metrics[c]["glacier_macro_f1"] for c in configs]
    rows.append(["glacier-wise macro_f1", *(f"{pct(g['mean'])} +- {pct(g['std'])}" if g else "-" for g in glacier)])
    cal = [metrics[c].get("calibration", {}) for c in configs]
    if all("ece_before" in c for c in cal):
        rows.append(["ECE before -> after", *(f"{c['ece_before']:.3f} -> {c['ece_after']:.3f}" for c in cal)])
    elif all("ece" in c for c in cal):
        rows.append(["ECE", *(f"{c['ece']:.3f}" for c in cal)])
    return table(["metric", *configs], rows)
