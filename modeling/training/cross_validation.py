"""Cross-validation: one model per test fold, their test predictions pooled into out-of-fold predictions and
evaluated. The method is chosen by the options' type through :data:`FOLD_TRAINERS`."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from dataset_builder.atomic import atomic_write_text
from dataset_builder.predictions import Predictions, read_predictions, write_predictions
from dataset_builder.schema import SPLIT_NAMES
from modeling.evaluation import ResultsRecord, evaluate_predictions, summary_table
from modeling.training.baseline import BaselineConfig, train_baseline_fold
from modeling.training.cnn import train_fold
from modeling.training.config import TrainConfig
from modeling.training.distributed import Runtime, barrier, init_runtime
from modeling.training.folds import RESULTS_FILE, SUMMARY_FILE, TEST_PREDICTIONS, FoldResult, dataset_info

OOF_PREDICTIONS = "oof_predictions.parquet"


class FoldTrainer(Protocol):
    """Trains one test fold into ``out_dir``; returns its result on rank 0 and None on the other ranks."""

    def __call__(
        self,
        dataset_dir: str | Path,
        test_fold: int,
        config: TrainConfig | BaselineConfig,
        out_dir: str | Path,
        *,
        resume: bool,
        progress: bool,
        runtime: Runtime,
    ) -> FoldResult | None: ...


def _train_baseline_on_main(
    dataset_dir: str | Path,
    test_fold: int,
    config: BaselineConfig,
    out_dir: str | Path,
    *,
    resume: bool,
    progress: bool,
    runtime: Runtime,
) -> FoldResult | None:
    """The baseline fits on rank 0 while the other ranks wait; ``resume`` does not apply (it refits)."""
    result = (
        train_baseline_fold(dataset_dir, test_fold, config, out_dir, progress=progress) if runtime.is_main else None
    )
    barrier(runtime)
    return result


#: The function that trains one fold, per options type: FaciesCNN's recipe or the gradient-boosted baseline.
FOLD_TRAINERS: dict[type, FoldTrainer] = {TrainConfig: train_fold, BaselineConfig: _train_baseline_on_main}


def cross_validate(
    dataset_dir: str | Path,
    config: TrainConfig | BaselineConfig,
    out_dir: str | Path,
    *,
    folds: Sequence[int] = tuple(range(len(SPLIT_NAMES))),
    resume: bool = False,
    progress: bool = True,
    n_bootstrap: int = 1000,
    runtime: Runtime | None = None,
) -> ResultsRecord | None:
    """Train one model per test fold (``out_dir/fold_{t}``), pool their test predictions and evaluate.

    Args:
        config: a :class:`TrainConfig` (CNN) or a :class:`BaselineConfig`; its type picks the fold trainer.
        folds: test folds to run (all six for out-of-fold predictions of every sample).
        resume: skip folds whose ``results.json`` exists and resume interrupted ones.
        runtime: rank/world/device; default from the environment (:func:`init_runtime`).

    Writes ``oof_predictions.parquet`` (every row of the folds, calibrated per fold), ``results.json`` (pooled),
    ``summary.md`` and the pooled confusion-matrix and reliability PNGs. Returns the record on rank 0.
    """
    train = FOLD_TRAINERS.get(type(config))
    if train is None:
        raise TypeError(f"no fold trainer for {type(config).__name__}; known: {[t.__name__ for t in FOLD_TRAINERS]}")
    out_dir = Path(out_dir)
    runtime = runtime or init_runtime(config.threads)
    results: dict[int, ResultsRecord] = {}
    for t in folds:
        fold_dir = out_dir / f"fold_{t}"
        if resume and (fold_dir / RESULTS_FILE).is_file():
            results[t] = ResultsRecord.load(fold_dir / RESULTS_FILE)
            continue
        done = train(dataset_dir, t, config, fold_dir, resume=resume, progress=progress, runtime=runtime)
        if done is not None:
            results[t] = done.record
    if not runtime.is_main:
        return None
    predictions = Predictions.concatenate([read_predictions(out_dir / f"fold_{t}" / TEST_PREDICTIONS) for t in folds])
    write_predictions(
        out_dir / OOF_PREDICTIONS, predictions.sample_id, predictions.fold, predictions.proba, pred=predictions.pred
    )
    temperatures = {t: results[t].temperatures()[t] for t in folds}
    calibrated = any(results[t].details["calibrated"] for t in folds)
    metrics = evaluate_predictions(
        dataset_dir,
        predictions,
        temperatures=temperatures if calibrated else None,
        n_bootstrap=n_bootstrap,
        seed=config.seed,
        plot_dir=out_dir,
    )
    first = results[folds[0]]
    record = ResultsRecord(
        method=first.method,
        dataset=dataset_info(Path(dataset_dir), config.dataset_config),
        folds=list(folds),
        seeds=[config.seed],
        metrics=metrics,
        details={
            "pooled_over_folds": True,
            "calibrated": calibrated,
            "temperature": {str(t): v for t, v in temperatures.items()},
            "options": config.to_dict(),
        },
    )
    record.save(out_dir / RESULTS_FILE)
    atomic_write_text(
        out_dir / SUMMARY_FILE,
        f"# {record.method}, pooled over test folds {list(folds)}\n\n{summary_table(metrics)}\n",
    )
    return record
