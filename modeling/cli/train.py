"""Train on a built glacier facies dataset with the published cross-validation protocol.

    glacier-facies train DATASET OUT --fold T [options]        one model: test fold T, validation T-1
    glacier-facies train DATASET OUT --all-folds [options]     six models + out-of-fold predictions
    torchrun --nproc-per-node N scripts/train.py ...                 the same, data-parallel over N processes

``--device auto`` (default) trains on a GPU when CUDA has one (under torchrun, one GPU per process, NCCL between
them), else on the CPU; ``cuda`` requires one. On a GPU the forward passes run under bf16 autocast (``--fp32``:
not) in channels-last memory; CPU runs are plain float32.

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
from pathlib import Path

from dataset_builder.loading import CONFIGS
from dataset_builder.schema import NUM_FOLDS
from modeling.cli.options import UsageError, comma_list, float_in, int_in
from modeling.evaluation import summary_table
from modeling.training import (
    DEVICES,
    PROFILES,
    BaselineConfig,
    TrainConfig,
    cross_validate,
    init_runtime,
    train_baseline_fold,
    train_fold,
)

CNN_OPTIONS = ("epochs", "batch_size", "learning_rate", "crop", "samples_per_epoch", "augment")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", type=Path, help="built dataset folder (scripts/build_dataset.py)")
    parser.add_argument("out", type=Path, help="output folder")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--fold", type=int, choices=range(NUM_FOLDS), help="test fold of the one model to train")
    which.add_argument("--all-folds", action="store_true", help="train all six folds and write out-of-fold predictions")
    parser.add_argument("--method", choices=("cnn", "baseline"), default="cnn")
    parser.add_argument("--config", choices=CONFIGS, default="pruned", help="labels to train on (default pruned)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="published", help="cnn recipe defaults")
    parser.add_argument("--epochs", type=int_in(1, 100_000))
    parser.add_argument("--batch-size", type=int_in(1, 65_536))
    parser.add_argument("--lr", type=float_in(0, 10, low_open=True), dest="learning_rate")
    parser.add_argument("--bands", type=comma_list, help="comma-separated band subset, in the published order")
    parser.add_argument(
        "--crop",
        type=int_in(3, 33),
        help="centre crop side in pixels fed to the cnn (an odd multiple of the pool size: 9, 15, 21, ...)",
    )
    parser.add_argument("--samples-per-epoch", type=int_in(1, 100_000_000))
    parser.add_argument("--dropout", type=float_in(0, 1), help="cnn dropout rate (default the architecture's 0.5)")
    parser.add_argument("--seed", type=int_in(0, 2**32 - 1), default=0)
    parser.add_argument("--threads", type=int_in(1, 1024), help="CPU threads (torch, or the baseline's OpenMP)")
    parser.add_argument(
        "--device", choices=DEVICES, default="auto", help="cnn: auto (a GPU when there is one), cpu or cuda"
    )
    parser.add_argument("--fp32", action="store_true", help="cnn on a GPU: no bf16 autocast")
    parser.add_argument("--no-augment", dest="augment", action="store_false", default=None)
    parser.add_argument("--no-calibration", dest="calibrate", action="store_false", default=True)
    parser.add_argument("--resume", action="store_true", help="continue from checkpoints (and skip finished folds)")
    parser.add_argument(
        "--n-bootstrap", type=int_in(0, 100_000), default=1000, help="bootstrap resamples of the pooled intervals"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def make_config(args: argparse.Namespace) -> TrainConfig | BaselineConfig:
    """The TrainConfig or BaselineConfig the arguments ask for."""
    common = {"dataset_config": args.config, "seed": args.seed, "calibrate": args.calibrate, "threads": args.threads}
    if args.bands:
        common["bands"] = args.bands
    if args.method == "baseline":
        cnn_only = [k for k in CNN_OPTIONS + ("dropout",) if getattr(args, k) is not None]
        if cnn_only:
            raise UsageError(f"options {cnn_only} apply to --method cnn only")
        return BaselineConfig(**common)
    overrides = {k: getattr(args, k) for k in CNN_OPTIONS if getattr(args, k) is not None}
    if args.dropout is not None:
        overrides["model"] = {"dropout": args.dropout}
    return dataclasses.replace(PROFILES[args.profile](), **common, **overrides)


def run(args: argparse.Namespace) -> int:
    config = make_config(args)
    progress = not args.quiet
    runtime = init_runtime(config.threads, args.device, bf16=not args.fp32)
    if args.all_folds:
        record = cross_validate(
            args.dataset,
            config,
            args.out,
            resume=args.resume,
            progress=progress,
            n_bootstrap=args.n_bootstrap,
            runtime=runtime,
        )
    elif args.method == "baseline":
        record = train_baseline_fold(args.dataset, args.fold, config, args.out, progress=progress).record
    else:
        done = train_fold(
            args.dataset, args.fold, config, args.out, resume=args.resume, progress=progress, runtime=runtime
        )
        record = done.record if done else None
    if record is not None:  # rank 0
        print(
            f"{record.method}, test fold(s) {record.folds}, trained on {record.dataset['config']} labels -> {args.out}"
        )
        print(summary_table(record.metrics))
    return 0
