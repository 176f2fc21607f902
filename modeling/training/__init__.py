"""Training and cross-validating FaciesCNN with the published recipe, and the gradient-boosted baseline.

Protocol (``dataset_builder.schema.cv_split``): test fold t, validation fold t-1, the other four train; the
inputs are normalised with the training folds' per-band min/max.

Recipe (``TrainConfig()`` defaults, from the study): focal loss (gamma 2) with label smoothing 0.1, sample
weights (N / N_class) * (N / N_scene), augmentation by random flips and rot90, contrast x[0.95, 1.05] and
brightness +-0.01, Adam with a cosine decay from 1e-3 to 0 over all steps, batch 512, 1000 epochs, the epoch
with the best validation mean IoU kept. ``TrainConfig.demo()`` is the short profile.

Modules, each importing only those above it:

- ``config``: :class:`TrainConfig` (JSON round trip) and the named ``PROFILES``.
- ``device``: ``--device auto|cpu|cuda``, the process-group backend, and a GPU's bf16 autocast, channels-last
  memory and pinned, non-blocking copies.
- ``distributed``: the ``torchrun`` process group, per-rank reductions, BatchNorm pooled over ranks.
- ``recipe``: sample weights, focal loss, augmentation, learning-rate schedule, seeded epoch batches.
- ``data``: one fold's split views, weights and statistics (:func:`load_fold`), centre crops, network inputs.
- ``checkpoints``: resumable safetensors + JSON checkpoints of a fold's training.
- ``trainer``: the training loop of one fold (:class:`Trainer`), ``log.csv`` and the training curves.
- ``folds``: finishing a fold (calibration, test predictions, ``results.json``) and :func:`evaluate_model`.
- ``cnn``: :func:`train_fold`, FaciesCNN on one fold, with its model folder and card.
- ``baseline``: :func:`train_baseline_fold`, gradient-boosted trees on one fold.
- ``cross_validation``: :func:`cross_validate` over the folds, with the table of fold trainers per options type.
- ``two_rounds``: :func:`run_two_rounds`, the published train, prune and retrain protocol.
"""

from modeling.training.baseline import BaselineConfig, feature_names, patch_features, train_baseline_fold
from modeling.training.cnn import train_fold
from modeling.training.config import PROFILES, TrainConfig
from modeling.training.cross_validation import FOLD_TRAINERS, OOF_PREDICTIONS, cross_validate
from modeling.training.data import FoldData, centre_crop, load_fold, model_config, model_inputs, raw_inputs
from modeling.training.device import DEVICES, resolve_device
from modeling.training.distributed import Runtime, init_runtime
from modeling.training.folds import RESULTS_FILE, SUMMARY_FILE, FoldResult, evaluate_model, finish_fold, predict_view
from modeling.training.recipe import Augmentation, epoch_batches, focal_loss, sample_weights
from modeling.training.trainer import Trainer
from modeling.training.two_rounds import TwoRoundResult, run_two_rounds

__all__ = [
    "Augmentation",
    "BaselineConfig",
    "DEVICES",
    "FOLD_TRAINERS",
    "FoldData",
    "FoldResult",
    "OOF_PREDICTIONS",
    "PROFILES",
    "RESULTS_FILE",
    "Runtime",
    "SUMMARY_FILE",
    "TrainConfig",
    "Trainer",
    "TwoRoundResult",
    "centre_crop",
    "cross_validate",
    "epoch_batches",
    "evaluate_model",
    "feature_names",
    "finish_fold",
    "focal_loss",
    "init_runtime",
    "load_fold",
    "model_config",
    "model_inputs",
    "patch_features",
    "predict_view",
    "raw_inputs",
    "resolve_device",
    "run_two_rounds",
    "sample_weights",
    "train_baseline_fold",
    "train_fold",
]
