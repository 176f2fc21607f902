"""Resumable checkpoints of a fold's training: ``checkpoint/state.safetensors`` (model, best model, Adam state)
and ``checkpoint/state.json`` (options, world size, progress and the per-epoch log)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from dataset_builder.atomic import atomic_path, atomic_write_text
from modeling.errors import CheckpointError
from modeling.training.config import TrainConfig
from modeling.training.distributed import Runtime

CHECKPOINT_DIR = "checkpoint"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


@dataclass
class TrainState:
    """What a checkpoint holds besides tensors: progress, the best epoch and the per-epoch log."""

    epoch: int = 0  # epochs completed
    step: int = 0
    best_epoch: int = 0
    best_score: float = -1.0
    history: list[dict[str, float]] = field(default_factory=list)


class Checkpointable(Protocol):
    """What a checkpoint saves and restores: a trainer's options, world size, model, best weights, optimiser and
    progress (:class:`modeling.training.trainer.Trainer`)."""

    config: TrainConfig
    runtime: Runtime
    model: nn.Module
    best_weights: dict[str, torch.Tensor]
    optimizer: torch.optim.Optimizer
    state: TrainState


def save_checkpoint(directory: Path, trainer: Checkpointable) -> None:
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


def load_checkpoint(directory: Path, trainer: Checkpointable) -> bool:
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
