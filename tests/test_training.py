"""Training: recipe pieces, outputs of a fold, normalisation from the training folds, resume, cross-validation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from dataset_builder.loading import load_facies
from dataset_builder.predictions import read_predictions
from dataset_builder.schema import SPLIT_NAMES, cv_split
from dataset_builder.statistics import DatasetStatistics
from modeling import FaciesCNN
from modeling.errors import CheckpointError
from modeling.evaluation import ResultsRecord
from modeling.training import (
    Augmentation,
    TrainConfig,
    centre_crop,
    epoch_batches,
    focal_loss,
    load_fold,
    raw_inputs,
    sample_weights,
    train_fold,
)
from modeling.training import data as fold_data

ROOT = Path(__file__).resolve().parents[1]
#: A few seconds per fold: tiny network, 9 x 9 crops, one thread (no OpenMP contention on shared runners).
TINY = dict(epochs=3, batch_size=16, crop=9, threads=1, model={"filters": [8, 8], "dense_units": [8]})


@pytest.fixture(scope="module")
def dataset(fake_dataset) -> Path:
    return fake_dataset(per_fold=16, seed=5, glaciers_per_fold=2)


# -- recipe pieces -----------------------------------------------------------------------------------------------


def test_fold_weights_follow_the_row_order_of_the_training_view(dataset, monkeypatch):
    """Weights are computed in the order the training view reads its rows, also for a selected, shuffled view."""
    load_cv_split = fold_data.load_cv_split

    def shuffled(*args, **kwargs):  # and one class made rare, so that weights differ between rows
        parts = load_cv_split(*args, **kwargs)
        labels = np.asarray(parts["train"]["label"])
        keep = np.flatnonzero(labels != 1).tolist() + np.flatnonzero(labels == 1)[:1].tolist()
        parts["train"] = parts["train"].select(np.random.default_rng(3).permutation(keep))
        return parts

    monkeypatch.setattr(fold_data, "load_cv_split", shuffled)
    fold = load_fold(dataset, 0)
    scenes = np.asarray(fold.train[list(range(len(fold.train)))]["scene"])
    np.testing.assert_array_equal(fold.weights, sample_weights(fold.train.labels.numpy(), scenes))
    assert len(set(fold.weights.tolist())) > 1


def test_sample_weights_follow_the_recipe():
    labels = np.array([0, 0, 0, 1, 1, 2])
    scenes = np.array(["a", "a", "b", "b", "b", "c"])
    n = len(labels)
    expected = np.array([(n / np.sum(labels == y)) * (n / np.sum(scenes == s)) for y, s in zip(labels, scenes)])
    got = sample_weights(labels, scenes)
    assert got.mean() == pytest.approx(1.0)
    assert np.allclose(got, expected / expected.mean())


def test_focal_loss():
    logits = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    target = torch.randint(0, 8, (32,), generator=torch.Generator().manual_seed(1))
    # gamma 0 and no smoothing: cross-entropy; smoothing: cross-entropy with smoothed targets
    assert torch.allclose(
        focal_loss(logits, target, 0.0, 0.0), F.cross_entropy(logits, target, reduction="none"), atol=1e-6
    )
    assert torch.allclose(
        focal_loss(logits, target, 0.0, 0.1),
        F.cross_entropy(logits, target, reduction="none", label_smoothing=0.1),
        atol=1e-6,
    )
    # focusing down-weights confident, correct samples much more than wrong ones
    sure = torch.full((1, 8), -5.0)
    sure[0, 3] = 5.0
    right, wrong = torch.tensor([3]), torch.tensor([0])
    assert (focal_loss(sure, right, 2.0, 0.0) / focal_loss(sure, right, 0.0, 0.0)) < 1e-3
    assert (focal_loss(sure, wrong, 2.0, 0.0) / focal_loss(sure, wrong, 0.0, 0.0)) > 0.99


def test_augmentation_is_the_dihedral_group_plus_contrast_and_brightness():
    x = torch.randn(8, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    ops = np.arange(8)
    plain = Augmentation(ops, np.ones(8, np.float32), np.zeros(8, np.float32)).apply(x)
    for i, op in enumerate(ops):
        ref = x[i].numpy()[:, :, ::-1] if op >= 4 else x[i].numpy()
        ref = np.rot90(ref, op % 4, axes=(1, 2))
        assert np.allclose(plain[i].numpy(), ref)
        assert torch.allclose(plain[i, :, 2, 2], x[i, :, 2, 2])  # the labelled centre pixel stays put
    jitter = Augmentation(np.zeros(8, int), np.full(8, 1.05, np.float32), np.full(8, 0.01, np.float32)).apply(x)
    mean = x.mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(jitter, (x - mean) * 1.05 + mean + 0.01, atol=1e-6)


def test_epoch_batches_are_seeded_and_cover_the_sample():
    config = TrainConfig(batch_size=4, seed=3)
    a, b = epoch_batches(10, config, 1), epoch_batches(10, config, 1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert sorted(np.concatenate(a).tolist()) == list(range(10)) and [len(x) for x in a] == [4, 4, 2]
    assert not np.array_equal(np.concatenate(a), np.concatenate(epoch_batches(10, config, 2)))
    sub = epoch_batches(10, TrainConfig(batch_size=4, samples_per_epoch=6), 1)
    assert sum(len(x) for x in sub) == 6
    assert [len(x) for x in epoch_batches(9, config, 1, world=2)] == [4, 4]  # a last batch of 1 cannot feed 2 ranks


def test_config_round_trip_and_errors():
    config = TrainConfig.demo(bands=("blue", "nir"), model={"dropout": 0.0})
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert TrainConfig().epochs == 1000 and TrainConfig().batch_size == 512 and TrainConfig().learning_rate == 1e-3
    with pytest.raises(ValueError, match="crop"):
        TrainConfig(crop=40)
    with pytest.raises(ValueError, match="whole-scene mapping"):
        TrainConfig(crop=11)  # the 3 x 3 pool would drop a border the dense mapping cannot reproduce
    assert TrainConfig(crop=15, model={"pool_size": 5}).crop == 15
    with pytest.raises(ValueError, match="architecture"):
        TrainConfig(model={"bands": 3})
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"epoch": 3})


def test_centre_crop_keeps_the_centre_pixel():
    patches = np.arange(2 * 1 * 33 * 33, dtype=np.float32).reshape(2, 1, 33, 33)
    for size in (3, 9, 15, 33):
        crop = centre_crop(patches, size)
        assert crop.shape == (2, 1, size, size) and np.array_equal(
            crop[:, :, size // 2, size // 2], patches[:, :, 16, 16]
        )


# -- a fold end to end -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory) -> tuple[Path, TrainConfig]:
    out = tmp_path_factory.mktemp("fold") / "fold_2"
    config = TrainConfig(**TINY)
    train_fold(dataset, 2, config, out, progress=False)
    return out, config


def test_fold_outputs(dataset, trained):
    out, config = trained
    for name in (
        "log.csv",
        "training_curves.png",
        "predictions_test.parquet",
        "results.json",
        "summary.md",
        "confusion_pruned.png",
        "reliability_full.png",
        "model/README.md",
    ):
        assert (out / name).is_file(), name
    with open(out / "log.csv") as fh:
        log = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in log] == [1, 2, 3]
    record = ResultsRecord.load(out / "results.json")
    assert record.method == "cnn" and record.folds == [2] and set(record.metrics) == {"pruned", "full"}
    temperature = record.temperatures()[2]
    calibration = record.metrics["full"]["calibration"]
    assert {"ece_before", "ece_after"} <= set(calibration)
    # the saved model reproduces the written predictions of every row of the test fold
    model = FaciesCNN.from_pretrained(str(out / "model"))
    assert model.config.calibration == {"temperature": pytest.approx(temperature)}
    assert model.config.patch_size == 9 and model.config.training["test_fold"] == 2
    predictions = read_predictions(out / "predictions_test.parquet")
    data = load_fold(dataset, 2)
    assert list(predictions.sample_id) == list(load_facies(dataset, "full")[SPLIT_NAMES[2]]["sample_id"])
    again = model.predict_proba(raw_inputs(data.test, np.arange(len(data.test)), model.config))
    assert np.allclose(again, predictions.proba, atol=1e-5)
    card = (out / "model" / "README.md").read_text()
    assert "test macro-F1 (pruned labels)" in card and "validation macro-F1" in card


def test_normalisation_comes_from_the_training_folds(dataset, trained):
    out, _ = trained
    model = FaciesCNN.from_pretrained(str(out / "model"))
    stats = DatasetStatistics.load(dataset)
    train = stats.for_splits([SPLIT_NAMES[k] for k in cv_split(2).train])
    lo, hi = train.minmax(model.config.bands)
    assert model.config.normalization == {"min": pytest.approx(lo), "max": pytest.approx(hi)}
    assert (lo, hi) != stats.minmax(model.config.bands)  # the whole dataset's range differs: test fold excluded


class Interrupted(Exception):
    pass


def test_resume_equals_an_uninterrupted_run(dataset, trained, tmp_path):
    out, config = trained

    def crash(row):
        if row["epoch"] == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_fold(dataset, 2, config, tmp_path / "run", progress=False, on_epoch_end=crash)
    assert json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["epoch"] == 1
    train_fold(dataset, 2, config, tmp_path / "run", progress=False, resume=True)
    a = load_file(str(out / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (out / "log.csv").read_text().split("\n")[1].split(",")[:7] == (
        tmp_path / "run" / "log.csv"
    ).read_text().split("\n")[1].split(",")[:7]
    with pytest.raises(CheckpointError, match="differ: \\['learning_rate'\\]"):
        train_fold(
            dataset, 2, TrainConfig(**TINY | {"learning_rate": 0.01}), tmp_path / "run", progress=False, resume=True
        )


@pytest.mark.slow
def test_cross_validation_cli_writes_oof_predictions_of_every_sample(dataset, tmp_path, script):
    train = script("train").main
    argv = [
        str(dataset),
        str(tmp_path / "cv"),
        "--all-folds",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--crop",
        "9",
        "--threads",
        "1",
        "--n-bootstrap",
        "100",
        "--quiet",
    ]
    assert train(argv) == 0
    oof = read_predictions(tmp_path / "cv" / "oof_predictions.parquet")
    full = load_facies(dataset, "full")
    expected = {sid: k for k in range(6) for sid in full[SPLIT_NAMES[k]]["sample_id"]}
    assert sorted(oof.sample_id) == sorted(expected) and all(expected[s] == f for s, f in zip(oof.sample_id, oof.fold))
    record = ResultsRecord.load(tmp_path / "cv" / "results.json")
    assert record.folds == list(range(6)) and record.metrics["full"]["n"] == len(expected)
    assert set(record.temperatures()) == set(range(6))
    assert all((tmp_path / "cv" / f"fold_{k}" / "model" / "model.safetensors").is_file() for k in range(6))
    # a resumed cross-validation skips the finished folds and gives the same pooled predictions
    assert train(argv + ["--resume"]) == 0
    assert np.array_equal(read_predictions(tmp_path / "cv" / "oof_predictions.parquet").proba, oof.proba)


def test_evaluating_the_model_folder_reproduces_the_run(dataset, trained, tmp_path, script):
    out, _ = trained
    evaluate = script("evaluate").main
    assert (
        evaluate([str(dataset), "--model", str(out / "model"), "--calibrate", "--out", str(tmp_path / "ev"), "--quiet"])
        == 0
    )
    run, again = ResultsRecord.load(out / "results.json"), ResultsRecord.load(tmp_path / "ev" / "results.json")
    assert again.folds == [2]  # the test fold recorded in the model's config
    assert again.temperatures()[2] == pytest.approx(run.temperatures()[2], rel=1e-3)
    for config in ("pruned", "full"):
        assert again.metrics[config]["confusion_matrix"] == run.metrics[config]["confusion_matrix"]
        assert again.metrics[config]["calibration"]["ece_after"] == pytest.approx(
            run.metrics[config]["calibration"]["ece_after"], abs=1e-4
        )
    recalibrated = FaciesCNN.from_pretrained(str(tmp_path / "ev" / "model"))
    assert recalibrated.config.calibration["temperature"] == pytest.approx(run.temperatures()[2], rel=1e-3)
