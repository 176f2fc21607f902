"""The annual mass balance of each glacier-year: a linear law of the truth AAR, written as a WGMS-like table."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dataset_builder.synthetic.config import SyntheticConfig
from dataset_builder.synthetic.facies import AAR_CLASSES
from dataset_builder.synthetic.plan import GlacierPlan, ScenePlan
from dataset_builder.synthetic.regions import REGIONS_BY_KEY


def annual_balance(rng: np.random.Generator, config: SyntheticConfig, aar: float, aar0: float) -> float:
    """``mb_slope * (aar - aar0) + N(0, mb_noise)``: a glacier-year's balance in mm w.e. from its AAR (0-1) and the
    glacier's AAR of a zero balance."""
    return config.mb_slope * (aar - aar0) + config.mb_noise * rng.standard_normal()


def balance_row(config: SyntheticConfig, glacier: GlacierPlan, scene: ScenePlan, balance: float) -> dict:
    """One row of ``mass_balance.csv`` (WGMS columns) for the year of ``scene``; balance and uncertainty in mm w.e."""
    return dict(
        POLITICAL_UNIT=REGIONS_BY_KEY[glacier.region].political_unit,
        NAME=glacier.name.upper(),
        WGMS_ID=glacier.wgms_id,
        YEAR=int(scene.date[:4]),
        LOWER_BOUND=9999,
        UPPER_BOUND=9999,
        AREA=glacier.area_km2,
        ANNUAL_BALANCE=int(round(balance)),
        ANNUAL_BALANCE_UNC=int(round(config.mb_noise)),
    )


def mass_balance_model(config: SyntheticConfig, glaciers: Sequence[GlacierPlan]) -> dict:
    """The law behind ``mass_balance.csv`` as ``metadata.json`` records it (mm w.e.)."""
    return {
        "formula": "ANNUAL_BALANCE = slope * (AAR - aar0[glacier]) + N(0, noise_sd)",
        "aar_classes": list(AAR_CLASSES),
        "aar_definition": "(snow + firn + refrozen-like) pixels of the surface_facies truth map / glacier pixels",
        "slope_mm_we": config.mb_slope,
        "intercept_mm_we": -config.mb_slope * config.aar0,
        "aar0_mean": config.aar0,
        "aar0_sd": config.aar0_sd,
        "intercept_per_glacier_mm_we": {g.glacier: round(-config.mb_slope * g.aar0, 1) for g in glaciers},
        "noise_sd_mm_we": config.mb_noise,
    }
