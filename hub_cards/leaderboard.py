"""The leaderboard file of a dataset folder (``leaderboard.json``) and its section of the dataset card.

The file holds scored submissions (scores computed by ``scripts/evaluate.py --submission`` from the
predictions, never taken from the submitter) and, marked apart, figures a paper reported that no
submission reproduces here.
"""

from __future__ import annotations

import json
from pathlib import Path

from hub_cards.markdown import escape, table

LEADERBOARD_FILE = "leaderboard.json"
SCHEMA_VERSION = 1
PRIMARY = ("pruned", "macro_f1")
PROTOCOL = """Six-fold cross-validation by glacier as published: every model scored on a fold was trained without that
fold (test fold t, validation fold t-1 mod 6, the other four train). The primary score is the pooled out-of-fold
macro-F1 on the `pruned` labels; secondary scores: macro-F1 on the `full` labels, glacier-wise macro-F1 (mean +- std
over glaciers) and per-class F1. Scores are computed here from the submitted predictions, with bootstrap 95 %
intervals; reported numbers are never trusted."""


def read_leaderboard(folder: str | Path) -> dict:
    """The leaderboard of a dataset folder (an empty one when there is none yet)."""
    path = Path(folder) / LEADERBOARD_FILE
    if not path.is_file():
        return {"schema_version": SCHEMA_VERSION, "entries": []}
    data = json.loads(path.read_text())
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: leaderboard schema version {data.get('schema_version')}, expected {SCHEMA_VERSION}")
    return data


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
        method = escape(e["method"])
        rows.append(
            [
                rank if e["kind"] == "scored" else "-",
                f"[{method}]({e['code']})" if e.get("code") else method,
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
