"""Finishing a fold, whatever model made its probabilities: temperature scaling fitted on the validation fold,
the test fold's predictions (``predictions_test.parquet``, every row of its ``full`` config, calibrated),
their evaluation on both label configs (``results.json``, ``summary.md``, confusion-matrix and reliability
PNGs); and the same for a model trained elsewhere (:func:`evaluate_model`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from tqdm.auto import tqdm

from dataset_builder.atomic import atomic_write_text
from dataset_builder.loading import TorchPatches
from dataset_builder.predictions import write_predictions
from dataset_builder.writer import check_revision
from modeling.evaluation import (
    SUMMARY_METRICS,
    ResultsRecord,
    apply_temperature,
    confusion_matrix,
    dataset_revision,
    evaluate_predictions,
    expected_calibration_error,
    fit_temperature,
    metrics_from_confusion,
    summary_table,
)
from modeling.network import FaciesCNN
from modeling.training.data import FoldData, load_fold, raw_inputs
from modeling.training.device import resolve_device

MODEL_DIR = "model"
TEST_PREDICTIONS = "predictions_test.parquet"
RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"


def predict_view(
    model: FaciesCNN,
    view: TorchPatches,
    *,
    batch_size: int = 1024,
    progress: bool = False,
    desc: str = "predict",
    compile: bool = False,
) -> np.ndarray:
    """``model.predict_proba`` over every row of a split view, cropped to the model's patch size: (N, K) float32.
    ``compile``: see :func:`modeling.network.predict_proba`."""
    out = [np.zeros((0, model.config.num_classes), np.float32)]
    for start in tqdm(range(0, len(view), batch_size), desc=desc, unit="batch", disable=not progress):
        rows = np.arange(start, min(start + batch_size, len(view)))
        out.append(model.predict_proba(raw_inputs(view, rows, model.config), batch_size=batch_size, compile=compile))
    return np.concatenate(out)


@dataclass(frozen=True)
class FoldResult:
    """A finished fold: its results record and the validation-fitted temperature (1.0 when not calibrated)."""

    record: ResultsRecord
    temperature: float


def finish_fold(
    out_dir: Path,
    data: FoldData,
    method: str,
    val_proba: np.ndarray,
    test_proba: np.ndarray,
    *,
    temperature: float | None,
    seed: int,
    details: Mapping[str, Any],
    n_bootstrap: int = 1000,
) -> FoldResult:
    """Calibrate, write the test predictions and evaluate them on both label configs; write ``results.json``.

    Args:
        val_proba: (N_val, K) uncalibrated probabilities of the validation rows.
        test_proba: (N_test, K) uncalibrated probabilities of every row of the test fold.
        temperature: None fits temperature scaling on the validation fold; a number is applied as it is
            (1.0: uncalibrated).
        details: recorded in the results JSON (training options, validation scores, ...).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    val_y = data.validation.labels.numpy()
    fitted = temperature is None
    temperature = fit_temperature(val_proba, val_y) if fitted else float(temperature)
    calibrated = temperature != 1.0
    test_cal = apply_temperature(test_proba, temperature)
    predictions = write_predictions(out_dir / TEST_PREDICTIONS, data.test_ids, data.split.test, test_cal)
    check_revision(data.dataset_dir, data.revision, when="since the fold's data was read")  # labels must match it
    temperatures = {data.split.test: temperature} if calibrated else None
    metrics = evaluate_predictions(
        data.dataset_dir, predictions, temperatures=temperatures, n_bootstrap=n_bootstrap, seed=seed, plot_dir=out_dir
    )
    val_scores = metrics_from_confusion(confusion_matrix(val_y, val_proba.argmax(axis=1)))
    validation = {
        **{k: float(val_scores[k]) for k in SUMMARY_METRICS},
        "ece_before": expected_calibration_error(val_proba, val_y),
        "ece_after": expected_calibration_error(apply_temperature(val_proba, temperature), val_y),
    }
    record = ResultsRecord(
        method=method,
        dataset=dataset_info(data.dataset_dir, data.dataset_config, data.revision),
        folds=[data.split.test],
        seeds=[seed],
        metrics=metrics,
        details={
            "split": dataclasses.asdict(data.split),
            "calibrated": calibrated,
            "temperature": {str(data.split.test): temperature},
            "temperature_fitted_on_validation": fitted,
            "validation_scores": validation,
            **details,
        },
    )
    record.save(out_dir / RESULTS_FILE)
    atomic_write_text(out_dir / SUMMARY_FILE, f"# {method}, test fold {data.split.test}\n\n{summary_table(metrics)}\n")
    return FoldResult(record, temperature)


def dataset_info(dataset_dir: Path, config: str, revision: str | None = None) -> dict[str, str]:
    """The ``dataset`` entry of a results record: folder, label config and revision (default: the current one)."""
    return {"path": str(dataset_dir), "config": config, "revision": revision or dataset_revision(dataset_dir)}


def evaluate_model(
    model: FaciesCNN,
    dataset_dir: str | Path,
    test_fold: int,
    out_dir: str | Path,
    *,
    dataset_config: str = "pruned",
    calibrate: bool = False,
    method: str = "cnn",
    n_bootstrap: int = 1000,
    progress: bool = True,
    compile: bool = False,
    device: str = "auto",
) -> FoldResult:
    """Evaluate a trained (or converted) model on test fold ``test_fold`` like a training run does.
    ``compile``: run the network through ``torch.compile`` (faster on large folds); ``device``: where it runs
    (:func:`~modeling.training.device.resolve_device`; never autocast).

    The model's own temperature is used, or with ``calibrate`` a new one is fitted on the validation fold
    (t-1, ``dataset_config`` labels) and the calibrated model is saved to ``out_dir/model``.
    Patches are centre-cropped to ``model.config.patch_size``.
    """
    out_dir = Path(out_dir)
    target = resolve_device(device)
    data = load_fold(
        dataset_dir, test_fold, dataset_config=dataset_config, bands=model.config.bands, class_scene_weights=False
    )
    raw = FaciesCNN(model.config.replace(calibration=None))
    raw.load_weights(model.state_dict(), source="the model")
    raw.to(target).eval()
    own = model.config.calibration["temperature"] if model.config.calibration else 1.0
    val_proba = predict_view(raw, data.validation, progress=progress, desc="validation", compile=compile)
    test_proba = predict_view(raw, data.test, progress=progress, desc="test", compile=compile)
    details = {"method": method, "dataset_config": dataset_config, "model_training": model.config.training}
    result = finish_fold(
        out_dir,
        data,
        method,
        val_proba,
        test_proba,
        temperature=None if calibrate else own,
        seed=0,
        details=details,
        n_bootstrap=n_bootstrap,
    )
    if calibrate:
        calibrated = FaciesCNN(model.config.replace(calibration={"temperature": result.temperature}))
        calibrated.load_weights(model.state_dict(), source="the model")
        calibrated.save_pretrained(out_dir / MODEL_DIR)
    return result
