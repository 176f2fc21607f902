"""Benchmark submissions: validate a predictions file plus metadata against a built dataset, score
it with the evaluation code, and keep the ranked results in the dataset folder's ``leaderboard.json``.

A submission folder holds ``predictions.parquet`` (or ``predictions.csv``): ``sample_id``, ``pred``
(class code 0-7 or class name) and optionally the eight ``p_{class}`` probabilities; and
``metadata.json``: method, authors, code and paper links, dataset config and revision used for
training, number of parameters, seeds. Scores are always computed here from the predictions.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataset_builder.atomic import atomic_path, atomic_write_text
from dataset_builder.bounded import read_csv, read_json, read_parquet
from dataset_builder.errors import SchemaError
from dataset_builder.predictions import PROBA_COLUMNS, SUM_TOLERANCE
from dataset_builder.schema import NUM_CLASSES, class_index
from dataset_builder.writer import dataset_revision, iter_rows
from hub_cards.common import DATASET_DOI
from hub_cards.dataset_folder import refresh_card
from hub_cards.leaderboard import leaderboard_lock, read_leaderboard, write_leaderboard
from hub_cards.markdown import MAX_URL_LENGTH, http_url
from modeling.errors import SubmissionError
from modeling.evaluation.calibration import calibration_summary, reliability_curve
from modeling.evaluation.metrics import classification_report
from modeling.evaluation.plots import plot_confusion_matrix, plot_reliability_diagram
from modeling.network import JsonOptions

MAX_PREDICTIONS_BYTES = 256 * 2**20
#: Bytes a submission's wanted columns may take once decoded, per dataset row (a fair row needs about 120).
MAX_DECODED_BYTES_PER_ROW = 1024
MAX_METADATA_BYTES = 64 * 2**10
MAX_METADATA_DEPTH = 4
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ,._+()/-]{0,79}$")
METADATA_FIELDS = {
    "method": True,
    "authors": True,
    "dataset_config": True,
    "dataset_revision": True,
    "code": False,
    "paper": False,
    "num_parameters": False,
    "seeds": False,
    "description": False,
}
#: Figures the study reported (Maslov et al., "Automating glacier facies classification: pan-European dataset
#: and deep learning baseline", ``hub_cards.common.PAPER_TITLE``); shown as a separate, unscored row.
PUBLISHED = {
    "method": "FaciesCNN, Maslov et al. (published figures)",
    "kind": "reported",
    "paper": f"https://doi.org/{DATASET_DOI}",
    "num_parameters": 200072,
    "scores": {
        "pruned": {"macro_f1": 0.816, "accuracy": 0.90, "glacier_macro_f1_mean": 0.823, "glacier_macro_f1_std": 0.105},
        "full": {"macro_f1": 0.74},
    },
}


@dataclass
class Submission:
    """A validated submission: metadata and per-sample predictions aligned to the dataset rows."""

    metadata: dict[str, Any]
    sample_id: np.ndarray
    pred: np.ndarray  # (N,) int64 codes
    proba: np.ndarray | None  # (N, 8) or None


@dataclass
class DatasetLabels:
    """The reference of a built dataset: every row's id, label, fold, glacier and pruning flag."""

    sample_id: np.ndarray
    label: np.ndarray
    fold: np.ndarray
    glacier: np.ndarray
    label_issue: np.ndarray
    revision: str

    @classmethod
    def load(cls, dataset: str | Path) -> "DatasetLabels":
        cols = ["sample_id", "label", "fold", "glacier", "label_issue"]
        frame = pd.concat([t.to_pandas() for t in iter_rows(dataset, columns=cols)], ignore_index=True)
        return cls(
            sample_id=frame["sample_id"].to_numpy(dtype=object),
            label=frame["label"].to_numpy(dtype=np.int64),
            fold=frame["fold"].to_numpy(dtype=np.int64),
            glacier=frame["glacier"].to_numpy(dtype=object),
            label_issue=frame["label_issue"].to_numpy(dtype=bool),
            revision=dataset_revision(dataset),
        )


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and validate ``metadata.json`` (required fields, safe names, links, no scores)."""
    if not path.is_file():
        raise SubmissionError(f"{path}: missing; a submission needs metadata.json")
    meta = read_json(path, max_bytes=MAX_METADATA_BYTES, max_depth=MAX_METADATA_DEPTH, error=SubmissionError)
    if not isinstance(meta, dict):
        raise SubmissionError(f"{path}: must hold a JSON object")
    unknown = sorted(set(meta) - set(METADATA_FIELDS))
    if unknown:
        hint = (
            " (scores are computed here from the predictions)"
            if any("score" in k or "f1" in k for k in unknown)
            else ""
        )
        raise SubmissionError(f"{path}: unknown field(s) {unknown}{hint}; allowed: {sorted(METADATA_FIELDS)}")
    missing = [k for k, required in METADATA_FIELDS.items() if required and k not in meta]
    if missing:
        raise SubmissionError(f"{path}: missing field(s) {missing}")
    if not isinstance(meta["method"], str) or not SAFE_NAME.match(meta["method"]):
        raise SubmissionError(f"{path}: method {meta['method']!r} must be 1-80 letters, digits, spaces or ,._+()/-")
    if meta["dataset_config"] not in ("pruned", "full"):
        raise SubmissionError(f"{path}: dataset_config must be 'pruned' or 'full', got {meta['dataset_config']!r}")
    for key in ("code", "paper"):
        if meta.get(key) is not None and http_url(meta[key]) is None:
            raise SubmissionError(
                f"{path}: {key} must be an http(s) link to a host name, at most {MAX_URL_LENGTH} characters "
                f"without spaces or credentials, got {meta[key]!r:.200}"
            )
    n_params = meta.get("num_parameters")
    if n_params is not None and (not isinstance(n_params, int) or isinstance(n_params, bool) or n_params < 0):
        raise SubmissionError(f"{path}: num_parameters must be a non-negative integer")
    seeds = meta.get("seeds", [])
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise SubmissionError(f"{path}: seeds must be a list of integers")
    for key in ("authors", "dataset_revision", "description"):
        if key in meta and (not isinstance(meta[key], str) or len(meta[key]) > 2000):
            raise SubmissionError(f"{path}: {key} must be text of at most 2000 characters")
    return meta


def _read_table(folder: Path, max_rows: int) -> tuple[Path, pd.DataFrame]:
    """The submission's predictions table, bounded before decoding: at most ``max_rows`` rows (Parquet and CSV)
    and ``MAX_DECODED_BYTES_PER_ROW`` bytes a row once decoded (Parquet, from its footer; a CSV file decodes to
    about its own size, at most ``MAX_PREDICTIONS_BYTES``). Only the columns a submission has are read."""
    found = [folder / n for n in ("predictions.parquet", "predictions.csv") if (folder / n).is_file()]
    if len(found) != 1:
        raise SubmissionError(
            f"{folder}: needs exactly one of predictions.parquet or predictions.csv, found {[p.name for p in found]}"
        )
    path = found[0]
    if path.stat().st_size > MAX_PREDICTIONS_BYTES:
        raise SubmissionError(f"{path}: larger than {MAX_PREDICTIONS_BYTES // 2**20} MB")
    columns = ("sample_id", "pred", *PROBA_COLUMNS)
    if path.suffix == ".csv":
        frame = read_csv(path, columns, max_rows=max_rows, dtype={"sample_id": str}, error=SubmissionError)
    else:
        max_bytes = MAX_DECODED_BYTES_PER_ROW * max_rows
        frame = read_parquet(path, columns, max_rows=max_rows, max_bytes=max_bytes, error=SubmissionError).to_pandas()
    return path, frame


def read_submission(folder: str | Path, labels: DatasetLabels) -> Submission:
    """Validate a submission folder against the dataset: every sample exactly once, known ids,
    valid classes, probabilities that sum to one.

    Returns:
        The submission with predictions in the order of ``labels.sample_id``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: no such submission folder")
    meta = read_metadata(folder / "metadata.json")
    path, frame = _read_table(folder, max_rows=len(labels.sample_id))
    missing_cols = [c for c in ("sample_id", "pred") if c not in frame.columns]
    if missing_cols:
        raise SubmissionError(f"{path}: missing column(s) {missing_cols}")
    ids = frame["sample_id"].astype(str).to_numpy(dtype=object)
    dup = pd.Series(ids).duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        raise SubmissionError(f"{path}: row {i}: sample_id {ids[i]!r} appears more than once")
    position = {sid: i for i, sid in enumerate(labels.sample_id)}
    index = np.array([position.get(sid, -1) for sid in ids], dtype=np.int64)
    if (index < 0).any():
        i = int(np.argmax(index < 0))
        raise SubmissionError(f"{path}: row {i}: sample_id {ids[i]!r} is not in the dataset")
    if len(ids) != len(labels.sample_id):
        absent = sorted(set(labels.sample_id) - set(ids))
        raise SubmissionError(f"{path}: {len(absent)} dataset sample(s) have no prediction, e.g. {absent[:3]}")
    pred = np.empty(len(ids), dtype=np.int64)
    for i, value in enumerate(frame["pred"].tolist()):
        try:
            pred[i] = _class_code(value)
        except SchemaError as err:
            raise SubmissionError(f"{path}: row {i}: {err}") from None
    proba = None
    present = [c for c in PROBA_COLUMNS if c in frame.columns]
    if present:
        if len(present) != NUM_CLASSES:
            raise SubmissionError(f"{path}: probabilities need all of {list(PROBA_COLUMNS)}, found {present}")
        proba = frame[list(PROBA_COLUMNS)].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(proba).all(1) | (proba < 0).any(1) | (np.abs(proba.sum(1) - 1) > SUM_TOLERANCE)
        if bad.any():
            i = int(np.argmax(bad))
            raise SubmissionError(f"{path}: row {i}: probabilities {proba[i].round(4).tolist()} are not a distribution")
    order = np.argsort(index)
    return Submission(meta, ids[order], pred[order], None if proba is None else proba[order])


def _class_code(value: Any) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= int(value) < NUM_CLASSES:
            raise SchemaError(f"class code {value} is not one of 0-{NUM_CLASSES - 1}")
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return _class_code(int(text))
    return class_index(text)


def submission_reports(
    submission: Submission,
    labels: DatasetLabels,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    plot_dir: str | Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Pooled out-of-fold reports on the ``pruned`` labels (rows not flagged) and on the ``full`` labels.

    Each is a :func:`modeling.evaluation.metrics.classification_report` dict, plus ``calibration`` (expected
    calibration error) when the submission has probabilities. With ``plot_dir``, the confusion matrices
    (and reliability diagrams) are written there as in ``scripts/evaluate.py``.
    """
    out = {}
    for config, rows in (("pruned", ~labels.label_issue), ("full", np.ones(len(labels.label), bool))):
        report = classification_report(
            labels.label[rows], submission.pred[rows], glaciers=labels.glacier[rows], n_bootstrap=n_bootstrap, seed=seed
        )
        title = f"{submission.metadata['method']}, {config} labels"
        if submission.proba is not None:
            report["calibration"] = calibration_summary(
                submission.proba[rows], labels.label[rows], labels.fold[rows], None
            )
            if plot_dir is not None:
                curve = reliability_curve(submission.proba[rows], labels.label[rows])
                plot_reliability_diagram(
                    {"submission": curve}, Path(plot_dir) / f"reliability_{config}.png", title=title
                )
        if plot_dir is not None:
            plot_confusion_matrix(
                np.array(report["confusion_matrix"]), Path(plot_dir) / f"confusion_{config}.png", title=title
            )
        out[config] = report
    return out


def leaderboard_scores(reports: dict[str, dict[str, Any]]) -> dict[str, dict]:
    """The leaderboard's condensed scores of :func:`submission_reports`."""
    out = {}
    for config, report in reports.items():
        glacier = report["glacier_macro_f1"] or {}
        out[config] = {
            "n": report["n"],
            "macro_f1": report["macro_f1"],
            "macro_f1_ci": report["ci95"].get("macro_f1"),
            "accuracy": report["accuracy"],
            "mean_iou": report["mean_iou"],
            "balanced_accuracy": report["balanced_accuracy"],
            "glacier_macro_f1_mean": glacier.get("mean"),
            "glacier_macro_f1_std": glacier.get("std"),
            "per_class_f1": {c: (v or {}).get("f1") for c, v in report["per_class"].items()},
        }
    return out


def score_submission(
    submission: Submission, labels: DatasetLabels, *, n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, dict]:
    """The leaderboard scores of a validated submission (see :func:`submission_reports`)."""
    return leaderboard_scores(submission_reports(submission, labels, n_bootstrap=n_bootstrap, seed=seed))


@dataclass
class LeaderboardEntry(JsonOptions):
    """One scored row of the leaderboard (``to_dict()`` is its ``leaderboard.json`` entry)."""

    OPTION_KIND = "leaderboard field"

    method: str
    scores: dict[str, dict]
    authors: str = ""
    code: str | None = None
    paper: str | None = None
    dataset_config: str = "pruned"
    dataset_revision: str = ""
    scored_revision: str = ""
    num_parameters: int | None = None
    seeds: list[int] = field(default_factory=list)
    submitted: str = ""
    kind: str = "scored"


def evaluate_submission(folder: str | Path, dataset: str | Path, *, n_bootstrap: int = 1000) -> LeaderboardEntry:
    """Validate and score a submission folder against a built dataset."""
    labels = DatasetLabels.load(dataset)
    submission = read_submission(folder, labels)
    meta = submission.metadata
    return LeaderboardEntry(
        method=meta["method"],
        scores=score_submission(submission, labels, n_bootstrap=n_bootstrap),
        authors=meta.get("authors", ""),
        code=meta.get("code"),
        paper=meta.get("paper"),
        dataset_config=meta["dataset_config"],
        dataset_revision=meta["dataset_revision"],
        scored_revision=labels.revision,
        num_parameters=meta.get("num_parameters"),
        seeds=meta.get("seeds", []),
        submitted=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def add_to_leaderboard(dataset: str | Path, entry: LeaderboardEntry | dict) -> dict:
    """Add (or replace, by method name) an entry in ``leaderboard.json`` and re-render the card.

    The read, the change and both writes happen under the dataset's leaderboard lock
    (:func:`hub_cards.leaderboard.leaderboard_lock`), so concurrent submissions never lose an entry and the card
    always shows the file; each file is replaced atomically.
    """
    row = entry.to_dict() if isinstance(entry, LeaderboardEntry) else dict(entry)
    with leaderboard_lock(dataset):
        board = read_leaderboard(dataset)
        board["entries"] = [e for e in board["entries"] if e["method"] != row["method"]] + [row]
        write_leaderboard(dataset, board)
        refresh_card(dataset)
    return board


def write_submission(
    folder: str | Path, sample_id: np.ndarray, pred: np.ndarray, metadata: dict, proba: np.ndarray | None = None
) -> Path:
    """Write a submission folder (predictions.parquet + metadata.json), e.g. for our baselines."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = {"sample_id": np.asarray(sample_id, dtype=object).astype(str), "pred": np.asarray(pred, dtype=np.int64)}
    if proba is not None:
        table.update({c: np.asarray(proba)[:, k].astype(np.float32) for k, c in enumerate(PROBA_COLUMNS)})
    with atomic_path(folder / "predictions.parquet") as tmp:
        pd.DataFrame(table).to_parquet(tmp, index=False)
    atomic_write_text(folder / "metadata.json", json.dumps(metadata, indent=2) + "\n")
    return folder
