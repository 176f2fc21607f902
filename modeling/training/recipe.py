"""The published recipe's pieces: class/scene sample weights, focal loss, augmentation, learning-rate schedule,
and the seeded batches and draws of each epoch.

Sample weights are (N / N_class) * (N / N_scene) (scene = glacier and date), rescaled to mean 1, which leaves
Adam's updates unchanged up to its epsilon. Augmentation: random flips and rot90, contrast around each
patch's band means and an additive brightness shift (normalised units, no clipping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from modeling.training.config import TrainConfig


def sample_weights(labels: np.ndarray, scenes: np.ndarray) -> np.ndarray:
    """(N / N_class) * (N / N_scene) per sample, rescaled to mean 1; float32 (N,)."""
    labels, scenes = np.asarray(labels), np.asarray(scenes).astype(str)
    n = len(labels)
    _, label_index, label_counts = np.unique(labels, return_inverse=True, return_counts=True)
    _, scene_index, scene_counts = np.unique(scenes, return_inverse=True, return_counts=True)
    weights = (n / label_counts[label_index]) * (n / scene_counts[scene_index])
    return (weights / weights.mean()).astype(np.float32)


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
        """Draws for ``n`` samples within the ranges of ``config``."""
        return cls(
            rng.integers(0, 8, n),
            rng.uniform(*config.contrast, n).astype(np.float32),
            rng.uniform(-config.brightness, config.brightness, n).astype(np.float32),
        )

    def take(self, positions: np.ndarray) -> "Augmentation":
        """The draws of the samples at ``positions`` (e.g. this rank's share of the batch)."""
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
    """Optimiser steps per epoch: the number of :func:`epoch_batches`."""
    return len(epoch_batches(n, config, 0, world))


def epoch_seed(config: TrainConfig, epoch: int, rank: int) -> int:
    """Torch seed of one rank's epoch (its dropout masks)."""
    return int(np.random.SeedSequence([config.seed, epoch, rank]).generate_state(1)[0])
