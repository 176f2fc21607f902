"""The tables of a benchmark, filled scene by scene: labels, scenes, glacier-year balances, pixel statistics, and
the ``metadata.json`` record made of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import pandas as pd

from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, MAP_NODATA, NUM_FOLDS, PIXEL_SIZE_M
from dataset_builder.synthetic.config import SyntheticConfig
from dataset_builder.synthetic.facies import CODE
from dataset_builder.synthetic.labels import AMBIGUOUS_PARTNERS, NOISY_CLASSES, SceneLabels
from dataset_builder.synthetic.mass_balance import balance_row, mass_balance_model
from dataset_builder.synthetic.plan import GlacierPlan, ScenePlan
from dataset_builder.synthetic.plausibility import PlausibilityReport, SpectralStats, evaluate_plausibility
from dataset_builder.synthetic.reflectance import SIGNATURES
from dataset_builder.synthetic.regions import REGIONS
from dataset_builder.synthetic.scene import SceneArrays

#: ``metadata.json``'s ``generator``: how a folder is recognised as a synthetic benchmark.
GENERATOR = "dataset_builder.synthetic"
#: Columns of ``truth/labels.parquet``.
TRUTH_COLUMNS: tuple[str, ...] = (
    "sample_id",
    "given_class",
    "true_class",
    "noisy",
    "near_boundary",
    "scene",
    "row",
    "col",
    "boundary_distance_px",
)


@dataclass
class BenchmarkTables:
    """Rows and pixel statistics of a benchmark, added scene by scene in the generator's order (:meth:`add`)."""

    label_rows: list[dict] = field(default_factory=list)
    scene_rows: list[dict] = field(default_factory=list)
    balance_rows: list[dict] = field(default_factory=list)
    stats: SpectralStats = field(default_factory=SpectralStats)

    def add(
        self,
        config: SyntheticConfig,
        glacier: GlacierPlan,
        scene: ScenePlan,
        arrays: SceneArrays,
        labels: SceneLabels,
        balance: float,
    ) -> list[dict]:
        """Add one scene: its labels, its row of ``metadata.json``, its glacier-year balance (mm w.e.) and pixels.

        Returns:
            The scene's label rows; ``sample_id`` numbers the labels of the whole benchmark in order.
        """
        prefix = f"{glacier.fold}_{glacier.glacier}_{scene.date.replace('-', '')}_{scene.sensor}"
        rows = []
        for r, c, true, given, near, dist in zip(
            labels.rows,
            labels.cols,
            labels.true_code,
            labels.given_code,
            labels.near_boundary,
            labels.boundary_distance_px,
        ):
            number = len(self.label_rows) + len(rows)
            rows.append(
                dict(
                    sample_id=f"{prefix}_{number:06d}_{CLASS_NAMES[given]}",
                    given_class=CLASS_NAMES[given],
                    true_class=CLASS_NAMES[true],
                    noisy=bool(given != true),
                    near_boundary=bool(near),
                    scene=scene.scene,
                    row=int(r),
                    col=int(c),
                    boundary_distance_px=float(dist),
                    glacier=glacier.glacier,
                    date=scene.date,
                    fold=glacier.fold,
                    sensor=scene.sensor,
                    x=glacier.x0 + (c + 0.5) * PIXEL_SIZE_M,
                    y=glacier.y0 - (r + 0.5) * PIXEL_SIZE_M,
                    epsg=glacier.epsg,
                )
            )
        self.label_rows += rows
        self.balance_rows.append(balance_row(config, glacier, scene, balance))
        domain = arrays.label_map != MAP_NODATA
        self.scene_rows.append(
            asdict(scene)
            | dict(
                aar=round(arrays.aar, 4),
                cloud_fraction=round(float((arrays.label_map[domain] == CODE["cloud"]).mean()), 4),
                shadow_fraction=round(float((arrays.label_map[domain] == CODE["shadow"]).mean()), 4),
                labels=int(labels.rows.size),
            )
        )
        self.stats.add(arrays.bands, arrays.label_map, arrays.surface_map, arrays.illumination)
        return rows

    def labels(self) -> pd.DataFrame:
        """Every label: the truth columns plus glacier, date, fold, sensor and the pixel centre (x, y, epsg)."""
        return pd.DataFrame(self.label_rows)

    def balance(self) -> pd.DataFrame:
        """``mass_balance.csv``: one row per glacier-year."""
        return pd.DataFrame(self.balance_rows)

    def metadata(self, config: SyntheticConfig, glaciers: Sequence[GlacierPlan], labels: pd.DataFrame) -> dict:
        """``metadata.json``: config, classes, bands, signatures, regions, glaciers, scenes, the mass-balance law,
        label counts per fold and class, and the label noise; ``labels`` from :meth:`labels`."""
        return {
            "generator": GENERATOR,
            "config": asdict(config),
            "class_names": list(CLASS_NAMES),
            "band_names": list(BAND_NAMES),
            "signatures": SIGNATURES,
            "regions": [asdict(r) for r in REGIONS],
            "glaciers": [asdict(g) for g in glaciers],
            "scenes": self.scene_rows,
            "mass_balance_model": mass_balance_model(config, glaciers),
            "counts": {str(k): v for k, v in fold_counts(labels).items()},
            "noise": {
                "requested": config.noise_rate,
                "measured": round(noise_rate(labels), 5),
                "classes": list(NOISY_CLASSES),
                "ambiguous_partners": {k: list(v) for k, v in AMBIGUOUS_PARTNERS.items()},
                "boundary_px": config.boundary_px,
            },
        }

    def plausibility(self, metadata: dict, labels: pd.DataFrame) -> PlausibilityReport:
        """The plausibility report of the benchmark (:func:`.plausibility.evaluate_plausibility`)."""
        return evaluate_plausibility(self.stats, labels[list(TRUTH_COLUMNS)], self.balance(), metadata)


def fold_counts(labels: pd.DataFrame) -> dict[int, dict[str, int]]:
    """Dataset (given) labels per fold and class."""
    return {
        k: labels.loc[labels["fold"] == k, "given_class"].value_counts().reindex(CLASS_NAMES, fill_value=0).to_dict()
        for k in range(NUM_FOLDS)
    }


def noisy_rows(labels: pd.DataFrame) -> pd.Series:
    """Whether each label's true class is one that may be noisy."""
    return labels["true_class"].isin(NOISY_CLASSES)


def noise_rate(labels: pd.DataFrame) -> float:
    """Measured label noise: the share of noisy-class labels whose given class is not the true one."""
    return float(labels.loc[noisy_rows(labels), "noisy"].mean())
