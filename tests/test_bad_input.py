"""Bad raw input gets a clear error naming the file or row, and never half-written output."""

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from dataset_builder.builder import build_dataset
from dataset_builder.errors import DatasetNotFoundError, InvalidSourceError
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.testing import fake_patch, write_fake_released, write_fake_scenes, write_patch_tif
from dataset_builder.writer import iter_rows

GOOD = "0_glacierA_20190828_S2_0001_ice.tif"


def _build(src, tmp_path, **kwargs):
    return build_dataset(src, tmp_path / "out", progress=False, **kwargs)


def _assert_nothing_written(tmp_path):
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def _source_with(tmp_path, name, data=None, crs="EPSG:32632"):
    src = tmp_path / "src"
    write_fake_released(src, per_fold=2, seed=0)
    rng = np.random.default_rng(0)
    write_patch_tif(src / name, fake_patch(rng, 0) if data is None else data, 400000.0, 5100000.0, crs=crs)
    return src, src / name


def _assert_refused_then_skipped(src, path, tmp_path, message):
    """The build stops at the one bad file, naming it and writing nothing; with skip_invalid it goes on without it."""
    with pytest.raises(InvalidSourceError, match=message) as info:
        _build(src, tmp_path)
    assert str(path) in str(info.value)
    _assert_nothing_written(tmp_path)
    report = _build(src, tmp_path, skip_invalid=True)
    assert report.skipped["total"] == 1 and report.num_rows == 12


@pytest.mark.parametrize(
    ("name", "data", "crs", "message"),
    [
        ("0_glacierA_20190828_S2_0001_glacier-milk.tif", None, "EPSG:32632", "unknown class 'glacier-milk'"),
        ("7_glacierA_20190828_S2_0001_ice.tif", None, "EPSG:32632", "fold '7' is not one of 0-5"),
        ("0_glacierA_2019-13-45_ice.tif", None, "EPSG:32632", "not a calendar date"),
        ("badname.tif", None, "EPSG:32632", "file name is not"),
        (GOOD, np.zeros((6, 33, 33), np.float32), "EPSG:32632", "wrong band count 6"),
        (GOOD, np.zeros((11, 32, 33), np.float32), "EPSG:32632", "wrong patch size 32x33"),
        (GOOD, np.full((11, 33, 33), np.nan, np.float32), "EPSG:32632", "11979 NaN or infinite"),
        (GOOD, None, None, "missing CRS"),
    ],
)
def test_invalid_label_file_names_the_file(tmp_path, name, data, crs, message):
    src, path = _source_with(tmp_path, name, data, crs)
    _assert_refused_then_skipped(src, path, tmp_path, message)


def test_all_nodata_patch(tmp_path):
    src = tmp_path / "src"
    write_fake_released(src, per_fold=1)
    path = src / GOOD
    write_patch_tif(path, np.full((11, 33, 33), -9999, np.float32), 0.0, 0.0)
    with rasterio.open(path, "r+") as dst:
        dst.nodata = -9999
    with pytest.raises(InvalidSourceError, match="all-nodata patch"):
        _build(src, tmp_path)


def test_not_a_geotiff(tmp_path):
    src, _ = _source_with(tmp_path, GOOD)
    (src / GOOD).write_bytes(b"this is not a tiff")
    with pytest.raises(InvalidSourceError, match="not a readable GeoTIFF") as info:
        _build(src, tmp_path)
    assert GOOD in str(info.value)


def test_duplicate_sample_ids(tmp_path):
    src, path = _source_with(tmp_path, GOOD)
    (src / "copy").mkdir()
    (src / "copy" / GOOD).write_bytes(path.read_bytes())
    with pytest.raises(InvalidSourceError, match="duplicate sample id"):
        _build(src, tmp_path)


def test_mixed_dtypes(tmp_path):
    src, _ = _source_with(tmp_path, GOOD, data=np.ones((11, 33, 33), np.int16))
    with pytest.raises(InvalidSourceError, match="dtype int16 differs"):
        _build(src, tmp_path)


def test_empty_and_missing_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no labels found"):
        build_dataset(tmp_path / "empty", tmp_path / "out", progress=False)
    with pytest.raises(DatasetNotFoundError, match="source folder not found"):
        build_dataset(tmp_path / "absent", tmp_path / "out", progress=False)
    _assert_nothing_written(tmp_path)


def test_every_file_invalid_with_skip(tmp_path):
    src = tmp_path / "src"
    write_patch_tif(src / "0_g_20200101_snowball.tif", np.zeros((11, 33, 33), np.float32), 0, 0)
    with pytest.raises(DatasetNotFoundError, match="every label was invalid"):
        _build(src, tmp_path, skip_invalid=True)
    _assert_nothing_written(tmp_path)


def _csv_source(tmp_path, edit):
    src = tmp_path / "src"
    table = write_fake_scenes(src, n_scenes=2, points_per_scene=5, size=40, table="csv")
    frame = pd.read_csv(table)
    edit(frame)
    frame.to_csv(table, index=False)
    return src


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.__setitem__("x", f["x"] + np.where(f.index == 3, 1e6, 0)), "row 4 .*outside scene"),
        (lambda f: f.loc.__setitem__((6, "class"), "slush"), "row 7: unknown class 'slush'"),
        (lambda f: f.loc.__setitem__((2, "fold"), 9), "row 3: fold '9'"),
        (lambda f: f.loc.__setitem__((1, "sample_id"), f.loc[0, "sample_id"]), r"rows \[1, 2\]: duplicate sample id"),
        (lambda f: f.loc.__setitem__((0, "glacier"), "nowhere"), "no scene raster for scene 'nowhere_"),
        (lambda f: f.pop("fold"), r"lacks column\(s\) \['fold'\]"),
    ],
)
def test_bad_point_tables_name_the_row(tmp_path, edit, message):
    src = _csv_source(tmp_path, edit)
    with pytest.raises(InvalidSourceError, match=message):
        _build(src, tmp_path)
    _assert_nothing_written(tmp_path)


def test_scene_with_unknown_band_description(tmp_path):
    src = tmp_path / "src"
    write_fake_scenes(src, n_scenes=1, points_per_scene=3, size=40)
    scene = next((src / "scenes").glob("*.tif"))
    with rasterio.open(scene, "r+") as dst:
        dst.set_band_description(3, "thermal")
    with pytest.raises(InvalidSourceError, match="unknown band description.*thermal"):
        _build(src, tmp_path)


def _write(path, data, nodata=None, driver="GTiff"):
    """A label file (10 m pixels, EPSG:32632) with ``nodata`` declared."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver=driver, width=33, height=33, count=data.shape[0], dtype=data.dtype, crs="EPSG:32632")
    with rasterio.open(path, "w", transform=from_origin(400000, 5100000, 10, 10), nodata=nodata, **profile) as dst:
        dst.write(data)


def test_partly_nodata_patch_is_padded_and_kept_out_of_the_statistics(tmp_path):
    """An int16 patch with -9999 corners became the global minimum that models normalise with."""
    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for k in range(6):
        data = rng.integers(0, 2, (11, 33, 33)).astype(np.int16)  # 0/1: plausible in every band
        if k == 2:
            data[:, :5, :5] = -9999
        _write(src / f"{k}_glacierA_20190828_S2_{k:04d}_ice.tif", data, nodata=-9999)
    _build(src, tmp_path)
    stats = DatasetStatistics.load(tmp_path / "out")
    assert stats.dtype == "int16" and min(b.min for b in stats.bands) == 0
    assert stats.bands[0].count == 6 * 33 * 33 - 25
    rows = [r for t in iter_rows(tmp_path / "out", columns=["sample_id", "padded"]) for r in t.to_pylist()]
    assert [r["sample_id"] for r in rows if r["padded"]] == ["2_glacierA_20190828_S2_0002_ice"]


@pytest.mark.parametrize(
    ("band", "value", "message"),
    [
        (0, 3e38, r"band blue, \[-1, 10\] reflectance: 1 pixel\(s\), e.g. 3e\+38"),
        (6, -9999.0, r"band elevation, \[-20, 20\] 0-1 per glacier: 1 pixel\(s\), e.g. -9999"),
        (6, 2500.0, "band elevation"),  # metres, not scaled over the glacier
        (3, 8000.0, "band nir"),  # reflectance scaled by 10,000
        (8, 2.0, "band shadow_mask"),
    ],
)
def test_values_a_band_cannot_take_are_refused_naming_file_and_band(tmp_path, band, value, message):
    data = fake_patch(np.random.default_rng(0), 0)
    data[band, 3, 7] = value
    src, path = _source_with(tmp_path, GOOD, data)
    _assert_refused_then_skipped(src, path, tmp_path, message)


def test_label_pixel_on_nodata_is_refused(tmp_path):
    src, path = _source_with(tmp_path, GOOD)
    data = fake_patch(np.random.default_rng(0), 0)
    data[4, 16, 16] = -9999
    _write(path, data, nodata=-9999)
    with pytest.raises(InvalidSourceError, match="label pixel is nodata"):
        _build(src, tmp_path)


def test_a_non_geotiff_named_tif_is_refused(tmp_path):
    src, path = _source_with(tmp_path, GOOD)
    _write(path, fake_patch(np.random.default_rng(0), 0), driver="HFA")  # ERDAS Imagine, renamed .tif
    with pytest.raises(InvalidSourceError, match="not a GeoTIFF but a HFA file") as info:
        _build(src, tmp_path)
    assert str(path) in str(info.value)


def test_skip_invalid_keeps_the_dtype_of_the_majority(tmp_path):
    """An int16 file sorting first made a 1-row dataset of 61 files, the 60 float32 ones skipped."""
    src = tmp_path / "src"
    write_fake_released(src, per_fold=10)
    odd = src / "0_aaa_20190828_S2_0000_ice.tif"
    _write(odd, np.ones((11, 33, 33), np.int16))
    report = _build(src, tmp_path, skip_invalid=True)
    assert report.num_rows == 60 and report.dtype == "float32"
    assert report.skipped["by_reason"] == {"dtype int16 differs from float32, the majority dtype": 1}
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []
    with pytest.raises(InvalidSourceError, match=f"dtype float32 differs from int16 of {odd}"):  # names both files
        _build(src, tmp_path)


def test_symbolic_links_in_the_source_are_followed_once_and_counted(tmp_path):
    """Labels in a linked folder were skipped silently, dangling links ignored without a note."""
    src = tmp_path / "src"
    write_fake_released(src / "here", per_fold=1)
    write_fake_released(tmp_path / "elsewhere", per_fold=1, seed=3)
    for path in (tmp_path / "elsewhere").rglob("*.tif"):
        path.rename(path.with_name(path.name.replace("_S2_", "_L8_")))  # other sample ids
    (src / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (src / "here" / "loop").symlink_to(src, target_is_directory=True)
    (src / "gone").symlink_to(tmp_path / "removed-folder")
    report = _build(src, tmp_path)
    assert report.num_rows == 12
    assert report.skipped["by_reason"] == {
        "dangling symbolic link": 1,
        "symbolic link to a folder scanned already": 1,
    }
    (src / "gone.tif").symlink_to(tmp_path / "removed.tif")
    with pytest.raises(InvalidSourceError, match="dangling symbolic link") as info:
        _build(src, tmp_path)
    assert "gone.tif" in str(info.value)
    assert _build(src, tmp_path, skip_invalid=True).skipped["total"] == 3


def test_scene_nodata_padding_is_kept_out_of_the_statistics(tmp_path):
    """Patches crossing the edge of a scene with nodata -9999 are filled with it: not a band minimum."""
    src = tmp_path / "src"
    write_fake_scenes(src, n_scenes=2, points_per_scene=10, size=40)
    for scene in (src / "scenes").glob("*.tif"):
        with rasterio.open(scene, "r+") as dst:
            dst.nodata = -9999
    report = _build(src, tmp_path)
    assert report.num_rows == 20
    stats = DatasetStatistics.load(tmp_path / "out")
    assert min(b.min for b in stats.bands) >= 0 and max(b.max for b in stats.bands) <= 1


def test_scene_values_a_band_cannot_take_are_refused_naming_the_scene(tmp_path):
    src = tmp_path / "src"
    write_fake_scenes(src, n_scenes=1, points_per_scene=10, size=40)
    scene = next((src / "scenes").glob("*.tif"))
    with rasterio.open(scene, "r+") as dst:
        data = dst.read()
        data[0] = 3e38
        dst.write(data)
    with pytest.raises(InvalidSourceError, match="band blue") as info:
        _build(src, tmp_path)
    assert str(scene) in str(info.value)
