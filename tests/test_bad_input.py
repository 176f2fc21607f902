"""Bad raw input gets a clear error naming the file or row, and never half-written output."""

import numpy as np
import pandas as pd
import pytest
import rasterio

from dataset_builder.builder import build_dataset
from dataset_builder.errors import DatasetNotFoundError, InvalidSourceError
from dataset_builder.testing import fake_patch, write_fake_released, write_fake_scenes, write_patch_tif

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
    with pytest.raises(InvalidSourceError, match=message) as info:
        _build(src, tmp_path)
    assert str(path) in str(info.value)
    _assert_nothing_written(tmp_path)
    report = _build(src, tmp_path, skip_invalid=True)
    assert report.skipped["total"] == 1 and report.num_rows == 12


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
