"""Predictions files: one Parquet row per sample with its fold, predicted class and class probabilities.

Columns, in this order: ``sample_id`` (string), ``fold`` (int8), ``pred`` (int64 label code) and one float32
column ``p_{class}`` per class of ``dataset_builder.schema.CLASS_NAMES`` (``p_ice`` ... ``p_cloud``).
Out-of-fold predictions of cross-validation (the input of label pruning) and every evaluation use it.
Reading validates the file; every error names the offending row. Reading is bounded (:data:`MAX_ROWS`,
:data:`MAX_DECODED_BYTES`) from the file's Parquet footer before any column is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataset_builder.atomic import atomic_path
from dataset_builder.bounded import read_parquet
from dataset_builder.errors import PredictionsError
from dataset_builder.schema import CLASS_NAMES, NUM_CLASSES, NUM_FOLDS

#: Probability column of each class, in label-code order.
PROBA_COLUMNS: tuple[str, ...] = tuple(f"p_{c}" for c in CLASS_NAMES)
COLUMNS: tuple[str, ...] = ("sample_id", "fold", "pred", *PROBA_COLUMNS)
#: Largest allowed deviation of a row's probability sum from 1.
SUM_TOLERANCE = 1e-4
#: Limits of a predictions file read from disk: rows (the dataset has ~137k) and bytes once decoded (~60 a row).
MAX_ROWS = 10_000_000
MAX_DECODED_BYTES = 2 * 2**30
SCHEMA = pa.schema(
    [pa.field("sample_id", pa.string()), pa.field("fold", pa.int8()), pa.field("pred", pa.int64())]
    + [pa.field(c, pa.float32()) for c in PROBA_COLUMNS]
)


@dataclass(frozen=True)
class Predictions:
    """A validated predictions table.

    Attributes:
        sample_id: (N,) str sample ids, unique.
        fold: (N,) int8 fold of each sample (0-5).
        pred: (N,) int64 predicted label code (argmax of ``proba``).
        proba: (N, 8) float32 class probabilities, columns in ``CLASS_NAMES`` order; rows sum to 1.
    """

    sample_id: np.ndarray
    fold: np.ndarray
    pred: np.ndarray
    proba: np.ndarray

    def __len__(self) -> int:
        return len(self.sample_id)

    def select(self, mask_or_index: np.ndarray) -> "Predictions":
        """The rows picked by a boolean mask or an index array."""
        return Predictions(*(a[mask_or_index] for a in (self.sample_id, self.fold, self.pred, self.proba)))

    def to_table(self) -> pa.Table:
        """The Arrow table written to Parquet (schema ``SCHEMA``)."""
        arrays = [
            pa.array(self.sample_id, pa.string()),
            pa.array(self.fold, pa.int8()),
            pa.array(self.pred, pa.int64()),
        ]
        arrays += [pa.array(self.proba[:, k], pa.float32()) for k in range(NUM_CLASSES)]
        return pa.Table.from_arrays(arrays, schema=SCHEMA)

    @classmethod
    def concatenate(cls, parts: Sequence["Predictions"]) -> "Predictions":
        """Rows of several tables (e.g. one per fold), validated together (ids stay unique)."""
        if not parts:
            raise PredictionsError("no predictions to concatenate")
        return make_predictions(
            np.concatenate([p.sample_id for p in parts]),
            np.concatenate([p.fold for p in parts]),
            np.concatenate([p.proba for p in parts]),
            pred=np.concatenate([p.pred for p in parts]),
        )


def _row(i: int, sample_id: np.ndarray) -> str:
    return f"row {i} (sample_id {sample_id[i]!r})"


def validate(
    sample_id: np.ndarray, fold: np.ndarray, pred: np.ndarray, proba: np.ndarray, source: str = "predictions"
) -> None:
    """Check the format (see module docstring); raise :class:`PredictionsError` naming the first bad row."""
    n = len(sample_id)
    if proba.ndim != 2 or proba.shape[1] != NUM_CLASSES:
        raise PredictionsError(
            f"{source}: probabilities must have {NUM_CLASSES} columns ({', '.join(PROBA_COLUMNS)}), got shape {proba.shape}"
        )
    for name, values in (("fold", fold), ("pred", pred), ("probabilities", proba)):
        if len(values) != n:
            raise PredictionsError(f"{source}: {n} sample ids but {len(values)} rows of {name}")
    if n and any(not isinstance(s, str) or not s for s in sample_id):
        i = next(i for i, s in enumerate(sample_id) if not isinstance(s, str) or not s)
        raise PredictionsError(f"{source}: row {i}: sample_id must be a non-empty string, got {sample_id[i]!r}")
    _, first, counts = np.unique(sample_id.astype(str), return_index=True, return_counts=True)
    if np.any(counts > 1):
        i = int(np.sort(first[counts > 1])[0])
        dup = np.flatnonzero(sample_id == sample_id[i])
        raise PredictionsError(
            f"{source}: {_row(i, sample_id)} is repeated in rows {dup.tolist()}; sample ids must be unique"
        )
    checks = (
        (~((fold >= 0) & (fold < NUM_FOLDS)), lambda i: f"fold {fold[i]} is not one of 0-{NUM_FOLDS - 1}"),
        (~np.isfinite(proba).all(axis=1), lambda i: f"probabilities {proba[i].tolist()} are not all finite"),
        (((proba < 0) | (proba > 1)).any(axis=1), lambda i: f"probabilities {proba[i].tolist()} are not all in [0, 1]"),
        (
            np.abs(proba.astype(np.float64).sum(axis=1) - 1) > SUM_TOLERANCE,
            lambda i: (
                f"probabilities sum to {proba[i].astype(np.float64).sum():.6f}, not 1 (tolerance {SUM_TOLERANCE})"
            ),
        ),
        (~((pred >= 0) & (pred < NUM_CLASSES)), lambda i: f"pred {pred[i]} is not a label code 0-{NUM_CLASSES - 1}"),
    )
    for bad, message in checks:
        if np.any(bad):
            i = int(np.argmax(bad))
            raise PredictionsError(f"{source}: {_row(i, sample_id)}: {message(i)}")


def make_predictions(
    sample_id: Sequence[str] | np.ndarray,
    fold: Sequence[int] | np.ndarray | int,
    proba: np.ndarray,
    *,
    pred: np.ndarray | None = None,
    source: str = "predictions",
) -> Predictions:
    """A validated :class:`Predictions`; ``fold`` may be one int for all rows, ``pred`` defaults to the argmax."""
    ids = np.asarray(sample_id, dtype=object)
    proba = np.asarray(proba, dtype=np.float32)
    folds = np.broadcast_to(np.asarray(fold), (len(ids),)) if np.ndim(fold) == 0 else np.asarray(fold)
    if folds.size and not np.issubdtype(folds.dtype, np.integer):
        raise PredictionsError(f"{source}: fold must hold integers, got dtype {folds.dtype}")
    if pred is None:  # a malformed ``proba`` is reported by ``validate``
        pred = proba.argmax(axis=1) if proba.ndim == 2 else np.zeros(len(ids))
    pred = np.asarray(pred, dtype=np.int64)
    validate(ids, folds, pred, proba, source)
    return Predictions(ids, folds.astype(np.int8), pred, proba)


def write_predictions(
    path: str | Path,
    sample_id: Sequence[str] | np.ndarray,
    fold: Sequence[int] | np.ndarray | int,
    proba: np.ndarray,
    *,
    pred: np.ndarray | None = None,
) -> Predictions:
    """Validate and write a predictions Parquet file atomically.

    Args:
        path: the ``.parquet`` file to write (replaced if present).
        sample_id: (N,) unique sample ids.
        fold: (N,) folds 0-5, or one fold for every row.
        proba: (N, 8) class probabilities in ``CLASS_NAMES`` order.
        pred: (N,) predicted label codes; default the argmax of ``proba``.

    Returns:
        The validated table that was written.
    """
    table = make_predictions(sample_id, fold, proba, pred=pred, source=str(path))
    with atomic_path(path) as tmp:
        pq.write_table(table.to_table(), tmp)
    return table


def read_predictions(path: str | Path, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_DECODED_BYTES) -> Predictions:
    """Read and validate a predictions Parquet file (columns and types as in :data:`SCHEMA`), refusing one of more
    than ``max_rows`` rows or ``max_bytes`` decoded before decoding it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no predictions file")
    table = read_parquet(path, COLUMNS, max_rows=max_rows, max_bytes=max_bytes, error=PredictionsError)
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise PredictionsError(f"{path}: missing column(s) {missing}; a predictions file has {list(COLUMNS)}")
    for c in COLUMNS:
        want = SCHEMA.field(c).type
        have = table.schema.field(c).type
        if have != want and not (pa.types.is_large_string(have) and want == pa.string()):
            raise PredictionsError(f"{path}: column {c!r} has type {have}, expected {want}")
        if table.column(c).null_count:
            i = int(np.flatnonzero(table.column(c).is_null().to_numpy(zero_copy_only=False))[0])
            raise PredictionsError(f"{path}: row {i}: column {c!r} is null")
    sample_id = np.asarray(table.column("sample_id").to_pylist(), dtype=object)
    proba = (
        np.stack([table.column(c).to_numpy() for c in PROBA_COLUMNS], axis=1)
        if len(table)
        else np.zeros((0, NUM_CLASSES), np.float32)
    )
    pred = table.column("pred").to_numpy()
    fold = table.column("fold").to_numpy()
    validate(sample_id, fold, pred, proba, str(path))
    return Predictions(sample_id, fold, pred, proba.astype(np.float32))


__all__ = [
    "COLUMNS",
    "PROBA_COLUMNS",
    "Predictions",
    "PredictionsError",
    "make_predictions",
    "read_predictions",
    "write_predictions",
]
