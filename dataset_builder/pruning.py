"""Confident-learning label pruning (cleanlab): fill ``label_issue``/``label_quality`` and
re-partition a built dataset so that ``load_dataset(..., "pruned")`` leaves the flagged rows out.

The published setting is the default: out-of-fold predicted probabilities of the six round-1
models, ``cleanlab.filter.find_label_issues(labels, pred_probs,
filter_by="confident_learning", return_indices_ranked_by="self_confidence")``, with shadow,
water and cloud protected (never pruned). Pruning always starts from the full labels: a dataset
pruned before is re-partitioned from scratch, the earlier flags replaced.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from dataset_builder.atomic import atomic_directory, atomic_write_text, recover
from dataset_builder.builder import DATASET_FOLDER
from dataset_builder.errors import PredictionsError, PruningInputError
from dataset_builder.files import sha256_file
from dataset_builder.predictions import read_predictions
from dataset_builder.pruning_plots import plot_flagged_share, plot_lowest_quality
from dataset_builder.quicklook import save_figure
from dataset_builder.records import PatchBatch
from dataset_builder.schema import CLASS_NAMES, NUM_CLASSES, PROTECTED_CLASSES, SPLIT_NAMES, canonical_class
from dataset_builder.statistics import STATISTICS_FILE, DatasetStatistics
from dataset_builder.writer import (
    CARD_FILE,
    DATA_DIR,
    MANIFEST_FILE,
    REPORT_FILE,
    CardRenderer,
    DatasetWriter,
    iter_rows,
    read_report,
    write_metadata,
)

#: cleanlab ``filter_by`` methods accepted.
FILTERS = ("confident_learning", "prune_by_noise_rate", "prune_by_class", "both", "predicted_neq_given")
#: cleanlab label-quality scores accepted for ``label_quality`` and the ranking.
QUALITY_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


@dataclass
class PruneSettings:
    """How to prune: the cleanlab filter, the quality score and the protected classes."""

    filter_by: str = "confident_learning"
    quality: str = "self_confidence"
    protected: tuple[str, ...] = PROTECTED_CLASSES

    def __post_init__(self) -> None:
        if self.filter_by not in FILTERS:
            raise PruningInputError(f"unknown filter_by {self.filter_by!r}; expected one of {FILTERS}")
        if self.quality not in QUALITY_METHODS:
            raise PruningInputError(f"unknown quality {self.quality!r}; expected one of {QUALITY_METHODS}")
        self.protected = tuple(canonical_class(c) for c in self.protected)


def find_label_issues(
    labels: np.ndarray, pred_probs: np.ndarray, settings: PruneSettings = PruneSettings()
) -> tuple[np.ndarray, np.ndarray]:
    """Flag label issues with cleanlab.

    Args:
        labels: (N,) int given label codes.
        pred_probs: (N, 8) out-of-fold predicted probabilities.

    Returns:
        ``issue`` (N,) bool (protected classes never flagged) and ``quality`` (N,) float32
        label-quality scores in [0, 1] (low = likely wrong).
    """
    from cleanlab.filter import find_label_issues as cl_find
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    ranked = cl_find(labels, pred_probs, filter_by=settings.filter_by, return_indices_ranked_by=settings.quality)
    issue = np.zeros(len(labels), dtype=bool)
    issue[ranked] = True
    protected = np.isin(labels, [CLASS_NAMES.index(c) for c in settings.protected])
    issue &= ~protected
    quality = get_label_quality_scores(labels, pred_probs, method=settings.quality).astype(np.float32)
    return issue, quality


def align_probabilities(files: Sequence[str | Path], sample_id: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Average the probability files (an ensemble) and align them to the dataset's rows.

    Every dataset sample must have exactly one row in every file, out of fold: the file's fold
    must be the sample's fold. Unknown sample ids are errors.

    Returns:
        (N, 8) float64 probabilities in the order of ``sample_id``.
    """
    if not files:
        raise PruningInputError("no probability file given")
    position = {sid: i for i, sid in enumerate(sample_id)}
    total = np.zeros((len(sample_id), NUM_CLASSES))
    for path in files:
        try:
            preds = read_predictions(path)
        except PredictionsError as err:
            raise PruningInputError(str(err)) from None
        index = np.array([position.get(sid, -1) for sid in preds.sample_id])
        unknown = np.flatnonzero(index < 0)
        if len(unknown):
            raise PruningInputError(
                f"{path}: row {unknown[0]}: sample_id {preds.sample_id[unknown[0]]!r} is not in the dataset "
                f"({len(unknown)} unknown id(s))"
            )
        if len(index) != len(sample_id):
            missing = sorted(set(sample_id) - set(preds.sample_id))
            raise PruningInputError(
                f"{path}: {len(missing)} dataset sample(s) have no probabilities, e.g. {missing[:3]}"
            )
        wrong_fold = np.flatnonzero(preds.fold != fold[index])
        if len(wrong_fold):
            i = wrong_fold[0]
            raise PruningInputError(
                f"{path}: row {i}: sample {preds.sample_id[i]!r} has fold {preds.fold[i]} but the dataset says "
                f"{fold[index[i]]}; probabilities must be out-of-fold"
            )
        total[index] += preds.proba
    return total / len(files)


@dataclass
class PruneResult:
    """What pruning flagged, per class and fold, and how (stored in ``build_report.json``)."""

    method: str
    settings: dict
    probability_files: list[dict]
    num_rows: int
    num_flagged: int
    flagged_per_class: dict[str, int]
    rows_per_class: dict[str, int]
    flagged_per_fold: dict[str, int]
    rows_per_fold: dict[str, int]
    seconds: float = 0.0
    truth: dict | None = field(default=None)

    @property
    def share(self) -> float:
        return self.num_flagged / max(self.num_rows, 1)


def prune_dataset(
    dataset: str | Path,
    probability_files: Sequence[str | Path],
    settings: PruneSettings = PruneSettings(),
    *,
    progress: bool = True,
    card: CardRenderer | None = None,
) -> tuple[PruneResult, dict[str, np.ndarray]]:
    """Prune ``dataset`` in place (atomically): fill the pruning columns, move flagged rows to
    the ``issues`` shards that only ``full`` lists, and update the statistics and, given ``card``, the card
    (see :data:`.writer.CardRenderer`; without it the pruned folder has no ``README.md``).

    Returns:
        The result summary and the per-row arrays (``sample_id``, ``label``, ``fold``,
        ``issue``, ``quality``, ``proba``) for reports.
    """
    started = time.perf_counter()
    dataset = Path(dataset)
    recover(dataset)  # a prune killed mid-swap leaves the dataset beside its place
    meta = _read_columns(dataset, ("sample_id", "label", "fold"))
    proba = align_probabilities(probability_files, meta["sample_id"], meta["fold"])
    issue, quality = find_label_issues(meta["label"], proba, settings)
    flags = {sid: (bool(f), float(q)) for sid, f, q in zip(meta["sample_id"], issue, quality)}
    result = PruneResult(
        method=(
            f"cleanlab.filter.find_label_issues(filter_by={settings.filter_by!r}, "
            f"return_indices_ranked_by={settings.quality!r}); protected: {', '.join(settings.protected)}"
        ),
        settings=asdict(settings),
        probability_files=[{"path": str(p), "sha256": sha256_file(p)} for p in probability_files],
        num_rows=len(issue),
        num_flagged=int(issue.sum()),
        flagged_per_class={c: int(issue[meta["label"] == k].sum()) for k, c in enumerate(CLASS_NAMES)},
        rows_per_class={c: int((meta["label"] == k).sum()) for k, c in enumerate(CLASS_NAMES)},
        flagged_per_fold={s: int(issue[meta["fold"] == k].sum()) for k, s in enumerate(SPLIT_NAMES)},
        rows_per_fold={s: int((meta["fold"] == k).sum()) for k, s in enumerate(SPLIT_NAMES)},
    )
    _rewrite(dataset, flags, result, started, progress, card)
    rows = {**meta, "issue": issue, "quality": quality, "proba": proba}
    return result, rows


def _read_columns(dataset: Path, columns: Sequence[str]) -> dict[str, np.ndarray]:
    tables = list(iter_rows(dataset, columns=columns))
    out = {}
    for c in columns:
        values = [v for t in tables for v in t.column(c).to_pylist()]
        out[c] = np.array(values, dtype=object if c == "sample_id" else np.int64)
    return out


def _rewrite(
    dataset: Path,
    flags: dict[str, tuple[bool, float]],
    result: PruneResult,
    started: float,
    progress: bool,
    card: CardRenderer | None,
) -> None:
    stats = DatasetStatistics.load(dataset)
    report = read_report(dataset)
    generated = {CARD_FILE, MANIFEST_FILE, REPORT_FILE, STATISTICS_FILE, DATA_DIR}
    bar = tqdm(total=result.num_rows, unit="row", desc=f"prune {dataset.name}", disable=not progress)
    with atomic_directory(dataset, DATASET_FOLDER) as tmp:  # through a symbolic link: the real folder
        writer = DatasetWriter(
            tmp,
            stats.band_names,
            stats.dtype,
            stats.patch_size,
            rows_per_shard=report.rows_per_shard,
            row_group_size=report.row_group_size,
        )
        for batch in iter_rows(dataset, patch_size=stats.patch_size):
            _apply_flags(batch, flags)
            writer.write(batch)
            bar.update(len(batch))
        bar.close()
        written = writer.finish()
        # the rows and patches are the build's: keep its band figures, which leave the nodata of padded patches out
        written.statistics.bands, written.statistics.split_bands = stats.bands, stats.split_bands
        result.seconds = round(time.perf_counter() - started, 3)
        report.pruning = asdict(result)
        write_metadata(tmp, written, report, card)
        for item in dataset.iterdir():  # keep what other jobs put there (e.g. the leaderboard)
            if item.name not in generated and not item.name.startswith("."):
                copy = shutil.copytree if item.is_dir() else shutil.copy2
                copy(item, tmp / item.name)


def _apply_flags(batch: PatchBatch, flags: dict[str, tuple[bool, float]]) -> None:
    pairs = [flags[sid] for sid in batch.sample_id]
    batch.label_issue = np.array([f for f, _ in pairs], dtype=bool)
    batch.label_quality = np.array([q for _, q in pairs], dtype=np.float32)


def score_against_truth(rows: dict[str, np.ndarray], truth_path: str | Path) -> dict:
    """Precision and recall of the flagged labels against the truly wrong ones.

    Args:
        rows: per-row arrays from :func:`prune_dataset` (``sample_id``, ``label``, ``issue``).
        truth_path: a Parquet table with ``sample_id`` and ``true_class`` (class names), such
            as the synthetic generator's ``truth/labels.parquet``.
    """
    table = pq.read_table(truth_path, columns=["sample_id", "true_class"]).to_pydict()
    true = {sid: canonical_class(c) for sid, c in zip(table["sample_id"], table["true_class"])}
    missing = [sid for sid in rows["sample_id"] if sid not in true]
    if missing:
        raise PruningInputError(f"{truth_path}: no truth for {len(missing)} sample(s), e.g. {missing[:3]}")
    wrong = np.array([CLASS_NAMES[label] != true[sid] for sid, label in zip(rows["sample_id"], rows["label"])])
    flagged = rows["issue"]
    hits = int((wrong & flagged).sum())
    per_class = {}
    for k, c in enumerate(CLASS_NAMES):
        sel = rows["label"] == k
        per_class[c] = {
            "labels": int(sel.sum()),
            "wrong": int((wrong & sel).sum()),
            "flagged": int((flagged & sel).sum()),
            "flagged_wrong": int((wrong & flagged & sel).sum()),
        }
    return {
        "truth_file": str(truth_path),
        "wrong_labels": int(wrong.sum()),
        "flagged": int(flagged.sum()),
        "precision": hits / max(int(flagged.sum()), 1),
        "recall": hits / max(int(wrong.sum()), 1),
        "per_class": per_class,
    }


def write_report(
    out_dir: str | Path, result: PruneResult, rows: dict[str, np.ndarray], dataset: str | Path, *, n_examples: int = 24
) -> list[Path]:
    """The pruning report: JSON, a bar chart of the pruned share per class and fold, and a grid
    of the lowest-quality flagged examples (true-colour patch, given and suggested label)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "pruning.json", json.dumps(asdict(result), indent=2) + "\n")
    share = plot_flagged_share(
        result.flagged_per_class, result.rows_per_class, result.flagged_per_fold, result.rows_per_fold
    )
    flagged = np.flatnonzero(rows["issue"])
    lowest = flagged[np.argsort(rows["quality"][flagged], kind="stable")][:n_examples]
    examples = plot_lowest_quality(
        _read_patches(dataset, rows["sample_id"][lowest]),
        given=[CLASS_NAMES[k] for k in rows["label"][lowest]],
        suggested=[CLASS_NAMES[k] for k in np.argmax(rows["proba"][lowest], axis=1)],
        quality=rows["quality"][lowest],
    )
    return [
        out_dir / "pruning.json",
        save_figure(share, out_dir / "pruned_share.png", dpi=110),
        save_figure(examples, out_dir / "lowest_quality.png", dpi=110),
    ]


def _read_patches(dataset: str | Path, sample_ids: Sequence[str]) -> np.ndarray:
    """``(N, bands, size, size)`` patches of ``sample_ids``, in that order, read until all are found."""
    wanted = set(sample_ids)
    found: dict[str, np.ndarray] = {}
    if wanted:
        for batch in iter_rows(dataset):
            found.update((sid, batch.patches[j]) for j, sid in enumerate(batch.sample_id) if sid in wanted)
            if len(found) == len(wanted):
                break
    return np.stack([found[sid] for sid in sample_ids]) if len(sample_ids) else np.empty((0, 0, 0, 0), np.float32)
