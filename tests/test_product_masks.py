"""Product quality masks on spec-shaped fake products: Landsat QA_PIXEL/QA_RADSAT, Sentinel-2 SCL and saturated DN,
for every Sentinel-2 layout; expectations computed here from the arrays written and the published bit/class meanings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from fake_products import (
    ADD,
    LANDSAT_NUMBERS,
    MULT,
    S2_FILES,
    band_folder,
    bilinear_at_grid,
    landsat_c2l2,
    safe_zip,
    sample_at_grid,
    sentinel2_safe,
    stac_folder,
    stac_item,
)
from rasterio.windows import Window

from dataset_builder.outlines import read_outlines
from dataset_builder.schema import OPTICAL_BANDS
from modeling.errors import SceneInputError
from modeling.mapping import open_scene, prepare_scene

#: QA_PIXEL bits (USGS Landsat Collection 2 Level-2 product guides): 0 fill; 1 dilated cloud, 2 cirrus, 3 cloud,
#: 4 cloud shadow. QA_RADSAT: bit n-1 = band n saturated; 9 dropped pixel (TM/ETM+); 11 terrain occlusion (OLI).
FILL_BIT, CLOUD_BITS = 0, (1, 2, 3, 4)
RADSAT_OTHER = {"OLI": 11, "TM": 9}
#: SCL classes (ESA L2A): 0 no data, 1 saturated or defective, 3 cloud shadows, 8/9 cloud medium/high, 10 cirrus.
SCL_NODATA, SCL_DEFECTIVE, SCL_CLOUDS = 0, 1, (3, 8, 9, 10)


@pytest.fixture(scope="module")
def bench(tiny_benchmark) -> Path:
    return tiny_benchmark


def scene_and_truth(bench: Path) -> tuple[Path, np.ndarray, dict]:
    scene = sorted((bench / "scenes").glob("*.tif"))[0]
    with rasterio.open(scene) as src:
        tags = src.tags()
    return scene, rasterio.open(bench / "truth" / "maps" / scene.name).read(1), tags


def states(prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Glacier pixel rows, cols and their prepared state: classify and hidden."""
    rows, cols = np.nonzero(prepared.glacier_index > 0)
    return rows, cols, prepared.classify[rows, cols], prepared.hidden[rows, cols]


# -- Landsat ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["OLI", "TM"])
@pytest.mark.parametrize("clouds", [True, False])
def test_landsat_qa_pixel_and_radsat(bench, tmp_path, family, clouds):
    scene, truth, _ = scene_and_truth(bench)
    product = landsat_c2l2(tmp_path, scene, truth, family)
    prepared = prepare_scene(
        open_scene(product.folder),
        read_outlines(bench / "outlines.gpkg"),
        [],
        OPTICAL_BANDS,
        tmp_path / "w",
        clouds=clouds,
    )
    rows, cols, classify, hidden = states(prepared)
    qa = sample_at_grid(product.folder / f"{product.folder.name}_QA_PIXEL.TIF", prepared.grid, rows, cols).astype(int)
    rs = sample_at_grid(product.folder / f"{product.folder.name}_QA_RADSAT.TIF", prepared.grid, rows, cols).astype(int)
    dn = [
        sample_at_grid(product.folder / f"{product.folder.name}_SR_B{n}.TIF", prepared.grid, rows, cols)
        for n in LANDSAT_NUMBERS[family].values()
    ]
    no_data = ((qa >> FILL_BIT) & 1).astype(bool) | np.any([d == 0 for d in dn], axis=0)
    cloudy = np.any([(qa >> b) & 1 for b in CLOUD_BITS], axis=0)
    saturated = np.any([(rs >> (n - 1)) & 1 for n in LANDSAT_NUMBERS[family].values()], axis=0)
    defective = saturated | ((rs >> RADSAT_OTHER[family]) & 1).astype(bool)
    expected_hidden = ~no_data & (defective | (cloudy if clouds else False))
    np.testing.assert_array_equal(hidden, expected_hidden)
    np.testing.assert_array_equal(classify, ~no_data & ~expected_hidden)
    # each case, at its 30 m cell (9 grid cells): snow, water and a saturated band the model does not read stay observed
    t = prepared.grid.transform
    for name, (r, c) in product.flagged.items():
        x, y = product.transform * (c + 0.5, r + 0.5)
        gr, gc = int((t.f - y) // 10), int((x - t.c) // 10)
        cell = np.s_[gr - 1 : gr + 2, gc - 1 : gc + 2]
        on = prepared.glacier_index[cell] > 0
        state = {"fill": "no data", "snow": "observed", "water": "observed", "saturated_unused_band": "observed"}.get(
            name, "hidden" if clouds or name.startswith(("saturated", "terrain", "dropped")) else "observed"
        )
        got = {
            "no data": ~prepared.classify[cell] & ~prepared.hidden[cell],
            "hidden": prepared.hidden[cell],
            "observed": prepared.classify[cell],
        }[state]
        assert got[on].all(), (name, state)
    assert len(product.flagged) == 10 and prepared.pixel_counts()["unobserved"].sum() == expected_hidden.sum()


# -- Sentinel-2 ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s2(bench, tmp_path_factory):
    scene, truth, _ = scene_and_truth(bench)
    return sentinel2_safe(tmp_path_factory.mktemp("s2"), scene, truth, "05.09", ".jp2")


def s2_layout(kind: str, s2, tags: dict, root: Path) -> tuple[Path, float | None]:
    """A path holding the SAFE's acquisition in layout ``kind``, and the BOA offset to give (None: from metadata)."""
    if kind == "safe":
        return s2.safe, None
    if kind == "zip":
        return safe_zip(s2, root), None
    if kind == "mtd":
        return s2.safe / "MTD_MSIL2A.xml", None
    if kind == "granule_in_safe":
        return s2.safe / "GRANULE" / s2.granule / "IMG_DATA", None
    if kind == "granule_alone":
        return Path(shutil.copytree(s2.safe / "GRANULE" / s2.granule, root / s2.granule)), None
    if kind == "bands":
        return band_folder(s2, root), s2.offset
    if kind == "stac_item":
        return stac_folder(s2, root, "assets", stac_item(s2, tags)), None
    if kind == "stac_baseline":
        item = stac_item(s2, tags, "bands", raster_bands=False, **{"s2:processing_baseline": "05.09"})
        return stac_folder(s2, root, "bands", item), None
    return stac_folder(s2, root, "assets"), s2.offset  # no item JSON


S2_LAYOUTS = [
    "safe",
    "zip",
    "mtd",
    "granule_in_safe",
    "granule_alone",
    "bands",
    "stac_item",
    "stac_baseline",
    "stac_bare",
]


@pytest.mark.parametrize("kind", S2_LAYOUTS)
def test_sentinel2_layouts_read_the_same_reflectance_and_masks(bench, s2, tmp_path, kind):
    scene, truth, tags = scene_and_truth(bench)
    path, offset = s2_layout(kind, s2, tags, tmp_path)
    opened = open_scene(path, boa_offset=offset)
    assert opened.kind == "sentinel2" and opened.date == tags["DATE"] and [q.name for q in opened.quality] == ["SCL"]
    if kind != "bands" and kind != "stac_bare":
        assert opened.sun_elevation == pytest.approx(float(tags["SUN_ELEVATION"]))
    prepared = prepare_scene(opened, read_outlines(bench / "outlines.gpkg"), [], OPTICAL_BANDS, tmp_path / "w")
    rows, cols, classify, hidden = states(prepared)
    safe_bands = s2.safe / "GRANULE" / s2.granule / "IMG_DATA"
    files = {
        name: next((safe_bands / ("R20m" if band in ("B11", "B12") else "R10m")).glob(f"*_{band}_*"))
        for name, band in S2_FILES.items()
    }
    dn = {name: sample_at_grid(f, prepared.grid, rows, cols).astype(np.float64) for name, f in files.items()}
    scl = sample_at_grid(next((safe_bands / "R20m").glob("*_SCL_20m*")), prepared.grid, rows, cols)
    no_data = (scl == SCL_NODATA) | np.any([d == 0 for d in dn.values()], axis=0)
    saturated = np.any([d == 65535 for d in dn.values()], axis=0)
    expected_hidden = ~no_data & (saturated | (scl == SCL_DEFECTIVE) | np.isin(scl, SCL_CLOUDS))
    np.testing.assert_array_equal(hidden, expected_hidden)
    np.testing.assert_array_equal(classify, ~no_data & ~expected_hidden)
    assert expected_hidden.sum() >= 8 and saturated.any() and no_data.any()
    stack = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height))
    for i, name in enumerate(OPTICAL_BANDS):
        smooth, clean = bilinear_at_grid(files[name], prepared.grid, rows, cols)
        kept = classify & clean
        assert kept.sum() > 0.8 * classify.sum()
        np.testing.assert_allclose(stack[i, rows, cols][kept], (smooth[kept] + s2.offset) / 1e4, atol=1e-6)
        # a saturated DN never enters as reflectance 6.45, nor leaks into a neighbour: that band holds no value there
        assert np.isnan(stack[i, rows, cols][dn[name] == 65535]).all()
    assert np.nanmax(stack[: len(OPTICAL_BANDS)]) < 2.0


def test_sentinel2_cloud_flags_can_be_left_to_the_model(bench, s2, tmp_path):
    opened = open_scene(s2.safe)
    outlines = read_outlines(bench / "outlines.gpkg")
    product = prepare_scene(opened, outlines, [], OPTICAL_BANDS, tmp_path / "a")
    model = prepare_scene(opened, outlines, [], OPTICAL_BANDS, tmp_path / "b", clouds=False)
    rows, cols = np.nonzero(model.glacier_index > 0)
    scl = sample_at_grid(opened.quality[0].path, model.grid, rows, cols)
    green = sample_at_grid(opened.bands["green"].path, model.grid, rows, cols)
    swir1 = sample_at_grid(opened.bands["swir1"].path, model.grid, rows, cols)
    cloudy = np.isin(scl, SCL_CLOUDS)
    assert product.hidden[rows, cols][cloudy].all() and model.classify[rows, cols][cloudy].all()
    always = ((scl == SCL_DEFECTIVE) | (green == 65535) | (swir1 == 65535)) & (scl != SCL_NODATA)
    assert always.sum() >= 3 and model.hidden[rows, cols][always].all()
    np.testing.assert_array_equal(model.hidden[rows, cols], always)


def test_stac_offsets_follow_the_item(bench, s2, tmp_path):
    _, _, tags = scene_and_truth(bench)
    applied = stac_item(
        s2, tags, raster_bands=False, **{"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": True}
    )
    assert open_scene(stac_folder(s2, tmp_path / "a", "assets", applied)).bands["red"].offset == 0.0
    old = stac_item(s2, tags, raster_bands=False, **{"s2:processing_baseline": "02.14"})
    assert open_scene(stac_folder(s2, tmp_path / "b", "assets", old)).bands["red"].offset == 0.0
    scaled = open_scene(stac_folder(s2, tmp_path / "c", "assets", stac_item(s2, tags)))
    assert scaled.bands["red"].offset == pytest.approx(-0.1) and scaled.metadata["radiometry"].startswith("STAC raster")
    with pytest.raises(SceneInputError, match="STAC-style Sentinel-2 COG folder: the BOA offset is unknown"):
        open_scene(stac_folder(s2, tmp_path / "d", "assets"))
    assert open_scene(stac_folder(s2, tmp_path / "e", "assets"), boa_offset=0).bands["red"].offset == 0.0


def test_landsat_reflectance_with_masks_uses_level2_factors(bench, tmp_path):
    scene, truth, _ = scene_and_truth(bench)
    product = landsat_c2l2(tmp_path, scene, truth, "OLI", level1=True)
    prepared = prepare_scene(
        open_scene(product.folder), read_outlines(bench / "outlines.gpkg"), [], ("red",), tmp_path / "w"
    )
    rows, cols = np.nonzero(prepared.classify)
    red = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height), ("red",))[0]
    dn, clean = bilinear_at_grid(product.folder / f"{product.folder.name}_SR_B4.TIF", prepared.grid, rows, cols)
    assert clean.mean() > 0.8
    np.testing.assert_allclose(red[rows, cols][clean], dn[clean] * MULT + ADD, atol=1e-6)
