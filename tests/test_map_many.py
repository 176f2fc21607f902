"""Many scenes on a Dask cluster (two local worker processes): mapping, skipping, retries, failures, the combined
area table, Landsat and Sentinel-2 in one run, the CLI."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cloudpickle
import pytest
import rasterio
from distributed import LocalCluster
from fake_products import landsat_c2l2, safe_zip, sentinel2_safe

from modeling.mapping import AREA_COLUMNS, MappingOptions, ModelSpec, SceneJob, is_complete, map_many, run_job

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers unpickle this module's runner by value


@pytest.fixture(scope="module")
def bench(tiny_benchmark) -> Path:
    return tiny_benchmark


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir) -> Path:
    return tiny_model_dir


def scenes(bench: Path) -> list[Path]:
    return sorted((bench / "scenes").glob("*.tif"))


def job(bench: Path, scene: Path, out: Path, dem: Path | None = None, **options) -> SceneJob:
    return SceneJob(
        str(scene), str(out), str(bench / "outlines.gpkg"), (str(dem or bench / "dems"),), MappingOptions(**options)
    )


def flaky(job: SceneJob, spec: ModelSpec, threads: int | None) -> dict:
    """Fails the first attempt of each scene (a marker file remembers it), then maps it."""
    marker = Path(job.out_dir) / f".attempted-{Path(job.scene).stem}"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("1")
        raise RuntimeError(f"transient failure of {Path(job.scene).name}")
    return run_job(job, spec, threads)


@pytest.fixture(scope="module")
def cluster():
    """Two local worker processes, one thread each (shared by the tests of this module)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local


def test_scenes_are_mapped_skipped_and_failures_reported(bench, model_dir, tmp_path, cluster):
    good = scenes(bench)[:2]
    elsewhere = bench / "dems" / f"{rasterio.open(scenes(bench)[0]).tags()['GLACIER']}.tif"
    bad = job(bench, scenes(bench)[2], tmp_path, dem=elsewhere)  # its DEM covers another glacier
    jobs = [job(bench, s, tmp_path) for s in good] + [bad]
    report = map_many(jobs, ModelSpec(str(model_dir)), scheduler=cluster.scheduler_address, retries=1)
    assert sorted(report.done) == [s.stem for s in good] and not report.skipped
    assert list(report.failed) == [scenes(bench)[2].stem]
    assert (
        "SceneInputError" in report.failed[scenes(bench)[2].stem]
        and "no DEM covers" in report.failed[scenes(bench)[2].stem]
    )
    assert all(is_complete(tmp_path, s.stem) for s in good)
    assert not list(tmp_path.glob(f"{scenes(bench)[2].stem}*")) and not list(tmp_path.glob(".*building"))
    assert report.tables == [str(tmp_path / "areas.csv")]  # one table of all complete scenes, concatenated
    with open(tmp_path / "areas.csv", newline="") as fh:
        combined = list(csv.reader(fh))
    assert tuple(combined[0]) == AREA_COLUMNS and len(combined) == 1 + 2 * 10
    assert sorted({row[0] for row in combined[1:]}) == [s.stem for s in good]
    assert {row[3] for row in combined[1:]} == {str(model_dir)}
    again = map_many(jobs, ModelSpec(str(model_dir)), n_workers=0)  # finished scenes are skipped; no cluster needed
    assert (
        sorted(again.skipped) == [s.stem for s in good]
        and list(again.failed) == [scenes(bench)[2].stem]
        and not again.done
    )
    assert "1 failed" in again.format()


def test_failed_attempts_are_retried(bench, model_dir, tmp_path, cluster):
    address, spec = cluster.scheduler_address, ModelSpec(str(model_dir))
    retried = map_many([job(bench, scenes(bench)[3], tmp_path / "a")], spec, scheduler=address, retries=1, runner=flaky)
    once = map_many([job(bench, scenes(bench)[3], tmp_path / "b")], spec, scheduler=address, retries=0, runner=flaky)
    assert list(retried.done) == [scenes(bench)[3].stem] and not retried.failed
    assert list(once.failed) == [scenes(bench)[3].stem] and "transient failure" in once.failed[scenes(bench)[3].stem]


@pytest.mark.slow
def test_a_local_cluster_of_its_own_by_default(bench, model_dir, tmp_path):
    report = map_many(
        [job(bench, scenes(bench)[5], tmp_path)], ModelSpec(str(model_dir)), n_workers=2, threads_per_worker=1
    )
    assert list(report.done) == [scenes(bench)[5].stem] and is_complete(tmp_path, scenes(bench)[5].stem)


def test_the_command(bench, model_dir, tmp_path, script, capsys):
    cli = script("map_scene")
    common = [
        "--model",
        str(model_dir),
        "--outlines",
        str(bench / "outlines.gpkg"),
        "--dem",
        str(bench / "dems"),
        "--out",
        str(tmp_path),
        "--workers",
        "0",
    ]
    assert cli.main([str(scenes(bench)[4]), *common, "--smooth"]) == 0
    assert is_complete(tmp_path, scenes(bench)[4].stem)
    assert rasterio.open(tmp_path / f"{scenes(bench)[4].stem}_facies.tif").tags()["SMOOTHING"] == "mode 3x3"
    assert cli.main([str(scenes(bench)[4]), str(tmp_path / "missing.tif"), *common]) == 1
    printed = capsys.readouterr().out
    assert "skipped" in printed and "missing.tif" in printed and "no such scene" in printed


def test_landsat_and_sentinel2_in_one_run(bench, model_dir, tmp_path, script, capsys):
    """A Landsat C2 L2 folder (Level-1 beside it) and a zipped SAFE in one command: both mapped, one area table."""
    scene = scenes(bench)[0]
    truth = rasterio.open(bench / "truth" / "maps" / scene.name).read(1)
    landsat = landsat_c2l2(tmp_path / "ls", scene, truth, level1=True).folder
    s2 = safe_zip(sentinel2_safe(tmp_path / "s2", scene, truth, "05.09", ".tif"), tmp_path / "zip")
    argv = [str(landsat), str(s2), "--model", str(model_dir), "--outlines", str(bench / "outlines.gpkg")]
    argv += ["--dem", str(bench / "dems"), "--out", str(tmp_path / "maps"), "--workers", "0", "--cloud-mask", "model"]
    assert script("map_scene").main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 mapped" in printed and "areas of all complete scenes" in printed
    with open(tmp_path / "maps" / "areas.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["sensor"] for r in rows} == {"L8", "S2"} and {r["scene"] for r in rows} == {landsat.name, s2.name[:-9]}
    for path in (tmp_path / "maps").glob("*_facies.tif"):
        assert rasterio.open(path).tags()["CLOUD_MASK"] == "model"
