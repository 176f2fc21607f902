"""Build a Hugging Face dataset folder from a raw source, atomically and repeatably."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Literal

import rasterio
from tqdm.auto import tqdm

from dataset_builder.atomic import atomic_directory
from dataset_builder.errors import DatasetNotFoundError, InvalidSourceError
from dataset_builder.records import PatchBatch, SkipReport
from dataset_builder.released import iter_released, scan_released
from dataset_builder.scenes import EdgePolicy, find_point_table, iter_scenes, read_points, scan_scenes, scene_bands
from dataset_builder.schema import BAND_NAMES, PATCH_SIZE
from dataset_builder.writer import (
    DEFAULT_ROW_GROUP_SIZE,
    DEFAULT_ROWS_PER_SHARD,
    BuildReport,
    CardRenderer,
    DatasetWriter,
    write_metadata,
)

Layout = Literal["auto", "released", "scenes"]


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
) -> BuildReport:
    """Build the dataset folder ``out`` from ``source``.

    Args:
        source: a released-layout folder (label GeoTIFFs, searched recursively) or a
            scenes-plus-points folder (``points.gpkg|geojson|csv`` and scene GeoTIFFs in ``scenes/``).
        out: the dataset folder; built in a temporary sibling and renamed into place, so an
            interrupted build leaves a previous dataset intact.
        layout: force a layout instead of detecting it.
        skip_invalid: count invalid files or rows in the report instead of stopping at the first.
        edge: scenes layout: ``"pad"`` patches crossing the scene edge (flagged) or ``"skip"`` them.
        points_crs: CRS of x/y in a point table that does not carry one.
        rows_per_shard, row_group_size: Parquet sharding (rows).
        workers: reader threads (released layout).
        progress: show a progress bar.
        card: renders the dataset card, written inside the atomic swap (see :data:`.writer.CardRenderer`); without
            it the folder has no ``README.md`` and does not load by config.

    Raises:
        DatasetNotFoundError: no source folder, or no labels in it.
        InvalidSourceError: the first invalid file or row, naming it (unless ``skip_invalid``).
    """
    source = Path(source)
    layout = detect_layout(source) if layout == "auto" else layout
    skipped = SkipReport() if skip_invalid else None
    started = time.perf_counter()
    batches, bands, total, unit = _open_source(source, layout, skipped, edge, points_crs, workers)
    if total == 0:
        if skipped and skipped.total:
            raise DatasetNotFoundError(f"{source}: every label was invalid; nothing to build ({_skip_text(skipped)})")
        raise DatasetNotFoundError(f"{source}: no labels found ({layout} layout)")
    bar = tqdm(total=total, unit=unit, desc=f"build {Path(out).name}", disable=not progress)
    with atomic_directory(out) as tmp:
        writer = None
        for batch in batches(bar.update):
            if writer is None:
                writer = DatasetWriter(tmp, bands, batch.patches.dtype.name, PATCH_SIZE, rows_per_shard, row_group_size)
            writer.write(batch)
        bar.close()
        if writer is None:
            raise DatasetNotFoundError(f"{source}: every label was invalid; nothing to build ({_skip_text(skipped)})")
        written = writer.finish()
        report = BuildReport(
            source=str(source),
            layout=layout,
            num_rows=writer.num_rows,
            bands=list(bands),
            dtype=writer.dtype,
            skipped=skipped.to_dict() if skipped else {},
            seconds=round(time.perf_counter() - started, 3),
            rows_per_shard=rows_per_shard,
            row_group_size=row_group_size,
        )
        write_metadata(tmp, written, report, card)
    return report


def _skip_text(skipped: SkipReport | None) -> str:
    return ", ".join(f"{n} {r}" for r, n in skipped.counts.items()) if skipped else "no rows"


def _open_source(source: Path, layout: str, skipped: SkipReport | None, edge: EdgePolicy, points_crs, workers):
    """Return (batches(progress_callback) -> iterator, bands, total work units, unit name)."""
    if layout == "released":
        files = scan_released(source, skipped)

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
        return iter_scenes(points, scenes, edge=edge, skipped=skipped, on_scene=update)

    return batches, bands, len(set(points.scene)), "scene"
