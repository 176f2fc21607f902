"""Publishing: validation, dry run, the hub calls (with a stand-in hub: no network), the card and what it may say."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from datasets import config as datasets_config
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard
from huggingface_hub.utils import filter_repo_objects

from dataset_builder.errors import IncompleteManifestError
from dataset_builder.predictions import write_predictions
from dataset_builder.schema import BAND_NAMES
from dataset_builder.testing import fake_batch, write_fake_released
from dataset_builder.writer import CDC_OPTIONS, DatasetWriter, iter_rows, read_manifest
from hub_cards.common import DATASET_DOI, PAPER_DOI
from hub_cards.dataset_folder import build_dataset, prune_dataset, refresh_card
from hub_cards.leaderboard import LOCK_FILE
from modeling import FaciesCNN, FaciesCNNConfig
from modeling.errors import PublishError
from modeling.hub import push_folder

ROOT = Path(__file__).resolve().parents[1]


class FakeHub:
    """One hub repository in memory: records the calls and applies ``upload_folder`` as ``huggingface_hub`` does
    (only files matching ``allow_patterns``, those matching ``ignore_patterns`` left out; remote files matching ``delete_patterns`` that the upload does
    not add, deleted)."""

    def __init__(self):
        self.calls = []
        self.files: dict[str, bytes] = {}

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, *, folder_path, allow_patterns=None, ignore_patterns=None, delete_patterns=None, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], {**kwargs, "delete_patterns": delete_patterns}))
        folder = Path(folder_path)
        local = [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*")) if p.is_file()]
        added = list(filter_repo_objects(local, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns))
        for path in filter_repo_objects(list(self.files), allow_patterns=delete_patterns) if delete_patterns else []:
            if path not in added:
                del self.files[path]
        self.files.update({path: (folder / path).read_bytes() for path in added})


def folder_state(folder: Path) -> dict:
    """Every file and folder inside ``folder`` (hidden ones too) with its bytes and modification time."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


@pytest.fixture
def dataset(tmp_path):
    write_fake_released(tmp_path / "src", per_fold=6, seed=3)
    build_dataset(tmp_path / "src", tmp_path / "ds", rows_per_shard=2, row_group_size=2, progress=False)
    return tmp_path / "ds"


def prune_every_third_facies_label(dataset: Path) -> None:
    """Prune with confident out-of-fold probabilities that disagree with every third facies label."""
    rows = pd.concat(t.to_pandas() for t in iter_rows(dataset, columns=["sample_id", "label", "fold"]))
    labels = rows["label"].to_numpy()
    target = labels.copy()
    wrong = np.flatnonzero(np.isin(labels, [0, 1, 2, 3, 5]))[::3]
    target[wrong] = (labels[wrong] + 1) % 4
    proba = np.full((len(rows), 8), 0.02 / 7)
    proba[np.arange(len(rows)), target] = 0.98
    write_predictions(dataset.parent / "oof.parquet", rows["sample_id"], rows["fold"], proba)
    result, _ = prune_dataset(dataset, [dataset.parent / "oof.parquet"], progress=False)
    assert result.num_flagged > 0


def test_dry_run_validates_dataset_and_lists_files(dataset, script, capsys):
    assert script("push_to_hub").main([str(dataset), "me/glacier-facies", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "shards match their manifest sha256" in out and "load_dataset(folder, 'pruned')" in out
    assert "data/fold_0/clean-00000-of-00003.parquet" in out and "would push to me/glacier-facies" in out
    assert "README.md: up to date" in out and "no local paths" in out


def test_dry_run_changes_nothing_even_with_a_stale_card(dataset):
    card = dataset / "README.md"
    card.write_text(card.read_text().replace("## Citation", "## Old citation"))
    before = folder_state(dataset)
    plan = push_folder(dataset, "me/x", dry_run=True)
    assert folder_state(dataset) == before
    assert plan.card_changes and "re-rendered by a push" in plan.format() and "## Citation" in plan.card


def test_a_failed_dry_run_changes_nothing_and_an_incomplete_manifest_renders_no_card(dataset):
    manifest = read_manifest(dataset)
    manifest["shards"] = [s for s in manifest["shards"] if s["split"] != "fold_3"]
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    before = folder_state(dataset)
    with pytest.raises(IncompleteManifestError, match="fold_3"):
        push_folder(dataset, "me/x", dry_run=True)
    assert folder_state(dataset) == before
    with pytest.raises(IncompleteManifestError, match="fold_3"):
        refresh_card(dataset)
    after = folder_state(dataset)
    after.pop(LOCK_FILE)  # a card refresh takes the leaderboard lock (a dotfile, never published)
    assert after == before


def test_modified_shard_or_stray_file_is_refused(dataset):
    shard = next((dataset / "data" / "fold_1").glob("*.parquet"))
    (dataset / "data" / "fold_1" / "extra.parquet").write_bytes(shard.read_bytes())
    with pytest.raises(PublishError, match="not in manifest.json"):
        push_folder(dataset, "me/x", dry_run=True)
    (dataset / "data" / "fold_1" / "extra.parquet").unlink()
    shard.write_bytes(shard.read_bytes() + b"x")
    with pytest.raises(PublishError, match="sha256 differs"):
        push_folder(dataset, "me/x", dry_run=True)


def test_push_calls_the_hub_with_the_token_and_never_prints_it(dataset, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_123")
    api = FakeHub()
    push_folder(dataset, "me/glacier-facies", private=True, revision="v1", api=api)
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[0][2]["private"] is True and api.calls[0][2]["repo_type"] == "dataset"
    assert api.calls[2][2]["revision"] == "v1" and api.calls[2][2]["token"] == "hf_secret_token_123"
    captured = capsys.readouterr()
    assert "hf_secret_token_123" not in captured.out + captured.err
    assert not any("hf_secret_token_123" in p.read_text(errors="ignore") for p in dataset.rglob("*") if p.is_file())


def test_a_pruned_re_push_leaves_no_stale_shards(dataset, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_token")
    hub = FakeHub()
    push_folder(dataset, "me/glacier-facies", api=hub)
    first = set(hub.files)
    hub.files["images/figure.png"] = b"added on the hub"
    prune_every_third_facies_label(dataset)
    push_folder(dataset, "me/glacier-facies", api=hub)
    local = {p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.is_file() and ".cache" not in p.parts}
    assert set(hub.files) == local | {"images/figure.png"} and first - local
    assert all(hub.files[p] == (dataset / p).read_bytes() for p in local)
    rows = sum(s["rows"] for s in read_manifest(dataset)["shards"])
    remote_rows = sum(pq.read_metadata(dataset / p).num_rows for p in hub.files if p.endswith(".parquet"))
    assert remote_rows == rows == 36


def test_push_without_token_is_a_clear_error(dataset, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("modeling.hub.get_token", lambda: None)
    with pytest.raises(PublishError, match="no hub token"):
        push_folder(dataset, "me/x", api=FakeHub())


def test_nothing_local_is_published(tmp_path):
    src = (tmp_path / "home" / "someone" / "raw").absolute()
    write_fake_released(src, per_fold=2, seed=4)
    (src / "fold_0" / "notes.tif").write_bytes(b"not a label")
    build_dataset(src, tmp_path / "ds", skip_invalid=True, progress=False)
    report = json.loads((tmp_path / "ds" / "build_report.json").read_text())
    assert report["source"] == "raw" and report["skipped"]["total"] == 1
    for path in (tmp_path / "ds").rglob("*"):
        if path.suffix in (".md", ".json"):
            assert str(tmp_path) not in path.read_text(), path
    plan = push_folder(tmp_path / "ds", "me/x", dry_run=True)
    assert any("no local paths" in c for c in plan.checks)
    (tmp_path / "ds" / "notes.md").write_text("made from /home/someone/raw/fold_0 on my laptop\n")
    with pytest.raises(PublishError, match=r"notes.md: names local path\(s\) \['/home/someone/raw/fold_0'\]"):
        push_folder(tmp_path / "ds", "me/x", dry_run=True)


def test_card_licence_citation_and_sizes(dataset):
    card = DatasetCard.load(dataset / "README.md")
    meta = card.data.to_dict()
    assert meta["license"] == "other" and meta["license_name"] == "zenodo-record-18469893"
    assert meta["license_link"] == f"https://doi.org/{DATASET_DOI}"
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    shards = read_manifest(dataset)["shards"]
    for config, kinds in (("pruned", ("clean",)), ("full", ("clean", "issues"))):
        held = [s for s in shards if s["kind"] in kinds]
        assert infos[config].download_size == sum(s["bytes"] for s in held)
        assert infos[config].dataset_size == sum(s["arrow_bytes"] for s in held) > 0
        assert sum(split.num_examples for split in infos[config].splits.values()) == sum(s["rows"] for s in held)
    assert f"doi          = {{{PAPER_DOI}}}" in card.text and "year         = {2026}" in card.text
    assert f"doi          = {{{DATASET_DOI}}}" in card.text and "Pandit, Prashant" in card.text


def test_shards_are_written_as_datasets_writes_parquet(dataset):
    assert CDC_OPTIONS.keys() == datasets_config.DEFAULT_CDC_OPTIONS.keys()
    parquet = pq.ParquetFile(next((dataset / "data" / "fold_2").glob("*.parquet")))
    assert json.loads(parquet.metadata.metadata[b"content_defined_chunking"]) == CDC_OPTIONS
    column = parquet.metadata.row_group(0).column(0)
    assert column.has_offset_index and column.has_column_index


def test_a_shard_written_without_some_rows_keeps_most_of_its_upload_chunks(tmp_path, script):
    chunks = script("benchmark_dataset").upload_content
    batch = fake_batch(240, seed=5)
    dropped = np.random.default_rng(1).choice(240, 20, replace=False)
    for name, rows in (("all", batch), ("pruned", batch.take(np.setdiff1d(np.arange(240), dropped)))):
        writer = DatasetWriter(tmp_path / name, BAND_NAMES, "float32")
        writer.write(rows)
        writer.finish()
    before, after = chunks(tmp_path / "all")[1], chunks(tmp_path / "pruned")[1]
    new = sum(size for digest, size in after.items() if digest not in before)
    assert new < 0.4 * sum(after.values())  # ~0.9 without content-defined chunking or with pages of several rows


def test_no_private_datasets_api():
    private = re.compile(r"\._indices\b|_to_yaml_list|\._data\b|\._info\b")
    for path in (p for package in ("dataset_builder", "hub_cards", "modeling") for p in (ROOT / package).rglob("*.py")):
        assert not private.search(path.read_text()), path


def test_model_folder_dry_run_changes_nothing_and_pickles_refused(tmp_path):
    model = FaciesCNN(FaciesCNNConfig())
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "README.md").unlink()
    before = folder_state(tmp_path / "m")
    plan = push_folder(tmp_path / "m", "me/model", dry_run=True)
    assert folder_state(tmp_path / "m") == before and plan.card_changes
    assert plan.kind == "model" and {p for p, _ in plan.files} >= {"model.safetensors", "config.json", "README.md"}
    (tmp_path / "m" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(PublishError, match="pickled files"):
        push_folder(tmp_path / "m", "me/model", dry_run=True)


def test_a_model_push_publishes_its_evaluation_results_and_replaces_stale_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    folder = tmp_path / "m"
    FaciesCNN(FaciesCNNConfig()).save_pretrained(folder)
    (folder / ".eval_results").mkdir(exist_ok=True)
    (folder / ".eval_results" / "glacier-facies.yaml").write_text("- task: macro-f1\n")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "junk").write_text("local only")
    hub = FakeHub()
    hub.files[".eval_results/old-benchmark.yaml"] = b"stale"
    plan = push_folder(folder, "me/model", api=hub)
    assert ".eval_results/glacier-facies.yaml" in {p for p, _ in plan.files}
    assert ".eval_results/glacier-facies.yaml" in hub.files and ".eval_results/old-benchmark.yaml" not in hub.files
    assert not any(p.startswith(".cache") for p in hub.files) and "model.safetensors" in hub.files
