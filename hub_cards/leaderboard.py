"""The leaderboard file of a dataset folder (``leaderboard.json``) and its section of the dataset card.

The file holds scored submissions (scores computed by ``scripts/evaluate.py --submission`` from the
predictions, never taken from the submitter) and, marked apart, figures a paper reported that no
submission reproduces here.

Every change of the file and of the card that shows it happens under :func:`leaderboard_lock` (a lock file in the
dataset folder, held across processes), and each file is replaced atomically. Reading checks the file's size,
nesting and the shape of every entry, so a corrupt file is an error naming it, never a traceback or a broken card.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout

from dataset_builder.atomic import atomic_write_text
from dataset_builder.bounded import read_json
from dataset_builder.errors import DatasetNotFoundError, FileFormatError, GlacierFaciesError
from hub_cards.markdown import link, table

LEADERBOARD_FILE = "leaderboard.json"
#: The lock file of the leaderboard and the card; a dotfile, so it is never published (``modeling.hub.IGNORED``).
LOCK_FILE = ".leaderboard.lock"
#: Seconds to wait for another process's update (which takes well under a second) before giving up.
LOCK_TIMEOUT = 60.0
MAX_LEADERBOARD_BYTES = 16 * 2**20
SCHEMA_VERSION = 1
KINDS = ("scored", "reported")
#: Scores of each config that the card shows; each a number or null.
SHOWN_SCORES = ("macro_f1", "accuracy", "glacier_macro_f1_mean", "glacier_macro_f1_std")
PRIMARY = ("pruned", "macro_f1")
PROTOCOL = """Six-fold cross-validation by glacier as published: every model scored on a fold was trained without that
fold (test fold t, validation fold t-1 mod 6, the other four train). The primary score is the pooled out-of-fold
macro-F1 on the `pruned` labels; secondary scores: macro-F1 on the `full` labels, glacier-wise macro-F1 (mean +- std
over glaciers) and per-class F1. Scores are computed here from the submitted predictions, with bootstrap 95 %
intervals; reported numbers are never trusted."""


class LeaderboardBusyError(GlacierFaciesError, TimeoutError):
    """Another process held the leaderboard lock for longer than the timeout; the message names the lock file."""


@contextlib.contextmanager
def leaderboard_lock(folder: str | Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the leaderboard lock of a dataset folder: one process at a time reads, changes and writes
    ``leaderboard.json`` and the card. Re-entrant within a thread (a locked update may refresh the card, which
    locks too).

    Raises:
        DatasetNotFoundError: ``folder`` is not a folder.
        LeaderboardBusyError: the lock was not free within ``timeout`` seconds.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: no such dataset folder")
    path = folder.resolve() / LOCK_FILE
    lock = FileLock(path, is_singleton=True)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LeaderboardBusyError(
            f"{path}: another process held the leaderboard lock for {timeout:g} s; try again"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with one entry of the file (None: nothing), for what ranking and the card use."""
    if not isinstance(entry, dict):
        return "not an object"
    method = entry.get("method")
    if not isinstance(method, str) or not method.strip() or not method.isprintable():
        return "method must be printable text"
    if entry.get("kind") not in KINDS:
        return f"kind must be one of {list(KINDS)}"
    scores = entry.get("scores")
    if not isinstance(scores, dict) or not all(isinstance(s, dict) for s in scores.values()):
        return "scores must map each config to an object"
    for config, values in scores.items():
        for key in SHOWN_SCORES:
            if values.get(key) is not None and not _is_number(values[key]):
                return f"scores.{config}.{key} must be a number or null"
        ci = values.get("macro_f1_ci")
        if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(map(_is_number, ci))):
            return f"scores.{config}.macro_f1_ci must be two numbers or null"
    n_params = entry.get("num_parameters")
    if n_params is not None and not (isinstance(n_params, int) and not isinstance(n_params, bool) and n_params >= 0):
        return "num_parameters must be a non-negative integer or null"
    for key in ("code", "paper"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            return f"{key} must be text or null"
    return None


def check_leaderboard(board: Any, path: str | Path) -> dict:
    """``board`` if it is a leaderboard of this schema whose entries the card can show; else
    :class:`~dataset_builder.errors.FileFormatError` naming ``path`` (and the entry)."""
    if not isinstance(board, dict) or not isinstance(board.get("entries"), list):
        raise FileFormatError(f"{path}: not a leaderboard (an object with a list of entries)")
    if board.get("schema_version") != SCHEMA_VERSION:
        raise FileFormatError(
            f"{path}: leaderboard schema version {board.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    for i, entry in enumerate(board["entries"]):
        problem = _entry_problem(entry)
        if problem:
            raise FileFormatError(f"{path}: entry {i}: {problem}")
    return board


def read_leaderboard(folder: str | Path) -> dict:
    """The leaderboard of a dataset folder (an empty one when there is none yet), checked (:func:`check_leaderboard`,
    at most ``MAX_LEADERBOARD_BYTES``)."""
    path = Path(folder) / LEADERBOARD_FILE
    if not path.is_file():
        return {"schema_version": SCHEMA_VERSION, "entries": []}
    return check_leaderboard(read_json(path, max_bytes=MAX_LEADERBOARD_BYTES), path)


def write_leaderboard(folder: str | Path, board: dict) -> None:
    """Check ``board`` and replace ``leaderboard.json`` with it atomically; hold :func:`leaderboard_lock` around
    the read, the change and this write."""
    path = Path(folder) / LEADERBOARD_FILE
    atomic_write_text(path, json.dumps(check_leaderboard(board, path), indent=2, allow_nan=False) + "\n")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _ci(interval: list[float] | None) -> str:
    return "" if not interval else f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def ranked(entries: list[dict]) -> list[dict]:
    """Scored entries by the primary score (best first), then reported ones."""
    config, metric = PRIMARY
    scored = [e for e in entries if e.get("kind") == "scored"]
    reported = [e for e in entries if e.get("kind") == "reported"]
    scored.sort(key=lambda e: -(e["scores"].get(config, {}).get(metric) or 0.0))
    return scored + reported


def render_leaderboard_section(folder: str | Path) -> str:
    """Markdown: the protocol and the ranked table ("" when the folder has no leaderboard)."""
    entries = read_leaderboard(folder)["entries"]
    if not entries:
        return ""
    rows = []
    rank = 0
    for e in ranked(entries):
        pruned, full = e["scores"].get("pruned", {}), e["scores"].get("full", {})
        if e["kind"] == "scored":
            rank += 1
        glacier = (
            "-"
            if pruned.get("glacier_macro_f1_mean") is None
            else (f"{_pct(pruned['glacier_macro_f1_mean'])} +- {_pct(pruned.get('glacier_macro_f1_std'))}")
        )
        rows.append(
            [
                rank if e["kind"] == "scored" else "-",
                link(e["method"], e.get("code")),
                f"{_pct(pruned.get('macro_f1'))}{_ci(pruned.get('macro_f1_ci'))}",
                _pct(full.get("macro_f1")),
                glacier,
                _pct(pruned.get("accuracy")),
                e.get("num_parameters") or "-",
                "scored here" if e["kind"] == "scored" else "reported (not scored here)",
            ]
        )
    header = [
        "rank",
        "method",
        "macro-F1 pruned (95 % CI)",
        "macro-F1 full",
        "glacier-wise macro-F1",
        "accuracy pruned",
        "params",
        "kind",
    ]
    return "\n".join(["## Benchmark protocol and leaderboard", "", PROTOCOL, "", table(header, rows)])
