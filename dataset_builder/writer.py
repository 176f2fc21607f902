"""Writing a built dataset folder: Parquet shards per fold, statistics, manifest and card.

The folder is laid out as a Hugging Face dataset repository::

    README.md                          dataset card (by the caller's CardRenderer); its YAML declares configs and splits
    statistics.json                    per-band statistics (overall and per fold), class counts
    manifest.json                      every shard: split, kind, rows, bytes, sha256
    build_report.json                  source, layout, what was skipped and why, pruning state
    data/fold_{k}/clean-*.parquet      rows not flagged as label issues (configs pruned and full)
    data/fold_{k}/issues-*.parquet     rows flagged by pruning (config full only)

``pruned`` is a subset of ``full`` without duplicated rows: both list the ``clean`` shards and
only ``full`` lists the ``issues`` shards.

Shards are written as ``datasets`` writes Parquet (:data:`PARQUET_OPTIONS`): with a page index and content-defined
chunking, so the pages of rows that a prune only moves keep their bytes and a re-upload deduplicates them. The
revision of a folder is the sha256 of its manifest (:func:`dataset_revision`); :func:`iter_rows` reads one revision.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataset_builder.atomic import atomic_write_text
from dataset_builder.bounded import parse_json, read_bytes, read_json
from dataset_builder.errors import (
    DatasetChangedError,
    DatasetNotFoundError,
    FileFormatError,
    IncompleteManifestError,
)
from dataset_builder.files import sha256_file
from dataset_builder.records import PatchBatch
from dataset_builder.schema import CLASS_NAMES, COLUMNS, PATCH_SIZE, SPLIT_NAMES, make_features
from dataset_builder.statistics import (
    STATISTICS_FILE,
    DatasetStatistics,
    StatisticsAccumulator,
    empty_class_counts,
    pool_band_statistics,
)

MANIFEST_FILE = "manifest.json"
REPORT_FILE = "build_report.json"
CARD_FILE = "README.md"
DATA_DIR = "data"
#: Shard kinds: ``clean`` rows belong to both configs, ``issues`` rows to ``full`` only.
KINDS = ("clean", "issues")
#: ~240 MB of float32 11x33x33 patches per shard: streams well and keeps shard counts modest.
DEFAULT_ROWS_PER_SHARD = 5000
DEFAULT_ROW_GROUP_SIZE = 256
#: Content-defined chunking of data pages (the options of ``datasets.config.DEFAULT_CDC_OPTIONS``), sized for this
#: dataset's rows: a patch row (~48 KB of float32, more as the chunker also counts list levels) outgrows these chunks,
#: so each patch gets a page of its own that keeps its bytes wherever a prune moves the row. With the ``datasets``
#: default (256 KiB - 1 MiB, several patches a page) a prune made 93 % of the upload's ~64 KiB chunks new and a
#: re-prune 79 %; with these 33 % and 17 % (previous settings: 96 % and 91 %; ``scripts/benchmark_dataset.py`` [4]).
CDC_OPTIONS = {"min_chunk_size": 16 * 1024, "max_chunk_size": 64 * 1024, "norm_level": 0}
#: ``pyarrow.parquet.ParquetWriter`` settings of every shard: as ``datasets.arrow_writer.ParquetWriter`` writes
#: (page index, content-defined chunking recorded in the footer), with zstd and dictionaries for the metadata columns.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "use_dictionary": [c for c in COLUMNS if c != "patch"],
    "write_page_index": True,
    "use_content_defined_chunking": CDC_OPTIONS,
}


@dataclass
class ShardInfo:
    """One Parquet shard as the manifest records it."""

    path: str
    split: str
    kind: str
    rows: int
    bytes: int
    sha256: str
    arrow_bytes: int  # uncompressed in-memory size, the hub's ``num_bytes``


@dataclass
class WrittenDataset:
    """What :class:`DatasetWriter` wrote: the shards and the statistics of the rows."""

    shards: list[ShardInfo]
    statistics: DatasetStatistics
    bands: tuple[str, ...]

    def _shards(self, config: str, split: str | None = None) -> list[ShardInfo]:
        """Shards of ``split`` (default: every split) in ``config`` (``pruned``: clean shards; ``full``: all)."""
        kinds = ("clean",) if config == "pruned" else KINDS
        return [s for s in self.shards if split in (None, s.split) and s.kind in kinds]

    def files(self, config: str, split: str) -> list[str]:
        """Shard paths of ``split`` in ``config``."""
        return [s.path for s in self._shards(config, split)]

    def rows(self, config: str, split: str) -> int:
        """Rows of ``split`` in ``config``, as the shards hold them."""
        return sum(s.rows for s in self._shards(config, split))

    def num_bytes(self, config: str, split: str) -> int:
        """Uncompressed Arrow bytes of ``split`` in ``config``."""
        return sum(s.arrow_bytes for s in self._shards(config, split))

    def download_size(self, config: str) -> int:
        """Parquet bytes of every shard of ``config`` (the hub's ``download_size``)."""
        return sum(s.bytes for s in self._shards(config))


def arrow_schema(bands: Sequence[str], dtype: str, patch_size: int) -> pa.Schema:
    """Parquet schema of a row: the storage types of the Hugging Face features, with the
    features recorded in the ``huggingface`` schema metadata so ``load_dataset`` restores them."""
    features = make_features(bands, dtype, patch_size)
    schema = features.arrow_schema
    patch_type = schema.field("patch").type.storage_type
    return schema.set(schema.get_field_index("patch"), pa.field("patch", patch_type))


def batch_to_table(batch: PatchBatch, schema: pa.Schema) -> pa.Table:
    """A PatchBatch as an Arrow table; the patch column is built from the flat array without copies per row."""
    n, b, h, w = batch.patches.shape
    values = pa.array(np.ascontiguousarray(batch.patches).reshape(-1))
    rows_w = pa.ListArray.from_arrays(pa.array(np.arange(0, n * b * h * w + 1, w, dtype=np.int32)), values)
    rows_h = pa.ListArray.from_arrays(pa.array(np.arange(0, n * b * h + 1, h, dtype=np.int32)), rows_w)
    patch = pa.ListArray.from_arrays(pa.array(np.arange(0, n * b + 1, b, dtype=np.int32)), rows_h)
    columns: dict[str, Any] = {}
    for name in COLUMNS:
        if name == "patch":
            columns[name] = patch
        elif name == "label_quality":
            q = batch.label_quality.astype(np.float32)
            columns[name] = pa.array(q, mask=np.isnan(q), type=pa.float32())
        elif name in ("sensor", "crs"):
            values_ = getattr(batch, name)
            columns[name] = pa.array([None if v is None else str(v) for v in values_], type=pa.string())
        else:
            columns[name] = pa.array(getattr(batch, name), type=schema.field(name).type)
    return pa.Table.from_pydict(columns, schema=schema)


def table_to_batch(table: pa.Table, patch_size: int = PATCH_SIZE) -> PatchBatch:
    """The inverse of :func:`batch_to_table`: Arrow rows of a built dataset as a PatchBatch."""
    columns: dict[str, np.ndarray] = {}
    for name in COLUMNS:
        column = table.column(name).combine_chunks()
        if isinstance(column, pa.ExtensionArray):
            column = column.storage
        if name == "patch":
            n = len(column)
            flat = column.flatten().flatten().flatten().to_numpy(zero_copy_only=False)
            columns["patches"] = flat.reshape(n, -1, patch_size, patch_size)
        elif name == "label_quality":
            columns[name] = column.to_numpy(zero_copy_only=False).astype(np.float32)  # nulls -> NaN
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            columns[name] = np.array(column.to_pylist(), dtype=object)
        else:
            columns[name] = column.to_numpy(zero_copy_only=False)
    return PatchBatch(**columns)


class DatasetWriter:
    """Route rows into per-fold ``clean``/``issues`` Parquet shards and gather statistics.

    Rows are written in the order they arrive; the same rows in the same order give
    byte-identical shards. Memory holds one row group per open shard.
    """

    def __init__(
        self,
        folder: str | Path,
        bands: Sequence[str],
        dtype: str,
        patch_size: int = PATCH_SIZE,
        rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
        row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    ):
        self.folder = Path(folder)
        self.bands = tuple(bands)
        self.dtype = str(np.dtype(dtype))
        self.patch_size = patch_size
        self.rows_per_shard = rows_per_shard
        self.row_group_size = row_group_size
        self.schema = arrow_schema(self.bands, self.dtype, patch_size)
        self._open: dict[tuple[str, str], tuple[pq.ParquetWriter, Path, int, int]] = {}
        self._pending: dict[tuple[str, str], list[pa.Table]] = {}
        self._closed: list[tuple[str, str, Path, int, int]] = []
        self._split_stats = {s: StatisticsAccumulator(self.bands) for s in SPLIT_NAMES}
        self._counts = {"full": empty_class_counts(), "pruned": empty_class_counts()}
        self._ids: set[str] = set()
        self.num_rows = 0

    def write(self, batch: PatchBatch) -> None:
        """Append rows. Raises ValueError on a duplicate sample id or a wrong patch shape."""
        expected = (len(self.bands), self.patch_size, self.patch_size)
        if batch.patches.shape[1:] != expected:
            raise ValueError(f"patch shape {batch.patches.shape[1:]} is not {expected}")
        for sid in batch.sample_id:
            if sid in self._ids:
                raise ValueError(f"duplicate sample id {sid!r}")
            self._ids.add(sid)
        for fold in np.unique(batch.fold):
            in_fold = batch.fold == fold
            split = SPLIT_NAMES[int(fold)]
            self._split_stats[split].update(batch.patches[in_fold], batch.fill[in_fold])
            for kind, mask in (("clean", ~batch.label_issue), ("issues", batch.label_issue)):
                rows = np.flatnonzero(in_fold & mask)
                if len(rows):
                    self._append(split, kind, batch_to_table(batch.take(rows), self.schema))
            for label, count in zip(*np.unique(batch.label[in_fold], return_counts=True)):
                self._counts["full"][split][CLASS_NAMES[label]] += int(count)
            for label, count in zip(*np.unique(batch.label[in_fold & ~batch.label_issue], return_counts=True)):
                self._counts["pruned"][split][CLASS_NAMES[label]] += int(count)
        self.num_rows += len(batch)

    def _append(self, split: str, kind: str, table: pa.Table) -> None:
        key = (split, kind)
        pending = self._pending.setdefault(key, [])
        pending.append(table)
        total = sum(t.num_rows for t in pending)
        if total < self.row_group_size:
            return
        merged = pa.concat_tables(pending)
        done = total - total % self.row_group_size
        for start in range(0, done, self.row_group_size):
            self._write_rows(key, merged.slice(start, self.row_group_size))
        rest = merged.slice(done)
        # a copy of the few rows left: a slice would keep the whole batch's buffers alive until this split's next
        # rows come, for every split and kind at once (at the release's size, ~0.6 GB held for nothing)
        pending[:] = [rest.take(np.arange(rest.num_rows))] if rest.num_rows else []

    def _write_rows(self, key: tuple[str, str], table: pa.Table) -> None:
        while table.num_rows:
            if key not in self._open:
                index = sum(1 for s, k, *_ in self._closed if (s, k) == key)
                path = self.folder / DATA_DIR / key[0] / f"{key[1]}-{index:05d}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(path, self.schema, **PARQUET_OPTIONS)
                if PARQUET_OPTIONS.get("use_content_defined_chunking"):  # recorded in the footer, as datasets does
                    writer.add_key_value_metadata(
                        {"content_defined_chunking": json.dumps(PARQUET_OPTIONS["use_content_defined_chunking"])}
                    )
                self._open[key] = (writer, path, 0, 0)
            writer, path, rows, nbytes = self._open[key]
            take = min(table.num_rows, self.rows_per_shard - rows)
            part = table.slice(0, take)
            writer.write_table(part, row_group_size=self.row_group_size)
            table = table.slice(take)
            self._open[key] = (writer, path, rows + take, nbytes + part.nbytes)
            rows += take
            if rows >= self.rows_per_shard:
                self._close(key)

    def _close(self, key: tuple[str, str]) -> None:
        writer, path, rows, nbytes = self._open.pop(key)
        writer.close()
        self._closed.append((key[0], key[1], path, rows, nbytes))

    def finish(self) -> WrittenDataset:
        """Flush and close every shard, name them ``{kind}-{i}-of-{n}`` and return the manifest."""
        for key, pending in sorted(self._pending.items()):
            if pending:
                self._write_rows(key, pa.concat_tables(pending))
        self._pending.clear()
        for key in sorted(self._open):
            self._close(key)
        totals: dict[tuple[str, str], int] = {}
        for split, kind, *_ in self._closed:
            totals[(split, kind)] = totals.get((split, kind), 0) + 1
        shards = []
        for split, kind, path, rows, nbytes in sorted(self._closed, key=lambda c: str(c[2])):
            index = int(path.stem.split("-")[1])
            final = path.with_name(f"{kind}-{index:05d}-of-{totals[(split, kind)]:05d}.parquet")
            os.replace(path, final)
            shards.append(
                ShardInfo(
                    path=final.relative_to(self.folder).as_posix(),
                    split=split,
                    kind=kind,
                    rows=rows,
                    bytes=final.stat().st_size,
                    sha256=sha256_file(final),
                    arrow_bytes=nbytes,
                )
            )
        split_bands = {s: acc.band_statistics() for s, acc in self._split_stats.items() if acc.count.max() > 0}
        overall = [pool_band_statistics([sb[i] for sb in split_bands.values()]) for i in range(len(self.bands))]
        stats = DatasetStatistics(
            bands=overall,
            dtype=self.dtype,
            patch_size=self.patch_size,
            num_rows=self.num_rows,
            class_counts=self._counts,
            split_bands=split_bands,
        )
        return WrittenDataset(shards=shards, statistics=stats, bands=self.bands)


@dataclass
class BuildReport:
    """What a build (or a re-partition by pruning) did, stored as ``build_report.json``."""

    source: str
    layout: str
    num_rows: int
    bands: list[str]
    dtype: str
    skipped: dict = field(default_factory=dict)
    pruning: dict | None = None
    seconds: float | None = None
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE

    def to_json(self) -> str:
        """The report as published: every absolute local path reduced to its last component (:func:`public_text`)."""
        return json.dumps(_published(self.__dict__), indent=2) + "\n"


#: An absolute local path of two or more components (POSIX, or Windows with a drive letter) inside a text; URLs,
#: relative paths and a lone slash (``0/1``, ``+/-``) do not match.
_LOCAL_PATH = re.compile(r"(?<![\w./:~+-])(?:[A-Za-z]:[\\/]|/)(?:[^\s:'\"`/\\]+[\\/])+[^\s:'\"`/\\]+")


def local_paths(text: str) -> list[str]:
    """The absolute local paths that ``text`` mentions (what a published file must not hold)."""
    return _LOCAL_PATH.findall(text)


def public_text(text: str) -> str:
    """``text`` with every absolute local path reduced to its last component (``/home/me/src`` -> ``src``)."""
    return _LOCAL_PATH.sub(lambda m: PureWindowsPath(m.group()).name, text)


def _published(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _published(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_published(v) for v in value]
    return public_text(value) if isinstance(value, str) else value


#: ``card(written, report, folder) -> text``: renders the dataset card (``README.md``) of a folder that holds
#: everything else. Its YAML declares the configs ``load_dataset`` reads: a folder without a card does not load by
#: config. The hub layer passes one (``hub_cards.dataset_card.render_dataset_card``; ``hub_cards.dataset_folder``
#: builds, prunes and refreshes with it); the data layer never imports it.
CardRenderer = Callable[[WrittenDataset, BuildReport, Path], str]


def write_metadata(
    folder: Path, written: WrittenDataset, report: BuildReport, card: CardRenderer | None = None
) -> None:
    """Write statistics.json, manifest.json, build_report.json and, given ``card``, the dataset card into ``folder``."""
    atomic_write_text(folder / STATISTICS_FILE, written.statistics.to_json())
    manifest = {
        "shards": [s.__dict__ for s in written.shards],
        "configs": {
            config: {split: written.files(config, split) for split in SPLIT_NAMES if written.files(config, split)}
            for config in ("pruned", "full")
        },
    }
    atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    atomic_write_text(folder / REPORT_FILE, report.to_json())
    if card is not None:
        atomic_write_text(folder / CARD_FILE, card(written, report, folder))


def _shard_problem(shard: Any) -> str | None:
    """What is wrong with one manifest entry (None: nothing): the fields of :class:`ShardInfo`, a relative path."""
    fields = typing.get_type_hints(ShardInfo)
    if not isinstance(shard, dict) or set(shard) != set(fields):
        return f"must be an object with exactly the fields {sorted(fields)}"
    wrong = [k for k, kind in fields.items() if not isinstance(shard[k], kind) or isinstance(shard[k], bool)]
    if wrong:
        return f"field(s) {wrong} of the wrong type"
    parts = PurePosixPath(shard["path"]).parts
    if not parts or parts[0] == "/" or ".." in parts:
        return f"path {shard['path']!r} is not inside the dataset folder"
    return None


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a built dataset folder, checked: a :class:`~dataset_builder.errors.FileFormatError` names
    a ``manifest.json`` that is not JSON, too large or too deep, or lists a shard it cannot describe."""
    return manifest_at_revision(folder)[1]


def manifest_at_revision(folder: str | Path) -> tuple[str, dict]:
    """The revision of a built dataset folder and its checked manifest, from one read of ``manifest.json``."""
    path = Path(folder) / MANIFEST_FILE
    try:
        data = read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        raise DatasetNotFoundError(
            f"{folder}: not a built glacier-facies dataset (no {MANIFEST_FILE}); run scripts/build_dataset.py"
        ) from None
    manifest = parse_json(data, path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise FileFormatError(f"{path}: not a manifest (an object with a list of shards)")
    for i, shard in enumerate(manifest["shards"]):
        problem = _shard_problem(shard)
        if problem:
            raise FileFormatError(f"{path}: shard {i}: {problem}")
    return "sha256:" + hashlib.sha256(data).hexdigest(), manifest


def dataset_revision(folder: str | Path) -> str:
    """Revision of a built dataset: ``sha256:`` + the SHA-256 of its ``manifest.json`` (which holds every shard's
    sha256, so equal revisions mean equal shards). A build or prune that changes any row changes it."""
    return manifest_at_revision(folder)[0]


def check_revision(folder: str | Path, expected: str, when: str = "while it was being read") -> None:
    """Raise :class:`DatasetChangedError` unless ``folder`` is at revision ``expected``.

    Args:
        when: how the message says when the change happened.
    """
    try:
        now = dataset_revision(folder)
    except DatasetNotFoundError:
        now = "none (the folder is being replaced)"
    if now != expected:
        raise _changed(folder, expected, now, when)


def _changed(folder: str | Path, expected: str, now: str, when: str) -> DatasetChangedError:
    return DatasetChangedError(
        f"{folder}: the dataset changed {when} (revision {expected}, now {now}): a prune or rebuild replaced it; "
        "read it again"
    )


def load_written(folder: str | Path) -> WrittenDataset:
    """What a built folder holds, as :class:`DatasetWriter` returned it (for re-rendering its card).

    Raises:
        IncompleteManifestError: the manifest does not list the rows the statistics count, in some split.
    """
    stats = DatasetStatistics.load(folder)
    shards = [ShardInfo(**s) for s in read_manifest(folder)["shards"]]
    written = WrittenDataset(shards=shards, statistics=stats, bands=stats.band_names)
    for config, per_split in stats.class_counts.items():
        for split, counts in per_split.items():
            if written.rows(config, split) != sum(counts.values()):
                raise IncompleteManifestError(
                    f"{folder}: {MANIFEST_FILE} lists {written.rows(config, split)} rows of {split} in {config}, "
                    f"{STATISTICS_FILE} counts {sum(counts.values())}; rebuild the folder"
                )
    return written


def refresh_card(folder: str | Path, card: CardRenderer) -> None:
    """Re-render the dataset card of a built folder from its statistics, manifest and report."""
    folder = Path(folder)
    atomic_write_text(folder / CARD_FILE, card(load_written(folder), read_report(folder), folder))


def read_report(folder: str | Path) -> BuildReport:
    """The build report of a built dataset folder (a :class:`~dataset_builder.errors.FileFormatError` names a file
    that is not one)."""
    path = Path(folder) / REPORT_FILE
    fields = read_json(path)
    try:
        return BuildReport(**fields)
    except TypeError:  # not an object, or other fields than a BuildReport's
        raise FileFormatError(f"{path}: not a build report (an object with the fields of BuildReport)") from None


def iter_rows(
    folder: str | Path,
    *,
    columns: Sequence[str] | None = None,
    patch_size: int = PATCH_SIZE,
    revision: str | None = None,
) -> Iterator:
    """Stream every row of a built dataset (both configs), one row group at a time, shard by shard.

    Yields PatchBatch objects, or Arrow tables of just ``columns`` when given (cheap: no patches). The rows are one
    revision's: every shard is opened before the first row is yielded, so a prune or rebuild that replaces the
    folder meanwhile changes nothing of what this reads.

    Args:
        revision: the revision to read (see :func:`dataset_revision`); default the folder's current one.

    Raises:
        DatasetChangedError: the folder is not at ``revision``, or changed while its shards were being opened.
    """
    shards = _open_shards(Path(folder), revision)
    try:
        for parquet in shards:
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group, columns=list(columns) if columns else None)
                yield table if columns else table_to_batch(table, patch_size)
    finally:
        for parquet in shards:
            parquet.close()


def _open_shards(folder: Path, revision: str | None) -> list[pq.ParquetFile]:
    """Every shard of one revision of ``folder``, opened (an open file outlives the folder's replacement)."""
    start, manifest = manifest_at_revision(folder)
    if revision is not None and start != revision:
        raise _changed(folder, revision, start, "since that revision was read")
    with contextlib.ExitStack() as opened:
        try:
            shards = [opened.enter_context(pq.ParquetFile(folder / s["path"])) for s in manifest["shards"]]
        except OSError:
            check_revision(folder, start)  # a shard that vanished mid-way: the folder was replaced
            raise
        check_revision(folder, start)
        opened.pop_all()  # the caller closes them
    return shards
