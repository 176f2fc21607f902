"""The gradient-boosted baseline: features, and a fold trained and evaluated like the CNN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dataset_builder.loading import load_facies
from dataset_builder.predictions import read_predictions
from dataset_builder.schema import SPLIT_NAMES
from modeling.evaluation import ResultsRecord
from modeling.training import BaselineConfig, feature_names, patch_features

ROOT = Path(__file__).resolve().parents[1]


def test_features_are_centre_pixel_and_window_statistics():
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(4, 2, 33, 33)).astype(np.float32)
    patches[0, 1, 0, 0] = np.nan  # outside every window
    patches[1, 0, 16, 17] = np.nan  # inside every window
    features = patch_features(patches, (5, 15))
    names = feature_names(("blue", "nir"), (5, 15))
    assert features.shape == (4, len(names)) and names[:2] == ["blue_centre", "nir_centre"]
    col = {n: i for i, n in enumerate(names)}
    assert np.array_equal(features[:, col["nir_centre"]], patches[:, 1, 16, 16])
    assert features[2, col["blue_mean5"]] == pytest.approx(patches[2, 0, 14:19, 14:19].mean(), abs=1e-6)
    assert features[2, col["nir_std15"]] == pytest.approx(patches[2, 1, 9:24, 9:24].std(), abs=1e-6)
    assert features[1, col["blue_mean5"]] == pytest.approx(np.nanmean(patches[1, 0, 14:19, 14:19]), abs=1e-6)
    assert np.isfinite(features).all()


def test_config_validation_and_round_trip():
    config = BaselineConfig(bands=("blue", "swir1"), windows=(3, 9))
    assert BaselineConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="odd"):
        BaselineConfig(windows=(4,))


@pytest.fixture(scope="module")
def dataset(fake_dataset) -> Path:
    return fake_dataset(per_fold=16, seed=9, glaciers_per_fold=2)


def test_baseline_fold_through_the_training_command(dataset, tmp_path, script):
    train = script("train").main
    out = tmp_path / "baseline"
    assert train([str(dataset), str(out), "--fold", "3", "--method", "baseline", "--threads", "1", "--quiet"]) == 0
    record = ResultsRecord.load(out / "results.json")
    assert record.method == "baseline" and record.folds == [3]
    # the fake classes differ in their means: far above chance (1/8) even from 8 training patches per class
    assert record.metrics["full"]["macro_f1"] > 0.4
    predictions = read_predictions(out / "predictions_test.parquet")
    assert list(predictions.sample_id) == list(load_facies(dataset, "full")[SPLIT_NAMES[3]]["sample_id"])
    saved = json.loads((out / "baseline.json").read_text())
    assert saved["options"]["windows"] == [5, 15] and saved["boosting_iterations"] >= 1
    assert not any(p.suffix in {".pkl", ".pickle", ".joblib"} for p in out.rglob("*"))
    assert train([str(dataset), str(out), "--fold", "3", "--method", "baseline", "--epochs", "3"]) == 2
