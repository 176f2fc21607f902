"""Build a Hugging Face dataset folder from a raw source, atomically and repeatably."""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import closing
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
import rasterio
from tqdm.auto import tqdm

from dataset_builder.atomic import OutputKind, atomic_directory
from dataset_builder.errors import DatasetNotFoundError, InvalidSourceError
from dataset_builder.records import PatchBatch, SkipReport, implausible_values, refuse
from dataset_builder.released import iter_released, scan_released
from dataset_builder.scenes import (
    EdgePolicy,
    SceneFile,
    find_point_table,
    iter_scenes,
    read_points,
    scan_scenes,
    scene_bands,
)
from dataset_builder.schema import BAND_NAMES, PATCH_SIZE
from dataset_builder.writer import (
    DATA_DIR,
    DEFAULT_ROW_GROUP_SIZE,
    DEFAULT_ROWS_PER_SHARD,
    MANIFEST_FILE,
    BuildReport,
    CardRenderer,
    DatasetWriter,
    WrittenDataset,
    write_metadata,
)

Layout = Literal["auto", "released", "scenes"]


def is_dataset_folder(folder: Path) -> bool:
    """True for a folder this project built: its ``manifest.json`` lists shards and configs."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and {"shards", "configs"} <= manifest.keys()


#: What a build or a prune replaces: only a folder of this kind, unless told to overwrite.
DATASET_FOLDER = OutputKind(f"a built glacier-facies dataset (with {MANIFEST_FILE})", is_dataset_folder)


def detect_layout(source: str | Path) -> Literal["released", "scenes"]:
    """``scenes`` when ``source`` has a ``points.*`` table, else ``released`` (label GeoTIFFs)."""
    source = Path(source)
    if not source.is_dir():
        raise DatasetNotFoundError(f"{source}: source folder not found")
    return "scenes" if find_point_table(source) is not None else "released"


def build_dataset(
    source: str | Path,
    out: str | Path,
    *,
    layout: Layout = "auto",
    skip_invalid: bool = False,
    edge: EdgePolicy = "pad",
    points_crs: str | None = None,
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    workers: int = 2,
    progress: bool = True,
    card: CardRenderer | None = None,
    overwrite: bool = False,
) -> BuildReport:
    """Build the dataset folder ``out`` from ``source``.

    Args:
        source: a released-layout folder (label GeoTIFFs, searched recursively, symbolic links followed) or a
            scenes-plus-points folder (``points.gpkg|geojson|csv`` and scene GeoTIFFs in ``scenes/``).
        out: the dataset folder; built in a temporary sibling and renamed into place, so an interrupted build
            leaves a previous dataset intact (see :func:`.atomic.atomic_directory` for what is refused and
            recovered).
        layout: force a layout instead of detecting it.
        skip_invalid: count invalid files or rows in the report instead of stopping at the first; files of a
            dtype other than the majority's are among them.
        edge: scenes layout: ``"pad"`` patches crossing the scene edge (flagged) or ``"skip"`` them.
        points_crs: CRS of x/y in a point table that does not carry one.
        rows_per_shard, row_group_size: Parquet sharding (rows).
        workers: reader processes (released layout).
        progress: show a progress bar.
        card: renders the dataset card, written inside the atomic swap (see :data:`.writer.CardRenderer`); without
            it the folder has no ``README.md`` and does not load by config.
        overwrite: replace ``out`` even when it is a file or a folder that is not a built dataset.

    Raises:
        DatasetNotFoundError: no source folder, or no labels in it.
        InvalidSourceError: the first invalid file or row, naming it (unless ``skip_invalid``).
        OutputRefusedError: ``out`` is, holds or lies inside ``source`` (or see :func:`.atomic.atomic_directory`);
            :class:`~.errors.OutputExistsError` when it is something else than a dataset and not ``overwrite``.
    """
    source = Path(source)
    layout = detect_layout(source) if layout == "auto" else layout
    skipped = SkipReport()
    started = time.perf_counter()
    with atomic_directory(out, DATASET_FOLDER, inputs=[source], overwrite=overwrite) as tmp:
        invalid = skipped if skip_invalid else None
        batches, bands, total, unit = _open_source(source, layout, invalid, skipped, edge, points_crs, workers)
        if total == 0:
            if skip_invalid and skipped.total:
                raise DatasetNotFoundError(
                    f"{source}: every label was invalid; nothing to build ({_skip_text(skipped)})"
                )
            raise DatasetNotFoundError(f"{source}: no labels found ({layout} layout)")
        bar = tqdm(total=total, unit=unit, desc=f"build {Path(out).name}", disable=not progress)
        writers = _WritersByDtype(tmp, bands, rows_per_shard, row_group_size)
        with closing(batches(bar.update)) as rows:
            for batch in rows:
                writers.write(batch)
        bar.close()
        if not writers.by_dtype:
            raise DatasetNotFoundError(f"{source}: every label was invalid; nothing to build ({_skip_text(skipped)})")
        written, dtype, num_rows = writers.finish(skipped)
        report = BuildReport(
            source=str(source),
            layout=layout,
            num_rows=num_rows,
            bands=list(bands),
            dtype=dtype,
            skipped=skipped.to_dict(),
            seconds=round(time.perf_counter() - started, 3),
            rows_per_shard=rows_per_shard,
            row_group_size=row_group_size,
        )
        write_metadata(tmp, written, report, card)
    return report


class _WritersByDtype:
    """One :class:`DatasetWriter` per patch dtype (in ``.rows-{dtype}`` inside the folder); the majority is kept.

    Readers raise at the first file of another dtype unless invalid input is skipped: then the dtype most rows share
    wins (the first seen on a tie), whichever sorts first, and the others' rows are counted as skipped.
    """

    def __init__(self, folder: Path, bands: tuple[str, ...], rows_per_shard: int, row_group_size: int):
        self.folder, self.bands = folder, bands
        self.shards = (rows_per_shard, row_group_size)
        self.by_dtype: dict[str, DatasetWriter] = {}
        self.first_sample: dict[str, str] = {}

    def write(self, batch: PatchBatch) -> None:
        if not len(batch):
            return
        dtype = batch.patches.dtype.name
        if dtype not in self.by_dtype:
            folder = self.folder / f".rows-{dtype}"
            self.by_dtype[dtype] = DatasetWriter(folder, self.bands, dtype, PATCH_SIZE, *self.shards)
            self.first_sample[dtype] = str(batch.sample_id[0])
        self.by_dtype[dtype].write(batch)

    def finish(self, skipped: SkipReport) -> tuple[WrittenDataset, str, int]:
        """Close every writer, move the majority's shards into the folder; returns them, their dtype and rows."""
        kept = max(self.by_dtype, key=lambda d: self.by_dtype[d].num_rows)  # first seen on a tie
        rows = self.by_dtype[kept].num_rows
        written = None
        for dtype, writer in self.by_dtype.items():
            done = writer.finish()
            if dtype == kept:
                written = done
                os.replace(writer.folder / DATA_DIR, self.folder / DATA_DIR)
            else:
                reason = f"dtype {dtype} differs from {kept}, the majority dtype ({rows} rows)"
                skipped.add(InvalidSourceError(f"sample {self.first_sample[dtype]}", reason), writer.num_rows)
            shutil.rmtree(writer.folder)
        return written, kept, rows


def _skip_text(skipped: SkipReport) -> str:
    return ", ".join(f"{n} {r}" for r, n in skipped.counts.items()) or "no rows"


def _open_source(
    source: Path,
    layout: str,
    skipped: SkipReport | None,
    notes: SkipReport,
    edge: EdgePolicy,
    points_crs: str | None,
    workers: int,
):
    """Return (batches(progress_callback) -> iterator, bands, total work units, unit name)."""
    if layout == "released":
        files = scan_released(source, skipped, notes)

        def batches(update) -> Iterator[PatchBatch]:
            return iter_released(files, workers=workers, skipped=skipped, on_file=update)

        return batches, BAND_NAMES, len(files), "file"
    if layout != "scenes":
        raise ValueError(f"unknown layout {layout!r}; expected released, scenes or auto")
    table = find_point_table(source)
    if table is None:
        raise DatasetNotFoundError(f"{source}: no points.gpkg/geojson/csv point table")
    points = read_points(table, points_crs=points_crs)
    scene_dir = source / "scenes" if (source / "scenes").is_dir() else source
    scenes = scan_scenes(scene_dir)
    if not scenes:
        raise DatasetNotFoundError(f"{scene_dir}: no scene GeoTIFFs")
    first = scenes[sorted(set(points.scene) & set(scenes))[0]] if set(points.scene) & set(scenes) else None
    if first is None:
        raise InvalidSourceError(table, f"no point matches a scene in {scene_dir}")
    with rasterio.open(first.path) as src:
        bands, _ = scene_bands(first.path, src.descriptions)

    def batches(update) -> Iterator[PatchBatch]:
        for batch in iter_scenes(points, scenes, edge=edge, skipped=skipped, on_scene=update):
            yield _plausible_rows(batch, bands, scenes, skipped)

    return batches, bands, len(set(points.scene)), "scene"


def _plausible_rows(
    batch: PatchBatch, bands: tuple[str, ...], scenes: dict[str, SceneFile], skipped: SkipReport | None
) -> PatchBatch:
    """``batch`` without the patches holding values their band cannot take (raised, or counted in ``skipped``)."""
    implausible = implausible_values(batch.patches, bands, batch.fill)
    for row, reason in implausible.items():
        refuse(InvalidSourceError(f"{scenes[batch.scene[row]].path} (sample {batch.sample_id[row]})", reason), skipped)
    if not implausible:
        return batch
    keep = np.ones(len(batch), dtype=bool)
    keep[list(implausible)] = False
    return batch.take(keep)
