"""Training FaciesCNN with the published recipe, per cross-validation fold and over all six folds.

Protocol (``dataset_builder.schema.cv_split``): test fold t, validation fold t-1, the other four train.
Normalisation is the per-band min/max of the training folds only (``DatasetStatistics.for_splits``).

Recipe (``TrainConfig()`` defaults, from the study): focal loss (gamma 2) with label smoothing 0.1,
sample weights (N / N_class) * (N / N_scene) (scene = glacier and date; rescaled to mean 1, which leaves
Adam's updates unchanged up to its epsilon), augmentation by random flips and rot90, contrast x[0.95, 1.05]
around each patch's band means and brightness +-0.01 (normalised units, no clipping), Adam with a cosine
decay from 1e-3 to 0 over all steps, batch 512, 1000 epochs, the epoch with the best validation mean IoU
kept. ``TrainConfig.demo()`` is the short profile (see its docstring).

Outputs of :func:`train_fold` in ``out_dir``: ``model/`` (``FaciesCNN.from_pretrained`` folder: weights,
config with normalisation and calibration, card with validation and test scores), ``log.csv`` (per epoch) and
``training_curves.png``, ``predictions_test.parquet`` (every row of the test fold's ``full``
config, calibrated probabilities), ``results.json`` (:class:`modeling.evaluation.metrics.ResultsRecord`),
confusion-matrix and reliability PNGs, and ``checkpoint/`` (safetensors + JSON; resumable).

Distributed: under ``torchrun`` every rank trains on its share (rows ``r::world``) of each global batch and
evaluates its share of the validation fold; gradients are averaged by DistributedDataParallel and
BatchNorm statistics pooled over ranks (``nn.SyncBatchNorm`` on GPUs, :class:`PooledBatchNorm2d` on the
CPU), so the model matches a one-process run up to floating-point reduction order (dropout masks are
drawn per rank). Rank 0 writes every file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from huggingface_hub import EvalResult
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from dataset_builder.atomic import atomic_path, atomic_write_text
from dataset_builder.loading import CONFIGS, TorchPatches, dataset_bands, load_cv_split, load_facies
from dataset_builder.predictions import Predictions, read_predictions, write_predictions
from dataset_builder.schema import NUM_CLASSES, PATCH_SIZE, SPLIT_NAMES, CVSplit, check_bands, cv_split
from dataset_builder.statistics import DatasetStatistics
from modeling.errors import CheckpointError
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
    plot_training_curves,
    summary_table,
)
from modeling.network import FaciesCNN, FaciesCNNConfig, JsonOptions, normalize

CHECKPOINT_DIR = "checkpoint"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"
MODEL_DIR = "model"
LOG_FILE = "log.csv"
CURVES_FILE = "training_curves.png"
TEST_PREDICTIONS = "predictions_test.parquet"
OOF_PREDICTIONS = "oof_predictions.parquet"
RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.md"
LOG_COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "val_macro_f1",
    "val_mean_iou",
    "seconds",
    "train_samples_per_s",
)
#: Architecture fields of ``FaciesCNNConfig`` that ``TrainConfig.model`` may override.
ARCHITECTURE_FIELDS = ("filters", "depths", "dense_units", "dropout", "pool_size")


# -- configuration ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig(JsonOptions):
    """How to train one fold; the defaults are the published recipe.

    Attributes:
        dataset_config: labels to train and validate on, ``pruned`` or ``full``.
        epochs: training epochs (the study: 1000).
        batch_size: global batch size, summed over ranks.
        learning_rate: initial Adam learning rate; cosine decay to 0 over all steps.
        focal_gamma: focusing parameter of the focal loss.
        label_smoothing: label smoothing of the focal loss targets.
        class_scene_weights: weight samples by (N / N_class) * (N / N_scene).
        augment: random flips, rot90, contrast and brightness.
        contrast: range of the contrast factor.
        brightness: half-width of the additive brightness shift (normalised units).
        bands: input bands (default: every band the dataset holds).
        crop: side of the centre crop fed to the network (default: the whole 33-pixel patch).
        samples_per_epoch: random training samples per epoch (default: all, each once).
        seed: seeds initialisation, sampling, augmentation and dropout.
        calibrate: fit temperature scaling on the validation fold.
        eval_batch_size: patches per forward pass in evaluation.
        bn_recalibration: before each validation, re-estimate the BatchNorm running statistics as plain
            averages over this many (unaugmented) training samples ("precise BN"; 0: off, as published).
            Keras' BN momentum (0.99) suits 1000 epochs; in a short run the running statistics lag the
            weights and evaluation-mode scores suffer.
        cache_gb: keep the normalised training and validation inputs in memory when they fit in this
            many GB per rank (else they are read from the Arrow files per batch).
        threads: torch CPU threads (default: torch's, or cores / local ranks under torchrun).
        model: overrides of architecture fields (``ARCHITECTURE_FIELDS``) of ``FaciesCNNConfig``.
    """

    OPTION_KIND = "training option"

    dataset_config: str = "pruned"
    epochs: int = 1000
    batch_size: int = 512
    learning_rate: float = 1e-3
    focal_gamma: float = 2.0
    label_smoothing: float = 0.1
    class_scene_weights: bool = True
    augment: bool = True
    contrast: tuple[float, float] = (0.95, 1.05)
    brightness: float = 0.01
    bands: tuple[str, ...] | None = None
    crop: int | None = None
    samples_per_epoch: int | None = None
    seed: int = 0
    calibrate: bool = True
    eval_batch_size: int = 1024
    bn_recalibration: int = 0
    cache_gb: float = 4.0
    threads: int | None = None
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dataset_config not in CONFIGS:
            raise ValueError(f"dataset_config must be one of {CONFIGS}, got {self.dataset_config!r}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.crop is not None:
            pool = int(self.model.get("pool_size", FaciesCNNConfig.pool_size))
            if not 3 <= self.crop <= PATCH_SIZE or self.crop % 2 == 0 or self.crop % pool:
                raise ValueError(
                    f"crop must be an odd multiple of the pool size {pool} between 3 and {PATCH_SIZE} pixels "
                    f"(so that whole-scene mapping can serve the model), got {self.crop}"
                )
        if self.samples_per_epoch is not None and self.samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be positive, got {self.samples_per_epoch}")
        if not self.learning_rate > 0 or self.focal_gamma < 0 or not 0 <= self.label_smoothing < 1:
            raise ValueError("learning_rate must be > 0, focal_gamma >= 0 and label_smoothing in [0, 1)")
        lo, hi = self.contrast
        if not 0 < lo <= hi or self.brightness < 0:
            raise ValueError(
                f"contrast must be 0 < low <= high and brightness >= 0, got {self.contrast}, {self.brightness}"
            )
        unknown = sorted(set(self.model) - set(ARCHITECTURE_FIELDS))
        if unknown:
            raise ValueError(f"model overrides {unknown} are not architecture fields {list(ARCHITECTURE_FIELDS)}")
        object.__setattr__(self, "contrast", (float(lo), float(hi)))
        if self.bands is not None:
            object.__setattr__(self, "bands", check_bands(self.bands))

    @classmethod
    def demo(cls, **changes: Any) -> "TrainConfig":
        """The short profile: six folds of the default synthetic benchmark in a few minutes on 2 CPU cores.

        Same loss, weights, augmentation, optimiser (Adam from 1e-3, cosine decay), schedule and best-epoch
        selection as the recipe, with: a 9 x 9 centre crop (the network is fully convolutional; ~13x fewer
        FLOPs than 33 x 33), 45 epochs of at most 4,096 random training samples, batch 128, no dropout
        (0.5 in the recipe, which suits 1000 epochs of 100k labels), and BatchNorm statistics re-estimated
        on 1,024 training samples before each validation. Pooled out-of-fold macro-F1 on the full labels of
        the default benchmark (2,376 labels), training on them: 0.678 with this profile; 0.663 with dropout
        0.2; 0.52 with dropout 0.5; 0.60 with learning rate 3e-3 (the network then stops fitting its
        training folds), whether for 10 or 40 epochs.
        """
        base = dict(
            epochs=45,
            batch_size=128,
            learning_rate=1e-3,
            crop=9,
            samples_per_epoch=4096,
            bn_recalibration=1024,
            model={"dropout": 0.0},
        )
        return cls(**(base | changes))


PROFILES: dict[str, Callable[[], TrainConfig]] = {"published": TrainConfig, "demo": TrainConfig.demo}


# -- distributed helpers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    """Where this process trains: its rank among ``world`` processes and its device."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_runtime(threads: int | None = None) -> Runtime:
    """Join the process group when started by ``torchrun`` (NCCL with GPUs, else gloo) and pick the device.

    Sets torch's CPU threads to ``threads``, or under torchrun on the CPU to the cores per local rank.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    if threads is None and world > 1 and not cuda:
        threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    if threads:
        torch.set_num_threads(threads)
    return Runtime(rank, world, torch.device("cuda", local_rank) if cuda else torch.device("cpu"))


def _all_sum(values: np.ndarray, runtime: Runtime) -> np.ndarray:
    """Element-wise sum of a float64 array over ranks."""
    if not runtime.distributed:
        return values
    tensor = torch.as_tensor(
        values, dtype=torch.float64, device=runtime.device if runtime.device.type == "cuda" else "cpu"
    )
    dist.all_reduce(tensor)
    return tensor.cpu().numpy()


def _barrier(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.barrier()


class PooledBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode batch statistics are pooled over all ranks (any backend, e.g. gloo).

    ``nn.SyncBatchNorm`` runs on GPUs only; this one sums per-channel counts, sums and squared sums with a
    differentiable all-reduce (in float64). Evaluation mode is plain BatchNorm2d; state dict keys are the same.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        c = x.shape[1]
        x64 = x.double()
        count = torch.tensor([x.shape[0] * x.shape[2] * x.shape[3]], dtype=torch.float64, device=x.device)
        stats = all_reduce(torch.cat([x64.sum(dim=(0, 2, 3)), (x64 * x64).sum(dim=(0, 2, 3)), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.running_mean.mul_(1 - factor).add_(factor * mean.to(x.dtype))
            self.running_var.mul_(1 - factor).add_(factor * (var * n / max(float(n) - 1, 1.0)).to(x.dtype))
        scale = (self.weight.double() / torch.sqrt(var + self.eps)).to(x.dtype)
        shift = (self.bias.double() - mean * self.weight.double() / torch.sqrt(var + self.eps)).to(x.dtype)
        return x * scale[None, :, None, None] + shift[None, :, None, None]


def pool_batchnorm(model: nn.Module, runtime: Runtime) -> nn.Module:
    """Make every BatchNorm2d of ``model`` pool its statistics over ranks (in place; returns the model)."""
    if not runtime.distributed:
        return model
    if runtime.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = PooledBatchNorm2d  # same parameters and buffers, pooled forward
    return model


# -- data ---------------------------------------------------------------------------------------------------------


def sample_weights(labels: np.ndarray, scenes: np.ndarray) -> np.ndarray:
    """(N / N_class) * (N / N_scene) per sample, rescaled to mean 1; float32 (N,)."""
    labels, scenes = np.asarray(labels), np.asarray(scenes).astype(str)
    n = len(labels)
    _, label_index, label_counts = np.unique(labels, return_inverse=True, return_counts=True)
    _, scene_index, scene_counts = np.unique(scenes, return_inverse=True, return_counts=True)
    weights = (n / label_counts[label_index]) * (n / scene_counts[scene_index])
    return (weights / weights.mean()).astype(np.float32)


def centre_crop(patches: np.ndarray, size: int) -> np.ndarray:
    """The centre ``size`` x ``size`` window of patches (N, bands, H, W), keeping the centre pixel (H//2, W//2)."""
    h, w = patches.shape[2:]
    if size > min(h, w):
        raise ValueError(f"crop {size} is larger than the patches ({h} x {w})")
    top, left = h // 2 - size // 2, w // 2 - size // 2
    return patches[:, :, top : top + size, left : left + size]


def raw_inputs(view: TorchPatches, indices: np.ndarray, config: FaciesCNNConfig) -> np.ndarray:
    """Raw patches at ``indices``, centre-cropped to ``config.patch_size``; non-finite pixels set to the
    band's normalisation minimum (0 after normalisation). float32 (N, bands, size, size)."""
    patches = centre_crop(view.patches(indices), config.patch_size)
    bad = ~np.isfinite(patches)
    if bad.any():
        lo = np.asarray(config.normalization["min"], dtype=np.float32)[None, :, None, None]
        patches = np.where(bad, lo, patches)
    return patches


def model_inputs(view: TorchPatches, indices: np.ndarray, config: FaciesCNNConfig) -> np.ndarray:
    """Normalised network inputs at ``indices``: float32 (N, bands, size, size)."""
    return normalize(raw_inputs(view, indices, config), config)


class SplitInputs:
    """Normalised inputs and labels of one split (or this rank's rows of it), in memory or read per batch."""

    def __init__(self, view: TorchPatches, config: FaciesCNNConfig, rows: np.ndarray, cache: bool, chunk: int = 2048):
        self.view, self.config, self.rows = view, config, np.asarray(rows, dtype=np.int64)
        self.labels = view.labels.numpy()[self.rows]
        self._cache = None
        if cache:
            self._cache = np.concatenate(
                [np.zeros((0, config.num_bands, config.patch_size, config.patch_size), np.float32)]
                + [model_inputs(view, self.rows[i : i + chunk], config) for i in range(0, len(self.rows), chunk)]
            )

    def __len__(self) -> int:
        return len(self.rows)

    def inputs(self, positions: np.ndarray) -> np.ndarray:
        """Normalised inputs of the split's rows at ``positions`` (indices into ``rows``)."""
        if self._cache is not None:
            return self._cache[positions]
        return model_inputs(self.view, self.rows[positions], self.config)


def input_bytes(rows: int, config: FaciesCNNConfig) -> int:
    """Bytes of ``rows`` normalised float32 inputs of the config's shape."""
    return 4 * rows * config.num_bands * config.patch_size**2


@dataclass
class FoldData:
    """The data of one cross-validation fold: views of the splits, sample weights, training statistics.

    Attributes:
        split: the fold's protocol (test, validation, train folds).
        bands: the bands the views return.
        train, validation: the ``dataset_config`` rows of the training and validation folds.
        test: every row of the test fold (``full`` config), predicted for evaluation and pruning.
        test_ids: (N_test,) sample ids of ``test``.
        weights: (N_train,) float32 sample weights (all 1 without class/scene weighting).
        statistics: band statistics of the training folds only (the normalisation source).
    """

    dataset_dir: Path
    dataset_config: str
    split: CVSplit
    bands: tuple[str, ...]
    train: TorchPatches
    validation: TorchPatches
    test: TorchPatches
    test_ids: np.ndarray
    weights: np.ndarray
    statistics: DatasetStatistics


def load_fold(
    dataset_dir: str | Path,
    test_fold: int,
    *,
    dataset_config: str = "pruned",
    bands: Sequence[str] | None = None,
    class_scene_weights: bool = True,
) -> FoldData:
    """Views of the fold's splits (``bands``, default all the dataset holds) and the training folds' statistics."""
    dataset_dir = Path(dataset_dir)
    split = cv_split(test_fold)
    held = dataset_bands(dataset_dir)
    bands = check_bands(bands) if bands else held
    parts = load_cv_split(dataset_dir, split.test, dataset_config)
    test = load_facies(dataset_dir, "full")[SPLIT_NAMES[split.test]]
    meta = parts["train"].select_columns(["label", "scene"]).data
    labels = meta.column("label").to_numpy()
    weights = (
        sample_weights(labels, np.asarray(meta.column("scene").to_pylist()))
        if class_scene_weights
        else np.ones(len(labels), np.float32)
    )
    return FoldData(
        dataset_dir=dataset_dir,
        dataset_config=dataset_config,
        split=split,
        bands=bands,
        train=TorchPatches(parts["train"], bands, dataset_bands=held),
        validation=TorchPatches(parts["validation"], bands, dataset_bands=held),
        test=TorchPatches(test, bands, dataset_bands=held),
        test_ids=np.asarray(test.select_columns(["sample_id"]).data.column("sample_id").to_pylist(), dtype=object),
        weights=weights,
        statistics=DatasetStatistics.load(dataset_dir).for_splits(split.split_names["train"]),
    )


def model_config(data: FoldData, config: TrainConfig) -> FaciesCNNConfig:
    """The network's config for a fold: bands, crop size, architecture overrides, training-fold min/max."""
    return FaciesCNNConfig(bands=data.bands, patch_size=config.crop or PATCH_SIZE, **config.model).with_statistics(
        data.statistics
    )


# -- loss, augmentation, schedule --------------------------------------------------------------------------------


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, label_smoothing: float = 0.1
) -> torch.Tensor:
    """Per-sample categorical focal loss (N,) of logits (N, K) against label codes (N,), with label smoothing:
    ``-sum_k q_k (1 - p_k)^gamma log p_k``, q = (1 - s) one_hot + s / K (as Keras' CategoricalFocalCrossentropy, alpha 1)."""
    log_p = F.log_softmax(logits.float(), dim=1)
    k = logits.shape[1]
    q = F.one_hot(target, k).to(log_p.dtype) * (1 - label_smoothing) + label_smoothing / k
    return -(q * (1 - log_p.exp()).pow(gamma) * log_p).sum(dim=1)


@dataclass(frozen=True)
class Augmentation:
    """Per-sample augmentation draws for one global batch: dihedral op (0-7), contrast factor, brightness shift."""

    dihedral: np.ndarray
    contrast: np.ndarray
    brightness: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, config: TrainConfig) -> "Augmentation":
        return cls(
            rng.integers(0, 8, n),
            rng.uniform(*config.contrast, n).astype(np.float32),
            rng.uniform(-config.brightness, config.brightness, n).astype(np.float32),
        )

    def take(self, positions: np.ndarray) -> "Augmentation":
        return Augmentation(self.dihedral[positions], self.contrast[positions], self.brightness[positions])

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a batch (N, C, H, W) of square patches (a new tensor)."""
        out = torch.empty_like(x)
        for op in np.unique(self.dihedral):
            m = torch.from_numpy(np.flatnonzero(self.dihedral == op)).to(x.device)
            part = x[m].flip(-1) if op >= 4 else x[m]
            out[m] = torch.rot90(part, int(op % 4), dims=(2, 3))
        mean = out.mean(dim=(2, 3), keepdim=True)
        factor = torch.from_numpy(self.contrast).to(x.device)[:, None, None, None]
        shift = torch.from_numpy(self.brightness).to(x.device)[:, None, None, None]
        return (out - mean) * factor + mean + shift


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine decay from ``base`` at step 0 to 0 at step ``total``."""
    return base * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def epoch_batches(n: int, config: TrainConfig, epoch: int, world: int = 1) -> list[np.ndarray]:
    """Global batches (indices into the training rows) of an epoch, the same on every rank.

    A seeded permutation per epoch, its first ``samples_per_epoch`` entries, cut into ``batch_size``
    pieces; a last piece smaller than ``world`` is dropped (every rank needs a sample).
    """
    order = np.random.default_rng([config.seed, epoch]).permutation(n)[: config.samples_per_epoch or n]
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    return [b for b in batches if len(b) >= world]


def steps_per_epoch(n: int, config: TrainConfig, world: int = 1) -> int:
    return len(epoch_batches(n, config, 0, world))


def _epoch_seed(config: TrainConfig, epoch: int, rank: int) -> int:
    return int(np.random.SeedSequence([config.seed, epoch, rank]).generate_state(1)[0])


# -- the trainer ---------------------------------------------------------------------------------------------------


@dataclass
class TrainState:
    """What a checkpoint holds besides tensors: progress, the best epoch and the per-epoch log."""

    epoch: int = 0  # epochs completed
    step: int = 0
    best_epoch: int = 0
    best_score: float = -1.0
    history: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    """The training loop of one fold on this rank: batches, augmentation, steps, validation, checkpoints.

    Args:
        data: the fold (see :func:`load_fold`).
        config: the training options.
        runtime: rank, world size and device (see :func:`init_runtime`).
    """

    def __init__(self, data: FoldData, config: TrainConfig, runtime: Runtime = Runtime()):
        self.data, self.config, self.runtime = data, config, runtime
        self.model_config = mc = model_config(data, config)
        cache = input_bytes(len(data.train) + len(data.validation), mc) <= config.cache_gb * 1e9
        self.train_inputs = SplitInputs(data.train, mc, np.arange(len(data.train)), cache)
        # the validation fold is sharded: each rank evaluates its rows
        self.val_inputs = SplitInputs(
            data.validation, mc, np.arange(runtime.rank, len(data.validation), runtime.world), cache
        )
        torch.manual_seed(config.seed)
        self.model = FaciesCNN(mc).to(runtime.device)
        pool_batchnorm(self.model, runtime)
        self.network: nn.Module = self.model
        if runtime.distributed:
            ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            self.network = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.total_steps = config.epochs * steps_per_epoch(len(data.train), config, runtime.world)
        self.state = TrainState()
        self.best_weights = self._weights()

    def _weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    # one step and one epoch

    def step(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, global_batch: int) -> float:
        """One optimiser step on this rank's samples of a global batch; returns the weighted loss sum (local)."""
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(self.config.learning_rate, self.state.step, self.total_steps)
        self.network.train()
        losses = focal_loss(self.network(x), y, self.config.focal_gamma, self.config.label_smoothing)
        total = (losses * w).sum()
        # DDP averages gradients over ranks; scaling by world / global batch makes that the global weighted mean
        (total * (self.runtime.world / global_batch)).backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        return float(total.detach())

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]]:
        """This rank's (inputs, labels, weights, global batch size) per step of ``epoch``; augmented."""
        rt, device = self.runtime, self.runtime.device
        for k, batch in enumerate(epoch_batches(len(self.train_inputs), self.config, epoch, rt.world)):
            mine = np.arange(rt.rank, len(batch), rt.world)
            local = batch[mine]
            x = torch.from_numpy(self.train_inputs.inputs(local))
            if self.config.augment:
                rng = np.random.default_rng([self.config.seed, epoch, k])
                x = Augmentation.draw(rng, len(batch), self.config).take(mine).apply(x)
            y = torch.from_numpy(self.train_inputs.labels[local])
            w = torch.from_numpy(self.data.weights[local])
            yield x.to(device), y.to(device), w.to(device), len(batch)

    def train_epoch(self, epoch: int, bar: tqdm | None = None) -> tuple[float, int]:
        """Train one epoch; returns (mean weighted loss over all ranks' samples, samples seen by all ranks)."""
        torch.manual_seed(_epoch_seed(self.config, epoch, self.runtime.rank))  # dropout
        loss_sum, seen = 0.0, 0
        for x, y, w, n in self.batches(epoch):
            loss_sum += self.step(x, y, w, n)
            seen += len(x)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.4f}", refresh=False)
        loss_sum, seen = _all_sum(np.array([loss_sum, seen], dtype=np.float64), self.runtime)
        return float(loss_sum / max(seen, 1)), int(seen)

    @torch.no_grad()
    def recalibrate_batchnorm(self, epoch: int) -> None:
        """Set every BatchNorm's running statistics to the average over ``bn_recalibration`` training samples
        (train-mode forward passes in the training batch size, pooled over ranks, no augmentation)."""
        config = dataclasses.replace(
            self.config, samples_per_epoch=self.config.bn_recalibration, seed=self.config.seed + 1
        )
        norms = [m for m in self.model.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.model.train()
        for batch in epoch_batches(len(self.train_inputs), config, epoch, self.runtime.world):
            local = batch[self.runtime.rank :: self.runtime.world]
            self.model(torch.from_numpy(self.train_inputs.inputs(local)).to(self.runtime.device))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss (unweighted focal loss), accuracy, macro-F1 and mean IoU, over all ranks."""
        self.model.eval()
        cm = np.zeros((NUM_CLASSES, NUM_CLASSES))
        loss = 0.0
        step = self.config.eval_batch_size
        for start in range(0, len(self.val_inputs), step):
            positions = np.arange(start, min(start + step, len(self.val_inputs)))
            x = torch.from_numpy(self.val_inputs.inputs(positions)).to(self.runtime.device)
            y = torch.from_numpy(self.val_inputs.labels[positions]).to(self.runtime.device)
            logits = self.model(x)
            loss += float(focal_loss(logits, y, self.config.focal_gamma, self.config.label_smoothing).sum())
            pred = logits.argmax(dim=1).cpu().numpy()
            np.add.at(cm, (self.val_inputs.labels[positions], pred), 1)
        totals = _all_sum(np.concatenate([[loss], cm.ravel()]), self.runtime)
        cm = totals[1:].reshape(NUM_CLASSES, NUM_CLASSES)
        m = metrics_from_confusion(cm)
        return {
            "val_loss": float(totals[0] / max(cm.sum(), 1)),
            "val_accuracy": float(m["accuracy"]),
            "val_macro_f1": float(m["macro_f1"]),
            "val_mean_iou": float(m["mean_iou"]),
        }

    def fit(
        self,
        checkpoint_dir: Path | None = None,
        *,
        progress: bool = True,
        on_epoch_end: Callable[[dict[str, float]], None] | None = None,
        log_dir: Path | None = None,
    ) -> TrainState:
        """Train the remaining epochs; after each, validate, keep the best weights and (rank 0) write the
        checkpoint and ``log.csv`` to ``log_dir``; at the end, ``training_curves.png``."""
        steps = steps_per_epoch(len(self.train_inputs), self.config, self.runtime.world)
        show = progress and self.runtime.is_main
        for epoch in range(self.state.epoch + 1, self.config.epochs + 1):
            started = time.perf_counter()
            fold = self.data.split.test
            with tqdm(
                total=steps, desc=f"fold {fold} epoch {epoch}/{self.config.epochs}", unit="step", disable=not show
            ) as bar:
                train_loss, seen = self.train_epoch(epoch, bar)
                train_seconds = time.perf_counter() - started
                if self.config.bn_recalibration:
                    self.recalibrate_batchnorm(epoch)
                scores = self.validate()
                bar.set_postfix(
                    loss=f"{train_loss:.4f}",
                    val_miou=f"{scores['val_mean_iou']:.4f}",
                    val_f1=f"{scores['val_macro_f1']:.4f}",
                )
            row = {
                "epoch": epoch,
                "lr": self.optimizer.param_groups[0]["lr"],
                "train_loss": train_loss,
                **scores,
                "seconds": time.perf_counter() - started,
                "train_samples_per_s": seen / train_seconds,
            }
            self.state.epoch = epoch
            self.state.history.append(row)
            if scores["val_mean_iou"] > self.state.best_score:
                self.state.best_score, self.state.best_epoch = scores["val_mean_iou"], epoch
                self.best_weights = self._weights()
            if self.runtime.is_main:
                if checkpoint_dir is not None:
                    save_checkpoint(checkpoint_dir, self)
                if log_dir is not None:
                    write_log(log_dir, self.state.history)
            _barrier(self.runtime)
            if on_epoch_end is not None:
                on_epoch_end(row)
        if log_dir is not None and self.runtime.is_main and self.state.history:
            plot_training_curves(self.state.history, log_dir / CURVES_FILE, title=f"test fold {self.data.split.test}")
        return self.state

    def best_model(self) -> FaciesCNN:
        """A plain (BatchNorm2d, CPU) FaciesCNN with the best epoch's weights, in eval mode."""
        model = FaciesCNN(self.model_config)
        model.load_weights(self.best_weights, source="the best epoch")
        return model.eval()


# -- checkpoints and logs ----------------------------------------------------------------------------------------------


def save_checkpoint(directory: Path, trainer: Trainer) -> None:
    """Write ``state.safetensors`` (model, best model, Adam state) and then ``state.json``, each atomically.

    The JSON is written last and names the epoch the tensors belong to, so a crash between the two
    leaves a checkpoint that :func:`load_checkpoint` rejects rather than a mixed one.
    """
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()}
    tensors |= {f"best.{k}": v.contiguous() for k, v in trainer.best_weights.items()}
    optim = trainer.optimizer.state_dict()
    for index, slots in optim["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / STATE_TENSORS) as tmp:
        save_file(tensors, str(tmp), metadata={"epoch": str(trainer.state.epoch)})
    meta = {
        "train_config": trainer.config.to_dict(),
        "world": trainer.runtime.world,
        "param_groups": optim["param_groups"],
        **dataclasses.asdict(trainer.state),
    }
    atomic_write_text(directory / STATE_JSON, json.dumps(meta, indent=1) + "\n")


def load_checkpoint(directory: Path, trainer: Trainer) -> bool:
    """Restore ``trainer`` from ``directory``; False when there is no checkpoint.

    Raises:
        CheckpointError: the checkpoint belongs to other training options or its files do not match.
    """
    meta_path, tensor_path = directory / STATE_JSON, directory / STATE_TENSORS
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    if meta["train_config"] != trainer.config.to_dict():
        changed = sorted(k for k in meta["train_config"] if meta["train_config"][k] != trainer.config.to_dict().get(k))
        raise CheckpointError(
            f"{directory}: checkpoint of other training options (differ: {changed}); start afresh without resume"
        )
    if meta["world"] != trainer.runtime.world:
        raise CheckpointError(
            f"{directory}: checkpoint of {meta['world']} process(es), this run has {trainer.runtime.world}"
        )
    with safe_open(str(tensor_path), "pt") as fh:
        if (fh.metadata() or {}).get("epoch") != str(meta["epoch"]):
            raise CheckpointError(f"{tensor_path}: tensors do not belong to epoch {meta['epoch']} of {meta_path.name}")
    tensors = load_file(str(tensor_path))
    trainer.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    trainer.best_weights = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    trainer.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    trainer.state = TrainState(**{k: meta[k] for k in ("epoch", "step", "best_epoch", "best_score", "history")})
    return True


def write_log(directory: Path, history: Sequence[Mapping[str, float]]) -> None:
    """``log.csv``: one row per epoch, ``LOG_COLUMNS``."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row[k] for k in LOG_COLUMNS} for row in history)
    atomic_write_text(directory / LOG_FILE, text.getvalue())


# -- predicting and finishing a fold ---------------------------------------------------------------------------------


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
    ``compile``: see :func:`modeling.network.predict.predict_proba`."""
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
        dataset=_dataset_info(data.dataset_dir, data.dataset_config),
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


def _dataset_info(dataset_dir: Path, config: str) -> dict[str, str]:
    return {"path": str(dataset_dir), "config": config, "revision": dataset_revision(dataset_dir)}


def card_eval_results(record: ResultsRecord, validation: Mapping[str, float]) -> list[EvalResult]:
    """Hub ``EvalResult`` entries of a fold: validation scores and test scores on each label config."""
    ds = record.dataset
    fold = record.folds[0]
    val_fold = record.details["split"]["validation"]

    def entry(split: str, config: str, metric: str, value: float, name: str) -> EvalResult:
        return EvalResult(
            task_type="image-classification",
            dataset_type="glacier-facies",
            dataset_name="glacier-facies",
            dataset_config=config,
            dataset_split=split,
            dataset_revision=ds["revision"],
            metric_type=metric,
            metric_value=round(float(value), 4),
            metric_name=name,
        )

    out = [
        entry(
            SPLIT_NAMES[val_fold], ds["config"], "f1", validation["val_macro_f1"], "validation macro-F1 (best epoch)"
        ),
        entry(
            SPLIT_NAMES[val_fold],
            ds["config"],
            "mean_iou",
            validation["val_mean_iou"],
            "validation mean IoU (best epoch)",
        ),
    ]
    for config, m in record.metrics.items():
        out += [
            entry(SPLIT_NAMES[fold], config, "f1", m["macro_f1"], f"test macro-F1 ({config} labels)"),
            entry(SPLIT_NAMES[fold], config, "accuracy", m["accuracy"], f"test overall accuracy ({config} labels)"),
            entry(SPLIT_NAMES[fold], config, "mean_iou", m["mean_iou"], f"test mean IoU ({config} labels)"),
        ]
    return out


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
        _barrier(runtime)
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
    revision = result.record.dataset["revision"]
    calibration = {"temperature": result.temperature} if config.calibrate else None
    final = FaciesCNN(
        model.config.replace(
            calibration=calibration,
            training=training,
            provenance={"trained_with": "glacier-facies modeling.training.core", "dataset_revision": revision},
        )
    )
    final.load_weights(model.state_dict(), source="the best epoch")
    final.save_pretrained(
        out_dir / MODEL_DIR,
        model_card_kwargs={"eval_results": card_eval_results(result.record, best)},
    )
    _barrier(runtime)
    return result


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
) -> FoldResult:
    """Evaluate a trained (or converted) model on test fold ``test_fold`` like a training run does.
    ``compile``: run the network through ``torch.compile`` (faster on large folds).

    The model's own temperature is used, or with ``calibrate`` a new one is fitted on the validation fold
    (t-1, ``dataset_config`` labels) and the calibrated model is saved to ``out_dir/model``.
    Patches are centre-cropped to ``model.config.patch_size``.
    """
    out_dir = Path(out_dir)
    data = load_fold(
        dataset_dir, test_fold, dataset_config=dataset_config, bands=model.config.bands, class_scene_weights=False
    )
    raw = FaciesCNN(model.config.replace(calibration=None))
    raw.load_weights(model.state_dict(), source="the model")
    raw.eval()
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


# -- cross-validation ------------------------------------------------------------------------------------------------


def cross_validate(
    dataset_dir: str | Path,
    config: Any,
    out_dir: str | Path,
    *,
    folds: Sequence[int] = tuple(range(len(SPLIT_NAMES))),
    resume: bool = False,
    progress: bool = True,
    n_bootstrap: int = 1000,
) -> ResultsRecord | None:
    """Train one model per test fold (``out_dir/fold_{t}``), pool their test predictions and evaluate.

    Args:
        config: a :class:`TrainConfig` (CNN) or a ``modeling.training.baseline.BaselineConfig``.
        folds: test folds to run (all six for out-of-fold predictions of every sample).
        resume: skip folds whose ``results.json`` exists and resume interrupted ones.

    Writes ``oof_predictions.parquet`` (every row of the folds, calibrated per fold), ``results.json`` (pooled),
    ``summary.md`` and the pooled confusion-matrix and reliability PNGs. Returns the record on rank 0.
    """
    from modeling.training.baseline import BaselineConfig, train_baseline_fold

    out_dir = Path(out_dir)
    runtime = init_runtime(getattr(config, "threads", None))
    results: dict[int, ResultsRecord] = {}
    for t in folds:
        fold_dir = out_dir / f"fold_{t}"
        if resume and (fold_dir / RESULTS_FILE).is_file():
            results[t] = ResultsRecord.load(fold_dir / RESULTS_FILE)
            continue
        if isinstance(config, BaselineConfig):
            if runtime.is_main:
                results[t] = train_baseline_fold(dataset_dir, t, config, fold_dir, progress=progress).record
            _barrier(runtime)
        else:
            done = train_fold(dataset_dir, t, config, fold_dir, resume=resume, progress=progress, runtime=runtime)
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
        dataset=_dataset_info(Path(dataset_dir), config.dataset_config),
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


__all__ = [
    "Augmentation",
    "CheckpointError",
    "FoldData",
    "FoldResult",
    "PROFILES",
    "PooledBatchNorm2d",
    "Runtime",
    "TrainConfig",
    "Trainer",
    "centre_crop",
    "cross_validate",
    "epoch_batches",
    "evaluate_model",
    "finish_fold",
    "focal_loss",
    "init_runtime",
    "load_fold",
    "model_config",
    "model_inputs",
    "predict_view",
    "raw_inputs",
    "sample_weights",
    "train_fold",
]
