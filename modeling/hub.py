"""Validate a built dataset folder or a model folder and push it to a Hugging Face hub repository.

The token comes from the ``token`` argument, ``HF_TOKEN`` or the cached login, and is only handed
to ``huggingface_hub``: it is never printed or written anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from datasets import load_dataset
from huggingface_hub import DatasetCard, HfApi, ModelCard, get_token

from dataset_builder.files import sha256_file
from dataset_builder.writer import read_manifest
from hub_cards.dataset_folder import refresh_card
from modeling.errors import PublishError
from modeling.network import PICKLE_SUFFIXES, FaciesCNN

Kind = Literal["dataset", "model"]
IGNORED = (".*", "**/.*", "__pycache__", "**/__pycache__")


@dataclass
class UploadPlan:
    """What a push would upload and the checks the folder passed."""

    folder: Path
    kind: Kind
    files: list[tuple[str, int]] = field(default_factory=list)  # (path in repo, bytes)
    checks: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    def format(self) -> str:
        lines = [f"{self.kind} folder {self.folder}: {len(self.files)} files, {self.total_bytes / 1e6:.1f} MB"]
        lines += [f"  ok  {c}" for c in self.checks]
        lines += [f"  {size / 1e6:9.2f} MB  {path}" for path, size in self.files]
        return "\n".join(lines)


def detect_kind(folder: Path) -> Kind:
    """``dataset`` for a built dataset folder (manifest.json), ``model`` for a from_pretrained folder."""
    if (folder / "manifest.json").is_file():
        return "dataset"
    if (folder / "config.json").is_file():
        return "model"
    raise PublishError(f"{folder}: neither a built dataset (manifest.json) nor a model folder (config.json)")


def _files(folder: Path) -> list[tuple[str, int]]:
    return sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts)
    )


def validate_dataset(folder: Path) -> list[str]:
    """Checks a dataset folder must pass: card YAML, manifest checksums, both configs load offline."""
    checks = []
    card = DatasetCard.load(folder / "README.md")
    configs = {c["config_name"] for c in card.data.to_dict().get("configs", [])}
    if configs != {"pruned", "full"}:
        raise PublishError(f"{folder}/README.md: card declares configs {sorted(configs)}, expected full and pruned")
    checks.append("dataset card YAML loads with huggingface_hub.DatasetCard; configs full and pruned")
    manifest = read_manifest(folder)
    listed = {s["path"] for s in manifest["shards"]}
    for shard in manifest["shards"]:
        path = folder / shard["path"]
        if not path.is_file():
            raise PublishError(f"{path}: listed in manifest.json but missing")
        if sha256_file(path) != shard["sha256"]:
            raise PublishError(f"{path}: sha256 differs from manifest.json (modified after the build?)")
    stray = [p for p, _ in _files(folder) if p.endswith(".parquet") and p not in listed]
    if stray:
        raise PublishError(f"{folder}: Parquet files not in manifest.json: {stray[:5]}")
    checks.append(f"{len(listed)} shards match their manifest sha256")
    for config in ("pruned", "full"):
        splits = load_dataset(str(folder), config, streaming=True)
        for name, split in splits.items():
            next(iter(split))
        checks.append(f"load_dataset(folder, {config!r}) streams splits {', '.join(splits)}")
    return checks


def validate_model(folder: Path) -> list[str]:
    """Checks a model folder must pass: card YAML, strict safetensors loading, no pickles."""
    pickles = [p for p, _ in _files(folder) if Path(p).suffix in PICKLE_SUFFIXES]
    if pickles:
        raise PublishError(f"{folder}: holds pickled files {pickles}; publish safetensors only")
    ModelCard.load(folder / "README.md")
    FaciesCNN.from_pretrained(folder)
    return [
        "model card YAML loads with huggingface_hub.ModelCard",
        "FaciesCNN.from_pretrained loads model.safetensors strictly",
        "no pickled weight files",
    ]


def plan_upload(folder: str | Path, kind: Kind | None = None) -> UploadPlan:
    """Render the card, validate the folder and list what would be uploaded."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder}: no such folder")
    kind = kind or detect_kind(folder)
    if kind == "dataset":
        refresh_card(folder)
        checks = validate_dataset(folder)
    else:
        if not (folder / "README.md").is_file():
            FaciesCNN.from_pretrained(folder).save_pretrained(folder)  # renders the model card
        checks = validate_model(folder)
    return UploadPlan(folder=folder, kind=kind, files=_files(folder), checks=checks)


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    dry_run: bool = False,
    commit_message: str | None = None,
    api: HfApi | None = None,
) -> UploadPlan:
    """Validate ``folder`` and upload it to ``repo_id`` (created if missing).

    Args:
        private: create the repository private.
        revision: a branch to push to (created from main if missing).
        token: hub token; default ``HF_TOKEN`` or the cached login.
        dry_run: validate and plan only; no network call.
    """
    plan = plan_upload(folder)
    if dry_run:
        return plan
    token = token or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise PublishError("no hub token: set HF_TOKEN or log in with `hf auth login`")
    api = api or HfApi()
    repo_type = plan.kind
    api.create_repo(repo_id, token=token, private=private, repo_type=repo_type, exist_ok=True)
    if revision:
        api.create_branch(repo_id, branch=revision, token=token, repo_type=repo_type, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        folder_path=plan.folder,
        repo_type=repo_type,
        revision=revision,
        token=token,
        commit_message=commit_message or f"Upload {plan.kind} with glacier-facies",
        ignore_patterns=list(IGNORED),
    )
    return plan
