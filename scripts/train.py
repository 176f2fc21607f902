#!/usr/bin/env python
"""Train on a built glacier facies dataset with the published cross-validation protocol.

    python scripts/train.py DATASET OUT --fold T [options]        one model: test fold T, validation T-1
    python scripts/train.py DATASET OUT --all-folds [options]     six models + out-of-fold predictions
    torchrun --nproc-per-node N scripts/train.py ...              the same, data-parallel over N processes

``--method cnn`` (default) trains FaciesCNN with the published recipe (``--profile published``) or the
short demo profile (``--profile demo``); every recipe value can be overridden. ``--method baseline``
fits the gradient-boosted baseline and writes the same predictions and results files.
OUT (per fold: OUT/fold_T with --all-folds) receives model/ (from_pretrained folder), log.csv,
training_curves.png, predictions_test.parquet, results.json, summary.md and plots; --all-folds adds
OUT/oof_predictions.parquet and the pooled OUT/results.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from dataset_builder.errors import DatasetNotFoundError, SchemaError
from dataset_builder.loading import CONFIGS
from dataset_builder.schema import NUM_FOLDS
from modeling.errors import CheckpointError
from modeling.evaluation import summary_table
from modeling.training import PROFILES, BaselineConfig, cross_validate, init_runtime, train_baseline_fold, train_fold

CNN_OPTIONS = ("epochs", "batch_size", "learning_rate", "crop", "samples_per_epoch", "augment")


def _bands(text: str) -> tuple[str, ...]:
    return tuple(b.strip() for b in text.split(",") if b.strip())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path, help="built dataset folder (scripts/build_dataset.py)")
    parser.add_argument("out", type=Path, help="output folder")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--fold", type=int, choices=range(NUM_FOLDS), help="test fold of the one model to train")
    which.add_argument("--all-folds", action="store_true", help="train all six folds and write out-of-fold predictions")
    parser.add_argument("--method", choices=("cnn", "baseline"), default="cnn")
    parser.add_argument("--config", choices=CONFIGS, default="pruned", help="labels to train on (default pruned)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="published", help="cnn recipe defaults")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, dest="learning_rate")
    parser.add_argument("--bands", type=_bands, help="comma-separated band subset, in the published order")
    parser.add_argument(
        "--crop",
        type=int,
        help="centre crop side in pixels fed to the cnn (an odd multiple of the pool size: 9, 15, 21, ...)",
    )
    parser.add_argument("--samples-per-epoch", type=int)
    parser.add_argument("--dropout", type=float, help="cnn dropout rate (default the architecture's 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="CPU threads (torch, or the baseline's OpenMP)")
    parser.add_argument("--no-augment", dest="augment", action="store_false", default=None)
    parser.add_argument("--no-calibration", dest="calibrate", action="store_false", default=True)
    parser.add_argument("--resume", action="store_true", help="continue from checkpoints (and skip finished folds)")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples of the pooled intervals")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def make_config(args: argparse.Namespace):
    """The TrainConfig or BaselineConfig the arguments ask for."""
    common = {"dataset_config": args.config, "seed": args.seed, "calibrate": args.calibrate, "threads": args.threads}
    if args.bands:
        common["bands"] = args.bands
    if args.method == "baseline":
        cnn_only = [k for k in CNN_OPTIONS + ("dropout",) if getattr(args, k) is not None]
        if cnn_only:
            raise ValueError(f"options {cnn_only} apply to --method cnn only")
        return BaselineConfig(**common)
    overrides = {k: getattr(args, k) for k in CNN_OPTIONS if getattr(args, k) is not None}
    if args.dropout is not None:
        overrides["model"] = {"dropout": args.dropout}
    return dataclasses.replace(PROFILES[args.profile](), **common, **overrides)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = make_config(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    progress = not args.quiet
    try:
        if args.all_folds:
            record = cross_validate(
                args.dataset, config, args.out, resume=args.resume, progress=progress, n_bootstrap=args.n_bootstrap
            )
        elif args.method == "baseline":
            record = train_baseline_fold(args.dataset, args.fold, config, args.out, progress=progress).record
        else:
            runtime = init_runtime(config.threads)
            done = train_fold(
                args.dataset, args.fold, config, args.out, resume=args.resume, progress=progress, runtime=runtime
            )
            record = done.record if done else None
    except (DatasetNotFoundError, CheckpointError, SchemaError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if record is not None:  # rank 0
        print(
            f"{record.method}, test fold(s) {record.folds}, trained on {record.dataset['config']} labels -> {args.out}"
        )
        print(summary_table(record.metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
