"""Metrics against scikit-learn, bootstrap intervals, calibration, predictions files, results JSON and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import softmax
from sklearn import metrics as skm

from dataset_builder.errors import PredictionsError
from dataset_builder.loading import load_facies
from dataset_builder.predictions import PROBA_COLUMNS, make_predictions, read_predictions, write_predictions
from dataset_builder.schema import CLASS_NAMES, NUM_CLASSES, SPLIT_NAMES
from modeling.evaluation import (
    ResultsRecord,
    apply_temperature,
    bootstrap_intervals,
    classification_report,
    confusion_matrix,
    evaluate_predictions,
    expected_calibration_error,
    fit_temperature,
    metrics_from_confusion,
    paired_bootstrap,
    plot_confusion_matrix,
    plot_reliability_diagram,
    plot_training_curves,
    reliability_curve,
)

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def noisy_labels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reference labels of classes 0-5 and predictions right ~70 % of the time, otherwise any of 0-6: class 6 is
    predicted but never true, class 7 neither, so every edge case of the macro averages shows up."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 6, n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, 7, n))  # 6: predicted, never true
    return y_true, y_pred


# -- metrics ----------------------------------------------------------------------------------------------------


def test_report_matches_sklearn():
    y_true, y_pred = noisy_labels(500)
    glaciers = np.array([f"g{i % 4}" for i in range(500)])
    report = classification_report(y_true, y_pred, glaciers=glaciers, n_bootstrap=0)
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert report["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert report["mean_iou"] == pytest.approx(skm.jaccard_score(y_true, y_pred, average="macro"))
    with pytest.warns(UserWarning):  # scikit-learn warns about the class predicted but never true
        balanced = skm.balanced_accuracy_score(y_true, y_pred)
    assert report["balanced_accuracy"] == pytest.approx(balanced)
    labels = list(range(7))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for k in labels:
        got = report["per_class"][CLASS_NAMES[k]]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx((p[k], r[k], f[k], s[k]))
    assert report["per_class"]["cloud"] is None  # class 7: neither true nor predicted
    cm = skm.confusion_matrix(y_true, y_pred, labels=range(NUM_CLASSES))
    assert report["confusion_matrix"] == cm.tolist()
    assert report["confusion_matrix_normalized"][0] == pytest.approx((cm[0] / cm[0].sum()).tolist())
    assert report["confusion_matrix_normalized"][6] is None
    per = [skm.f1_score(y_true[glaciers == g], y_pred[glaciers == g], average="macro") for g in sorted(set(glaciers))]
    g = report["glacier_macro_f1"]
    assert g["n_glaciers"] == 4 and list(g["per_glacier"].values()) == pytest.approx(per)
    assert (g["mean"], g["std"]) == pytest.approx((np.mean(per), np.std(per)))
    json.dumps(report, allow_nan=False)


def test_confusion_rejects_bad_labels():
    with pytest.raises(ValueError, match="label codes"):
        confusion_matrix(np.array([0, 8]), np.array([0, 1]))
    with pytest.raises(ValueError, match="equal length"):
        confusion_matrix(np.array([0, 1]), np.array([0]))


def test_bootstrap_matches_resampling_samples():
    """Multinomial draws of the confusion cells give the intervals of resampling samples with replacement."""
    y_true, y_pred = noisy_labels(400, seed=3)
    fast = bootstrap_intervals(confusion_matrix(y_true, y_pred), n_bootstrap=4000, seed=1)
    rng = np.random.default_rng(2)
    draws = rng.integers(0, len(y_true), (4000, len(y_true)))
    cms = np.stack([confusion_matrix(y_true[i], y_pred[i]) for i in draws])
    slow = metrics_from_confusion(cms)
    for metric, (lo, hi) in fast.items():
        ref = np.percentile(slow[metric], [2.5, 97.5])
        assert lo == pytest.approx(ref[0], abs=0.01) and hi == pytest.approx(ref[1], abs=0.01), metric
        point = metrics_from_confusion(confusion_matrix(y_true, y_pred))[metric]
        assert lo < point < hi


# -- calibration --------------------------------------------------------------------------------------------------


def test_ece_on_a_hand_computed_case():
    # 10 samples at confidence 0.9, 7 right; 10 at 0.6, all right: ECE = 0.5 * 0.2 + 0.5 * 0.4
    proba = np.zeros((20, 3))
    proba[:10] = [0.9, 0.05, 0.05]
    proba[10:] = [0.6, 0.3, 0.1]
    y = np.zeros(20, dtype=int)
    y[:3] = 1
    assert expected_calibration_error(proba, y, n_bins=10) == pytest.approx(0.3)
    curve = reliability_curve(proba, y, n_bins=10)
    assert curve.count.sum() == 20 and curve.count[8] == 10 and curve.count[5] == 10


def overconfident(n: int = 4000, sharpen: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the model reports logits sharpen * z (over-confident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.0, (n, NUM_CLASSES))
    y = np.array([rng.choice(NUM_CLASSES, p=p) for p in softmax(z, axis=1)])
    return sharpen * z, y


def test_temperature_scaling_fixes_overconfidence():
    logits, y = overconfident()
    t = fit_temperature(logits, y)
    assert t == pytest.approx(4.0, rel=0.15)
    assert fit_temperature(softmax(logits, axis=1), y) == pytest.approx(t, rel=1e-3)  # probabilities work too
    before = expected_calibration_error(softmax(logits, axis=1), y)
    after = expected_calibration_error(apply_temperature(logits, t), y)
    assert after < 0.5 * before
    calibrated = apply_temperature(logits, t)
    assert np.array_equal(calibrated.argmax(1), logits.argmax(1))
    assert np.allclose(apply_temperature(calibrated, 1 / t), softmax(logits, axis=1), atol=1e-5)


# -- predictions files ------------------------------------------------------------------------------------------------


def random_proba(n: int, seed: int = 0) -> np.ndarray:
    return softmax(np.random.default_rng(seed).normal(size=(n, NUM_CLASSES)), axis=1).astype(np.float32)


def test_predictions_round_trip(tmp_path):
    ids = [f"s{i}" for i in range(5)]
    proba = random_proba(5)
    written = write_predictions(tmp_path / "p.parquet", ids, [0, 0, 1, 1, 5], proba)
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column_names == ["sample_id", "fold", "pred", *PROBA_COLUMNS]
    assert table.schema.field("fold").type == pa.int8() and table.schema.field("p_ice").type == pa.float32()
    back = read_predictions(tmp_path / "p.parquet")
    assert list(back.sample_id) == ids and back.fold.tolist() == [0, 0, 1, 1, 5]
    assert np.array_equal(back.proba, proba) and np.array_equal(back.pred, proba.argmax(1))
    assert np.array_equal(written.pred, back.pred)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ids, f, p: p.__setitem__((3, 0), p[3, 0] + 0.01), "row 3 .*sum to"),
        (lambda ids, f, p: p.__setitem__((2, 1), np.nan), "row 2 .*not all finite"),
        (lambda ids, f, p: p.__setitem__((1, slice(0, 2)), [-0.5, p[1, 0] + p[1, 1] + 0.5]), r"row 1 .*in \[0, 1\]"),
        (lambda ids, f, p: ids.__setitem__(4, "s1"), "row 1 .*'s1'.* repeated in rows \\[1, 4\\]"),
        (lambda ids, f, p: f.__setitem__(2, 6), "row 2 .*fold 6"),
    ],
)
def test_predictions_validation_names_the_row(tmp_path, change, message):
    ids, folds, proba = [f"s{i}" for i in range(5)], np.zeros(5, dtype=np.int64), random_proba(5).astype(np.float64)
    change(ids, folds, proba)
    with pytest.raises(PredictionsError, match=message):
        write_predictions(tmp_path / "p.parquet", ids, folds, proba)
    assert not (tmp_path / "p.parquet").exists()


def test_reading_a_bad_file_names_the_problem(tmp_path):
    path = tmp_path / "p.parquet"
    write_predictions(path, ["a", "b"], 0, random_proba(2))
    table = pq.read_table(path)
    pq.write_table(table.drop(["p_water"]), path)
    with pytest.raises(PredictionsError, match="missing column.*p_water"):
        read_predictions(path)
    pq.write_table(table.set_column(2, "pred", pa.array([0.0, 1.0])), path)
    with pytest.raises(PredictionsError, match="column 'pred' has type double"):
        read_predictions(path)
    probs = table.column("p_ice").to_numpy().copy()
    probs[1] += 0.5
    pq.write_table(table.set_column(3, "p_ice", pa.array(probs)), path)
    with pytest.raises(PredictionsError, match="row 1 \\(sample_id 'b'\\).*sum to"):
        read_predictions(path)
    with pytest.raises(PredictionsError, match="8 columns"):
        write_predictions(path, ["a"], 0, np.ones((1, 7)) / 7)


# -- results JSON and plots -----------------------------------------------------------------------------------------


def test_results_record_round_trip(tmp_path):
    report = classification_report(*noisy_labels(50), n_bootstrap=10)
    record = ResultsRecord(
        method="cnn",
        dataset={"path": "x", "config": "pruned", "revision": "sha256:00"},
        folds=[0, 1],
        seeds=[0],
        metrics={"pruned": report},
        details={"temperature": {"0": 1.5, "1": 2.0}},
    )
    record.save(tmp_path / "r.json")
    back = ResultsRecord.load(tmp_path / "r.json")
    assert back == record and back.temperatures() == {0: 1.5, 1: 2.0}
    data = json.loads(record.to_json())
    data["schema_version"] = 99
    with pytest.raises(ValueError, match="schema version 99"):
        ResultsRecord.from_json(json.dumps(data))


def test_plots_are_pngs(tmp_path):
    y_true, y_pred = noisy_labels(100)
    plot_confusion_matrix(confusion_matrix(y_true, y_pred), tmp_path / "cm.png", title="t")
    logits, y = overconfident(300)
    curves = {
        "raw": reliability_curve(softmax(logits, axis=1), y),
        "calibrated": reliability_curve(apply_temperature(logits, 4.0), y),
    }
    plot_reliability_diagram(curves, tmp_path / "rel.png")
    log = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "val_loss": 1.2 / e,
            "val_mean_iou": 0.1 * e,
            "val_macro_f1": 0.1 * e,
            "val_accuracy": 0.1 * e,
        }
        for e in range(1, 4)
    ]
    plot_training_curves(log, tmp_path / "curves.png")
    for name in ("cm.png", "rel.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG


# -- against a built dataset ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(fake_dataset) -> Path:
    return fake_dataset(per_fold=8, seed=3, glaciers_per_fold=2)


def fold_rows(dataset: Path, folds) -> tuple[list[str], np.ndarray, np.ndarray]:
    full = load_facies(dataset, "full")
    ids, labels, fold = [], [], []
    for f in folds:
        rows = full[SPLIT_NAMES[f]]
        ids += rows["sample_id"]
        labels += rows["label"]
        fold += [f] * len(rows)
    return ids, np.array(labels), np.array(fold)


def test_evaluate_predictions_file_cli(dataset, tmp_path, capsys, script):
    ids, labels, folds = fold_rows(dataset, [1, 4])
    proba = np.full((len(ids), NUM_CLASSES), 0.02, np.float32)
    proba[np.arange(len(ids)), labels] = 1 - 0.02 * (NUM_CLASSES - 1)
    proba[0] = np.roll(proba[0], 1)  # one mistake
    write_predictions(tmp_path / "p.parquet", ids, folds, proba)
    evaluate = script("evaluate").main
    argv = [
        str(dataset),
        "--predictions",
        str(tmp_path / "p.parquet"),
        "--out",
        str(tmp_path / "ev"),
        "--method",
        "oracle",
    ]
    assert evaluate(argv) == 0
    record = ResultsRecord.load(tmp_path / "ev" / "results.json")
    assert record.method == "oracle" and record.folds == [1, 4] and record.dataset["revision"].startswith("sha256:")
    for config in ("pruned", "full"):
        m = record.metrics[config]
        assert m["n"] == len(ids) and m["accuracy"] == pytest.approx(1 - 1 / len(ids))
        assert "ece" in m["calibration"]
        assert (tmp_path / "ev" / f"confusion_{config}.png").read_bytes()[:8] == PNG
    assert "macro_f1" in capsys.readouterr().out


def test_evaluation_needs_every_row_of_the_folds(dataset):
    ids, labels, folds = fold_rows(dataset, [2])
    partial = make_predictions(ids[1:], folds[1:], random_proba(len(ids) - 1))
    with pytest.raises(ValueError, match="1 row.*no prediction"):
        evaluate_predictions(dataset, partial, n_bootstrap=0)


def test_paired_bootstrap_of_a_macro_f1_difference():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, NUM_CLASSES, 4000)
    good = np.where(rng.random(truth.size) < 0.9, truth, rng.integers(0, NUM_CLASSES, truth.size))
    poor = np.where(rng.random(truth.size) < 0.6, truth, rng.integers(0, NUM_CLASSES, truth.size))
    result = paired_bootstrap(truth, good, poor, n_bootstrap=300, seed=1)
    expected = skm.f1_score(truth, good, average="macro") - skm.f1_score(truth, poor, average="macro")
    assert result["difference"] == pytest.approx(expected, abs=1e-9) and result["n"] == truth.size
    low, high = result["interval"]
    assert 0 < low < result["difference"] < high  # clearly better: the interval excludes 0
    same = paired_bootstrap(truth, good, good, n_bootstrap=50)
    assert same["difference"] == 0 and same["interval"] == [0.0, 0.0]
    assert paired_bootstrap(truth, good, poor, n_bootstrap=0)["interval"] == []
