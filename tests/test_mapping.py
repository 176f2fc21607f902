"""End-to-end scene mapping: products, their contract, smoothing, modes, several glaciers, product masks, file
modes, bad input."""

from __future__ import annotations

import csv
import json
import os
import stat
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pyogrio.raw
import pytest
import rasterio
import rasterio.features
import rasterio.warp
import shapely
import torch
from fake_products import landsat_c2l2
from rasterio.windows import Window

from dataset_builder.atomic import RecoveryWarning, staging_directory
from dataset_builder.errors import OutputRefusedError
from dataset_builder.outlines import read_outlines
from dataset_builder.quicklook import FACIES_COLOURS, facies_colours
from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, MAP_UNOBSERVED
from modeling.errors import SceneInputError
from modeling.mapping import (
    AREA_COLUMNS,
    OUTPUTS,
    MappingOptions,
    is_complete,
    map_scene,
    mode_filter,
    open_scene,
    predict_array,
    prepare_scene,
)
from modeling.network import FaciesCNN, FaciesCNNConfig


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bench(tiny_benchmark) -> Path:
    return tiny_benchmark


def normalisation(bench: Path) -> dict:
    """Per-band min/max over the benchmark's scenes (a stand-in for a built dataset's statistics)."""
    lo, hi = np.full(len(BAND_NAMES), np.inf), np.full(len(BAND_NAMES), -np.inf)
    for path in (bench / "scenes").glob("*.tif"):
        data = rasterio.open(path).read()
        lo, hi = np.minimum(lo, np.nanmin(data, axis=(1, 2))), np.maximum(hi, np.nanmax(data, axis=(1, 2)))
    return {"min": lo.tolist(), "max": (hi + 1e-3).tolist()}


def make_model(bench: Path, seed: int = 0, **config) -> FaciesCNN:
    torch.manual_seed(seed)
    fields = dict(
        filters=(8, 8), dense_units=(8,), normalization=normalisation(bench), calibration={"temperature": 1.3}
    )
    model = FaciesCNN(FaciesCNNConfig(**(fields | config)))
    with torch.no_grad():  # a livelier random model: larger output weights spread the classes
        model.output.weight.mul_(8.0)
    return model.eval()


@pytest.fixture(scope="module")
def model(bench) -> FaciesCNN:
    return make_model(bench)


def scene_of(bench: Path, k: int = 0) -> Path:
    return sorted((bench / "scenes").glob("*.tif"))[k]


def mapped(bench: Path, model: FaciesCNN, out: Path, **options) -> dict[str, Path]:
    return map_scene(
        scene_of(bench),
        model,
        out,
        outlines=bench / "outlines.gpkg",
        dem=[bench / "dems"],
        options=MappingOptions(**options),
    ).outputs


@pytest.fixture
def umask_022():
    """The usual umask while a test writes (restored after)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


AREA_CLASSES = [*CLASS_NAMES, "unobserved", "no data"]


def test_products_follow_the_contract(bench, model, tmp_path, umask_022):
    outputs = mapped(bench, model, tmp_path / "out")
    scene = scene_of(bench)
    tags = rasterio.open(scene).tags()
    assert {k: p.name for k, p in outputs.items()} == {k: f"{scene.stem}{s}" for k, s in OUTPUTS.items()}
    assert is_complete(tmp_path / "out", scene.stem)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in outputs.values()
    )  # no leftovers
    with rasterio.open(outputs["facies"]) as src:
        facies, profile = src.read(1), src.profile
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert profile["dtype"] == "uint8" and profile["nodata"] == 255 and profile["compress"] == "deflate"
        assert all(src.colormap(1)[i][:3] == tuple(facies_colours()[i]) for i in range(len(CLASS_NAMES)))
        assert src.tags(1) == {f"CLASS_{i}": name for i, name in enumerate(CLASS_NAMES)} | {"CLASS_254": "unobserved"}
        assert src.colormap(1)[MAP_UNOBSERVED][:3] == (255, 0, 255)
        ftags = src.tags()
        grid_transform, crs = src.transform, src.crs
    assert (ftags["GLACIER"], ftags["DATE"], ftags["SENSOR"]) == (tags["GLACIER"], tags["DATE"], tags["SENSOR"])
    assert ftags["CLASS_NAMES"].split(",") == list(CLASS_NAMES) and "GLACIERS" not in ftags
    assert (ftags["CLOUD_MASK"], ftags["QUALITY"], ftags["UNOBSERVED"]) == ("product", "none", "254")
    # nodata exactly outside the glacier outline
    outlines = read_outlines(bench / "outlines.gpkg")
    geometry = outlines.to_crs(crs)[outlines.ids.index(tags["GLACIER"])]
    glacier = rasterio.features.rasterize([(geometry, 1)], out_shape=facies.shape, transform=grid_transform) > 0
    np.testing.assert_array_equal(facies != 255, glacier)
    assert len(np.unique(facies[glacier])) > 1
    # the map is the model's dense prediction on the prepared inputs
    prepared = prepare_scene(open_scene(scene), outlines, [bench / "dems"], model.config.bands, tmp_path / "work")
    stack = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height), model.config.bands)
    proba = predict_array(model, stack, prepared.classify)
    np.testing.assert_array_equal(facies[glacier], proba.argmax(0)[glacier])
    with rasterio.open(outputs["confidence"]) as src:
        confidence = src.read(1)
        assert src.profile["dtype"] == "float32" and src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.tags()["GLACIER"] == tags["GLACIER"]
    assert np.isnan(confidence[~glacier]).all()
    np.testing.assert_allclose(confidence[glacier], proba.max(0)[glacier], atol=1e-6)
    # the area table: scene, date, sensor and model on every row; classes, then unobserved and no data
    rows = list(csv.DictReader(outputs["areas"].open()))
    assert tuple(rows[0]) == AREA_COLUMNS and [r["class"] for r in rows] == AREA_CLASSES
    assert {(r["scene"], r["date"], r["sensor"], r["model"]) for r in rows} == {
        (scene.stem, tags["DATE"], tags["SENSOR"], "FaciesCNN")
    }
    counts = np.bincount(facies[glacier], minlength=len(CLASS_NAMES))
    assert [int(r["pixels"]) for r in rows] == counts.tolist() + [0, 0]
    assert [float(r["area_km2"]) for r in rows[:8]] == pytest.approx((counts * 100 / 1e6).tolist())
    assert sum(float(r["share"]) for r in rows[:8]) == pytest.approx(1.0, abs=1e-5) and rows[8]["share"] == ""
    assert sum(float(r["outline_share"]) for r in rows) == pytest.approx(1.0, abs=1e-5)
    # files as readable as any other the user writes (umask 022)
    for path in outputs.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name
    # the QGIS style and the quick-look
    entries = ET.parse(outputs["style"]).getroot().findall(".//paletteEntry")
    assert [(int(e.get("value")), e.get("label")) for e in entries] == [
        *enumerate(CLASS_NAMES),
        (MAP_UNOBSERVED, "unobserved"),
    ]
    assert entries[1].get("color") == "#{:02x}{:02x}{:02x}".format(*FACIES_COLOURS[CLASS_NAMES[1]])
    assert plt.imread(outputs["quicklook"]).shape[2] in (3, 4)
    manifest = json.loads(outputs["manifest"].read_text())
    assert (
        manifest["glaciers"][tags["GLACIER"]]["classified"] == int(glacier.sum())
        and manifest["options"]["mode"] == "dense"
    )


def test_mode_filter_rules():
    codes = np.array([[0, 0, 1], [1, 1, 255], [2, 1, 0]], np.uint8)
    out = mode_filter(codes)
    assert out[1, 2] == 255  # nodata stays nodata
    assert out[0, 0] == 0  # 0, 0, 1, 1 around it: a tie, it keeps its class
    assert out[0, 1] == 1  # 0, 0, 1, 1, 1: ones win
    assert out[2, 0] == 1 and out[2, 2] == 1
    lone = np.full((5, 5), 3, np.uint8)
    lone[2, 2] = 5
    assert (mode_filter(lone) == 3).all()
    edge = np.full((3, 3), 255, np.uint8)
    edge[0, 0], edge[0, 1] = 4, 6  # a tie of two: each keeps its class
    assert mode_filter(edge)[0, 0] == 4 and mode_filter(edge)[0, 1] == 6
    masked = np.full((3, 3), MAP_UNOBSERVED, np.uint8)
    masked[1, 1], masked[0, 0] = 2, 3  # unobserved pixels neither vote nor change
    out = mode_filter(masked)
    assert out[1, 1] == 2 and out[0, 0] == 3 and (out[masked == MAP_UNOBSERVED] == MAP_UNOBSERVED).all()


def test_smoothing_is_tile_independent_and_is_the_mode_filter(bench, model, tmp_path):
    raw = rasterio.open(mapped(bench, model, tmp_path / "raw", tile_size=40)["facies"]).read(1)
    one = rasterio.open(mapped(bench, model, tmp_path / "one", smooth=True)["facies"]).read(1)
    tiled = rasterio.open(mapped(bench, model, tmp_path / "tiled", smooth=True, tile_size=17)["facies"]).read(1)
    np.testing.assert_array_equal(tiled, one)
    np.testing.assert_array_equal(one, mode_filter(raw))
    assert (one != raw).any()
    assert rasterio.open(tmp_path / "one" / f"{scene_of(bench).stem}_facies.tif").tags()["SMOOTHING"] == "mode 3x3"


def test_exact_mode_maps_like_per_patch(bench, model, tmp_path):
    exact = rasterio.open(mapped(bench, model, tmp_path / "exact", mode="exact")["confidence"]).read(1)
    patch = rasterio.open(mapped(bench, model, tmp_path / "patch", mode="patch")["confidence"]).read(1)
    np.testing.assert_allclose(exact, patch, atol=1e-5)


def test_dense_mode_warns_for_models_of_small_patches(bench, tmp_path):
    small = make_model(bench, patch_size=9)
    with pytest.warns(UserWarning, match="9 px patches"):
        mapped(bench, small, tmp_path / "dense", mode="dense")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mapped(bench, small, tmp_path / "patch", mode="patch")
    assert not [w for w in caught if "px patches" in str(w.message)]


def test_several_glaciers_and_per_glacier_elevation_scaling(bench, tmp_path):
    scene = scene_of(bench)
    glacier = rasterio.open(scene).tags()["GLACIER"]
    outlines = read_outlines(bench / "outlines.gpkg")
    with rasterio.open(scene) as src:  # split the glacier along a pixel edge of the scene, in its CRS
        crs, transform, width = src.crs, src.transform, src.width
    wgs84 = outlines.geometries[outlines.ids.index(glacier)]
    shape = shapely.geometry.shape(rasterio.warp.transform_geom("EPSG:4326", crs, shapely.geometry.mapping(wgs84)))
    x0, y0, x1, y1 = shape.bounds
    split = transform.c + round(((x0 + x1) / 2 - transform.c) / transform.a) * transform.a
    halves = [  # buffer(0) keeps the polygons of an intersection that also touches the box along a line
        shapely.intersection(shape, shapely.box(x0, y0, split, y1)).buffer(0),
        shapely.intersection(shape, shapely.box(split, y0, x1, y1)).buffer(0),
    ]
    path = tmp_path / "halves.gpkg"
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.asarray(halves, dtype=object)),
        [np.array(["west", "east"], dtype=object)],
        ["glacier"],
        driver="GPKG",
        geometry_type="Unknown",
        crs=crs.to_string(),
    )
    norm = normalisation(bench)
    elevation = BAND_NAMES.index("elevation")
    norm["min"][elevation], norm["max"][elevation] = 0.0, 1.0  # the per-glacier scaled band
    model = make_model(bench, per_glacier_elevation_scaling=True, normalization=norm)
    result = map_scene(scene, model, tmp_path / "out", outlines=path, dem=[bench / "dems"])
    with rasterio.open(result.outputs["facies"]) as src:
        assert src.tags()["GLACIERS"] == "west,east" and "GLACIER" not in src.tags()
    rows = list(csv.DictReader(result.outputs["areas"].open()))
    assert [r["glacier"] for r in rows] == ["west"] * 10 + ["east"] * 10
    assert all(
        sum(float(r["share"] or 0) for r in rows if r["glacier"] == g) == pytest.approx(1.0, abs=1e-5)
        for g in ("west", "east")
    )
    manifest = json.loads(result.outputs["manifest"].read_text())
    assert set(manifest["glaciers"]) == {"west", "east"} and manifest["model"]["per_glacier_elevation_scaling"]
    # a scene without data over the east half: only the west glacier is mapped and tagged
    with rasterio.open(scene) as src:
        data, profile, tags, descriptions = src.read(), src.profile, src.tags(), src.descriptions
    east = (transform * (np.arange(width) + 0.5, np.zeros(width)))[0] > split
    data[:6, :, east] = np.nan
    half = tmp_path / "half.tif"
    with rasterio.open(half, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = descriptions
        dst.update_tags(**tags)
    result = map_scene(half, model, tmp_path / "half", outlines=path, dem=[bench / "dems"])
    with rasterio.open(result.outputs["facies"]) as src:
        assert src.tags()["GLACIER"] == "west" and json.loads(src.tags()["COVERAGE"]) == {"west": 1.0}
    assert {r["glacier"] for r in csv.DictReader(result.outputs["areas"].open())} == {"west"}
    assert json.loads(result.outputs["manifest"].read_text())["glaciers"]["east"]["coverage"] == 0.0


def test_bad_input_leaves_no_partial_output(bench, model, tmp_path):
    out = tmp_path / "out"
    outlines = read_outlines(bench / "outlines.gpkg")
    elsewhere = rasterio.open(scene_of(bench, 1)).tags()["GLACIER"]
    with pytest.raises(SceneInputError, match="covers none"):
        map_scene(
            scene_of(bench),
            model,
            out,
            outlines=outlines,
            dem=[bench / "dems"],
            options=MappingOptions(glaciers=(elsewhere,)),
        )
    holed = tmp_path / "holed.tif"
    glacier = rasterio.open(scene_of(bench)).tags()["GLACIER"]
    with rasterio.open(bench / "dems" / f"{glacier}.tif") as src:
        profile, dem = src.profile, src.read()
    with rasterio.open(holed, "w", **profile) as dst:
        dst.write(np.where(np.arange(dem.shape[1])[None, :, None] % 5 == 0, np.nan, dem))
    with pytest.raises(SceneInputError, match="holes"):
        map_scene(scene_of(bench), model, out, outlines=outlines, dem=[holed])
    bare = FaciesCNN(model.config.replace(normalization=None))
    with pytest.raises(SceneInputError, match="normalisation"):
        map_scene(scene_of(bench), bare, out, outlines=outlines, dem=[bench / "dems"])
    assert not out.exists() or not any(out.iterdir())


def test_leftovers_of_a_killed_run_are_removed_and_one_job_maps_a_scene(bench, model, tmp_path):
    scene = scene_of(bench).stem
    left = tmp_path / f".{scene}.a1b2c3.building"  # what a SIGKILL mid-scene leaves
    left.mkdir()
    (left / "tiles_facies.tif").write_bytes(b"partial")
    with pytest.warns(RecoveryWarning, match="removed 1 temporary folder"):
        mapped(bench, model, tmp_path)
    assert not left.exists() and is_complete(tmp_path, scene)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with staging_directory(tmp_path / scene):  # another job is mapping this scene into this folder
        with pytest.raises(OutputRefusedError, match="another job is writing it"):
            mapped(bench, model, tmp_path)
    assert is_complete(tmp_path, scene)


def test_incomplete_outputs_are_detected(bench, model, tmp_path):
    outputs = mapped(bench, model, tmp_path)
    scene = scene_of(bench).stem
    assert is_complete(tmp_path, scene)
    with open(outputs["areas"], "a") as fh:
        fh.write("x")
    assert not is_complete(tmp_path, scene)
    mapped(bench, model, tmp_path)  # mapping again replaces the set
    assert is_complete(tmp_path, scene)
    outputs["quicklook"].unlink()
    assert not is_complete(tmp_path, scene)
    outputs["manifest"].unlink()
    assert not is_complete(tmp_path, scene)


def test_codes_are_schema_codes_whatever_the_models_class_order(bench, tmp_path):
    model = make_model(bench, class_names=("cloud", "ice", "snow"))
    outputs = mapped(bench, model, tmp_path)
    facies = rasterio.open(outputs["facies"]).read(1)
    present = set(np.unique(facies).tolist()) - {255}
    assert present <= {CLASS_NAMES.index(c) for c in ("cloud", "ice", "snow")} and len(present) > 1
    rows = list(csv.DictReader(outputs["areas"].open()))
    assert [r["class"] for r in rows] == AREA_CLASSES and int(rows[CLASS_NAMES.index("debris")]["pixels"]) == 0


@pytest.mark.parametrize("cloud_mask", ["product", "model"])
def test_product_masks_make_unobserved_pixels(bench, model, tmp_path, cloud_mask):
    """A Landsat product with QA flags on its glacier: flagged pixels are 254 (unobserved) in the map, NaN in the
    confidence and counted as unobserved in the area table; with ``cloud_mask="model"`` only saturation and
    terrain occlusion stay unobserved."""
    scene = scene_of(bench)
    product = landsat_c2l2(tmp_path, scene, rasterio.open(bench / "truth" / "maps" / scene.name).read(1))
    options = MappingOptions(cloud_mask=cloud_mask, smooth=True)
    outlines = read_outlines(bench / "outlines.gpkg")
    result = map_scene(
        product.folder, model, tmp_path / "out", outlines=outlines, dem=[bench / "dems"], options=options
    )
    prepared = prepare_scene(
        open_scene(product.folder),
        outlines,
        [bench / "dems"],
        model.config.bands,
        tmp_path / "w",
        clouds=cloud_mask == "product",
    )
    with rasterio.open(result.outputs["facies"]) as src:
        facies, tags = src.read(1), src.tags()
    confidence = rasterio.open(result.outputs["confidence"]).read(1)
    np.testing.assert_array_equal(facies == MAP_UNOBSERVED, prepared.hidden)
    assert np.isnan(confidence[prepared.hidden]).all() and (facies[prepared.classify] < len(CLASS_NAMES)).all()
    assert tags["CLOUD_MASK"] == cloud_mask and tags["QUALITY"] == "QA_PIXEL, QA_RADSAT"
    hidden = int(prepared.hidden.sum())
    assert hidden == (9 * 6 if cloud_mask == "product" else 9 * 2)  # 6 (2) flagged 30 m cells on the glacier
    rows = {r["class"]: r for r in csv.DictReader(result.outputs["areas"].open())}
    assert int(rows["unobserved"]["pixels"]) == hidden and int(rows["no data"]["pixels"]) == 9  # the fill cell
    assert rows["unobserved"]["sensor"] == "L8" and rows["unobserved"]["scene"] == product.folder.name
    manifest = json.loads(result.outputs["manifest"].read_text())
    glacier = manifest["glaciers"][rasterio.open(scene).tags()["GLACIER"]]
    assert glacier["unobserved"] == hidden and glacier["classified"] + hidden + glacier["no_data"] == glacier["pixels"]
    assert (
        manifest["layout"] == "Landsat Collection 2 Level-2 product folder"
        and "scene's CRS" in manifest["grid"]["crs_choice"]
    )
