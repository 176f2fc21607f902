"""Validate a built dataset folder or a model folder and push it to a Hugging Face hub repository.

Validation changes nothing in the folder: the card a push would publish is rendered in memory and checked
(a dataset loads through it from a staging folder), so a dry run, failed or not, leaves the folder as it was.
A push writes that card into the folder, uploads the folder and deletes the repository's shards that the folder
no longer has. The token comes from the ``token`` argument, ``HF_TOKEN`` or the cached login, and is only handed
to ``huggingface_hub``: it is never printed or written anywhere.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from datasets import load_dataset
from huggingface_hub import DatasetCard, HfApi, ModelCard, get_token

from dataset_builder.atomic import atomic_write_text
from dataset_builder.files import sha256_file
from dataset_builder.writer import CARD_FILE, DATA_DIR, MANIFEST_FILE, load_written, local_paths, read_report
from hub_cards.dataset_card import render_dataset_card
from modeling.errors import PublishError
from modeling.network import PICKLE_SUFFIXES, FaciesCNN

Kind = Literal["dataset", "model"]
#: Hidden folders a model push publishes all the same: the hub's evaluation-results files.
MODEL_HIDDEN_FOLDERS = (".eval_results",)
#: Remote files a model push replaces as a whole (stale evaluation results of an earlier push are deleted).
MODEL_DELETE_PATTERNS = (".eval_results/*",)
#: Remote files a dataset push replaces as a whole: those the folder no longer has are deleted (stale shards).
DATASET_DELETE_PATTERNS = (f"{DATA_DIR}/*",)
#: Files whose text is checked for local paths before publishing.
TEXT_SUFFIXES = (".md", ".json", ".yaml", ".yml", ".txt", ".csv")


@dataclass
class UploadPlan:
    """What a push would upload, the checks the folder passed and the card it would publish."""

    folder: Path
    kind: Kind
    card: str
    files: list[tuple[str, int]] = field(default_factory=list)  # (path in repo, bytes)
    checks: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def card_changes(self) -> bool:
        """Whether the push rewrites the folder's ``README.md`` (missing, or not the card rendered now)."""
        path = self.folder / CARD_FILE
        return not path.is_file() or path.read_text(encoding="utf-8") != self.card

    def format(self) -> str:
        lines = [f"{self.kind} folder {self.folder}: {len(self.files)} files, {self.total_bytes / 1e6:.1f} MB"]
        lines += [f"  ok  {c}" for c in self.checks]
        card = "re-rendered by a push (differs from the folder's)" if self.card_changes else "up to date"
        lines.append(f"  {CARD_FILE}: {card}")
        lines += [f"  {size / 1e6:9.2f} MB  {path}" for path, size in self.files]
        return "\n".join(lines)


def detect_kind(folder: Path) -> Kind:
    """``dataset`` for a built dataset folder (manifest.json), ``model`` for a from_pretrained folder."""
    if (folder / MANIFEST_FILE).is_file():
        return "dataset"
    if (folder / "config.json").is_file():
        return "model"
    raise PublishError(f"{folder}: neither a built dataset (manifest.json) nor a model folder (config.json)")


def _folder_files(folder: Path, hidden: tuple[str, ...] = ()) -> dict[str, int]:
    """Bytes of every file a push uploads from ``folder``, by path in the repository (hidden files left out, but
    for those under the top-level ``hidden`` folders)."""
    files = {}
    for p in folder.rglob("*"):
        parts = p.relative_to(folder).parts
        if not p.is_file() or "__pycache__" in parts:
            continue
        if parts[0] in hidden and not any(part.startswith(".") for part in parts[1:]):
            files[p.relative_to(folder).as_posix()] = p.stat().st_size
        elif not any(part.startswith(".") for part in parts):
            files[p.relative_to(folder).as_posix()] = p.stat().st_size
    return files


def _files(folder: Path, card: str, hidden: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    """(path in repo, bytes) of every file a push uploads, the card as rendered."""
    return sorted({**_folder_files(folder, hidden), CARD_FILE: len(card.encode("utf-8"))}.items())


def check_no_local_paths(folder: Path, card: str) -> str:
    """Refuse a folder whose card or text files name absolute local paths (nothing local may be published)."""
    texts = {CARD_FILE: card}
    for path, _ in _files(folder, card):
        if path != CARD_FILE and path.endswith(TEXT_SUFFIXES):
            texts[path] = (folder / path).read_text(encoding="utf-8", errors="replace").replace("\\\\", "\\")
    for path, text in texts.items():
        found = local_paths(text)
        if found:
            raise PublishError(f"{folder / path}: names local path(s) {found[:3]}; nothing local may be published")
    return f"no local paths in {CARD_FILE} or the {len(texts) - 1} other text files"


def validate_dataset(folder: Path) -> tuple[str, list[str]]:
    """Check a dataset folder without changing it, then render the card a push would publish.

    Checks, in order: every shard matches its manifest sha256 and no shard is unlisted; the manifest lists every
    row the statistics count; the card's YAML loads with ``DatasetCard`` and declares configs full and pruned;
    nothing names a local path; both configs stream with ``load_dataset`` through that card.

    Returns:
        The card text and the checks passed.
    """
    written = load_written(folder)  # IncompleteManifestError when a fold or shard is missing
    listed = {s.path for s in written.shards}
    for shard in written.shards:
        path = folder / shard.path
        if not path.is_file():
            raise PublishError(f"{path}: listed in manifest.json but missing")
        if sha256_file(path) != shard.sha256:
            raise PublishError(f"{path}: sha256 differs from manifest.json (modified after the build?)")
    stray = [p for p in _folder_files(folder) if p.endswith(".parquet") and p not in listed]
    if stray:
        raise PublishError(f"{folder}: Parquet files not in manifest.json: {stray[:5]}")
    checks = [f"{len(listed)} shards match their manifest sha256; the manifest lists every row of statistics.json"]
    card = render_dataset_card(written, read_report(folder), folder)
    configs = {c["config_name"] for c in DatasetCard(card).data.to_dict().get("configs", [])}
    if configs != {"pruned", "full"}:
        raise PublishError(f"{folder}/{CARD_FILE}: card declares configs {sorted(configs)}, expected full and pruned")
    checks.append("dataset card YAML loads with huggingface_hub.DatasetCard; configs full and pruned")
    checks.append(check_no_local_paths(folder, card))
    with tempfile.TemporaryDirectory(prefix="glacier-facies-stage-") as stage:
        (Path(stage) / CARD_FILE).write_text(card, encoding="utf-8")
        (Path(stage) / DATA_DIR).symlink_to((folder / DATA_DIR).resolve(), target_is_directory=True)
        for config in ("pruned", "full"):
            splits = load_dataset(stage, config, streaming=True)
            for split in splits.values():
                next(iter(split))
            checks.append(f"load_dataset(folder, {config!r}) streams splits {', '.join(splits)} through the card")
    return card, checks


def validate_model(folder: Path) -> tuple[str, list[str]]:
    """Check a model folder without changing it: no pickles, strict safetensors loading, card YAML (the folder's
    card, or the one a push would write when it has none).

    Returns:
        The card text and the checks passed.
    """
    pickles = [p for p in _folder_files(folder) if Path(p).suffix in PICKLE_SUFFIXES]
    if pickles:
        raise PublishError(f"{folder}: holds pickled files {pickles}; publish safetensors only")
    model = FaciesCNN.from_pretrained(folder)
    path = folder / CARD_FILE
    card = path.read_text(encoding="utf-8") if path.is_file() else str(model.generate_model_card())
    ModelCard(card)
    return card, [
        "model card YAML loads with huggingface_hub.ModelCard",
        "FaciesCNN.from_pretrained loads model.safetensors strictly",
        "no pickled weight files",
        check_no_local_paths(folder, card),
    ]


def plan_upload(folder: str | Path, kind: Kind | None = None) -> UploadPlan:
    """Validate the folder and list what a push would upload; nothing in the folder changes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder}: no such folder")
    kind = kind or detect_kind(folder)
    card, checks = validate_dataset(folder) if kind == "dataset" else validate_model(folder)
    hidden = MODEL_HIDDEN_FOLDERS if kind == "model" else ()
    return UploadPlan(folder=folder, kind=kind, card=card, files=_files(folder, card, hidden), checks=checks)


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

    A dataset push writes the validated card into the folder first and deletes the repository's files under
    ``data/`` that the folder does not have, so a pruned or rebuilt dataset leaves no stale shards behind.

    Args:
        private: create the repository private.
        revision: a branch to push to (created from main if missing).
        token: hub token; default ``HF_TOKEN`` or the cached login.
        dry_run: validate and plan only: no network call, no file written.
    """
    plan = plan_upload(folder)
    if dry_run:
        return plan
    token = token or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise PublishError("no hub token: set HF_TOKEN or log in with `hf auth login`")
    if plan.card_changes:
        atomic_write_text(plan.folder / CARD_FILE, plan.card)
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
        allow_patterns=[path for path, _ in plan.files],  # exactly the planned files, hidden results included
        delete_patterns=list(DATASET_DELETE_PATTERNS if plan.kind == "dataset" else MODEL_DELETE_PATTERNS),
    )
    return plan
