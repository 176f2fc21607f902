"""Scene inputs: GeoTIFF, Landsat C2 L2 and Sentinel-2 L2A readers in every layout, the grid (CRS in ground metres,
aligned to the scene's pixel corners), DEM, outlines, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio.raw
import pyproj
import pytest
import rasterio
import shapely
from fake_products import ADD, MULT, bilinear_at_grid, landsat_c2l2, sentinel2_safe, write_mtl, write_raster
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import Window
from scipy import ndimage

from dataset_builder.aux_bands import glacier_outline, proximity_m
from dataset_builder.errors import OutlinesError
from dataset_builder.outlines import read_outlines
from dataset_builder.schema import BAND_NAMES, OPTICAL_BANDS
from modeling.errors import SceneInputError
from modeling.mapping import LANDSAT_BANDS, make_grid, open_scene, prepare_scene
from modeling.mapping.grid import warp_valid


@pytest.fixture(scope="module")
def bench(tiny_benchmark) -> Path:
    return tiny_benchmark


def first_scene(bench: Path) -> Path:
    return sorted((bench / "scenes").glob("*.tif"))[0]


def truth_of(bench: Path, scene: Path) -> np.ndarray:
    return rasterio.open(bench / "truth" / "maps" / scene.name).read(1)


def read_scene(path: Path) -> tuple[np.ndarray, dict, rasterio.Affine, rasterio.crs.CRS]:
    with rasterio.open(path) as src:
        return src.read(), src.tags(), src.transform, src.crs


def optical_tif(
    path: Path, scene: Path, bands=OPTICAL_BANDS, tags=("DATE", "SENSOR", "SUN_AZIMUTH", "SUN_ELEVATION")
) -> Path:
    """A GeoTIFF with some optical bands of a synthetic scene (and some of its tags)."""
    data, all_tags, transform, crs = read_scene(scene)
    keep = [BAND_NAMES.index(b) for b in bands]
    write_raster(
        path,
        data[keep],
        transform,
        crs,
        descriptions=tuple(bands),
        tags={k: all_tags[k] for k in tags},
        nodata=float("nan"),
    )
    return path


# -- the synthetic benchmark: derived bands are the generator's -------------------------------------------


def test_derived_bands_equal_the_generators(bench, tmp_path):
    scene = first_scene(bench)
    prepared = prepare_scene(
        open_scene(scene), read_outlines(bench / "outlines.gpkg"), [bench / "dems"], BAND_NAMES, tmp_path
    )
    data, tags, transform, _ = read_scene(scene)
    assert prepared.glacier_ids == (tags["GLACIER"],) and prepared.grid.crs == rasterio.open(scene).crs
    stack = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height))
    # the scene's pixels under the grid (both on 10 m multiples)
    col0, row0 = (~transform) * (prepared.grid.transform.c, prepared.grid.transform.f)
    rows, cols = np.nonzero(prepared.glacier_index > 0)
    src_rows, src_cols = rows + round(row0), cols + round(col0)
    assert prepared.classify[rows, cols].all() and prepared.coverage == {tags["GLACIER"]: 1.0}
    for i, band in enumerate(BAND_NAMES):
        ours, theirs = stack[i, rows, cols], data[i, src_rows, src_cols]
        if band == "shadow_mask":  # the horizon sweep samples a differently centred rotated grid
            assert (ours == theirs).mean() > 0.99, band
        elif band == "proximity":  # divided by its largest value on each raster: the grid here, the scene there
            np.testing.assert_allclose(ours / ours.max(), theirs / theirs.max(), atol=1e-4, err_msg=band)
        else:
            np.testing.assert_allclose(ours, theirs, atol=1e-4, err_msg=band)
    assert stack[BAND_NAMES.index("elevation"), rows, cols].min() == 0 == data[6, src_rows, src_cols].min()


def test_a_dem_in_another_crs_and_resolution(bench, tmp_path):
    scene = first_scene(bench)
    glacier = read_scene(scene)[1]["GLACIER"]
    with rasterio.open(bench / "dems" / f"{glacier}.tif") as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds, resolution=0.0004
        )
        lonlat = np.full((1, height, width), -9999.0, np.float32)
        reproject(
            rasterio.band(src, 1),
            lonlat,
            dst_transform=transform,
            dst_crs="EPSG:4326",
            dst_nodata=-9999.0,
            resampling=Resampling.bilinear,
        )
        write_raster(tmp_path / "dem_lonlat.tif", lonlat, transform, "EPSG:4326", nodata=-9999.0)
    outlines = read_outlines(bench / "outlines.gpkg")
    native = prepare_scene(open_scene(scene), outlines, [bench / "dems"], ("elevation", "slope"), tmp_path / "a")
    other = prepare_scene(
        open_scene(scene), outlines, [tmp_path / "dem_lonlat.tif"], ("elevation", "slope"), tmp_path / "b"
    )
    g = native.glacier_index > 0
    a, b = (p.read(Window(0, 0, p.grid.width, p.grid.height), ("elevation",))[0][g] for p in (native, other))
    # glacier-scaled elevation (0-1 over the outline): the round trip through a 3-4x coarser grid smooths the
    # steps at the snout and around nunataks, but a misplaced or flipped DEM would be far off
    assert np.median(np.abs(a - b)) < 0.03 and np.corrcoef(a, b)[0, 1] > 0.998


# -- sensor products --------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, mtl", [("OLI", "json"), ("OLI", "xml"), ("TM", "txt")])
def test_landsat_collection2_level2(bench, tmp_path, family, mtl):
    scene = first_scene(bench)
    tags = read_scene(scene)[1]
    product = landsat_c2l2(tmp_path, scene, truth_of(bench, scene), family, mtl=(mtl,))
    opened = open_scene(product.folder)
    assert (
        opened.kind == "landsat"
        and opened.sensor == ("L8" if family == "OLI" else "L5")
        and opened.date == tags["DATE"]
    )
    assert (opened.sun_azimuth, opened.sun_elevation) == (float(tags["SUN_AZIMUTH"]), float(tags["SUN_ELEVATION"]))
    for name, n in LANDSAT_BANDS[family].items():
        assert (
            Path(opened.bands[name].path).name.endswith(f"_SR_B{n}.TIF")
            and opened.bands[name].scale == MULT
            and opened.bands[name].offset == ADD
        )
    assert [q.name for q in opened.quality] == ["QA_PIXEL", "QA_RADSAT"]
    prepared = prepare_scene(
        opened, read_outlines(bench / "outlines.gpkg"), [bench / "dems"], OPTICAL_BANDS, tmp_path / "work"
    )
    stack = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height))
    rows, cols = np.nonzero(prepared.classify)
    for i, name in enumerate(OPTICAL_BANDS):  # 30 m pixels resampled bilinearly onto the 10 m grid
        dn, clean = bilinear_at_grid(Path(opened.bands[name].path), prepared.grid, rows, cols)
        assert clean.mean() > 0.9
        np.testing.assert_allclose(stack[i, rows, cols][clean], dn[clean] * MULT + ADD, atol=1e-6, err_msg=name)


def test_landsat_grid_is_aligned_to_the_odd_15_m_pixel_corners(bench, tmp_path):
    scene = first_scene(bench)
    product = landsat_c2l2(tmp_path, scene, truth_of(bench, scene))
    x0, y0 = product.transform.c, product.transform.f
    assert x0 % 30 == 15 and y0 % 30 == 15  # as USGS ships them
    prepared = prepare_scene(open_scene(product.folder), read_outlines(bench / "outlines.gpkg"), [], ("red",), tmp_path)
    grid = prepared.grid.transform
    assert (grid.c - x0) % 10 == 0 and (y0 - grid.f) % 10 == 0 and prepared.grid.crs == rasterio.open(scene).crs
    red = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height), ("red",))[0]
    # every 30 m pixel covers exactly 3 x 3 cells, and its centre is the middle cell's: there the bilinear warp
    # gives DN x MULT + ADD of that pixel; a pixel without data leaves its 3 x 3 cells empty
    r0, c0 = round((y0 - grid.f) / 10), round((grid.c - x0) / 10)
    dn = product.dn[LANDSAT_BANDS["OLI"]["red"]].astype(np.float64)
    rows, cols = np.nonzero(prepared.glacier_index > 0)
    under = dn[(rows + r0) // 3, (cols + c0) // 3]
    np.testing.assert_array_equal(np.isnan(red[rows, cols]), under == 0)
    middle = ((rows + r0) % 3 == 1) & ((cols + c0) % 3 == 1)
    assert middle.sum() > 50
    np.testing.assert_allclose(
        red[rows, cols][middle], np.where(under == 0, np.nan, under * MULT + ADD)[middle], atol=1e-6
    )


def test_landsat_level_2_is_read_beside_level_1_and_ambiguity_is_refused(bench, tmp_path):
    scene = first_scene(bench)
    product = landsat_c2l2(tmp_path / "a", scene, truth_of(bench, scene), level1=True)
    assert len(list(product.folder.glob("*_MTL.*"))) == 4  # json, txt, xml of Level-2 and the Level-1 txt
    opened = open_scene(product.folder)
    assert "L2SP" in opened.scene and opened.bands["red"].scale == MULT
    assert all("_SR_B" in Path(b.path).name for b in opened.bands.values())
    level1 = next(product.folder.glob("*L1TP*_MTL.txt"))
    assert open_scene(next(product.folder.glob("*L2SP*_MTL.xml"))).scene == opened.scene  # an MTL file given
    with pytest.raises(SceneInputError, match="a Level-1 MTL"):
        open_scene(level1)
    for path in product.folder.glob("*L2SP*_MTL.*"):
        path.unlink()
    with pytest.raises(SceneInputError, match="only Level-1 metadata .*L1TP") as err:
        open_scene(product.folder)
    assert "Landsat Collection 2 Level-2 product folder" in str(err.value)
    other = landsat_c2l2(tmp_path / "b", scene, truth_of(bench, scene)).folder
    for path in other.glob("*_MTL.json"):  # a second Level-2 product in the same folder
        write_mtl(
            other / path.name.replace("_20200101_", "_20210101_"), {"PRODUCT_CONTENTS": {"PROCESSING_LEVEL": "L2SP"}}
        )
    with pytest.raises(SceneInputError, match="2 Level-2 products"):
        open_scene(other)


@pytest.mark.parametrize("baseline, ext", [("02.14", ".jp2"), ("04.00", ".jp2"), ("05.00", ".tif"), ("05.09", ".jp2")])
def test_sentinel2_l2a_baselines(bench, tmp_path, baseline, ext):
    scene = first_scene(bench)
    data, tags, transform, _ = read_scene(scene)
    s2 = sentinel2_safe(tmp_path, scene, truth_of(bench, scene), baseline, ext)
    opened = open_scene(s2.safe)
    assert opened.kind == "sentinel2" and opened.sensor == "S2" and opened.date == tags["DATE"]
    assert opened.sun_elevation == pytest.approx(float(tags["SUN_ELEVATION"])) and opened.sun_azimuth == pytest.approx(
        float(tags["SUN_AZIMUTH"])
    )
    assert Path(opened.bands["swir1"].path).parent.name == "R20m" and Path(opened.bands["blue"].path).suffix == ext
    assert Path(opened.bands["blue"].path).parent.name == "R10m"  # not the 20 m or 60 m copies of B02
    offset = -0.1 if baseline >= "04.00" else 0.0
    assert opened.bands["nir"].offset == pytest.approx(offset) and opened.bands["nir"].scale == pytest.approx(1e-4)
    assert opened.metadata["processing_baseline"] == baseline
    prepared = prepare_scene(opened, read_outlines(bench / "outlines.gpkg"), [], OPTICAL_BANDS, tmp_path / "work")
    stack = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height))
    rows, cols = np.nonzero(prepared.classify)
    for i, name in enumerate(OPTICAL_BANDS):  # the 20 m bands resampled bilinearly
        dn, clean = bilinear_at_grid(Path(opened.bands[name].path), prepared.grid, rows, cols)
        assert clean.mean() > 0.9
        expected = (dn[clean] + offset * 1e4) / 1e4
        np.testing.assert_allclose(stack[i, rows, cols][clean], expected, atol=1e-6, err_msg=name)
    # the 10 m bands reproduce the scene's reflectance (quantised to 1e-4)
    col0, row0 = (~transform) * (prepared.grid.transform.c, prepared.grid.transform.f)
    np.testing.assert_allclose(stack[0, rows, cols], data[0, rows + round(row0), cols + round(col0)], atol=6e-5)


def test_sentinel2_baseline_4_without_offsets_is_an_error(bench, tmp_path):
    s2 = sentinel2_safe(tmp_path, first_scene(bench), truth_of(bench, first_scene(bench)), "04.00", ".tif")
    mtd = s2.safe / "MTD_MSIL2A.xml"
    text = mtd.read_text()
    mtd.write_text(
        text[: text.index("<BOA_ADD_OFFSET_VALUES_LIST>")] + text[text.index("</BOA_ADD_OFFSET_VALUES_LIST>") + 29 :]
    )
    with pytest.raises(SceneInputError, match="BOA_ADD_OFFSET"):
        open_scene(s2.safe)


def test_unknown_and_incomplete_layouts_are_named(bench, tmp_path):
    scene = first_scene(bench)
    s2 = sentinel2_safe(tmp_path / "s2", scene, truth_of(bench, scene), "05.09", ".tif")
    bands = tmp_path / "bands"
    bands.mkdir()
    for file in (s2.safe / "GRANULE" / s2.granule / "IMG_DATA" / "R10m").iterdir():
        (bands / file.name).write_bytes(file.read_bytes())
    with pytest.raises(SceneInputError, match="folder of Sentinel-2 band files: the BOA offset is unknown"):
        open_scene(bands)
    with pytest.raises(SceneInputError, match=r"folder of Sentinel-2 band files: missing the swir1 band \(B11"):
        open_scene(bands, boa_offset=-1000)
    with pytest.raises(SceneInputError, match="not a scene layout this reader knows: it holds 2 entries .*Accepted"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "notes.txt").write_text("x")
        (tmp_path / "other" / "readme.md").write_text("x")
        open_scene(tmp_path / "other")
    (tmp_path / "l1c").mkdir()
    (tmp_path / "l1c" / "MTD_MSIL1C.xml").write_text("<x/>")
    with pytest.raises(SceneInputError, match="Level-1C"):
        open_scene(tmp_path / "l1c")


def test_a_web_mercator_scene_is_mapped_on_the_utm_grid(bench, tmp_path):
    """A GeoTIFF in EPSG:3857 with "10 m" pixels (6.9 m on the ground at 47 deg N): the grid is the UTM zone's,
    and glacier areas are true ground areas."""
    scene = first_scene(bench)
    data, tags, transform, crs = read_scene(scene)
    with rasterio.open(scene) as src:
        merc, width, height = calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds, resolution=10.0
        )
        out = np.full((6, height, width), np.nan, np.float32)
        for i in range(6):
            reproject(
                data[i],
                out[i],
                src_transform=transform,
                src_crs=crs,
                dst_transform=merc,
                dst_crs="EPSG:3857",
                resampling=Resampling.nearest,
                dst_nodata=np.nan,
            )
    write_raster(
        tmp_path / "merc.tif",
        out,
        merc,
        "EPSG:3857",
        descriptions=OPTICAL_BANDS,
        tags={k: tags[k] for k in ("DATE", "SENSOR")},
        nodata=float("nan"),
    )
    outlines = read_outlines(bench / "outlines.gpkg")
    prepared = prepare_scene(open_scene(tmp_path / "merc.tif"), outlines, [], OPTICAL_BANDS, tmp_path / "w")
    assert prepared.grid.crs.to_epsg() == 32632 and "scale error of 4" in prepared.grid_reason
    glacier = outlines.ids.index(tags["GLACIER"])
    lon, lat = np.asarray(outlines.geometries[glacier].exterior.coords).T
    true_m2 = abs(pyproj.Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0])
    mapped_m2 = (prepared.glacier_index > 0).sum() * 100.0
    assert mapped_m2 == pytest.approx(true_m2, rel=0.02)  # on the 3857 grid: 2.1 x too large


def test_geotiff_band_scales_are_applied(bench, tmp_path):
    scene = first_scene(bench)
    data, tags, transform, crs = read_scene(scene)
    dn = np.round(data[:6] * 10000).astype(np.uint16)
    path = tmp_path / "scaled.tif"
    write_raster(path, dn, transform, crs, descriptions=OPTICAL_BANDS, tags={k: tags[k] for k in ("DATE", "SENSOR")})
    with rasterio.open(path, "r+") as dst:
        dst.scales = (1e-4,) * 6
    opened = open_scene(path)
    assert (
        opened.bands["red"].scale == pytest.approx(1e-4) and opened.date == tags["DATE"] and opened.sun_azimuth is None
    )
    prepared = prepare_scene(opened, read_outlines(bench / "outlines.gpkg"), [], OPTICAL_BANDS, tmp_path / "w")
    rows, cols = np.nonzero(prepared.glacier_index > 0)
    red = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height), ("red",))[0]
    col0, row0 = (~transform) * (prepared.grid.transform.c, prepared.grid.transform.f)
    np.testing.assert_allclose(red[rows, cols], data[2, rows + round(row0), cols + round(col0)], atol=1e-4)


# -- bad input: clear errors naming the file ----------------------------------------------------------------


def test_missing_metadata_and_band_files(bench, tmp_path):
    scene = first_scene(bench)
    folder = landsat_c2l2(tmp_path, scene, truth_of(bench, scene), mtl=("json",)).folder
    mtl = next(folder.glob("*_MTL.json"))
    meta = json.loads(mtl.read_text())
    del meta["LANDSAT_METADATA_FILE"]["IMAGE_ATTRIBUTES"]["SUN_ELEVATION"]
    mtl.write_text(json.dumps(meta))
    with pytest.raises(SceneInputError, match="SUN_ELEVATION") as err:
        open_scene(folder)
    assert str(mtl) in str(err.value)
    folder = landsat_c2l2(tmp_path / "b", scene, truth_of(bench, scene), mtl=("txt",)).folder
    next(folder.glob("*_SR_B7.TIF")).unlink()
    meta_txt = next(folder.glob("*_MTL.txt"))
    meta_txt.write_text(meta_txt.read_text().replace("FILE_NAME_BAND_7", "X_FILE_NAME"))
    with pytest.raises(SceneInputError, match="Landsat Collection 2 Level-2 product folder .*swir2"):
        open_scene(folder)
    with pytest.raises(SceneInputError, match="not a calendar date") as err:
        open_scene(scene, date="2020-02-30")
    assert str(scene) in str(err.value)
    with pytest.raises(SceneInputError, match="not a scene layout"):
        open_scene(tmp_path)
    with pytest.raises(SceneInputError, match="no such scene"):
        open_scene(tmp_path / "nothing.tif")
    folder = landsat_c2l2(tmp_path / "c", scene, truth_of(bench, scene), qa=False).folder
    with pytest.warns(UserWarning, match="no QA_PIXEL or QA_RADSAT"):
        assert open_scene(folder).quality == ()


def test_a_model_whose_bands_the_scene_cannot_provide(bench, tmp_path):
    scene = optical_tif(tmp_path / "rgbn.tif", first_scene(bench), bands=("blue", "green", "red", "nir"))
    outlines = read_outlines(bench / "outlines.gpkg")
    with pytest.raises(SceneInputError, match=r"swir1', 'swir2"):
        prepare_scene(open_scene(scene), outlines, [bench / "dems"], BAND_NAMES, tmp_path / "w")
    full = optical_tif(tmp_path / "opt.tif", first_scene(bench))
    with pytest.raises(SceneInputError, match="DEM"):
        prepare_scene(open_scene(full), outlines, [], BAND_NAMES, tmp_path / "w")
    nosun = optical_tif(tmp_path / "nosun.tif", first_scene(bench), tags=("DATE",))
    with pytest.raises(SceneInputError, match="sun"):
        prepare_scene(open_scene(nosun), outlines, [bench / "dems"], BAND_NAMES, tmp_path / "w")
    prepared = prepare_scene(
        open_scene(nosun, sun_azimuth=150.0, sun_elevation=30.0), outlines, [bench / "dems"], BAND_NAMES, tmp_path / "w"
    )
    assert prepared.classify.any()
    undated = optical_tif(tmp_path / "scene.tif", first_scene(bench), tags=())
    with pytest.raises(SceneInputError, match="date"):
        prepare_scene(open_scene(undated), outlines, [], OPTICAL_BANDS, tmp_path / "w")


def test_a_scene_that_does_not_cover_the_outlines(bench, tmp_path):
    scenes = sorted((bench / "scenes").glob("*.tif"))
    outlines = read_outlines(bench / "outlines.gpkg")
    other = read_scene(scenes[1])[1]["GLACIER"]
    with pytest.raises(SceneInputError, match="covers none") as err:
        prepare_scene(open_scene(scenes[0]), outlines, [bench / "dems"], BAND_NAMES, tmp_path, glaciers=[other])
    assert str(scenes[0]) in str(err.value)
    with pytest.raises(SceneInputError, match="no outline for glacier"):
        prepare_scene(open_scene(scenes[0]), outlines, [bench / "dems"], BAND_NAMES, tmp_path, glaciers=["nowhere"])
    # a scene whose pixels over the glacier are all nodata
    data, tags, transform, crs = read_scene(scenes[0])
    data[:6] = np.nan
    write_raster(tmp_path / "empty.tif", data, transform, crs, descriptions=BAND_NAMES, tags=tags, nodata=float("nan"))
    with pytest.raises(SceneInputError, match="no data over any"):
        prepare_scene(open_scene(tmp_path / "empty.tif"), outlines, [bench / "dems"], BAND_NAMES, tmp_path)


def test_a_dem_with_holes_or_elsewhere(bench, tmp_path):
    scene = first_scene(bench)
    glacier = read_scene(scene)[1]["GLACIER"]
    outlines = read_outlines(bench / "outlines.gpkg")
    with rasterio.open(bench / "dems" / f"{glacier}.tif") as src:
        dem, profile = src.read(), src.profile
    truth = rasterio.open(bench / "truth" / "maps" / scene.name).read(1)
    holed = np.where((truth != 255)[None] & (np.arange(dem.shape[2]) % 7 == 0)[None, None], np.nan, dem)
    with rasterio.open(tmp_path / "holed.tif", "w", **profile) as dst:
        dst.write(holed)
    with pytest.raises(SceneInputError, match="holes") as err:
        prepare_scene(open_scene(scene), outlines, [tmp_path / "holed.tif"], BAND_NAMES, tmp_path / "w")
    assert "holed.tif" in str(err.value)
    others = [p for p in (bench / "dems").glob("*.tif") if p.stem != glacier]
    with pytest.raises(SceneInputError, match="no DEM covers"):
        prepare_scene(open_scene(scene), outlines, others, BAND_NAMES, tmp_path / "w")


def write_vector(
    path: Path,
    geometries: list,
    ids: list[str],
    crs: str | None = "EPSG:4326",
    driver: str = "GPKG",
    column: str = "glacier",
) -> Path:
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.asarray(geometries, dtype=object)),
        [np.asarray(ids, dtype=object)],
        [column],
        driver=driver,
        geometry_type="Polygon",
        crs=crs,
    )
    return path


def test_outlines_formats_and_invalid_geometries(tmp_path):
    square = shapely.box(10.0, 46.0, 10.01, 46.01)
    bowtie = shapely.Polygon([(10, 46), (10.01, 46.01), (10.01, 46), (10, 46.01), (10, 46)])
    for name, driver in (("o.geojson", "GeoJSON"), ("o.shp", "ESRI Shapefile"), ("o.gpkg", "GPKG")):
        outlines = read_outlines(
            write_vector(tmp_path / name, [square], ["RGI2000-v7.0-G-11-00001"], driver=driver, column="rgi_id")
        )
        assert outlines.ids == ("RGI2000-v7.0-G-11-00001",) and outlines.crs.to_epsg() == 4326
    with pytest.raises(OutlinesError, match=r"row 2 \(b\): invalid geometry \(Self-intersection") as err:
        read_outlines(write_vector(tmp_path / "bad.gpkg", [square, bowtie], ["a", "b"]))
    assert "bad.gpkg" in str(err.value) and "make_valid" in str(err.value)
    with pytest.raises(OutlinesError, match="repeated"):
        read_outlines(write_vector(tmp_path / "dup.gpkg", [square, square], ["a", "a"]))
    with pytest.raises(OutlinesError, match="id column"):
        read_outlines(write_vector(tmp_path / "noid.gpkg", [square], ["a"], column="label"))
    assert read_outlines(tmp_path / "noid.gpkg", id_column="LABEL").ids == ("a",)
    with pytest.raises(OutlinesError, match="not a readable vector"):
        read_outlines(tmp_path / "o.geojson.missing")


def test_grid_snaps_to_the_pixel_size():
    grid = make_grid((1003.0, 2004.0, 1517.0, 2791.0), rasterio.crs.CRS.from_epsg(32632), 10.0, margin_px=2)
    assert (grid.transform.c, grid.transform.f) == (980.0, 2820.0)
    left, bottom, right, top = grid.bounds()
    assert left <= 1003 - 20 and right >= 1517 + 20 and bottom <= 2004 - 20 and top >= 2791 + 20
    assert all(v % 10 == 0 for v in (left, bottom, right, top))


def test_touching_glaciers_share_an_outline():
    ids = np.zeros((12, 12), np.int32)
    ids[2:10, 2:6], ids[2:10, 6:10] = 1, 2
    outline = glacier_outline(ids)
    assert outline[5, 5] and outline[5, 6]  # the shared border belongs to both
    assert not glacier_outline(ids > 0)[5, 5]  # as one glacier, it is interior
    np.testing.assert_array_equal(proximity_m(ids > 0, 10.0), proximity_m((ids > 0).astype(np.uint8), 10.0))


def test_proximity_in_strips_equals_the_whole_grid():
    rng = np.random.default_rng(5)
    blobs = ndimage.gaussian_filter(rng.normal(size=(230, 180)), 9)
    ids, _ = ndimage.label(blobs > 0.02)
    whole = proximity_m(ids, 10.0)
    np.testing.assert_array_equal(proximity_m(ids, 10.0, strip_rows=16), whole)
    needed = ndimage.maximum_filter(ids > 0, size=9)
    partial = proximity_m(ids, 10.0, strip_rows=16, needed=needed)
    np.testing.assert_array_equal(partial[needed], whole[needed])
    assert (partial[~needed] >= whole[~needed]).all()


def test_optical_bands_are_warped_bilinearly_from_valid_pixels_only(tmp_path):
    """30 m DN with a saturated pixel (65535) and a dropped one (0, undeclared) in a smooth field, onto the 10 m grid:
    the grid pixels of each bad 30 m pixel take its state, and neither value leaks into the neighbours' bilinear
    values, which match bilinear interpolation between the valid pixel centres."""
    crs = rasterio.crs.CRS.from_epsg(32632)
    rows, cols = np.mgrid[0:12, 0:12]
    dn = (8000 + 100 * rows + 37 * cols).astype(np.uint16)
    dn[4, 4], dn[8, 7] = 65535, 0
    path = write_raster(tmp_path / "b.tif", dn, rasterio.transform.from_origin(300000.0, 5000010.0, 30.0, 30.0), crs)
    grid = make_grid((300000.0, 5000010.0 - 360, 300360.0, 5000010.0), crs, 10.0, margin_px=0)
    window = Window(0, 0, grid.width, grid.height)
    values, flagged = warp_valid(path, 1, grid, window, nodata=0, flagged=65535)
    gr, gc = np.mgrid[0 : grid.height, 0 : grid.width]
    footprint = (gr // 3, gc // 3)  # the 30 m pixel under each grid pixel (the grid starts at the raster's corner)
    np.testing.assert_array_equal(flagged, (footprint[0] == 4) & (footprint[1] == 4))
    np.testing.assert_array_equal(np.isnan(values), flagged | ((footprint[0] == 8) & (footprint[1] == 7)))
    assert np.nanmax(values) <= dn[dn < 65535].max() and np.nanmin(values) >= dn[dn > 0].min()
    expected, clean = bilinear_at_grid(path, grid, gr.ravel(), gc.ravel())
    assert clean.sum() > 0.6 * clean.size
    np.testing.assert_allclose(values.ravel()[clean], expected[clean], rtol=0, atol=1e-2)
