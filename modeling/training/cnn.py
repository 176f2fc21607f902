"""Training FaciesCNN on one cross-validation fold with the published recipe (:class:`TrainConfig`).

Outputs of :func:`train_fold` in ``out_dir``: ``model/`` (``FaciesCNN.from_pretrained`` folder: weights,
config with normalisation and calibration, card with validation and test scores), ``log.csv`` (per epoch) and
``training_curves.png``, ``predictions_test.parquet`` (every row of the test fold's ``full`` config,
calibrated probabilities), ``results.json`` (:class:`modeling.evaluation.ResultsRecord`),
``summary.md``, confusion-matrix and reliability PNGs, and ``checkpoint/`` (safetensors + JSON; resumable).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from hub_cards.model_card import eval_results_from_record
from modeling.network import FaciesCNN
from modeling.training.checkpoints import CHECKPOINT_DIR, load_checkpoint
from modeling.training.config import TrainConfig
from modeling.training.data import load_fold
from modeling.training.distributed import Runtime, barrier, init_runtime
from modeling.training.folds import MODEL_DIR, FoldResult, finish_fold, predict_view
from modeling.training.trainer import Trainer


def train_fold(
    dataset_dir: str | Path,
    test_fold: int,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    runtime: Runtime | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> FoldResult | None:
    """Train FaciesCNN for test fold ``test_fold`` and write the outputs listed in the module docstring.

    Args:
        dataset_dir: a built dataset folder.
        test_fold: 0-5; validation is fold t-1, training the other four.
        config: training options (``TrainConfig()`` = the published recipe, ``TrainConfig.demo()``).
        out_dir: output folder of this fold.
        resume: continue from ``out_dir/checkpoint`` when present (same options required).
        progress: progress bars.
        runtime: rank/world/device; default from the environment (:func:`init_runtime`).
        on_epoch_end: called with each epoch's log row, after its checkpoint was written.

    Returns:
        The fold's result on rank 0; None on other ranks.
    """
    runtime = runtime or init_runtime(config.threads)
    out_dir = Path(out_dir)
    data = load_fold(
        dataset_dir,
        test_fold,
        dataset_config=config.dataset_config,
        bands=config.bands,
        class_scene_weights=config.class_scene_weights,
    )
    trainer = Trainer(data, config, runtime)
    checkpoint = out_dir / CHECKPOINT_DIR
    if resume and load_checkpoint(checkpoint, trainer) and progress and runtime.is_main:
        tqdm.write(f"fold {test_fold}: resuming after epoch {trainer.state.epoch} of {config.epochs}")
    started = time.perf_counter()
    state = trainer.fit(checkpoint, progress=progress, on_epoch_end=on_epoch_end, log_dir=out_dir)
    if not runtime.is_main:
        barrier(runtime)
        return None
    model = trainer.best_model().to(runtime.device)
    val_proba = predict_view(
        model, data.validation, batch_size=config.eval_batch_size, progress=progress, desc="validation"
    )
    test_proba = predict_view(model, data.test, batch_size=config.eval_batch_size, progress=progress, desc="test")
    best = state.history[state.best_epoch - 1]
    training = {
        "method": "cnn",
        "dataset_config": config.dataset_config,
        "test_fold": data.split.test,
        "validation_fold": data.split.validation,
        "train_folds": list(data.split.train),
        "best_epoch": state.best_epoch,
        "world_size": runtime.world,
        "device": runtime.device.type,
        "bf16_autocast": runtime.bf16,
        "recipe": config.to_dict(),
    }
    result = finish_fold(
        out_dir,
        data,
        "cnn",
        val_proba,
        test_proba,
        temperature=None if config.calibrate else 1.0,
        seed=config.seed,
        details={**training, "validation": best, "train_seconds_this_run": time.perf_counter() - started},
    )
    calibration = {"temperature": result.temperature} if config.calibrate else None
    final = FaciesCNN(
        model.config.replace(
            calibration=calibration,
            training=training,
            provenance={
                "trained_with": "glacier-facies modeling.training",
                "dataset_manifest": result.record.dataset["revision"],
            },
        )
    )
    final.load_weights(model.state_dict(), source="the best epoch")
    eval_results = eval_results_from_record(result.record.to_dict(), validation=best)
    final.save_pretrained(out_dir / MODEL_DIR, model_card_kwargs={"eval_results": eval_results})
    barrier(runtime)
    return result
