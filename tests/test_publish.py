"""Publishing: validation, dry run and the hub calls (with a stand-in API: no network)."""

import pytest

from dataset_builder.testing import write_fake_released
from hub_cards.dataset_folder import build_dataset
from modeling import FaciesCNN, FaciesCNNConfig
from modeling.errors import PublishError
from modeling.hub import push_folder


class RecordingApi:
    """Records the calls push_folder makes instead of reaching the hub."""

    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))


@pytest.fixture
def dataset(tmp_path):
    write_fake_released(tmp_path / "src", per_fold=3)
    build_dataset(tmp_path / "src", tmp_path / "ds", progress=False)
    return tmp_path / "ds"


def test_dry_run_validates_dataset_and_lists_files(dataset, script, capsys):
    assert script("push_to_hub").main([str(dataset), "me/glacier-facies", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "shards match their manifest sha256" in out and "load_dataset(folder, 'pruned')" in out
    assert "data/fold_0/clean-00000-of-00001.parquet" in out and "would push to me/glacier-facies" in out


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
    api = RecordingApi()
    push_folder(dataset, "me/glacier-facies", private=True, revision="v1", api=api)
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[0][2]["private"] is True and api.calls[0][2]["repo_type"] == "dataset"
    assert api.calls[2][2]["revision"] == "v1" and api.calls[2][2]["token"] == "hf_secret_token_123"
    captured = capsys.readouterr()
    assert "hf_secret_token_123" not in captured.out + captured.err
    assert not any("hf_secret_token_123" in p.read_text(errors="ignore") for p in dataset.rglob("*") if p.is_file())


def test_push_without_token_is_a_clear_error(dataset, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("modeling.hub.get_token", lambda: None)
    with pytest.raises(PublishError, match="no hub token"):
        push_folder(dataset, "me/x", api=RecordingApi())


def test_model_folder_dry_run_and_pickles_refused(tmp_path):
    model = FaciesCNN(FaciesCNNConfig())
    model.save_pretrained(tmp_path / "m")
    plan = push_folder(tmp_path / "m", "me/model", dry_run=True)
    assert plan.kind == "model" and {p for p, _ in plan.files} >= {"model.safetensors", "config.json", "README.md"}
    (tmp_path / "m" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(PublishError, match="pickled files"):
        push_folder(tmp_path / "m", "me/model", dry_run=True)
