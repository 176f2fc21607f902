"""Building the dataset folder from both raw layouts and loading it back."""

import json
import os

import numpy as np
import pytest
import rasterio
from datasets import load_dataset
from huggingface_hub import DatasetCard

from dataset_builder.files import sha256_file
from dataset_builder.loading import TorchPatches, load_cv_split, load_facies, torch_loader
from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, PATCH_SIZE, make_features
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.testing import fake_batch, write_fake_released, write_fake_scenes
from dataset_builder.writer import DatasetWriter, read_manifest
from hub_cards.dataset_folder import build_dataset


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("released")
    paths = write_fake_released(root / "src", per_fold=10, seed=1)
    out = root / "glacier-facies"
    report = build_dataset(root / "src", out, rows_per_shard=4, row_group_size=2, progress=False)
    return root, out, paths, report


def test_released_round_trip_preserves_values_and_features(released):
    _, out, paths, report = released
    assert report.num_rows == len(paths) == 60
    ds = load_dataset(str(out), "full")
    assert sorted(ds) == [f"fold_{k}" for k in range(6)]
    assert ds["fold_0"].features == make_features()
    rows = {r["sample_id"]: r for split in ds.values() for r in split.with_format("numpy")}
    assert len(rows) == 60
    for path in paths[::7]:
        row = rows[path.stem]
        with rasterio.open(path) as src:
            np.testing.assert_array_equal(row["patch"], src.read())
            x, y = src.xy(16, 16)
        assert (row["x"], row["y"]) == (x, y)
        fold, glacier, date, *_, name = path.stem.split("_")
        assert row["fold"] == int(fold) and row["glacier"] == glacier
        assert row["date"] == f"{date[:4]}-{date[4:6]}-{date[6:]}"
        assert row["scene"] == f"{glacier}_{row['date']}"
        assert CLASS_NAMES[row["label"]] == name and row["sensor"] == "S2"
        assert not row["label_issue"] and np.isnan(row["label_quality"]) and not row["padded"]


def test_configs_shards_card_and_statistics(released):
    _, out, _, _ = released
    manifest = read_manifest(out)
    assert manifest["configs"]["pruned"] == manifest["configs"]["full"]  # nothing pruned yet
    assert all(len(files) == 3 for files in manifest["configs"]["full"].values())  # 10 rows, 4 per shard
    for shard in manifest["shards"]:
        assert sha256_file(out / shard["path"]) == shard["sha256"]
        assert (out / shard["path"]).stat().st_size == shard["bytes"]
    card = DatasetCard.load(out / "README.md")
    configs = {c["config_name"]: c for c in card.data.to_dict()["configs"]}
    assert configs["pruned"].get("default") is True and "full" in configs
    assert "same rows" in card.text
    stats = DatasetStatistics.load(out)
    assert stats.band_names == BAND_NAMES and stats.num_rows == 60
    patches = np.stack([np.asarray(r["patch"]) for r in load_facies(out, "full")["fold_2"].with_format("numpy")])
    blue = stats.split_bands["fold_2"][0]
    assert blue.min == pytest.approx(patches[:, 0].min()) and blue.max == pytest.approx(patches[:, 0].max())
    assert blue.mean == pytest.approx(patches[:, 0].mean(dtype=np.float64), rel=1e-6)
    assert blue.std == pytest.approx(patches[:, 0].std(dtype=np.float64), rel=1e-6)
    assert sum(stats.class_counts["full"]["fold_0"].values()) == 10
    train = stats.for_splits(["fold_1", "fold_2"])
    assert train.num_rows == 20 and train.bands[0].min == min(stats.split_bands[s][0].min for s in ("fold_1", "fold_2"))


def test_load_by_name_from_parent_and_streaming(released, monkeypatch):
    root, out, _, _ = released
    monkeypatch.chdir(root)
    ds = load_dataset("glacier-facies", "pruned")
    assert sum(len(s) for s in ds.values()) == 60
    stream = load_dataset(str(out), "full", streaming=True)
    assert sum(1 for _ in stream["fold_3"]) == 10


def test_rebuild_is_byte_identical(released, tmp_path):
    root, out, _, _ = released
    again = tmp_path / "again"
    build_dataset(root / "src", again, rows_per_shard=4, row_group_size=2, progress=False)
    first, second = read_manifest(out)["shards"], read_manifest(again)["shards"]
    assert [s["sha256"] for s in first] == [s["sha256"] for s in second]
    assert (out / "README.md").read_text() == (again / "README.md").read_text()


def test_interrupted_build_leaves_previous_dataset_intact(released, tmp_path, monkeypatch):
    root, out, _, _ = released
    target = tmp_path / "ds"
    build_dataset(root / "src", target, progress=False)
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    import dataset_builder.writer as writer

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("interrupted")

    monkeypatch.setattr(writer, "write_metadata", boom)
    monkeypatch.setattr("dataset_builder.builder.write_metadata", boom)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(root / "src", target, progress=False)
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temporary folder left behind


def test_cv_split_and_torch_view(released):
    _, out, _, _ = released
    split = load_cv_split(out, test_fold=0)
    assert set(split["test"]["fold"]) == {0} and set(split["validation"]["fold"]) == {5}
    assert set(split["train"]["fold"]) == {1, 2, 3, 4}
    view = TorchPatches(split["train"], bands=("blue", "nir", "elevation"))
    batches = list(torch_loader(view, batch_size=16, shuffle=True, seed=3))
    x, y = batches[0]["image"], batches[0]["label"]
    assert x.shape == (16, 3, 33, 33) and str(x.dtype) == "torch.float32" and str(y.dtype) == "torch.int64"
    assert sum(len(b["label"]) for b in batches) == 40
    reference = np.asarray(split["train"].with_format("numpy")[5]["patch"])
    np.testing.assert_array_equal(view.patches([5])[0], reference[[0, 3, 6]])
    assert (
        int(view[5]["label"]) == split["train"][5]["label"] and view[5]["sample_id"] == split["train"][5]["sample_id"]
    )
    with pytest.raises(ValueError, match="not in the dataset"):
        TorchPatches(split["train"], bands=("blue",), dataset_bands=("green", "red"))


@pytest.mark.parametrize("table", ["gpkg", "geojson", "csv"])
def test_scenes_layout_round_trip(tmp_path, table):
    src = tmp_path / "src"
    write_fake_scenes(src, n_scenes=3, points_per_scene=15, size=60, table=table, seed=4)
    out = tmp_path / "out"
    report = build_dataset(src, out, progress=False)
    assert report.layout == "scenes" and report.num_rows == 45
    rows = [r for s in load_facies(out, "full").values() for r in s.with_format("numpy")]
    with rasterio.open(next((src / "scenes").glob("glacier1_*.tif"))) as scene:
        image = scene.read()
        inverse = ~scene.transform
        for row in (r for r in rows if r["glacier"] == "glacier1"):
            col, line = (int(np.floor(v)) for v in inverse @ (row["x"], row["y"]))
            lo_r, lo_c = line - 16, col - 16
            inside = 0 <= lo_r and 0 <= lo_c and lo_r + 33 <= image.shape[1] and lo_c + 33 <= image.shape[2]
            assert bool(row["padded"]) == (not inside)
            if inside:
                np.testing.assert_array_equal(row["patch"], image[:, lo_r : lo_r + 33, lo_c : lo_c + 33])
            else:
                assert np.all(np.isfinite(row["patch"]))
            assert row["sensor"] == "S2" and row["crs"] == "EPSG:32632"
    assert any(r["padded"] for r in rows) and not all(r["padded"] for r in rows)


def test_scenes_edge_skip_counts_skipped(tmp_path):
    src = tmp_path / "src"
    write_fake_scenes(src, n_scenes=2, points_per_scene=30, size=50, seed=5)
    report = build_dataset(src, tmp_path / "out", edge="skip", skip_invalid=True, progress=False)
    padded = report.skipped["by_reason"]["patch crosses the scene edge or nodata"]
    assert padded > 0 and report.num_rows + padded == 60


def test_scene_band_subset_follows_descriptions(tmp_path):
    src = tmp_path / "src"
    bands = ("blue", "green", "red", "nir", "swir1", "swir2", "elevation", "slope")
    write_fake_scenes(src, n_scenes=2, points_per_scene=5, size=40, bands=bands, seed=6)
    # store the scene bands in a shuffled order; descriptions say which is which
    for path in (src / "scenes").glob("*.tif"):
        with rasterio.open(path) as s:
            data, profile, tags = s.read(), s.profile, s.tags()
        order = [7, 0, 3, 1, 2, 6, 4, 5]
        with rasterio.open(path, "w", **profile) as d:
            d.write(data[order])
            d.descriptions = tuple(bands[i] for i in order)
            d.update_tags(**tags)
    out = tmp_path / "out"
    build_dataset(src, out, progress=False)
    assert DatasetStatistics.load(out).band_names == bands
    ds = load_facies(out, "full")
    assert ds["fold_0"].features["patch"].shape == (8, 33, 33)
    assert json.loads((out / "build_report.json").read_text())["bands"] == list(bands)
    assert os.path.isfile(out / "README.md")


def test_patch_cutter_matches_a_naive_cut_at_edges_and_nodata():
    from dataset_builder.scenes import PatchCutter

    rng = np.random.default_rng(7)
    image = rng.random((3, 40, 50), dtype=np.float32)
    image[:, 20, 25] = np.nan  # one nodata pixel
    rows, cols = rng.integers(0, 40, 200), rng.integers(0, 50, 200)
    patches, padded = PatchCutter(image, patch_size=9, fill=-1.0)(rows, cols)
    framed = np.full((3, 48, 58), -1.0, np.float32)
    framed[:, 4:44, 4:54] = np.nan_to_num(image, nan=-1.0)
    for i, (r, c) in enumerate(zip(rows, cols)):
        np.testing.assert_array_equal(patches[i], framed[:, r : r + 9, c : c + 9])
        crosses = r < 4 or c < 4 or r + 5 > 40 or c + 5 > 50
        holds_nan = abs(r - 20) <= 4 and abs(c - 25) <= 4
        assert padded[i] == (crosses or holds_nan)


def test_builds_with_the_same_folder_name_do_not_share_a_cache(tmp_path):
    # datasets keys its global cache by folder name and file sizes; load_facies keeps a cache per folder
    for name, glaciers in (("a", 2), ("b", 1)):
        write_fake_released(tmp_path / name / "src", per_fold=4, seed=5, glaciers_per_fold=glaciers)
        build_dataset(tmp_path / name / "src", tmp_path / name / "ds", progress=False)
    seen = {name: set(load_facies(tmp_path / name / "ds", "full")["fold_0"]["glacier"]) for name in ("a", "b")}
    assert seen == {"a": {"glacier00", "glacier01"}, "b": {"glacier00"}}


def test_the_writer_keeps_only_the_rows_it_has_not_written(tmp_path):
    """Rows waiting for a full row group are copies, not slices pinning the whole batch they came from (which held
    ~0.6 GB over the splits and kinds of a release-size build)."""
    batch = fake_batch(6 * 300, seed=1)  # 300 rows per fold: one row group of 256 written, 44 rows left each
    writer = DatasetWriter(tmp_path / "ds", BAND_NAMES, "float32", PATCH_SIZE, rows_per_shard=1000, row_group_size=256)
    writer.write(batch)
    row_bytes = batch.patches[0].nbytes
    for (split, _), pending in writer._pending.items():
        held = sum(t.get_total_buffer_size() for t in pending)
        assert sum(t.num_rows for t in pending) == 44 and held < 1.2 * 44 * row_bytes, split
