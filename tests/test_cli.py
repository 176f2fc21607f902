"""The installed ``glacier-facies`` command: sub-commands, one-line errors, bounded options, ``--debug``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dataset_builder.testing import write_fake_released
from modeling.cli import COMMANDS, main

COMMAND = Path(sys.executable).parent / "glacier-facies"
EXPECTED = {
    "synthetic",
    "build",
    "prune",
    "train",
    "evaluate",
    "submit",
    "map",
    "mass-balance",
    "convert",
    "push",
    "demo",
}


def run_installed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(COMMAND), *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def test_every_job_is_a_sub_command():
    assert EXPECTED <= set(COMMANDS)


@pytest.mark.skipif(not COMMAND.exists(), reason="the package is not installed in this environment (pip install .)")
def test_the_installed_command_builds_a_dataset(tmp_path):
    write_fake_released(tmp_path / "src", per_fold=2)
    help_text = run_installed("--help")
    assert help_text.returncode == 0 and all(name in help_text.stdout for name in EXPECTED)
    done = run_installed("build", str(tmp_path / "src"), str(tmp_path / "out"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "12 rows" in done.stdout and (tmp_path / "out" / "manifest.json").is_file()


@pytest.mark.skipif(not COMMAND.exists(), reason="the package is not installed in this environment (pip install .)")
def test_errors_are_one_line_unless_debug(tmp_path):
    missing = tmp_path / "missing"
    quiet = run_installed("build", str(missing), str(tmp_path / "out"), "--quiet")
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().startswith("error: ") and str(missing) in quiet.stderr
    assert len(quiet.stderr.strip().splitlines()) == 1
    for loud in (
        run_installed("build", str(missing), str(tmp_path / "out"), "--quiet", "--debug"),
        run_installed("build", str(missing), str(tmp_path / "out"), "--quiet", env={"GLACIER_FACIES_DEBUG": "1"}),
    ):
        assert loud.returncode == 1 and "Traceback" in loud.stderr and "DatasetNotFoundError" in loud.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["build", "src", "out", "--rows-per-shard", "0"], "must be between 1 and"),
        (["build", "src", "out", "--row-group-size", "-3"], "must be between 1 and"),
        (["train", "ds", "out", "--fold", "0", "--epochs", "0"], "must be between 1 and"),
        (["train", "ds", "out", "--fold", "0", "--lr", "nan"], "must be in (0, 10]"),
        (["map", "s.tif", "--model", "m", "--outlines", "o", "--out", "x", "--workers", "-1"], "between 0 and"),
        (["mass-balance", "--benchmark", "b", "--out", "x", "--max-unobserved", "1.5"], "must be in [0, 1]"),
    ],
)
def test_numeric_options_are_bounded(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_arguments_that_do_not_fit_together_exit_with_2(capsys):
    assert main(["prune", "ds"]) == 2
    assert "give --probs" in capsys.readouterr().err
    assert main(["map", "--model", "m", "--outlines", "o", "--out", "x"]) == 2
    assert "no scenes" in capsys.readouterr().err
