"""Size profiles of the synthetic benchmark: the release profile's exact fold sizes, and ``--scale``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dataset_builder.schema import NUM_FOLDS
from dataset_builder.synthetic.config import REAL_FOLD_SIZES, SCALES, SyntheticConfig, apportion
from dataset_builder.synthetic.labels import exact_quotas
from dataset_builder.synthetic.simulate import Simulation
from modeling.cli.app import build_parser


def test_apportion_is_proportional_and_exact():
    assert apportion(10, [1, 1, 1]).tolist() == [4, 3, 3]
    assert apportion(7, [0.5, 0.0, 0.5]).tolist() == [4, 0, 3]
    parts = apportion(137_592, REAL_FOLD_SIZES)
    assert parts.tolist() == list(REAL_FOLD_SIZES)


def test_release_profile_plans_the_published_fold_sizes():
    config = SyntheticConfig.release()
    assert (config.n_glaciers, config.n_glaciers * config.scenes_per_glacier, config.n_labels) == (31, 93, 137_592)
    folds = [i % NUM_FOLDS for i in range(config.n_glaciers)]
    budgets = np.array(config.scene_budgets(folds))
    scene_folds = np.repeat(folds, config.scenes_per_glacier)
    assert np.bincount(scene_folds, weights=budgets).astype(int).tolist() == list(REAL_FOLD_SIZES)
    assert all(np.ptp(budgets[scene_folds == f]) <= 1 for f in range(NUM_FOLDS))  # shared evenly


def test_exact_quotas_move_a_shortfall_to_classes_with_pixels_to_spare():
    shares = np.array([0.5, 0.3, 0.2, 0, 0, 0, 0, 0])
    pixels = np.array([1000, 10, 1000, 0, 5, 0, 0, 0])
    quotas = exact_quotas(100, shares, pixels, minimum=2)
    assert quotas.sum() == 100 and quotas[1] == 10 and quotas[4] == 2 and np.all(quotas <= pixels)
    assert quotas[0] > quotas[2] > 10  # the shortfall of class 1 goes by the shares of 0 and 2
    assert exact_quotas(5000, shares, pixels, minimum=2).tolist() == pixels.tolist()  # too few pixels: all


def test_exact_counts_give_every_fold_its_target():
    config = dataclasses.replace(SyntheticConfig.quick(), scenes_per_glacier=2, n_labels=1_000, exact_counts=True)
    simulation = Simulation.plan(config)
    counts = np.zeros(NUM_FOLDS, int)
    for scene in simulation.run():
        assert len(scene.labels.rows) == scene.scene.n_labels
        counts[scene.glacier.fold] += len(scene.labels.rows)
    assert counts.tolist() == config.fold_targets().tolist() and counts.sum() == 1_000


@pytest.mark.parametrize(
    ("argv", "scale"),
    [([], "default"), (["--quick"], "quick"), (["--scale", "release"], "release"), (["--scale", "quick"], "quick")],
)
def test_scale_option(argv, scale):
    args = build_parser().parse_args(["synthetic", "out", *argv])
    assert args.scale == scale and scale in SCALES


def test_scale_and_quick_exclude_each_other():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["synthetic", "out", "--quick", "--scale", "release"])
