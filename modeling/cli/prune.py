"""Prune label issues from a built dataset with confident learning (cleanlab).

    glacier-facies prune DATASET --probs OOF.parquet [--probs MORE.parquet ...] [--report DIR] [--truth TRUTH.parquet]
    glacier-facies prune DATASET --rounds 2 [--profile demo|published] [--out DIR] [--truth TRUTH.parquet]

Fills label_issue/label_quality, moves the flagged rows to the shards only the `full` config lists
(so load_dataset(DATASET, "pruned") leaves them out), updates the card, and writes a report:
pruning.json, a bar chart of the pruned share per class and fold, and the lowest-quality examples.
Several --probs files are averaged (an ensemble). Re-pruning starts from the full labels.
--rounds 2 runs the published protocol instead: six-fold cross-validation on the full labels,
pruning with its out-of-fold probabilities, cross-validation on the pruned labels, and both rounds
evaluated on the full and the pruned labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dataset_builder.pruning import (
    FILTERS,
    QUALITY_METHODS,
    PruneResult,
    PruneSettings,
    score_against_truth,
    write_report,
)
from dataset_builder.schema import PROTECTED_CLASSES
from hub_cards.dataset_folder import prune_dataset
from modeling.cli.options import UsageError
from modeling.training import PROFILES, run_two_rounds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", type=Path, help="built dataset folder (pruned in place, atomically)")
    parser.add_argument(
        "--probs", type=Path, action="append", help="out-of-fold predictions Parquet (repeat to average)"
    )
    parser.add_argument(
        "--rounds", type=int, choices=(1, 2), default=1, help="2: train, prune and retrain (the published protocol)"
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="demo", help="training options of --rounds 2")
    parser.add_argument("--out", type=Path, default=Path("two-rounds"), help="output folder of --rounds 2")
    parser.add_argument("--filter-by", choices=FILTERS, default="confident_learning")
    parser.add_argument(
        "--quality", choices=QUALITY_METHODS, default="self_confidence", help="label quality score and ranking"
    )
    parser.add_argument(
        "--protect", nargs="*", default=list(PROTECTED_CLASSES), help="classes never pruned (none: --protect)"
    )
    parser.add_argument("--report", type=Path, help="report folder (default: DATASET-pruning next to the dataset)")
    parser.add_argument("--truth", type=Path, help="table of true classes (sample_id, true_class) to score the flags")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.rounds == 1 and not args.probs:
        raise UsageError("give --probs (or --rounds 2 to compute them)")
    settings = PruneSettings(filter_by=args.filter_by, quality=args.quality, protected=tuple(args.protect))
    if args.rounds == 2:
        return _two_rounds(args, settings)
    result, rows = prune_dataset(args.dataset, args.probs, settings, progress=not args.quiet)
    if args.truth:
        result.truth = score_against_truth(rows, args.truth)
    report_dir = args.report or args.dataset.with_name(f"{args.dataset.name}-pruning")
    write_report(report_dir, result, rows, args.dataset)
    print(format_result(result))
    print(f"report: {report_dir}")
    return 0


def _two_rounds(args: argparse.Namespace, settings: PruneSettings) -> int:
    done = run_two_rounds(
        args.dataset, PROFILES[args.profile](), args.out, settings=settings, truth=args.truth, progress=not args.quiet
    )
    print(format_result(done.pruning))
    for name, metrics in (("round 1 (trained on full)", done.round1), ("round 2 (trained on pruned)", done.round2)):
        scores = ", ".join(f"{config} labels {100 * m['macro_f1']:.1f}" for config, m in metrics.items())
        print(f"macro-F1 {name}: {scores}")
    print(f"outputs: {args.out}")
    return 0


def format_result(result: PruneResult) -> str:
    """A short text summary of a pruning run."""
    lines = [f"flagged {result.num_flagged} of {result.num_rows} labels ({100 * result.share:.2f} %)"]
    for name, n in result.flagged_per_class.items():
        total = result.rows_per_class[name]
        lines.append(f"  {name:14s} {n:6d} / {total:6d}  {100 * n / max(total, 1):5.1f} %")
    lines.append("  per fold: " + "  ".join(f"{s}={n}" for s, n in result.flagged_per_fold.items()))
    if result.truth:
        t = result.truth
        lines.append(
            f"  against the truth: precision {t['precision']:.3f}, recall {t['recall']:.3f} "
            f"({t['wrong_labels']} wrong labels, {t['flagged']} flagged)"
        )
    return "\n".join(lines)
