"""The README's pipeline end to end: ``map_scene.py ... --out maps/`` then ``mass_balance.py --maps maps/ ...``, on
synthetic scenes and a spec-shaped Landsat product whose quality flags hide part of its glacier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.features
from fake_products import landsat_c2l2

from dataset_builder.outlines import read_outlines
from dataset_builder.schema import CLASS_NAMES, MAP_NODATA, MAP_UNOBSERVED


@pytest.fixture(scope="module")
def bench(tiny_benchmark) -> Path:
    return tiny_benchmark


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir) -> Path:
    return tiny_model_dir


def test_map_folder_to_mass_balance(bench, model_dir, tmp_path, script):
    scenes = sorted((bench / "scenes").glob("*.tif"))
    truth = rasterio.open(bench / "truth" / "maps" / scenes[0].name).read(1)
    landsat = landsat_c2l2(tmp_path / "downloads", scenes[0], truth).folder  # instead of the first GeoTIFF
    maps, outlines = tmp_path / "maps", bench / "outlines.gpkg"
    argv = [str(landsat), *map(str, scenes[1:4]), "--model", str(model_dir), "--outlines", str(outlines)]
    argv += ["--dem", str(bench / "dems"), "--out", str(maps), "--workers", "0"]
    assert script("map_scene").main(argv) == 0
    assert len(list(maps.glob("*_confidence.tif"))) == 4  # each facies map has its confidence map beside it

    argv = ["--maps", str(maps), "--outlines", str(outlines), "--mb", str(bench / "mass_balance.csv")]
    argv += ["--max-unobserved", "0.9"]  # the tiny random model calls much of the ice shadow or cloud
    assert script("mass_balance").main([*argv, "--out", str(tmp_path / "mb"), "--no-progress"]) == 0
    scenes_read = pd.read_csv(tmp_path / "mb" / "aar_scenes.csv").set_index("scene")
    assert len(scenes_read) == 4 and set(scenes_read["kind"]) == {"facies"}
    results = json.loads((tmp_path / "mb" / "mass_balance_results.json").read_text())
    assert results["data"]["glacier_years"] == 4 and results["settings"]["table_layout"] == "upper-case"
    assert {k["linked_by"] for k in results["links"]} == {"wgms_id column of the outlines"}

    # the Landsat scene: its unobserved share counts the product-masked pixels, computed here from the map
    row = scenes_read.loc[landsat.name]
    registry = read_outlines(outlines)
    with rasterio.open(maps / f"{landsat.name}_facies.tif") as src:
        codes, crs, transform = src.read(1), src.crs, src.transform
    geometry = registry.to_crs(crs)[registry.ids.index(row["glacier"])]
    inside = rasterio.features.rasterize([(geometry, 1)], out_shape=codes.shape, transform=transform) > 0
    hiding = [CLASS_NAMES.index("shadow"), CLASS_NAMES.index("cloud"), MAP_UNOBSERVED, MAP_NODATA]
    assert (codes[inside] == MAP_UNOBSERVED).sum() == 9 * 6  # six flagged 30 m cells
    assert row["glacier_px"] == inside.sum()
    assert row["unobserved_share"] == pytest.approx(np.isin(codes[inside], hiding).mean())
    snow = np.isin(codes[inside], [CLASS_NAMES.index(c) for c in ("snow", "firn", "refrozen-like")]).sum()
    assert row["aar_snow_firn_refrozen"] == pytest.approx(snow / (~np.isin(codes[inside], hiding)).sum())
