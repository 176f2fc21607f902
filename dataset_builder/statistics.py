"""Per-band statistics of a built dataset (``statistics.json``), accumulated in one streaming pass.

The published model normalises every band with the global min-max over the whole dataset;
``BandStatistics`` carries those figures (plus mean and std) and is what models read with
``--stats``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from dataset_builder.schema import BANDS_BY_NAME, CLASS_NAMES, NUM_FOLDS, check_bands

STATISTICS_FILE = "statistics.json"


@dataclass
class BandStatistics:
    """Statistics of one band over every patch pixel of the dataset (NaN and nodata fill of padded patches excluded)."""

    name: str
    unit: str
    min: float
    max: float
    mean: float
    std: float
    count: int = 0  # pixels the figures cover


@dataclass
class DatasetStatistics:
    """What ``statistics.json`` holds: per-band figures and class counts per fold and config."""

    bands: list[BandStatistics]
    dtype: str
    patch_size: int
    num_rows: int
    #: class counts per config (``full``, ``pruned``), split name and class.
    class_counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    #: the same band figures per split (fold), so training statistics can exclude the test fold.
    split_bands: dict[str, list[BandStatistics]] = field(default_factory=dict)

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def minmax(self, bands: Sequence[str] | None = None) -> tuple[list[float], list[float]]:
        """Per-band minima and maxima, in the order of ``bands`` (default: all bands held)."""
        by_name = {b.name: b for b in self.bands}
        names = self.band_names if bands is None else tuple(bands)
        missing = [n for n in names if n not in by_name]
        if missing:
            raise KeyError(f"statistics hold no band(s) {missing}; they cover {list(self.band_names)}")
        return [by_name[n].min for n in names], [by_name[n].max for n in names]

    def for_splits(self, splits: Sequence[str]) -> "DatasetStatistics":
        """Statistics over the given splits only (e.g. the training folds), pooled exactly."""
        missing = [s for s in splits if s not in self.split_bands]
        if missing:
            raise KeyError(f"no per-split statistics for {missing}; have {sorted(self.split_bands)}")
        pooled = [pool_band_statistics([self.split_bands[s][i] for s in splits]) for i in range(len(self.bands))]
        counts = {
            config: {s: per_split[s] for s in splits if s in per_split}
            for config, per_split in self.class_counts.items()
        }
        rows = sum(sum(c.values()) for c in counts.get("full", {}).values())
        return DatasetStatistics(
            bands=pooled,
            dtype=self.dtype,
            patch_size=self.patch_size,
            num_rows=rows,
            class_counts=counts,
            split_bands={s: self.split_bands[s] for s in splits},
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> "DatasetStatistics":
        return cls(
            bands=[BandStatistics(**b) for b in data["bands"]],
            dtype=data["dtype"],
            patch_size=int(data["patch_size"]),
            num_rows=int(data["num_rows"]),
            class_counts=data.get("class_counts", {}),
            split_bands={k: [BandStatistics(**b) for b in v] for k, v in data.get("split_bands", {}).items()},
        )

    @classmethod
    def load(cls, path: str | Path) -> "DatasetStatistics":
        """Read ``statistics.json`` from a built dataset folder or the file itself."""
        path = Path(path)
        if path.is_dir():
            path = path / STATISTICS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no {STATISTICS_FILE}; build the dataset first (scripts/build_dataset.py)")
        return cls.from_dict(json.loads(path.read_text()))


class StatisticsAccumulator:
    """Streaming per-band min, max, mean and std, in float64 (Chan's parallel update)."""

    def __init__(self, bands: Sequence[str]):
        self.bands = check_bands(bands)
        n = len(self.bands)
        self.count = np.zeros(n, dtype=np.int64)
        self.mean = np.zeros(n)
        self.m2 = np.zeros(n)
        self.min = np.full(n, np.inf)
        self.max = np.full(n, -np.inf)

    def update(self, patches: np.ndarray, fill: np.ndarray | None = None) -> None:
        """Add a batch of patches, shape (N, bands, H, W); non-finite pixels and pixels equal to their row's ``fill``
        (the nodata value of a padded patch, (N,); NaN: none) are left out."""
        if patches.shape[0] == 0:
            return
        filled = None if fill is None or not np.isfinite(fill).any() else np.asarray(fill)[:, None, None]
        for b in range(len(self.bands)):
            x = patches[:, b]
            keep = np.isfinite(x) if np.issubdtype(x.dtype, np.floating) else np.ones(x.shape, bool)
            if filled is not None:
                keep &= x != filled
            if not keep.all():
                x = x[keep]
            cnt = x.size
            if cnt == 0:
                continue
            x64 = x.astype(np.float64).ravel()  # one band of one batch at a time: small
            bmean = float(x64.mean())
            bm2 = float(np.square(x64 - bmean).sum())
            total = self.count[b] + cnt
            delta = bmean - self.mean[b]
            self.mean[b] += delta * cnt / total
            self.m2[b] += bm2 + delta**2 * self.count[b] * cnt / total
            self.count[b] = total
            self.min[b] = min(self.min[b], float(x.min()))
            self.max[b] = max(self.max[b], float(x.max()))

    def band_statistics(self) -> list[BandStatistics]:
        out = []
        for i, name in enumerate(self.bands):
            n = int(self.count[i])
            std = math.sqrt(self.m2[i] / n) if n else float("nan")
            out.append(
                BandStatistics(
                    name=name,
                    unit=BANDS_BY_NAME[name].unit,
                    min=float(self.min[i]) if n else float("nan"),
                    max=float(self.max[i]) if n else float("nan"),
                    mean=float(self.mean[i]) if n else float("nan"),
                    std=std,
                    count=n,
                )
            )
        return out


def pool_band_statistics(parts: Sequence[BandStatistics]) -> BandStatistics:
    """Combine one band's statistics over disjoint parts (counts weight the mean and variance)."""
    parts = [p for p in parts if p.count > 0]
    if not parts:
        raise ValueError("no part holds any pixel of this band")
    n = sum(p.count for p in parts)
    mean = sum(p.count * p.mean for p in parts) / n
    var = sum(p.count * (p.std**2 + (p.mean - mean) ** 2) for p in parts) / n
    return BandStatistics(
        name=parts[0].name,
        unit=parts[0].unit,
        min=min(p.min for p in parts),
        max=max(p.max for p in parts),
        mean=mean,
        std=math.sqrt(var),
        count=n,
    )


def empty_class_counts() -> dict[str, dict[str, int]]:
    """Zero counts for every fold split and class."""
    return {f"fold_{k}": {c: 0 for c in CLASS_NAMES} for k in range(NUM_FOLDS)}
