"""Scene inputs: GeoTIFF, Landsat C2 L2 and Sentinel-2 L2A readers, the grid, DEM, outlines, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from rasterio.transform import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import Window
from scipy import ndimage

from dataset_builder.aux_bands import glacier_outline, proximity_m
from dataset_builder.errors import OutlinesError
from dataset_builder.outlines import read_outlines
from dataset_builder.schema import BAND_NAMES, OPTICAL_BANDS
from dataset_builder.synthetic import SyntheticConfig, generate
from modeling.errors import SceneInputError
from modeling.mapping import LANDSAT_BANDS, make_grid, open_scene, prepare_scene

TINY = dataclasses.replace(SyntheticConfig.quick(), scenes_per_glacier=1, scene_size=132, n_labels=150)
MULT, ADD = 2.75e-05, -0.2


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    """A tiny synthetic benchmark: 6 glaciers, one 132 px scene each."""
    out = tmp_path_factory.mktemp("bench") / "synthetic"
    generate(out, TINY, progress=False)
    return out


def first_scene(bench: Path) -> Path:
    return sorted((bench / "scenes").glob("*.tif"))[0]


def read_scene(path: Path) -> tuple[np.ndarray, dict, rasterio.Affine, rasterio.crs.CRS]:
    with rasterio.open(path) as src:
        return src.read(), src.tags(), src.transform, src.crs


def write_tif(path: Path, array: np.ndarray, transform, crs, **extra) -> None:
    """Write (bands, rows, cols) as a GeoTIFF; ``descriptions``/``tags``/``nodata`` in ``extra``."""
    descriptions, tags = extra.pop("descriptions", None), extra.pop("tags", {})
    profile = dict(
        driver="GTiff",
        width=array.shape[2],
        height=array.shape[1],
        count=array.shape[0],
        dtype=array.dtype.name,
        crs=crs,
        transform=transform,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **(profile | extra)) as dst:
        dst.write(array)
        if descriptions:
            dst.descriptions = descriptions
        dst.update_tags(**tags)


def optical_tif(
    path: Path, scene: Path, bands=OPTICAL_BANDS, tags=("DATE", "SENSOR", "SUN_AZIMUTH", "SUN_ELEVATION")
) -> Path:
    """A GeoTIFF with some optical bands of a synthetic scene (and some of its tags)."""
    data, all_tags, transform, crs = read_scene(scene)
    keep = [BAND_NAMES.index(b) for b in bands]
    write_tif(
        path,
        data[keep],
        transform,
        crs,
        descriptions=tuple(bands),
        tags={k: all_tags[k] for k in tags},
        nodata=float("nan"),
    )
    return path


def landsat_folder(root: Path, scene: Path, family: str = "OLI", mtl: str = "json") -> Path:
    """A fake Landsat Collection 2 Level-2 product: 30 m SR bands (the 10 m scene's block centres) and an MTL."""
    data, tags, transform, crs = read_scene(scene)
    prefix = "LC08" if family == "OLI" else "LT05"
    product = f"{prefix}_L2SP_195028_{tags['DATE'].replace('-', '')}_20200101_02_T1"
    folder = root / product
    files = {}
    for name, n in LANDSAT_BANDS[family].items():
        refl = data[BAND_NAMES.index(name), 1::3, 1::3]
        dn = np.clip(np.round((refl - ADD) / MULT), 1, 65535).astype(np.uint16)
        dn[:2, :2] = 0  # a corner without data
        files[n] = f"{product}_SR_B{n}.TIF"
        write_tif(folder / files[n], dn[None], transform * Affine.scale(3), crs, nodata=0)
    meta = {
        "PRODUCT_CONTENTS": {"LANDSAT_PRODUCT_ID": product, **{f"FILE_NAME_BAND_{n}": f for n, f in files.items()}},
        "IMAGE_ATTRIBUTES": {
            "SPACECRAFT_ID": "LANDSAT_8" if family == "OLI" else "LANDSAT_5",
            "SENSOR_ID": "OLI_TIRS" if family == "OLI" else "TM",
            "DATE_ACQUIRED": tags["DATE"],
            "SUN_AZIMUTH": tags["SUN_AZIMUTH"],
            "SUN_ELEVATION": tags["SUN_ELEVATION"],
        },
        # Level-1 TOA factors also exist in a real MTL: they must not be used
        "LEVEL1_RADIOMETRIC_RESCALING": {
            **{f"REFLECTANCE_MULT_BAND_{n}": "2.0000E-05" for n in files},
            **{f"REFLECTANCE_ADD_BAND_{n}": "-0.100000" for n in files},
        },
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
            **{f"REFLECTANCE_MULT_BAND_{n}": "2.75e-05" for n in files},
            **{f"REFLECTANCE_ADD_BAND_{n}": "-0.200000" for n in files},
        },
    }
    if mtl == "json":
        (folder / f"{product}_MTL.json").write_text(json.dumps({"LANDSAT_METADATA_FILE": meta}))
    else:
        lines = ["GROUP = LANDSAT_METADATA_FILE"]
        for group, values in meta.items():
            lines += [f"  GROUP = {group}"] + [
                f'    {k} = "{v}"' if "FILE" in k or "ID" in k else f"    {k} = {v}" for k, v in values.items()
            ]
            lines.append(f"  END_GROUP = {group}")
        (folder / f"{product}_MTL.txt").write_text(
            "\n".join(lines + ["END_GROUP = LANDSAT_METADATA_FILE", "END"]) + "\n"
        )
    return folder


S2_MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info><Product_Info>
    <PRODUCT_START_TIME>{date}T10:20:31.024Z</PRODUCT_START_TIME>
    <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
    <Datatake><SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME></Datatake>
  </Product_Info>
  <Product_Image_Characteristics>
    <QUANTIFICATION_VALUES_LIST>
      <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
      <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
    </QUANTIFICATION_VALUES_LIST>
    {offsets}
  </Product_Image_Characteristics></n1:General_Info>
</n1:Level-2A_User_Product>
"""
S2_TL = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd">
  <n1:Geometric_Info><Tile_Angles>
    <Sun_Angles_Grid><Zenith><COL_STEP unit="m">5000</COL_STEP></Zenith><Azimuth><COL_STEP unit="m">5000</COL_STEP></Azimuth></Sun_Angles_Grid>
    <Mean_Sun_Angle><ZENITH_ANGLE unit="deg">{zenith}</ZENITH_ANGLE><AZIMUTH_ANGLE unit="deg">{azimuth}</AZIMUTH_ANGLE></Mean_Sun_Angle>
  </Tile_Angles></n1:Geometric_Info>
</n1:Level-2A_Tile_ID>
"""


def sentinel2_folder(root: Path, scene: Path, baseline: str = "04.00", ext: str = ".jp2", offsets: bool = True) -> Path:
    """A fake Sentinel-2 L2A SAFE folder: B02-B04, B08 at 10 m, B11, B12 at 20 m, lossless JPEG 2000 (or GeoTIFF)."""
    data, tags, transform, crs = read_scene(scene)
    stamp = tags["DATE"].replace("-", "")
    folder = root / f"S2A_MSIL2A_{stamp}T102031_N0400_R065_T32TMS_{stamp}T130528.SAFE"
    offset = 1000 if offsets and float(baseline) >= 4 else 0
    images = folder / "GRANULE" / "L2A_T32TMS_A000001_20200101T000000" / "IMG_DATA"
    bands = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir1": "B11", "swir2": "B12"}
    for name, band in bands.items():
        coarse = band in ("B11", "B12")
        refl = data[BAND_NAMES.index(name)][::2, ::2] if coarse else data[BAND_NAMES.index(name)]
        dn = np.clip(np.round(refl * 10000 + offset), 1, 65535).astype(np.uint16)
        res = "20m" if coarse else "10m"
        path = images / f"R{res}" / f"T32TMS_{stamp}T102031_{band}_{res}{ext}"
        extra = dict(driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES") if ext == ".jp2" else {}
        write_tif(path, dn[None], transform * Affine.scale(2 if coarse else 1), crs, **extra)
    offset_xml = (
        "<BOA_ADD_OFFSET_VALUES_LIST>"
        + "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
        + "</BOA_ADD_OFFSET_VALUES_LIST>"
        if offset
        else ""
    )
    (folder / "MTD_MSIL2A.xml").write_text(S2_MTD.format(date=tags["DATE"], baseline=baseline, offsets=offset_xml))
    zenith = 90 - float(tags["SUN_ELEVATION"])
    (images.parent / "MTD_TL.xml").write_text(S2_TL.format(zenith=zenith, azimuth=tags["SUN_AZIMUTH"]))
    return folder


def sample_at_grid(path: Path, grid, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values of a raster's pixels under grid pixel centres (nearest)."""
    x, y = grid.transform * (cols + 0.5, rows + 0.5)
    with rasterio.open(path) as src:
        c, r = ~src.transform * (x, y)
        return src.read(1)[np.floor(r).astype(int), np.floor(c).astype(int)]


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
        else:
            np.testing.assert_allclose(ours, theirs, atol=1e-4, err_msg=band)
    lo, hi = prepared.elevation_ranges[1]
    assert lo == pytest.approx(data[6, src_rows, src_cols].min()) and hi == pytest.approx(
        data[6, src_rows, src_cols].max()
    )


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
        write_tif(tmp_path / "dem_lonlat.tif", lonlat, transform, "EPSG:4326", nodata=-9999.0)
    outlines = read_outlines(bench / "outlines.gpkg")
    native = prepare_scene(open_scene(scene), outlines, [bench / "dems"], ("elevation", "slope"), tmp_path / "a")
    other = prepare_scene(
        open_scene(scene), outlines, [tmp_path / "dem_lonlat.tif"], ("elevation", "slope"), tmp_path / "b"
    )
    g = native.glacier_index > 0
    a, b = (p.read(Window(0, 0, p.grid.width, p.grid.height), ("elevation",))[0][g] for p in (native, other))
    assert np.median(np.abs(a - b)) < 5.0 and np.corrcoef(a, b)[0, 1] > 0.999


# -- sensor products --------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, mtl", [("OLI", "json"), ("TM", "txt")])
def test_landsat_collection2_level2(bench, tmp_path, family, mtl):
    scene = first_scene(bench)
    tags = read_scene(scene)[1]
    folder = landsat_folder(tmp_path, scene, family, mtl)
    opened = open_scene(folder)
    assert (
        opened.kind == "landsat"
        and opened.sensor == ("L8" if family == "OLI" else "L5")
        and opened.date == tags["DATE"]
    )
    assert (opened.sun_azimuth, opened.sun_elevation) == (float(tags["SUN_AZIMUTH"]), float(tags["SUN_ELEVATION"]))
    for name, n in LANDSAT_BANDS[family].items():
        assert (
            opened.bands[name].path.name.endswith(f"_SR_B{n}.TIF")
            and opened.bands[name].scale == MULT
            and opened.bands[name].offset == ADD
        )
    prepared = prepare_scene(
        opened, read_outlines(bench / "outlines.gpkg"), [bench / "dems"], OPTICAL_BANDS, tmp_path / "work"
    )
    stack = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height))
    rows, cols = np.nonzero(prepared.glacier_index > 0)
    for i, name in enumerate(OPTICAL_BANDS):
        dn = sample_at_grid(opened.bands[name].path, prepared.grid, rows, cols).astype(np.float64)
        np.testing.assert_allclose(stack[i, rows, cols], dn * MULT + ADD, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("baseline, ext", [("04.00", ".jp2"), ("02.14", ".tif")])
def test_sentinel2_l2a(bench, tmp_path, baseline, ext):
    scene = first_scene(bench)
    data, tags, _, _ = read_scene(scene)
    opened = open_scene(sentinel2_folder(tmp_path, scene, baseline, ext))
    assert opened.kind == "sentinel2" and opened.sensor == "S2" and opened.date == tags["DATE"]
    assert opened.sun_elevation == pytest.approx(float(tags["SUN_ELEVATION"])) and opened.sun_azimuth == pytest.approx(
        float(tags["SUN_AZIMUTH"])
    )
    assert opened.bands["swir1"].path.parent.name == "R20m" and opened.bands["blue"].path.suffix == ext
    offset = -0.1 if baseline >= "04.00" else 0.0
    assert opened.bands["nir"].offset == pytest.approx(offset) and opened.bands["nir"].scale == pytest.approx(1e-4)
    prepared = prepare_scene(opened, read_outlines(bench / "outlines.gpkg"), [], OPTICAL_BANDS, tmp_path / "work")
    stack = prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height))
    rows, cols = np.nonzero(prepared.glacier_index > 0)
    for i, name in enumerate(OPTICAL_BANDS):
        dn = sample_at_grid(opened.bands[name].path, prepared.grid, rows, cols).astype(np.float64)
        np.testing.assert_allclose(stack[i, rows, cols], dn / 1e4 + offset, atol=1e-6, err_msg=name)
    # the 10 m bands reproduce the scene's reflectance (quantised to 1e-4)
    col0, row0 = (~rasterio.open(scene).transform) * (prepared.grid.transform.c, prepared.grid.transform.f)
    np.testing.assert_allclose(stack[0, rows, cols], data[0, rows + round(row0), cols + round(col0)], atol=6e-5)


def test_sentinel2_baseline_4_without_offsets_is_an_error(bench, tmp_path):
    folder = sentinel2_folder(tmp_path, first_scene(bench), "04.00", ".tif", offsets=False)
    with pytest.raises(SceneInputError, match="BOA_ADD_OFFSET"):
        open_scene(folder)


def test_geotiff_band_scales_are_applied(bench, tmp_path):
    scene = first_scene(bench)
    data, tags, transform, crs = read_scene(scene)
    dn = np.round(data[:6] * 10000).astype(np.uint16)
    path = tmp_path / "scaled.tif"
    write_tif(path, dn, transform, crs, descriptions=OPTICAL_BANDS, tags={k: tags[k] for k in ("DATE", "SENSOR")})
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
    folder = landsat_folder(tmp_path, scene, "OLI", "json")
    mtl = next(folder.glob("*_MTL.json"))
    meta = json.loads(mtl.read_text())
    del meta["LANDSAT_METADATA_FILE"]["IMAGE_ATTRIBUTES"]["SUN_ELEVATION"]
    mtl.write_text(json.dumps(meta))
    with pytest.raises(SceneInputError, match="SUN_ELEVATION") as err:
        open_scene(folder)
    assert str(mtl) in str(err.value)
    folder = landsat_folder(tmp_path / "b", scene, "OLI", "txt")
    next(folder.glob("*_SR_B7.TIF")).unlink()
    meta_txt = next(folder.glob("*_MTL.txt"))
    meta_txt.write_text(meta_txt.read_text().replace("FILE_NAME_BAND_7", "X_FILE_NAME"))
    with pytest.raises(SceneInputError, match="swir2"):
        open_scene(folder)
    with pytest.raises(SceneInputError, match="not a calendar date") as err:
        open_scene(scene, date="2020-02-30")
    assert str(scene) in str(err.value)
    with pytest.raises(SceneInputError, match="Landsat"):
        open_scene(tmp_path)
    with pytest.raises(SceneInputError, match="no such scene"):
        open_scene(tmp_path / "nothing.tif")


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
    write_tif(tmp_path / "empty.tif", data, transform, crs, descriptions=BAND_NAMES, tags=tags, nodata=float("nan"))
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
