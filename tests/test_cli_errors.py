"""Every failure of issue 15's list reaches the user of ``glacier-facies`` as one line naming the file (or URL):
exit status 1 (2 for arguments), no traceback unless ``--debug``."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import huggingface_hub.constants
import pytest

from dataset_builder.testing import write_fake_released
from hub_cards.dataset_folder import build_dataset
from hub_cards.leaderboard import LEADERBOARD_FILE, LOCK_FILE
from modeling.cli import main
from modeling.errors import ConfigError
from modeling.evaluation import DatasetLabels, write_submission
from modeling.network import FaciesCNN, FaciesCNNConfig

ROOT = Path(__file__).resolve().parents[1]
META = {"method": "m", "authors": "a", "dataset_config": "pruned", "dataset_revision": "r"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-errors")
    write_fake_released(root / "src", per_fold=2, seed=5)
    build_dataset(root / "src", root / "ds", progress=False)
    return root / "ds"


@pytest.fixture
def dataset(built, tmp_path):
    """A fresh copy of the built dataset (no Arrow cache yet)."""
    return Path(shutil.copytree(built, tmp_path / "ds"))


@pytest.fixture
def submission(built, tmp_path):
    labels = DatasetLabels.load(built)
    return write_submission(tmp_path / "sub", labels.sample_id, labels.label, META)


@pytest.fixture
def model(tmp_path):
    FaciesCNN(FaciesCNNConfig()).save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def error_line(argv, capsys, status=1) -> str:
    """Run the command; check its status and that it printed one ``error:`` line and no traceback; return it."""
    assert main([str(a) for a in argv]) == status
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in err and len(lines) == 1, err[-2000:]
    return lines[0]


# -- invalid UTF-8 file names -----------------------------------------------------------------------------------------


def test_an_argument_that_is_not_utf8_is_a_usage_error(tmp_path, capsys):
    name = os.fsdecode(b"src\xff")
    with pytest.raises(SystemExit) as stop:
        main(["build", str(tmp_path / name), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert f"argument '{tmp_path}/src\\xff' is not valid UTF-8" in err


def test_a_source_file_name_that_is_not_utf8_is_named(tmp_path, capsys):
    write_fake_released(tmp_path / "src", per_fold=1)
    os.rename(tmp_path / "src" / "fold_3", os.fsencode(tmp_path / "src") + b"/fold\xfe3")
    line = error_line(["build", tmp_path / "src", tmp_path / "out", "--quiet"], capsys)
    assert f"{tmp_path}/src/fold\\xfe3/3_glacier" in line and "utf-8" in line.lower()


# -- permissions and a full disk --------------------------------------------------------------------------------------


@pytest.fixture
def shared_tmp():
    """A temporary folder another user can enter (pytest's own are private to the user running it)."""
    folder = Path(tempfile.mkdtemp(prefix="glacier-facies-tests-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


def unprivileged(command: list[str]) -> list[str]:
    """``command`` as a user that file permissions apply to: as is, or through setpriv as nobody when root."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions do not apply")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]


@pytest.mark.slow
def test_a_read_only_dataset_folder_is_named(built, shared_tmp):
    dataset = Path(shutil.copytree(built, shared_tmp / "ds"))
    for path in [dataset, *dataset.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222 | 0o444 | (0o111 if path.is_dir() else 0))
    home = shared_tmp / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(home), "MPLCONFIGDIR": str(home)}
    command = unprivileged(
        [sys.executable, str(ROOT / "scripts" / "submit.py"), "--reported", "--dataset", str(dataset)]
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines == [f"error: {dataset.resolve() / LOCK_FILE}: Permission denied"]


@pytest.fixture
def full_disk(monkeypatch):
    """Every atomic text write goes to /dev/full: the kernel's own 'No space left on device'."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        if "w" not in mode:
            return real_fdopen(fd, mode, *args, **kwargs)
        os.close(fd)
        return open("/dev/full", mode)

    monkeypatch.setattr(os, "fdopen", fdopen)


def test_a_full_disk_names_the_file(dataset, full_disk, capsys):
    line = error_line(["submit", "--reported", "--dataset", dataset], capsys)
    assert "No space left on device" in line and str(dataset / LEADERBOARD_FILE) in line


# -- files of the network wing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weights",
    [b"\xff" * 100, (10**12).to_bytes(8, "little") + b"{}", (2).to_bytes(8, "little") + b"[]"],
    ids=["garbage", "huge-header", "non-object-header"],
)
def test_a_bad_safetensors_header_names_the_file(built, model, weights, tmp_path, capsys):
    (model / "model.safetensors").write_bytes(weights)
    line = error_line(["evaluate", built, "--model", model, "--out", tmp_path / "out", "--quiet"], capsys)
    assert str(model / "model.safetensors") in line


@pytest.mark.parametrize("text", ["{", "[1, 2]", '"text"', "[" * 5000 + "]" * 5000], ids=["bad", "list", "str", "deep"])
def test_a_malformed_config_json_names_the_file(built, model, text, tmp_path, capsys):
    (model / "config.json").write_text(text)
    line = error_line(["evaluate", built, "--model", model, "--out", tmp_path / "out", "--quiet"], capsys)
    assert str(model / "config.json") in line


def test_a_bad_h5_file_names_the_file(tmp_path, capsys):
    (tmp_path / "weights.h5").write_bytes(b"not an HDF5 file")
    line = error_line(["convert", tmp_path / "weights.h5", tmp_path / "out"], capsys)
    assert str(tmp_path / "weights.h5") in line


# -- a push without network -------------------------------------------------------------------------------------------


def test_a_push_without_network_names_the_hub_url(built, monkeypatch, capsys):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    line = error_line(["push", built, "me/glacier-facies"], capsys)
    assert line.startswith("error: http://127.0.0.1:9/api/") and "hf_not_a_real_token" not in line


# -- our own files ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["{", "[]", '{"schema_version": 1, "entries": [{"method": 1}]}', "[" * 3000])
def test_a_corrupt_leaderboard_names_the_file(dataset, text, capsys):
    (dataset / LEADERBOARD_FILE).write_text(text)
    line = error_line(["submit", "--reported", "--dataset", dataset], capsys)
    assert line.startswith(f"error: {dataset / LEADERBOARD_FILE}: ")


@pytest.mark.parametrize(
    "manifest",
    ["{", "{}", json.dumps({"shards": [{"path": "../../etc/passwd"}]}), json.dumps({"shards": [1]})],
    ids=["bad", "empty", "escaping", "not-object"],
)
def test_a_corrupt_manifest_names_the_file(dataset, submission, manifest, capsys):
    (dataset / "manifest.json").write_text(manifest)
    line = error_line(["submit", submission, "--dataset", dataset, "--bootstrap", "0"], capsys)
    assert line.startswith(f"error: {dataset / 'manifest.json'}: ")


def test_deeply_nested_metadata_names_the_file(built, submission, capsys):
    (submission / "metadata.json").write_text("[" * 30_000 + "]" * 30_000)  # under the 64 KB limit
    line = error_line(["submit", submission, "--dataset", built, "--bootstrap", "0"], capsys)
    assert line == f"error: {submission / 'metadata.json'}: nested deeper than 4 levels"


def test_a_corrupted_shard_during_training_names_the_shard(dataset, tmp_path, capsys):
    shard = sorted((dataset / "data" / "fold_1").glob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[100:400] = bytes(300)
    shard.write_bytes(bytes(data))
    line = error_line(["train", dataset, tmp_path / "out", "--fold", "0", "--method", "baseline", "--quiet"], capsys)
    assert line.startswith(f"error: {shard}: missing or corrupted (sha256 differs from manifest.json)")


def test_debug_shows_the_traceback(built, model, tmp_path, capsys):
    (model / "config.json").write_text("{")
    argv = ["evaluate", built, "--model", model, "--out", tmp_path / "out", "--quiet"]
    assert main([str(a) for a in argv]) == 1
    assert "not a JSON file" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        main([str(a) for a in argv] + ["--debug"])
