"""The FaciesCNN model card: loads with huggingface_hub.ModelCard and says what a user needs."""

from __future__ import annotations

from huggingface_hub import EvalResult, ModelCard

from dataset_builder.schema import BANDS_BY_NAME, CLASS_NAMES, OPTICAL_BANDS
from hub_cards.common import CITATION_BIBTEX, CODE_LICENSE
from modeling import FaciesCNN, FaciesCNNConfig
from modeling.network import render_model_card

NORMALIZATION = {"min": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05], "max": [1.5, 1.25, 1.125, 1.0625, 0.75, 0.625]}


def load(tmp_path, text: str) -> ModelCard:
    (tmp_path / "README.md").write_text(text)
    return ModelCard.load(tmp_path / "README.md")


def test_card_describes_bands_classes_and_provenance(tmp_path):
    config = FaciesCNNConfig(
        bands=OPTICAL_BANDS,
        normalization=NORMALIZATION,
        provenance={"source_file": "2_cnn_afterconfidentlearning_weights.h5", "sha256": "ab" * 32},
        training={"test_fold": 2, "epochs": 1000},
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


def test_card_without_statistics_says_where_to_get_them(tmp_path):
    text = load(tmp_path, render_model_card(FaciesCNNConfig(per_glacier_elevation_scaling=True))).text
    assert "no normalisation statistics" in text and "--stats DATASET_FOLDER" in text
    assert "elevation_range" in text
    assert "Not recorded for these weights" in text


def test_eval_results_become_model_index_metadata(tmp_path):
    results = [
        EvalResult(
            task_type="image-classification",
            dataset_type="glacier-facies",
            dataset_name="pan-European glacier facies",
            dataset_split="fold_0",
            metric_type="f1",
            metric_name="macro F1",
            metric_value=0.8125,
        )
    ]
    card = load(tmp_path, render_model_card(FaciesCNNConfig(), eval_results=results))
    [loaded] = card.data.eval_results
    assert (loaded.metric_type, loaded.metric_value, loaded.dataset_split) == ("f1", 0.8125, "fold_0")
    assert "| pan-European glacier facies | fold_0 | macro F1 | 0.8125 |" in card.text


def test_saved_model_carries_its_card(tmp_path):
    config = FaciesCNNConfig(calibration={"temperature": 1.25})
    FaciesCNN(config).save_pretrained(tmp_path)
    saved = (tmp_path / "README.md").read_text()
    assert saved == render_model_card(config)
    assert "T = 1.25" in ModelCard.load(tmp_path / "README.md").text
