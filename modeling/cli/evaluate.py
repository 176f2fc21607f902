"""Evaluate a model folder or a predictions file against a built dataset's pruned and full labels.

    glacier-facies evaluate DATASET --model MODEL_DIR [--fold T] [--calibrate] --out OUT
    glacier-facies evaluate DATASET --predictions FILE.parquet [--results RESULTS.json] --out OUT
    glacier-facies evaluate DATASET --submission DIR --out OUT

A model folder (``from_pretrained`` layout) is evaluated on test fold T (default: the fold recorded in its
config); ``--calibrate`` fits temperature scaling on the validation fold T-1 and writes the calibrated
model to OUT/model. A predictions file (e.g. ``oof_predictions.parquet``) is evaluated on its folds,
pooled; ``--results`` (the results.json of the run that wrote it) supplies the per-fold temperatures so
that the ECE before calibration is reported too.
OUT receives results.json (modeling.evaluation.ResultsRecord), summary.md, confusion_{config}.png and
reliability_{config}.png.

A benchmark submission folder (predictions.parquet or .csv plus metadata.json, see ``glacier-facies submit``) is
validated against the dataset (every sample exactly once, known ids, valid classes, probabilities that
sum to one, size limits, safe names) and scored from its predictions, never from reported numbers;
``glacier-facies submit`` then adds it to the leaderboard.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dataset_builder.atomic import atomic_write_text
from dataset_builder.loading import CONFIGS
from dataset_builder.predictions import read_predictions
from dataset_builder.schema import NUM_FOLDS
from hub_cards.markdown import escape
from modeling.cli.options import UsageError, int_in
from modeling.evaluation import (
    DatasetLabels,
    ResultsRecord,
    dataset_revision,
    evaluate_predictions,
    read_submission,
    submission_reports,
    summary_table,
)
from modeling.network import FaciesCNN
from modeling.training import DEVICES, RESULTS_FILE, SUMMARY_FILE, evaluate_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", type=Path, help="built dataset folder with the reference labels")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a FaciesCNN from_pretrained folder")
    source.add_argument("--predictions", type=Path, help="a predictions Parquet file")
    source.add_argument("--submission", type=Path, help="a benchmark submission folder")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--fold", type=int, choices=range(NUM_FOLDS), help="test fold of --model (default: from its config)"
    )
    parser.add_argument(
        "--config", choices=CONFIGS, default="pruned", help="labels of the validation fold used by --calibrate"
    )
    parser.add_argument(
        "--calibrate", action="store_true", help="--model: fit temperature scaling on the validation fold"
    )
    parser.add_argument("--results", type=Path, help="--predictions: results.json holding the per-fold temperatures")
    parser.add_argument("--method", default=None, help="method name recorded in results.json")
    parser.add_argument("--n-bootstrap", type=int_in(0, 100_000), default=1000, help="bootstrap resamples")
    parser.add_argument(
        "--compile", action="store_true", help="--model: torch.compile the network (faster on large folds)"
    )
    parser.add_argument(
        "--device", choices=DEVICES, default="auto", help="--model: auto (a GPU when there is one), cpu or cuda"
    )
    parser.add_argument("--quiet", action="store_true")


def evaluate_file(args: argparse.Namespace) -> ResultsRecord:
    """Evaluate a predictions file, pooled over its folds."""
    predictions = read_predictions(args.predictions)
    origin = ResultsRecord.load(args.results) if args.results else None
    temperatures = origin.temperatures() if origin else None
    metrics = evaluate_predictions(
        args.dataset, predictions, temperatures=temperatures, n_bootstrap=args.n_bootstrap, plot_dir=args.out
    )
    record = ResultsRecord(
        method=args.method or (origin.method if origin else "unknown"),
        dataset={
            "path": str(args.dataset),
            "config": origin.dataset["config"] if origin else "",
            "revision": dataset_revision(args.dataset),
        },
        folds=sorted({int(f) for f in predictions.fold}),
        seeds=origin.seeds if origin else [],
        metrics=metrics,
        details={
            "predictions": str(args.predictions),
            "temperature": {str(k): v for k, v in (temperatures or {}).items()},
        },
    )
    record.save(args.out / RESULTS_FILE)
    atomic_write_text(
        args.out / SUMMARY_FILE, f"# {escape(record.method)}, test folds {record.folds}\n\n{summary_table(metrics)}\n"
    )
    return record


def evaluate_submission_folder(args: argparse.Namespace) -> ResultsRecord:
    """Validate and score a benchmark submission folder (pooled over all folds)."""
    labels = DatasetLabels.load(args.dataset)
    submission = read_submission(args.submission, labels)
    meta = submission.metadata
    metrics = submission_reports(submission, labels, n_bootstrap=args.n_bootstrap, plot_dir=args.out)
    record = ResultsRecord(
        method=args.method or meta["method"],
        dataset={"path": str(args.dataset), "config": meta["dataset_config"], "revision": labels.revision},
        folds=sorted({int(f) for f in labels.fold}),
        seeds=meta.get("seeds", []),
        metrics=metrics,
        details={"submission": str(args.submission), "metadata": meta},
    )
    record.save(args.out / RESULTS_FILE)
    atomic_write_text(
        args.out / SUMMARY_FILE,
        f"# {escape(record.method)}, submission, test folds {record.folds}\n\n{summary_table(metrics)}\n",
    )
    return record


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    if args.predictions:
        record = evaluate_file(args)
    elif args.submission:
        record = evaluate_submission_folder(args)
    else:
        model = FaciesCNN.from_pretrained(str(args.model))
        fold = args.fold if args.fold is not None else (model.config.training or {}).get("test_fold")
        if fold is None:
            raise UsageError(f"{args.model}: its config records no test fold; pass --fold")
        record = evaluate_model(
            model,
            args.dataset,
            int(fold),
            args.out,
            dataset_config=args.config,
            calibrate=args.calibrate,
            method=args.method or "cnn",
            n_bootstrap=args.n_bootstrap,
            progress=not args.quiet,
            compile=args.compile,
            device=args.device,
        ).record
    print(f"{record.method}, test fold(s) {record.folds} -> {args.out}")
    print(summary_table(record.metrics))
    return 0
