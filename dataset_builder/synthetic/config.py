"""The parameters of one synthetic benchmark; the defaults make the embedded default data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from dataset_builder.schema import NUM_FOLDS, PATCH_SIZE
from dataset_builder.synthetic.sensors import sensors_of

#: Labels per fold of the released dataset (Maslov et al., "Automating glacier facies classification: pan-European
#: dataset and deep learning baseline", dataset doi:10.5281/zenodo.18469893); folds here get the same proportions.
REAL_FOLD_SIZES: tuple[int, ...] = (10354, 9083, 30613, 14093, 16787, 56662)


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of one synthetic benchmark; the defaults are the embedded default data."""

    seed: int = 20240601
    n_glaciers: int = 12
    scenes_per_glacier: int = 3
    scene_size: int = 384  # px on the 10 m grid; a multiple of 6 (Landsat 30 m and S2 20 m blocks)
    n_labels: int = 2400  # target number of point labels in all
    noise_rate: float = 0.15  # share of facies labels given a neighbouring class
    boundary_px: float = 3.0  # a label this close to an ambiguous boundary is "near" it
    boundary_share: float = 0.35  # share of facies labels drawn near an ambiguous boundary
    min_labels_per_class: int = 2  # per scene, for every class it shows
    cloudy_scene_share: float = 0.25  # one scene of each glacier (any) is always cloudy
    fold_sizes: tuple[int, ...] = REAL_FOLD_SIZES  # relative label counts per fold
    mb_slope: float = 3000.0  # mm w.e. per unit AAR
    aar0: float = 0.55  # AAR of a zero balance; glacier offsets around it
    aar0_sd: float = 0.06
    mb_noise: float = 300.0  # mm w.e., sd of the balance around the AAR relation
    years: tuple[int, int] = (1995, 2021)
    exact_counts: bool = False  # label counts met exactly, see ``scene_budgets`` (the release profile's)

    def __post_init__(self) -> None:
        if self.n_glaciers < NUM_FOLDS:
            raise ValueError(f"n_glaciers must be at least {NUM_FOLDS} (folds are made of glaciers)")
        if self.scene_size % 6 or self.scene_size < 4 * PATCH_SIZE:
            raise ValueError("scene_size must be a multiple of 6 and at least 132 px")
        if not 0 <= self.noise_rate <= self.boundary_share <= 1:
            raise ValueError("need 0 <= noise_rate <= boundary_share <= 1")
        if len(self.fold_sizes) != NUM_FOLDS:
            raise ValueError(f"fold_sizes needs {NUM_FOLDS} entries")
        if len(self.sensor_years()) < self.scenes_per_glacier:
            raise ValueError("fewer years with a sensor (1995-2011, 2013-2021) than scenes per glacier")

    @classmethod
    def quick(cls, seed: int = 7) -> SyntheticConfig:
        """A small benchmark for tests and smoke runs: 6 glaciers x 3 scenes, a few seconds."""
        return cls(seed=seed, n_glaciers=6, scenes_per_glacier=3, scene_size=192, n_labels=900)

    @classmethod
    def release(cls) -> SyntheticConfig:
        """The size of the released dataset: 31 glaciers in the four regions, 93 scenes (31 x 3; the release has
        92) and 137,592 labels with the published fold sizes exactly (``REAL_FOLD_SIZES``), in 576 px (5.76 km)
        scenes so that fold 5's 3,778 labels per scene still find each class's pixels."""
        return cls(
            n_glaciers=31, scenes_per_glacier=3, scene_size=576, n_labels=sum(REAL_FOLD_SIZES), exact_counts=True
        )

    def fold_targets(self) -> np.ndarray:
        """Labels per fold: ``n_labels`` apportioned by ``fold_sizes`` (exact with ``exact_counts``)."""
        return apportion(self.n_labels, self.fold_sizes)

    def scene_budgets(self, glacier_folds: Sequence[int]) -> list[int]:
        """Label budgets of the scenes, in plan order, of glaciers in ``glacier_folds`` (``scenes_per_glacier`` each).

        With ``exact_counts`` each fold's :meth:`fold_targets` is shared evenly among its scenes (largest remainder),
        so the budgets of a fold sum to its target; otherwise each scene gets ``n_labels`` x its fold's share /
        the fold's scenes, rounded.
        """
        folds = np.repeat(np.asarray(glacier_folds, dtype=np.int64), self.scenes_per_glacier)
        per_fold = np.bincount(folds, minlength=NUM_FOLDS)
        if not self.exact_counts:
            share = np.asarray(self.fold_sizes, float) / np.sum(self.fold_sizes)
            return [int(round(self.n_labels * share[f] / per_fold[f])) for f in folds]
        budgets = np.zeros(len(folds), dtype=np.int64)
        for fold, target in enumerate(self.fold_targets()):
            budgets[folds == fold] = apportion(int(target), np.ones(per_fold[fold]))
        return budgets.tolist()

    def sensor_years(self) -> list[int]:
        """The years of ``years`` (both ends included) in which some sensor acquired scenes."""
        return [y for y in range(self.years[0], self.years[1] + 1) if sensors_of(y)]


def apportion(total: int, weights: Sequence[float]) -> np.ndarray:
    """``total`` split into non-negative integers in proportion to ``weights`` by largest remainder (ties to the
    first); int64, summing to ``total``."""
    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    out = np.floor(exact).astype(np.int64)
    out[np.argsort(out - exact, kind="stable")[: total - int(out.sum())]] += 1
    return out


#: Named sizes of the benchmark: the embedded default, the quick one of tests and smoke runs, the release's.
SCALES: dict[str, Callable[[], SyntheticConfig]] = {
    "default": SyntheticConfig,
    "quick": SyntheticConfig.quick,
    "release": SyntheticConfig.release,
}
