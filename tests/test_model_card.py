"""The FaciesCNN model card and evaluation-results file: they load with huggingface_hub, carry the metadata the
hub renders (datasets, metrics, model-index on the hub dataset id) and say what a user needs."""

from __future__ import annotations

import yaml
from huggingface_hub import ModelCard

from dataset_builder.schema import BANDS_BY_NAME, CLASS_NAMES, OPTICAL_BANDS
from hub_cards.common import CITATION_BIBTEX, CODE_LICENSE, DATASET_REPO_ID, PAPER_URL, UPSTREAM_CODE
from hub_cards.model_card import (
    EVAL_RESULTS_FILE,
    benchmark_task_id,
    eval_results_from_record,
    hub_dataset_snapshot,
    render_eval_results,
)
from modeling import FaciesCNN, FaciesCNNConfig
from modeling.network import render_model_card

NORMALIZATION = {"min": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05], "max": [1.5, 1.25, 1.125, 1.0625, 0.75, 0.625]}
TRAINING = {"test_fold": 2, "validation_fold": 1, "train_folds": [0, 3, 4, 5], "epochs": 1000}


def load(tmp_path, text: str) -> ModelCard:
    (tmp_path / "README.md").write_text(text)
    return ModelCard.load(tmp_path / "README.md")


def record(path: str = "/data/glacier-facies", fold: int = 2) -> dict:
    """A results record of one test fold, as ``ResultsRecord.to_dict()`` gives it."""
    scores = {"macro_f1": 0.81234, "accuracy": 0.9, "mean_iou": 0.7}
    return {
        "folds": [fold],
        "dataset": {"path": path, "config": "pruned", "revision": "sha256:" + "ab" * 32},
        "metrics": {"pruned": scores, "full": {**scores, "macro_f1": 0.74}},
        "details": {"split": {"test": fold, "validation": fold - 1, "train": []}},
    }


def test_card_describes_bands_classes_and_provenance(tmp_path):
    config = FaciesCNNConfig(
        bands=OPTICAL_BANDS,
        normalization=NORMALIZATION,
        provenance={"source_file": "2_cnn_afterconfidentlearning_weights.h5", "sha256": "ab" * 32},
        training=TRAINING,
    )
    card = load(tmp_path, render_model_card(config))
    assert card.data.license == CODE_LICENSE
    text = card.text
    for i, band in enumerate(OPTICAL_BANDS):
        row = next(line for line in text.splitlines() if f"`{band}`" in line and line.startswith("|"))
        assert BANDS_BY_NAME[band].unit in row
        assert f"{NORMALIZATION['min'][i]:.6g} | {NORMALIZATION['max'][i]:.6g}" in row
    assert "`elevation`" not in text
    for label, name in enumerate(CLASS_NAMES):
        assert f"| {label} | `{name}` |" in text
    assert "ab" * 32 in text and '"epochs": 1000' in text
    assert "Intended use and limits" in text and CITATION_BIBTEX in text
    assert "model-index" not in card.content


def test_card_metadata_comes_from_the_class_keywords(tmp_path):
    """library, licence, pipeline, tags and links are what FaciesCNN declares to the hub mixin; datasets and
    metrics are the hub dataset id and the benchmark's metrics."""
    info = FaciesCNN._hub_mixin_info
    data = load(tmp_path, render_model_card(FaciesCNNConfig())).data
    assert (data.library_name, data.license, data.pipeline_tag) == (
        "glacier-facies",
        CODE_LICENSE,
        "image-classification",
    )
    assert data.tags == info.model_card_data.tags and "pytorch_model_hub_mixin" in data.tags
    assert data.datasets == [DATASET_REPO_ID] and data.metrics == ["f1", "accuracy", "mean_iou"]
    assert (info.repo_url, info.paper_url) == (UPSTREAM_CODE, PAPER_URL)
    assert PAPER_URL in render_model_card(FaciesCNNConfig())


def test_card_without_statistics_says_where_to_get_them(tmp_path):
    text = load(tmp_path, render_model_card(FaciesCNNConfig(per_glacier_elevation_scaling=True))).text
    assert "no normalisation statistics" in text and "--stats DATASET_FOLDER" in text
    assert "with_statistics(DatasetStatistics.load(dataset_folder))" in text  # in the usage example
    assert "elevation_range" in text
    assert "Not recorded for these weights" in text


def test_eval_results_render_on_the_hub_dataset_without_a_manifest_hash(tmp_path):
    results = eval_results_from_record(record(), validation={"val_macro_f1": 0.8, "val_mean_iou": 0.6})
    card = load(tmp_path, render_model_card(FaciesCNNConfig(training=TRAINING), eval_results=results))
    [entry] = card.data.to_dict()["model-index"]
    assert entry["name"] == "FaciesCNN"
    datasets = [r["dataset"] for r in entry["results"]]
    assert {d["type"] for d in datasets} == {DATASET_REPO_ID}
    assert {(d["config"], d["split"]) for d in datasets} == {
        ("pruned", "fold_1"),
        ("pruned", "fold_2"),
        ("full", "fold_2"),
    }
    assert all("revision" not in d for d in datasets) and "sha256:" not in card.content
    loaded = {(r.dataset_config, r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert loaded[("pruned", "fold_2", "f1")] == 0.8123 and loaded[("full", "fold_2", "f1")] == 0.74
    assert card.data.datasets == [DATASET_REPO_ID]
    assert f"| `{DATASET_REPO_ID}` | pruned | fold_2 | test macro-F1 (pruned labels) | 0.8123 |" in card.text
    assert "validation macro-F1 (best epoch)" in card.text and "no hub revision" in card.text


def test_a_hub_snapshot_gives_the_dataset_id_and_revision(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "datasets--someone--facies" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    assert hub_dataset_snapshot(snapshot) == ("someone/facies", commit)
    assert hub_dataset_snapshot(tmp_path) is None
    results = eval_results_from_record(record(str(snapshot)))
    assert {(r.dataset_type, r.dataset_revision) for r in results} == {("someone/facies", commit)}
    explicit = eval_results_from_record(record(), dataset_revision="v1.0")
    assert {(r.dataset_type, r.dataset_revision) for r in explicit} == {(DATASET_REPO_ID, "v1.0")}
    try:
        eval_results_from_record(record(), dataset_revision="sha256:" + "ab" * 32)
    except ValueError as err:
        assert "not a hub revision" in str(err)
    else:
        raise AssertionError("a manifest hash was taken for a hub revision")


def test_eval_results_file_holds_the_test_macro_f1_per_benchmark_task():
    results = eval_results_from_record(record(), validation={"val_macro_f1": 0.8, "val_mean_iou": 0.6})
    entries = yaml.safe_load(render_eval_results(FaciesCNNConfig(training=TRAINING).to_dict(), results))
    assert entries == [
        {
            "dataset": {"id": DATASET_REPO_ID, "task_id": benchmark_task_id(config, "fold_2")},
            "value": value,
            "notes": f"macro-F1 on fold_2, the model's test fold ({config} labels)",
        }
        for config, value in (("pruned", 0.8123), ("full", 0.74))
    ]
    assert benchmark_task_id("pruned", "fold_2") == "macro-f1-pruned-fold_2"
    assert render_eval_results(FaciesCNNConfig().to_dict(), results) is None  # no test fold recorded
    assert render_eval_results(FaciesCNNConfig(training=TRAINING).to_dict(), None) is None


def test_saved_model_carries_its_card_and_eval_results(tmp_path):
    config = FaciesCNNConfig(calibration={"temperature": 1.25}, training=TRAINING)
    results = eval_results_from_record(record(), dataset_revision="abc123")
    FaciesCNN(config).save_pretrained(tmp_path, model_card_kwargs={"eval_results": results, "repo_id": "me/cnn"})
    saved = (tmp_path / "README.md").read_text()
    assert saved == render_model_card(config, eval_results=results, repo_id="me/cnn")
    card = ModelCard.load(tmp_path / "README.md")
    assert "T = 1.25" in card.text and 'FaciesCNN.from_pretrained("me/cnn")' in card.text
    assert {r.dataset_revision for r in card.data.eval_results} == {"abc123"}
    entries = yaml.safe_load((tmp_path / EVAL_RESULTS_FILE).read_text())
    assert [e["dataset"]["revision"] for e in entries] == ["abc123", "abc123"]
    FaciesCNN(config).save_pretrained(tmp_path)  # saved again without results: no stale results file
    assert not (tmp_path / EVAL_RESULTS_FILE).exists()
    assert "model-index" not in (tmp_path / "README.md").read_text()


def test_card_example_names_the_published_model(tmp_path):
    config = FaciesCNNConfig(provenance={"published_name": "fold3-before"})
    text = render_model_card(config, repo_id="someone/facies-cnn-fold3-before")
    assert 'FaciesCNN.from_published("fold3-before")' in text
    assert 'FaciesCNN.from_pretrained("someone/facies-cnn-fold3-before")' in text
