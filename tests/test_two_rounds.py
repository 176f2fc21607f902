"""The two-round protocol: train, prune with the out-of-fold probabilities, retrain, evaluate both."""

from datasets import load_dataset

from dataset_builder.testing import write_fake_released
from hub_cards.dataset_folder import build_dataset
from modeling.training import TrainConfig, run_two_rounds


def test_two_rounds_prune_between_the_rounds(tmp_path):
    write_fake_released(tmp_path / "src", per_fold=16, seed=5)
    build_dataset(tmp_path / "src", tmp_path / "ds", progress=False)
    stages = []

    class Stage:
        def __init__(self, name):
            stages.append(name)

        def __enter__(self):
            return None

        def __exit__(self, *exc):
            return None

    config = TrainConfig.demo(
        epochs=2, crop=9, samples_per_epoch=64, batch_size=32, eval_batch_size=64, calibrate=False
    )
    done = run_two_rounds(tmp_path / "ds", config, tmp_path / "out", n_bootstrap=10, stage=Stage, progress=False)
    assert len(stages) == 4 and stages[0].startswith("round 1")
    pruned_rows = sum(len(s) for s in load_dataset(str(tmp_path / "ds"), "pruned").values())
    assert pruned_rows == done.pruning.num_rows - done.pruning.num_flagged
    for metrics in (done.round1, done.round2):
        assert set(metrics) == {"pruned", "full"}
    # round 2 trained on the pruned labels only; round 1's predictions were scored on both label sets
    assert done.round1["full"]["n"] == 96 and done.round1["pruned"]["n"] == pruned_rows
    assert (done.round2_dir / "oof_predictions.parquet").is_file() and done.pruning_report[0].name == "pruning.json"
