"""Jobs that write a whole folder (build, prune, the synthetic generator) replace only what this project wrote,
follow symbolic links to the real folder, recover what killed runs left, and take their reader workers with them
when they are killed (real subprocesses, bounded in time)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from dataset_builder.atomic import OutputKind, RecoveryWarning, atomic_directory, recover
from dataset_builder.builder import build_dataset
from dataset_builder.errors import OutputExistsError, OutputRefusedError
from dataset_builder.predictions import write_predictions
from dataset_builder.pruning import prune_dataset
from dataset_builder.synthetic import SyntheticConfig, generate
from dataset_builder.testing import write_fake_released
from dataset_builder.writer import iter_rows, read_manifest, read_report

ROOT = Path(__file__).resolve().parents[1]
ANYTHING = OutputKind("anything", lambda folder: True)


def _source(tmp_path: Path, per_fold: int = 1) -> Path:
    write_fake_released(tmp_path / "src", per_fold=per_fold)
    return tmp_path / "src"


def _build(source: Path, out: Path, **options) -> None:
    build_dataset(source, out, progress=False, **options)


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_output_that_is_the_source_is_refused_and_the_source_kept(tmp_path):
    source = _source(tmp_path)
    before = _tree(source)
    with pytest.raises(OutputRefusedError, match="the source itself"):
        _build(source, source)
    with pytest.raises(OutputRefusedError, match="the source itself"):
        _build(source, source, overwrite=True)
    assert _tree(source) == before and _leftovers(tmp_path) == []


def test_output_inside_or_around_the_source_is_refused(tmp_path):
    source = _source(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(OutputRefusedError, match="lies inside the source"):
        _build(source, source / "dataset")
    with pytest.raises(OutputRefusedError, match="holds the source"):
        _build(source, tmp_path, overwrite=True)
    assert _tree(tmp_path) == before and not (source / "dataset").exists()


def test_build_into_the_current_folder_is_refused(tmp_path, monkeypatch, script, capsys):
    """``build_dataset.py patches .`` deleted the current folder's contents."""
    write_fake_released(tmp_path / "patches", per_fold=1)
    (tmp_path / "notes.txt").write_text("mine")
    before = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    build = script("build_dataset")
    assert build.main(["patches", ".", "--quiet"]) == 1
    assert "holds the source" in capsys.readouterr().err and _tree(tmp_path) == before
    assert build.main(["patches", ".", "--quiet", "--overwrite"]) == 1
    assert _tree(tmp_path) == before


def test_an_existing_folder_or_file_of_the_user_is_refused_unless_overwrite(tmp_path, script, capsys):
    source = _source(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    a_file = tmp_path / "a_file"
    a_file.write_text("also mine")
    for out in (mine, a_file):
        with pytest.raises(OutputExistsError, match="refusing to replace it"):
            _build(source, out)
    assert (mine / "thesis.tex").read_text() == "years of work" and a_file.read_text() == "also mine"
    assert _leftovers(tmp_path) == []
    build = script("build_dataset")
    assert build.main([str(source), str(mine), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert build.main([str(source), str(mine), "--quiet", "--overwrite"]) == 0
    assert read_manifest(mine) and not (mine / "thesis.tex").exists()
    _build(source, a_file, overwrite=True)
    assert read_manifest(a_file)


def test_a_dataset_built_before_and_an_empty_folder_are_replaced_without_asking(tmp_path):
    source = _source(tmp_path)
    (tmp_path / "empty").mkdir()
    _build(source, tmp_path / "empty")
    _build(source, tmp_path / "empty")  # now a dataset: rebuilt
    assert read_report(tmp_path / "empty").num_rows == 6 and _leftovers(tmp_path) == []


def test_home_folder_is_refused_even_with_overwrite(tmp_path, monkeypatch):
    source = _source(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(OutputRefusedError, match="home folder"):
        _build(source, home)
    with pytest.raises(OutputRefusedError, match="home folder"):
        _build(source, home, overwrite=True)


def test_synthetic_generator_refuses_a_folder_it_did_not_write(tmp_path, script, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("1,2\n")
    with pytest.raises(OutputExistsError, match="not a synthetic benchmark"):
        generate(mine, SyntheticConfig.quick(), progress=False)
    assert script("make_synthetic").main([str(mine), "--quick", "--no-progress"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (mine / "data.csv").read_text() == "1,2\n" and _leftovers(tmp_path) == []


def test_a_second_job_on_the_same_output_is_refused(tmp_path):
    source = _source(tmp_path)
    with atomic_directory(tmp_path / "out", ANYTHING):
        with pytest.raises(OutputRefusedError, match="another job is writing it"):
            _build(source, tmp_path / "out")
    _build(source, tmp_path / "out")  # the lock went with the first job
    assert _leftovers(tmp_path) == []


def _probabilities(dataset: Path, path: Path) -> Path:
    """Confident probabilities that flag every third ice/snow/debris/firn row as another facies."""
    rows = pd.concat(t.to_pandas() for t in iter_rows(dataset, columns=["sample_id", "label", "fold"]))
    labels = rows["label"].to_numpy()
    target = labels.copy()
    flip = (np.arange(len(labels)) % 3 == 0) & (labels < 4)
    target[flip] = (labels[flip] + 1) % 4
    proba = np.full((len(labels), 8), 0.02 / 7)
    proba[np.arange(len(labels)), target] = 0.98
    write_predictions(path, rows["sample_id"], rows["fold"], proba)
    return path


def test_prune_through_a_symbolic_link_prunes_the_real_folder(tmp_path):
    source = _source(tmp_path, per_fold=12)
    real = tmp_path / "real"
    _build(source, real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    result, _ = prune_dataset(link, [_probabilities(real, tmp_path / "oof.parquet")], progress=False)
    assert result.num_flagged > 0
    assert link.is_symlink() and link.resolve() == real
    assert read_report(real).pruning["num_flagged"] == result.num_flagged
    assert _leftovers(tmp_path) == []


def test_build_through_a_symbolic_link_keeps_the_link(tmp_path):
    source = _source(tmp_path)
    (tmp_path / "disk").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "disk" / "ds", target_is_directory=True)  # dangling until built
    for _ in range(2):
        _build(source, link)
        assert link.is_symlink() and read_manifest(tmp_path / "disk" / "ds")


def test_leftovers_of_interrupted_runs_are_cleaned_and_reported(tmp_path):
    source = _source(tmp_path)
    out = tmp_path / "out"
    _build(source, out)
    for name in (".out.1a2b3c4d.building", ".out.5e6f7a8b9c0d.old"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "part-0.parquet").write_bytes(b"half")
    (tmp_path / ".outer.1a2b3c4d.building").mkdir()  # another output's: not touched
    with pytest.warns(RecoveryWarning, match="removed 2 temporary folder"):
        _build(source, out)
    assert _leftovers(tmp_path) == [".outer.1a2b3c4d.building"]


KILL_AT_SWAP = """
import os, signal, sys
from dataset_builder import atomic
from dataset_builder.builder import build_dataset

rename = os.replace
def replace(src, dst):
    rename(src, dst)
    if str(dst).endswith(".old"):  # the previous version moved aside: die before the new one takes its place
        os.kill(os.getpid(), signal.SIGKILL)
atomic.os.replace = replace
build_dataset(sys.argv[1], sys.argv[2], progress=False)
"""


def _python(code: str, *args: str) -> subprocess.Popen:
    """Run ``code`` in a fresh interpreter on this tree."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env, stderr=subprocess.PIPE, text=True
    )


def test_a_build_killed_between_the_two_renames_is_restored_by_the_next_run(tmp_path):
    source = _source(tmp_path)
    out = tmp_path / "out"
    _build(source, out)
    before = _tree(out)
    killed = _python(KILL_AT_SWAP, str(source), str(out))
    assert killed.wait(timeout=120) == -signal.SIGKILL
    assert not out.exists() and any(name.endswith(".old") for name in _leftovers(tmp_path))
    with pytest.warns(RecoveryWarning) as warned:
        done = recover(out)
    assert [str(w.message) for w in warned] == done and len(done) == 2
    assert "restored the previous version" in done[0] and "removed 1 temporary folder" in done[1]
    assert _tree(out) == before and _leftovers(tmp_path) == []


def test_a_prune_after_a_killed_swap_finds_its_dataset(tmp_path):
    source = _source(tmp_path, per_fold=12)
    out = tmp_path / "ds"
    _build(source, out)
    probabilities = _probabilities(out, tmp_path / "oof.parquet")
    assert _python(KILL_AT_SWAP, str(source), str(out)).wait(timeout=120) == -signal.SIGKILL
    with pytest.warns(RecoveryWarning):
        result, _ = prune_dataset(out, [probabilities], progress=False)
    assert read_report(out).pruning["num_flagged"] == result.num_flagged and _leftovers(tmp_path) == []


SLOW_BUILD = """
import sys, time
from dataset_builder import released
from dataset_builder.builder import build_dataset

read = released.read_released_patch
def slow(path, *args, **kwargs):
    time.sleep(0.02)
    return read(path, *args, **kwargs)
released.read_released_patch = slow  # the forked workers read slowly too
build_dataset(sys.argv[1], sys.argv[2], progress=False, workers=2)
"""


def _started_workers(process: subprocess.Popen, timeout: float = 60) -> list[psutil.Process]:
    """The reader workers of a build subprocess, once both run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        workers = psutil.Process(process.pid).children()
        if len(workers) >= 2:
            return workers
        time.sleep(0.05)
    raise AssertionError("the build started no reader workers")


def _kill_build(tmp_path: Path, sig: signal.Signals) -> tuple[int, list[psutil.Process], Path, str]:
    """Start a slow build over an existing dataset and send it ``sig`` once its workers run.

    Returns:
        Its exit status, its workers still running 5 s later (killed then), the output folder and its manifest before.
    """
    out = tmp_path / "out"
    _build(_source(tmp_path), out)
    many = tmp_path / "many"  # 600 files: read by the worker pool
    for path in (tmp_path / "src").rglob("*.tif"):
        for copy in range(100):
            (many / path.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, many / path.parent.name / path.name.replace("_0000_", f"_{copy:04d}_"))
    build = _python(SLOW_BUILD, str(many), str(out))
    try:
        workers = _started_workers(build)
        time.sleep(0.5)
        os.kill(build.pid, sig)
        status = build.wait(timeout=30)
    finally:
        if build.poll() is None:
            build.kill()
    _, alive = psutil.wait_procs(workers, timeout=5)
    alive = [w for w in alive if _running(w)]
    for worker in alive:  # leave nothing behind when the test fails
        worker.kill()
    return status, alive, out, (out / "manifest.json").read_text()


def _running(process: psutil.Process) -> bool:
    """Running, not a zombie waiting for its new parent to reap it."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigkill_of_a_build_takes_its_reader_workers_along(tmp_path):
    status, alive, out, manifest = _kill_build(tmp_path, signal.SIGKILL)
    assert status == -signal.SIGKILL and alive == []
    before = _tree(out)  # the previous dataset is intact; the next run removes the unfinished build
    with pytest.warns(RecoveryWarning, match="removed 1 temporary folder"):
        recover(out)
    assert _tree(out) == before and _leftovers(tmp_path) == []


def test_sigterm_of_a_build_cleans_up_and_ends_its_workers(tmp_path):
    status, alive, out, manifest = _kill_build(tmp_path, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM and alive == []
    assert _leftovers(tmp_path) == [] and (out / "manifest.json").read_text() == manifest
