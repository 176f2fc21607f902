"""Batches of labelled patches as the readers produce them and the writer consumes them."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date as _date
from pathlib import Path
from typing import Sequence

import numpy as np

from dataset_builder.errors import InvalidSourceError
from dataset_builder.schema import BANDS_BY_NAME, COLUMNS


@dataclass
class SkipReport:
    """What ``skip_invalid`` left out, counted by reason, with a few examples each."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, error: InvalidSourceError, count: int = 1) -> None:
        """Count ``count`` items left out for ``error``'s reason (``error`` names the first as an example)."""
        reason = _reason_key(error.reason)
        self.counts[reason] += count
        examples = self.examples.setdefault(reason, [])
        if len(examples) < 5:
            examples.append(str(error))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"total": self.total, "by_reason": dict(sorted(self.counts.items())), "examples": self.examples}


def refuse(error: InvalidSourceError, skipped: SkipReport | None) -> None:
    """Raise ``error``, or count it in ``skipped`` when given (invalid input skipped)."""
    if skipped is None:
        raise error
    skipped.add(error)


def _reason_key(reason: str) -> str:
    """Group messages that differ only in values (``unknown class 'foo'`` -> ``unknown class``)."""
    return re.split(r"[:;(']", reason, maxsplit=1)[0].strip() or reason


def parse_date(text: str, where: str | Path) -> str:
    """Normalise a date given as YYYYMMDD, YYYY-MM-DD or YYYY_MM_DD to ISO ``YYYY-MM-DD``."""
    s = str(text).strip()
    m = re.fullmatch(r"(\d{4})[-_]?(\d{2})[-_]?(\d{2})(?:[T ].*)?", s)
    if not m:
        raise InvalidSourceError(where, f"date {text!r} is not YYYYMMDD or YYYY-MM-DD")
    try:
        return _date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        raise InvalidSourceError(where, f"date {text!r} is not a calendar date") from None


def scene_id(glacier: str, date: str) -> str:
    """The scene of a label: glacier and acquisition date."""
    return f"{glacier}_{date}"


@dataclass
class PatchBatch:
    """Rows in columnar form. ``patches`` has shape (N, bands, H, W) in the source dtype."""

    sample_id: np.ndarray  # (N,) str
    patches: np.ndarray  # (N, bands, H, W)
    label: np.ndarray  # (N,) int64 class codes
    fold: np.ndarray  # (N,) int8
    glacier: np.ndarray  # (N,) str
    date: np.ndarray  # (N,) str, ISO
    scene: np.ndarray  # (N,) str
    sensor: np.ndarray  # (N,) object, str or None
    x: np.ndarray  # (N,) float64, patch centre in the CRS, NaN where not georeferenced
    y: np.ndarray  # (N,) float64
    crs: np.ndarray  # (N,) object, WKT/EPSG string or None
    padded: np.ndarray  # (N,) bool, patch crossed the scene edge or nodata and was filled
    label_issue: np.ndarray  # (N,) bool
    label_quality: np.ndarray  # (N,) float32, NaN until pruning
    #: (N,) float64, the nodata value that fills part of a padded patch (NaN: none). Not stored: the build keeps these
    #: pixels out of the statistics and the plausibility checks. Default: all NaN.
    fill: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.fill is None:
            self.fill = np.full(len(self.sample_id), np.nan)

    def __len__(self) -> int:
        return len(self.sample_id)

    def take(self, index: np.ndarray) -> "PatchBatch":
        """The rows at ``index`` (integer positions or a boolean mask)."""
        return PatchBatch(**{name: getattr(self, name)[index] for name in _FIELDS})

    @classmethod
    def concat(cls, batches: list["PatchBatch"]) -> "PatchBatch":
        return cls(**{name: np.concatenate([getattr(b, name) for b in batches]) for name in _FIELDS})


#: PatchBatch field names; the schema's columns, with ``patch`` held as ``patches``.
COLUMNS_WITH_PATCHES: tuple[str, ...] = tuple("patches" if c == "patch" else c for c in COLUMNS)
_FIELDS = (*COLUMNS_WITH_PATCHES, "fill")


def implausible_values(patches: np.ndarray, bands: Sequence[str], fill: np.ndarray) -> dict[int, str]:
    """Rows of ``patches`` (N, bands, H, W) holding values their band cannot physically take (``Band.plausible``).

    Pixels equal to the row's ``fill`` (nodata, (N,); NaN: none) and NaN pixels are left aside.

    Returns:
        row -> the reason, naming the first such band, its range and an offending value.
    """
    ranges = np.array([BANDS_BY_NAME[name].plausible for name in bands], dtype=np.float64)
    low, high = ranges[:, 0, None, None], ranges[:, 1, None, None]
    fill = np.asarray(fill, dtype=np.float64)[:, None, None, None]
    bad = ((patches < low) | (patches > high)) & (patches != fill)  # NaN fill: nothing left aside
    found: dict[int, str] = {}
    for row, b in zip(*np.nonzero(bad.any(axis=(2, 3)))):
        if row not in found:
            band = BANDS_BY_NAME[bands[b]]
            wrong = patches[row, b][bad[row, b]]
            found[int(row)] = (
                f"values outside the plausible range of band {band.name}, [{ranges[b, 0]:g}, {ranges[b, 1]:g}] "
                f"{band.unit}: {wrong.size} pixel(s), e.g. {wrong.flat[0]:g}; an undeclared nodata value, or scaled "
                "values?"
            )
    return found
