"""Check how real a built dataset looks to the published models: BN-implied band statistics, BN distances, transfer.

    glacier-facies check-realism DATASET [--weights DIR] [--truth FILE.parquet] [--out DIR] [--max-rows N]
                                 [--stages after,before]

The authors' weights store, in every BatchNorm layer, the statistics the real training data produced there. From
them: the real data's mean (and, where the weights pin it, variance) of every normalised band, next to the
dataset's; per BN layer, the distance of the statistics the dataset produces to the stored ones; and every
published model's macro-F1, per-class F1 and confusion against the labels and, for a synthetic benchmark, against
the true classes (--truth, e.g. a synthetic benchmark's truth/labels.parquet). OUT (default DATASET/../realism) receives
realism.json and realism.png. See modeling.evaluation.realism.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modeling.cli.options import comma_list, int_in
from modeling.evaluation.realism import DEFAULT_WEIGHTS, check_realism

STAGES = ("after", "before")


def stages(text: str) -> tuple[str, ...]:
    """An argparse type: a comma list of pruning stages (after, before)."""
    chosen = comma_list(text)
    unknown = [s for s in chosen if s not in STAGES]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(f"stages must be a comma list of {', '.join(STAGES)}, got {text!r}")
    return chosen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", type=Path, help="built dataset folder")
    parser.add_argument(
        "--weights", type=Path, default=DEFAULT_WEIGHTS, help=f"published weights folder (default {DEFAULT_WEIGHTS})"
    )
    parser.add_argument("--truth", type=Path, help="table of true classes (sample_id, true_class), Parquet")
    parser.add_argument("--out", type=Path, help="output folder (default: DATASET/../realism)")
    parser.add_argument(
        "--max-rows", type=int_in(1), default=1000, help="run the models on a random sample of this many rows"
    )
    parser.add_argument("--stages", type=stages, default=STAGES, help="pruning stages of the models to run")


def run(args: argparse.Namespace) -> int:
    report = check_realism(args.dataset, args.weights, truth=args.truth, max_rows=args.max_rows, stages=args.stages)
    json_path, png_path = report.write(args.out or args.dataset.resolve().parent / "realism")
    print(report.format())
    print(f"-> {json_path}, {png_path}")
    return 0
