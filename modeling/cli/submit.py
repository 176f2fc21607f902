"""Score a benchmark submission and add it to the dataset's leaderboard.

    glacier-facies submit SUBMISSION_DIR [--dataset glacier-facies] [--bootstrap 1000]
    glacier-facies submit --reported [--dataset glacier-facies]   # the paper's figures, marked "reported"

SUBMISSION_DIR holds predictions.parquet (or .csv: sample_id, pred, optional p_{class}) and
metadata.json (method, authors, code, paper, dataset_config, dataset_revision, num_parameters,
seeds). It is validated against the dataset and scored from the predictions; re-submitting the
same method replaces its row. The ranked table is rendered into the dataset card.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hub_cards.leaderboard import ranked
from modeling.cli.options import UsageError, int_in
from modeling.evaluation import PUBLISHED, add_to_leaderboard, evaluate_submission


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", type=Path, nargs="?", help="submission folder")
    parser.add_argument("--dataset", type=Path, default=Path("glacier-facies"), help="built dataset folder")
    parser.add_argument(
        "--bootstrap", type=int_in(0, 100_000), default=1000, help="bootstrap resamples for the 95 %% intervals"
    )
    parser.add_argument("--reported", action="store_true", help="add the published paper figures as a reported row")


def run(args: argparse.Namespace) -> int:
    if not args.reported and args.submission is None:
        raise UsageError("give a submission folder or --reported")
    entry = (
        PUBLISHED if args.reported else evaluate_submission(args.submission, args.dataset, n_bootstrap=args.bootstrap)
    )
    board = add_to_leaderboard(args.dataset, entry)
    print(f"leaderboard of {args.dataset} ({len(board['entries'])} entries):")
    for e in ranked(board["entries"]):
        pruned = e["scores"].get("pruned", {})
        print(f"  {e['method']:40s} macro-F1 pruned {100 * (pruned.get('macro_f1') or 0):5.1f}  [{e['kind']}]")
    return 0
