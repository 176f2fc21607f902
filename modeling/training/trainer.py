"""The training loop of one fold on this rank: batches, augmentation, optimiser steps, validation, the best
epoch (by validation mean IoU), checkpoints, ``log.csv`` and ``training_curves.png``."""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dataset_builder.atomic import atomic_write_text
from dataset_builder.schema import NUM_CLASSES
from modeling.evaluation import metrics_from_confusion, plot_training_curves
from modeling.network import FaciesCNN
from modeling.training.checkpoints import TrainState, save_checkpoint
from modeling.training.config import TrainConfig
from modeling.training.data import FoldData, SplitInputs, input_bytes, model_config
from modeling.training.device import autocast, memory_format, to_device
from modeling.training.distributed import Runtime, all_sum, barrier, pool_batchnorm
from modeling.training.recipe import Augmentation, cosine_lr, epoch_batches, epoch_seed, focal_loss, steps_per_epoch

LOG_FILE = "log.csv"
CURVES_FILE = "training_curves.png"
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


def write_log(directory: Path, history: Sequence[Mapping[str, float]]) -> None:
    """``log.csv``: one row per epoch, ``LOG_COLUMNS``."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row[k] for k in LOG_COLUMNS} for row in history)
    atomic_write_text(directory / LOG_FILE, text.getvalue())


class Trainer:
    """The training loop of one fold on this rank: batches, augmentation, steps, validation, checkpoints.

    On a GPU the network and its inputs are channels-last, batches are augmented there after a non-blocking copy
    from pinned memory, and forward passes run under bf16 autocast when ``runtime.bf16`` is set
    (:mod:`modeling.training.device`); on the CPU everything is plain float32.

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
        self.layout = memory_format(runtime.device)
        self.model = FaciesCNN(mc).to(runtime.device, memory_format=self.layout)
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

    def _on_device(self, inputs: np.ndarray | torch.Tensor) -> torch.Tensor:
        """A batch of network inputs on this rank's device, in the network's memory layout."""
        return to_device(inputs, self.runtime.device).contiguous(memory_format=self.layout)

    # one step and one epoch

    def step(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, global_batch: int) -> float:
        """One optimiser step on this rank's samples of a global batch; returns the weighted loss sum (local)."""
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(self.config.learning_rate, self.state.step, self.total_steps)
        self.network.train()
        with autocast(self.runtime.bf16):
            logits = self.network(x)
        losses = focal_loss(logits, y, self.config.focal_gamma, self.config.label_smoothing)
        total = (losses * w).sum()
        # DDP averages gradients over ranks; scaling by world / global batch makes that the global weighted mean
        (total * (self.runtime.world / global_batch)).backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        return float(total.detach())

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]]:
        """This rank's (inputs, labels, weights, global batch size) per step of ``epoch``, on its device; augmented."""
        rt, device = self.runtime, self.runtime.device
        for k, batch in enumerate(epoch_batches(len(self.train_inputs), self.config, epoch, rt.world)):
            mine = np.arange(rt.rank, len(batch), rt.world)
            local = batch[mine]
            x = to_device(self.train_inputs.inputs(local), device)
            if self.config.augment:
                rng = np.random.default_rng([self.config.seed, epoch, k])
                x = Augmentation.draw(rng, len(batch), self.config).take(mine).apply(x)
            y = to_device(self.train_inputs.labels[local], device)
            w = to_device(self.data.weights[local], device)
            yield x.contiguous(memory_format=self.layout), y, w, len(batch)

    def train_epoch(self, epoch: int, bar: tqdm | None = None) -> tuple[float, int]:
        """Train one epoch; returns (mean weighted loss over all ranks' samples, samples seen by all ranks)."""
        torch.manual_seed(epoch_seed(self.config, epoch, self.runtime.rank))  # dropout
        loss_sum, seen = 0.0, 0
        for x, y, w, n in self.batches(epoch):
            loss_sum += self.step(x, y, w, n)
            seen += len(x)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.4f}", refresh=False)
        loss_sum, seen = all_sum(np.array([loss_sum, seen], dtype=np.float64), self.runtime)
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
            with autocast(self.runtime.bf16):
                self.model(self._on_device(self.train_inputs.inputs(local)))
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
            x = self._on_device(self.val_inputs.inputs(positions))
            y = to_device(self.val_inputs.labels[positions], self.runtime.device)
            with autocast(self.runtime.bf16):
                logits = self.model(x)
            loss += float(focal_loss(logits, y, self.config.focal_gamma, self.config.label_smoothing).sum())
            pred = logits.argmax(dim=1).cpu().numpy()
            np.add.at(cm, (self.val_inputs.labels[positions], pred), 1)
        totals = all_sum(np.concatenate([[loss], cm.ravel()]), self.runtime)
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
            barrier(self.runtime)
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
