"""The registry of the authors' 18 published models: its entries, their sha256 recomputed from the files,
``FaciesCNN.from_published`` from a local copy or a hub repository (offline, from a pre-filled cache), and the
``glacier-facies published`` command that writes all of them as hub-ready folders."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard

from dataset_builder.schema import BAND_NAMES, OPTICAL_BANDS, cv_split
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.testing import write_fake_released
from hub_cards.common import CODE_LICENSE, DATASET_REPO_ID, HUB_NAMESPACE
from hub_cards.dataset_folder import build_dataset
from hub_cards.model_card import EVAL_RESULTS_FILE, benchmark_task_id
from modeling import FaciesCNN, FaciesCNNConfig
from modeling.cli import main
from modeling.errors import WeightsError
from modeling.hub import push_folder
from modeling.network import PUBLISHED, published_folder, published_weights

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT.parent / "shared" / "upstream" / "weights"
needs_shared = pytest.mark.skipif(
    not WEIGHTS.is_dir(),
    reason=f"the authors' published weights are not here ({WEIGHTS}); they are never copied into the repo",
)


def assert_same_state(a: FaciesCNN, b: FaciesCNN) -> None:
    expected = b.state_dict()
    assert sorted(a.state_dict()) == sorted(expected)
    assert all(torch.equal(v, expected[k]) for k, v in a.state_dict().items())


def hub_cache(root: Path, repo_id: str, model: FaciesCNN) -> Path:
    """A hub cache holding ``model`` as the main revision of model repository ``repo_id``."""
    commit = "1" * 40
    repo = root / f"models--{repo_id.replace('/', '--')}"
    model.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return root


# -- the registry ---------------------------------------------------------------------------------------


def test_the_registry_lists_the_18_published_models():
    assert len(PUBLISHED) == 18
    all_bands = {(e.fold, e.stage) for e in PUBLISHED.values() if e.feature_set == "all"}
    assert all_bands == {(f, s) for f in range(6) for s in ("before", "after")}
    optical = [e for e in PUBLISHED.values() if e.feature_set == "optical"]
    assert sorted(e.fold for e in optical) == list(range(6)) and {e.stage for e in optical} == {"after"}
    assert len({e.file for e in PUBLISHED.values()}) == len({e.repo_id for e in PUBLISHED.values()}) == 18
    entry = PUBLISHED["optical-fold3-after"]
    assert (entry.file, entry.bands) == ("optical/3_cnn_afterconfidentlearning_weights.h5", OPTICAL_BANDS)
    assert PUBLISHED["fold2-before"].file == "2_cnn_beforeconfidentlearning_weights.h5"
    assert PUBLISHED["fold2-before"].repo_id == f"{HUB_NAMESPACE}/facies-cnn-fold2-before"


def test_each_entry_says_which_normalisation_it_needs_and_where_it_comes_from():
    for entry in PUBLISHED.values():
        norm = entry.normalization
        assert norm["bands"] == list(entry.bands)
        assert "not published" in norm["statistics"] and "statistics.json" in norm["supply"]
        assert ("scene_preparation" in norm) == (entry.bands == BAND_NAMES)
        split = cv_split(entry.fold)
        assert (entry.training["test_fold"], entry.training["validation_fold"]) == (split.test, split.validation)
        assert entry.provenance()["paper"]["url"].startswith("https://doi.org/")


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(WeightsError, match=r"no published model 'fold9-after'.*'optical-fold5-after'"):
        published_weights("fold9-after")


@needs_shared
def test_recorded_sha256_are_those_of_the_published_files():
    files = sorted(p.relative_to(WEIGHTS).as_posix() for p in WEIGHTS.rglob("*.h5"))
    assert files == sorted(e.file for e in PUBLISHED.values())
    for entry in PUBLISHED.values():
        assert hashlib.sha256((WEIGHTS / entry.file).read_bytes()).hexdigest() == entry.sha256, entry.name


def test_a_file_that_is_not_the_published_one_is_refused(tmp_path):
    entry = PUBLISHED["fold1-after"]
    (tmp_path / entry.file).write_bytes(b"something else")
    with pytest.raises(WeightsError, match=r"1_cnn_afterconfidentlearning_weights.h5: sha256 .* is not the published"):
        FaciesCNN.from_published("fold1-after", tmp_path)
    with pytest.raises(FileNotFoundError, match="optical/1_cnn_afterconfidentlearning_weights.h5"):
        FaciesCNN.from_published("optical-fold1-after", tmp_path)


# -- loading ------------------------------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", ["fold0-after", "fold4-before", "optical-fold2-after"])
def test_from_published_converts_the_local_file(name):
    entry = PUBLISHED[name]
    model = FaciesCNN.from_published(name, WEIGHTS)
    assert_same_state(model, FaciesCNN.from_keras(WEIGHTS / entry.file))
    assert model.config.bands == entry.bands and model.config.normalization is None
    assert model.config.provenance["published_name"] == name and model.config.provenance["sha256"] == entry.sha256
    assert model.config.training == entry.training


def test_from_published_loads_the_hub_repository_from_the_cache(tmp_path):
    """The default source is the registry's hub repository; a repository holding other weights is refused."""
    entry = PUBLISHED["fold0-after"]
    model = FaciesCNN(FaciesCNNConfig(provenance={"sha256": entry.sha256, "published_name": entry.name}))
    cache = hub_cache(tmp_path / "cache", entry.repo_id, model)
    loaded = FaciesCNN.from_published("fold0-after", cache_dir=cache)
    assert loaded.config == model.config
    assert_same_state(loaded, model)
    hub_cache(cache, "someone/other", FaciesCNN(FaciesCNNConfig(provenance={"sha256": "0" * 64})))
    with pytest.raises(WeightsError, match="someone/other: not converted from the published fold0-after"):
        FaciesCNN.from_published("fold0-after", "someone/other", cache_dir=cache)


@needs_shared
def test_from_published_with_statistics_and_from_a_converted_folder(tmp_path):
    write_fake_released(tmp_path / "src", per_fold=2)
    build_dataset(tmp_path / "src", tmp_path / "ds", progress=False)
    statistics = DatasetStatistics.load(tmp_path / "ds")
    model = FaciesCNN.from_published("optical-fold4-after", WEIGHTS, statistics=statistics)
    assert (model.config.normalization["min"], model.config.normalization["max"]) == statistics.minmax(OPTICAL_BANDS)
    model.save_pretrained(tmp_path / "converted")
    again = FaciesCNN.from_published("optical-fold4-after", tmp_path / "converted")
    assert again.config == model.config
    assert_same_state(again, model)


# -- the command ----------------------------------------------------------------------------------------


@needs_shared
def test_the_command_writes_all_18_hub_ready_folders(tmp_path, capsys):
    assert main(["published", str(WEIGHTS), str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 18
    for (name, entry), line in zip(PUBLISHED.items(), printed):
        folder = published_folder(tmp_path, name)
        assert line == f"{folder}  {entry.repo_id}"
        card = ModelCard.load(folder / "README.md")
        assert (card.data.license, card.data.library_name, card.data.datasets) == (
            CODE_LICENSE,
            "glacier-facies",
            [DATASET_REPO_ID],
        )
        assert card.data.metrics and "pytorch_model_hub_mixin" in card.data.tags
        assert entry.sha256 in card.text and f'FaciesCNN.from_published("{name}")' in card.text
        assert f'FaciesCNN.from_pretrained("{entry.repo_id}")' in card.text
        assert "no normalisation statistics" in card.text
        assert FaciesCNN.from_pretrained(folder).config.provenance["published_name"] == name
    plan = push_folder(published_folder(tmp_path, "fold5-before"), PUBLISHED["fold5-before"].repo_id, dry_run=True)
    assert {p for p, _ in plan.files} == {"README.md", "config.json", "model.safetensors"}


@needs_shared
def test_check_verifies_a_copy_of_the_weights(tmp_path, capsys):
    assert main(["published", str(WEIGHTS), "--check"]) == 0
    assert sum(line.startswith("ok  ") for line in capsys.readouterr().out.splitlines()) == 18
    copy = tmp_path / "weights"
    shutil.copytree(WEIGHTS, copy)
    damaged = copy / PUBLISHED["fold3-before"].file
    damaged.chmod(0o644)
    content = damaged.read_bytes()
    damaged.write_bytes(content[:-1] + bytes([content[-1] ^ 0xFF]))
    assert main(["published", str(copy), "--check", "--names", "fold2-after", "fold3-before"]) == 1
    err = capsys.readouterr().err
    assert f"error: {damaged}: sha256" in err and "is not the published fold3-before" in err


def test_the_command_needs_an_output_folder_unless_checking(tmp_path, capsys):
    assert main(["published", str(tmp_path)]) == 2
    assert "OUT_ROOT is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["published", str(tmp_path), str(tmp_path / "out"), "--dataset-revision", "sha256:ab"])
    assert caught.value.code == 2 and "not a hub revision" in capsys.readouterr().err


@needs_shared
def test_evaluated_models_carry_their_scores(tmp_path, capsys):
    write_fake_released(tmp_path / "src", per_fold=3)
    build_dataset(tmp_path / "src", tmp_path / "ds", progress=False)
    names = ["fold0-after", "optical-fold1-after"]
    args = ["published", str(WEIGHTS), str(tmp_path / "out"), "--evaluate", str(tmp_path / "ds")]
    assert main([*args, "--names", *names, "--n-bootstrap", "0", "--dataset-revision", "v1", "--quiet"]) == 0
    for name in names:
        folder, fold = published_folder(tmp_path / "out", name), PUBLISHED[name].fold
        card = ModelCard.load(folder / "README.md")
        tests = {(r.dataset_config, r.metric_type) for r in card.data.eval_results if r.dataset_split == f"fold_{fold}"}
        assert tests == {(c, m) for c in ("pruned", "full") for m in ("f1", "accuracy", "mean_iou")}
        assert {(r.dataset_type, r.dataset_revision) for r in card.data.eval_results} == {(DATASET_REPO_ID, "v1")}
        entries = yaml.safe_load((folder / EVAL_RESULTS_FILE).read_text())
        assert [e["dataset"]["task_id"] for e in entries] == [
            benchmark_task_id(c, f"fold_{fold}") for c in ("pruned", "full")
        ]
        assert FaciesCNN.from_pretrained(folder).config.normalization is not None  # the dataset's statistics
        assert (tmp_path / "out" / "evaluation" / name / "results.json").is_file()
