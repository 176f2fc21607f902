"""The realism check: the BN-implied band statistics on networks whose answer is known, BN distances, and the
transfer of the published models to a tiny synthetic dataset (skipped, saying why, without ../shared)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from dataset_builder.synthetic import SyntheticConfig, generate
from dataset_builder.writer import iter_rows
from hub_cards.dataset_folder import build_dataset
from modeling.cli import main
from modeling.evaluation.realism import (
    DEFAULT_WEIGHTS,
    REALISM_JSON,
    REALISM_PNG,
    RealismReport,
    batch_norms,
    bn_distances,
    check_realism,
    implied_band_means,
    implied_band_variances,
    implied_extremes,
    own_bn_distances,
    own_bn_distances_by_sensor,
    sensor_rows,
)
from modeling.network import FaciesCNN, FaciesCNNConfig

BANDS = ("blue", "green", "red", "nir")
TINY = dataclasses.replace(SyntheticConfig.quick(), scenes_per_glacier=1, scene_size=132, n_labels=150)
needs_weights = pytest.mark.skipif(
    not DEFAULT_WEIGHTS.is_dir(),
    reason=f"the published weights are not here ({DEFAULT_WEIGHTS}); they are never copied into the repository",
)


def known_data(rng: np.random.Generator, n: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patches (n, 4, 33, 33), each band constant over a patch (so 3 x 3 neighbourhoods are constant, as the
    variance solver assumes), with correlated bands; returns the patches and their band means and variances."""
    cov = np.array([[1.0, 0.8, 0.6, 0.2], [0.8, 1.0, 0.7, 0.3], [0.6, 0.7, 1.0, 0.4], [0.2, 0.3, 0.4, 1.0]]) * 0.02
    values = rng.multivariate_normal([0.2, 0.35, 0.5, 0.8], cov, size=n)
    patches = np.broadcast_to(values[:, :, None, None], (n, 4, 33, 33)).astype(np.float32)
    return np.ascontiguousarray(patches), values.mean(axis=0), values.var(axis=0)


def trained_statistics(seed: int, patches: np.ndarray) -> FaciesCNN:
    """A random 4-band FaciesCNN whose BN layers hold the exact statistics of ``patches`` (one training-mode pass
    with cumulative averages), normalisation the identity."""
    torch.manual_seed(seed)
    config = FaciesCNNConfig(bands=BANDS, filters=(24, 16), normalization={"min": [0.0] * 4, "max": [1.0] * 4})
    model = FaciesCNN(config)
    for bn in batch_norms(model):
        bn.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(patches))
    return model.eval()


def test_implied_means_and_variances_recover_the_known_ones():
    patches, means, variances = known_data(np.random.default_rng(0))
    models = [trained_statistics(seed, patches) for seed in (1, 2, 3)]
    for model in models:
        implied, r = implied_band_means(model)
        np.testing.assert_allclose(implied, means, atol=1e-4)
        assert r > 0.9999
    fitted, se = implied_band_variances(models, means)
    np.testing.assert_allclose(fitted, variances, rtol=0.02, atol=1e-5)
    assert np.all(se < 0.1 * variances)


def test_implied_extremes_recover_the_normalisation_behind_a_mean_and_variance():
    raw = np.random.default_rng(6).normal(0.47, 0.32, 5000)  # a band in its own units, e.g. scaled elevation
    low, high = -0.21, 1.18  # the global min-max another dataset normalised it with
    normalised = (raw - low) / (high - low)
    found = implied_extremes(raw.mean(), raw.std(), normalised.mean(), normalised.var())
    np.testing.assert_allclose(found, (low, high), rtol=1e-9)
    # the dataset's own min-max gives back its own extremes; a band the weights leave unpinned has none
    own = (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(implied_extremes(raw.mean(), raw.std(), own.mean(), own.var()), (raw.min(), raw.max()))
    with pytest.raises(ValueError, match="implied_variance must be positive"):
        implied_extremes(0.5, 0.3, 0.5, 0.0)


def test_bn_distance_is_zero_on_the_data_behind_the_statistics_and_grows_off_it():
    rng = np.random.default_rng(4)
    patches = (rng.random((64, 4, 33, 33)) * [[[[0.3]], [[0.5]], [[0.7]], [[1.0]]]]).astype(np.float32)
    model = trained_statistics(5, patches)
    same = bn_distances(model, patches, batch_size=64)
    assert len(same) == 6 and all(d["mean_sigma"] < 1e-3 and d["log_var"] < 1e-3 for d in same)
    shifted = bn_distances(model, patches + 0.3, batch_size=64)
    assert shifted[0]["mean_sigma"] > 0.5


def test_own_bn_distance_keeps_a_mismatch_at_the_layer_it_arises():
    rng = np.random.default_rng(7)
    # wide bands, so that BN's epsilon (1e-3) is negligible beside every layer's variance
    patches = (rng.random((96, 4, 33, 33)) * [[[[3.0]], [[5.0]], [[7.0]], [[10.0]]]]).astype(np.float32)
    model = trained_statistics(8, patches)
    stored = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in batch_norms(model)]
    own = own_bn_distances(model, patches, batch_size=96)
    assert len(own) == 6 and all(d["mean_sigma"] < 1e-3 and d["log_var"] < 1e-3 for d in own)
    # brighter by half: the first convolution's output is an affine map of the original per channel (zero padding
    # scales too), which every later layer, on its batch's statistics, standardises away; in eval mode every later
    # layer inherits it
    brighter = patches * 1.5
    own = own_bn_distances(model, brighter, batch_size=96)
    handed_on = bn_distances(model, brighter, batch_size=96)
    assert own[0]["mean_sigma"] == pytest.approx(handed_on[0]["mean_sigma"], rel=1e-6) and own[0]["mean_sigma"] > 0.3
    assert all(d["mean_sigma"] < 1e-3 and d["log_var"] < 1e-3 for d in own[1:])
    assert all(d["mean_sigma"] > 0.3 for d in handed_on[1:])
    # nothing stored changes, and the model is handed back in eval mode
    assert not model.training and not any(bn.training for bn in batch_norms(model))
    for bn, (mean, var) in zip(batch_norms(model), stored):
        assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var) and bn.track_running_stats


def test_sensor_rows_keep_the_sensors_with_enough_rows():
    sensor = np.array(["L8"] * 5 + ["S2"] * 3 + [None] * 4 + [""] * 2 + ["L5"], dtype=object)
    groups = sensor_rows(sensor, min_rows=3)
    assert (
        list(groups) == ["L8", "S2"] and groups["L8"].tolist() == [0, 1, 2, 3, 4] and groups["S2"].tolist() == [5, 6, 7]
    )
    assert sensor_rows(sensor, min_rows=4) == {}  # one sensor left: its rows are the dataset's


def test_own_bn_distance_by_sensor_finds_the_rows_that_depart():
    rng = np.random.default_rng(9)
    smooth = (rng.random((64, 4, 1, 1)) * [[[[3.0]], [[5.0]], [[7.0]], [[10.0]]]]).repeat(33, 2).repeat(33, 3)
    smooth = np.ascontiguousarray(smooth, dtype=np.float32)
    model = trained_statistics(10, smooth)  # the stored statistics are those of the smooth rows
    speckled = smooth * (1 + 0.5 * rng.standard_normal(smooth.shape)).astype(np.float32)  # same means, pixel texture
    sensor = np.array(["L8"] * 64 + ["S2"] * 64, dtype=object)
    by_sensor = own_bn_distances_by_sensor(model, np.concatenate([smooth, speckled]), sensor, min_rows=64)
    assert list(by_sensor) == ["L8", "S2"]
    assert all(d["mean_sigma"] < 1e-3 and d["log_var"] < 1e-3 for d in by_sensor["L8"])
    assert min(d["log_var"] for d in by_sensor["S2"]) > 0.1
    # the same band means, so the first layer's mean stays; max-pooled texture lifts the fourth's
    assert by_sensor["S2"][0]["mean_sigma"] < 0.05 and by_sensor["S2"][3]["mean_sigma"] > 0.5


@needs_weights
def test_the_published_models_on_a_tiny_synthetic_dataset(tmp_path):
    generate(tmp_path / "bench", TINY, progress=False)
    build_dataset(tmp_path / "bench" / "patches", tmp_path / "ds", progress=False)
    out = tmp_path / "realism"
    status = main(
        ["check-realism", str(tmp_path / "ds"), "--weights", str(DEFAULT_WEIGHTS), "--max-rows", "24"]
        + ["--stages", "after", "--out", str(out), "--truth", str(tmp_path / "bench" / "truth" / "labels.parquet")]
    )
    assert status == 0 and (out / REALISM_PNG).stat().st_size > 0
    report = RealismReport.from_dict(json.loads((out / REALISM_JSON).read_text()))
    assert report.truth and Path(report.truth).name == "labels.parquet" and report.rows == 24
    assert [e.band_set for e in report.evidence] == ["11-band", "optical"]
    assert all(min(e.fit_r) > 0.999 and len(e.implied_mean) == len(e.bands) for e in report.evidence)
    for e in report.evidence:  # extremes exactly where the variance is pinned, in the band's own units
        assert [low is not None for low in e.implied_min] == e.pinned
        assert all(low < high for low, high, p in zip(e.implied_min, e.implied_max, e.pinned) if p)
    assert [t.name for t in report.transfer][:2] == ["11-band fold 0 after", "11-band fold 1 after"]
    assert len(report.transfer) == 12 and all(len(t.bn) == 6 for t in report.transfer)
    for t in report.transfer:
        assert 0 <= t.truth["macro_f1"] <= 1 and np.sum(t.labels["confusion_matrix"]) == 24
    summary = report.summary()
    assert set(summary) == {"worst_mean_gap", "11-band after", "optical after"}
    assert summary["11-band after"]["models"] == 6 and len(summary["11-band after"]["bn_mean_sigma"]) == 6
    # 24 rows: no sensor has the rows for distances of its own
    assert report.rows_by_sensor == {} and summary["11-band after"]["bn_own_by_sensor"] == {}
    # every row, and sensors with 10 rows or more: each sensor's rows get their own distances
    counts = Counter(s for batch in iter_rows(tmp_path / "ds") for s in batch.sensor)
    kept = {s: n for s, n in sorted(counts.items()) if n >= 10}
    assert len(kept) >= 2, f"the tiny benchmark's sensors changed ({counts}): choose another seed or size"
    report = check_realism(tmp_path / "ds", max_rows=None, stages=("after",), min_sensor_rows=10)
    assert report.rows_by_sensor == kept
    assert all(
        set(t.bn_own_by_sensor) == set(kept) and all(len(d) == 6 for d in t.bn_own_by_sensor.values())
        for t in report.transfer
    )
    assert report.format().count("own |dmu|/sigma by sensor:") == 2 and len(report.figure().axes) == 4
    again = RealismReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.summary()["optical after"]["bn_own_by_sensor"] == report.summary()["optical after"]["bn_own_by_sensor"]
