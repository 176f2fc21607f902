"""The published two-round protocol: cross-validate on the full labels, prune the label issues
the out-of-fold probabilities reveal, cross-validate again on the pruned labels, and evaluate
both rounds on the full and on the pruned labels.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ContextManager

from dataset_builder.predictions import read_predictions
from dataset_builder.pruning import PruneResult, PruneSettings, score_against_truth, write_report
from hub_cards.dataset_folder import prune_dataset
from modeling.evaluation import evaluate_predictions
from modeling.training.config import TrainConfig
from modeling.training.cross_validation import OOF_PREDICTIONS, cross_validate


@dataclass
class TwoRoundResult:
    """What the protocol produced: pruning summary and the metrics of both rounds on both label sets."""

    pruning: PruneResult
    round1: dict[str, Any]  # per label config ("pruned", "full"): classification report
    round2: dict[str, Any]
    round1_dir: Path
    round2_dir: Path
    pruning_report: list[Path]


def run_two_rounds(
    dataset: str | Path,
    training: TrainConfig,
    out_dir: str | Path,
    *,
    settings: PruneSettings = PruneSettings(),
    truth: str | Path | None = None,
    n_bootstrap: int = 1000,
    stage: Callable[[str], ContextManager] | None = None,
    progress: bool = True,
) -> TwoRoundResult:
    """Run the protocol on a built dataset (pruned in place between the rounds).

    Args:
        training: the options of both rounds (round 1 trains on ``full``, round 2 on ``pruned``).
        out_dir: ``round1/``, ``pruning/`` and ``round2/`` are written there.
        truth: a table of true classes (``sample_id``, ``true_class``) to score the flags.
        stage: a context-manager factory called with each stage's name (timing, printing).
    """
    out_dir = Path(out_dir)
    stage = stage or nullcontext
    round1_dir, round2_dir = out_dir / "round1", out_dir / "round2"
    with stage("round 1: cross-validation on the full labels"):
        cross_validate(
            dataset, replace(training, dataset_config="full"), round1_dir, n_bootstrap=n_bootstrap, progress=progress
        )
    with stage("prune label issues (cleanlab)"):
        pruned, rows = prune_dataset(dataset, [round1_dir / OOF_PREDICTIONS], settings, progress=progress)
        if truth is not None:
            pruned.truth = score_against_truth(rows, truth)
        report = write_report(out_dir / "pruning", pruned, rows, dataset)
    with stage("round 2: cross-validation on the pruned labels"):
        round2 = cross_validate(
            dataset, replace(training, dataset_config="pruned"), round2_dir, n_bootstrap=n_bootstrap, progress=progress
        )
    with stage("evaluate round 1 on the full and the pruned labels"):
        round1 = evaluate_predictions(
            dataset, read_predictions(round1_dir / OOF_PREDICTIONS), n_bootstrap=n_bootstrap, plot_dir=round1_dir
        )
    return TwoRoundResult(pruned, round1, round2.metrics, round1_dir, round2_dir, report)
