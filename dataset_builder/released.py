"""Reader of the released layout: one GeoTIFF per expert label.

File names follow ``{fold}_{glacier}_{date}_..._{class}.tif``: split on ``_``, the first part
is the cross-validation fold, the second the glacier, the third the acquisition date and the
last the class name; parts in between are free-form (a sensor token among them is recognised).
Each file holds one patch, 11 bands by 33 x 33 pixels, centred on the labelled point.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from dataset_builder.errors import InvalidSourceError, SchemaError
from dataset_builder.records import PatchBatch, SkipReport, parse_date, scene_id
from dataset_builder.schema import BAND_NAMES, PATCH_SIZE, check_fold, class_index

TIFF_SUFFIXES = (".tif", ".tiff")
_SENSOR_TOKENS = {
    "l4": "L4",
    "l5": "L5",
    "l7": "L7",
    "l8": "L8",
    "l9": "L9",
    "lt04": "L4",
    "lt05": "L5",
    "le07": "L7",
    "lc08": "L8",
    "lc09": "L9",
    "landsat4": "L4",
    "landsat5": "L5",
    "landsat7": "L7",
    "landsat8": "L8",
    "landsat9": "L9",
    "s2": "S2",
    "s2a": "S2",
    "s2b": "S2",
    "s2c": "S2",
    "sentinel2": "S2",
    "sentinel-2": "S2",
}


@dataclass(frozen=True)
class ReleasedFile:
    """What a released file name says about its label."""

    path: Path
    sample_id: str
    fold: int
    glacier: str
    date: str
    label: int
    sensor: str | None


def parse_released_name(path: str | Path) -> ReleasedFile:
    """Parse ``{fold}_{glacier}_{date}_..._{class}.tif``.

    Raises:
        InvalidSourceError: naming the file, for a name that does not follow the pattern, an
            unknown class, a fold outside 0-5 or an invalid date.
    """
    path = Path(path)
    parts = path.stem.split("_")
    if len(parts) < 4:
        raise InvalidSourceError(path, "file name is not {fold}_{glacier}_{date}_..._{class}.tif")
    try:
        fold = check_fold(parts[0])
        label = class_index(parts[-1])
    except SchemaError as err:
        raise InvalidSourceError(path, str(err)) from None
    if not parts[1]:
        raise InvalidSourceError(path, "file name has an empty glacier part")
    sensors = [_SENSOR_TOKENS[p.lower()] for p in parts[3:-1] if p.lower() in _SENSOR_TOKENS]
    return ReleasedFile(
        path=path,
        sample_id=path.stem,
        fold=fold,
        glacier=parts[1],
        date=parse_date(parts[2], path),
        label=label,
        sensor=sensors[0] if sensors else None,
    )


def scan_released(root: str | Path, skipped: SkipReport | None = None) -> list[ReleasedFile]:
    """Every label file below ``root`` (searched recursively), sorted by fold and sample id.

    With ``skipped`` given, unparsable names are counted there instead of raising.
    """
    root = Path(root)
    files = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in TIFF_SUFFIXES and p.is_file()):
        try:
            files.append(parse_released_name(path))
        except InvalidSourceError as err:
            if skipped is None:
                raise
            skipped.add(err)
    seen: dict[str, Path] = {}
    for f in files:
        if f.sample_id in seen:
            raise InvalidSourceError(f.path, f"duplicate sample id {f.sample_id!r} (also {seen[f.sample_id]})")
        seen[f.sample_id] = f.path
    return sorted(files, key=lambda f: (f.fold, f.sample_id))


@dataclass
class _Patch:
    data: np.ndarray
    x: float
    y: float
    crs: str


def read_released_patch(path: Path, patch_size: int = PATCH_SIZE) -> _Patch:
    """Read and validate one label GeoTIFF: 11 bands, ``patch_size`` square, CRS, finite values."""
    try:
        with rasterio.open(path) as src:
            if src.count != len(BAND_NAMES):
                raise InvalidSourceError(path, f"wrong band count {src.count}; expected {len(BAND_NAMES)}")
            if (src.height, src.width) != (patch_size, patch_size):
                raise InvalidSourceError(
                    path, f"wrong patch size {src.height}x{src.width}; expected {patch_size}x{patch_size}"
                )
            if src.crs is None:
                raise InvalidSourceError(path, "missing CRS; the patch is not georeferenced")
            data = src.read()
            x, y = src.transform @ (src.width / 2, src.height / 2)
            crs = src.crs.to_string()
            nodata = src.nodata
    except RasterioIOError as err:
        raise InvalidSourceError(path, f"not a readable GeoTIFF ({err})") from None
    if np.issubdtype(data.dtype, np.floating):
        bad = int((~np.isfinite(data)).sum())
        if bad:
            raise InvalidSourceError(path, f"patch has {bad} NaN or infinite values")
    if nodata is not None and np.all(data == nodata):
        raise InvalidSourceError(path, f"all-nodata patch (nodata = {nodata})")
    return _Patch(data, float(x), float(y), crs)


def iter_released(
    files: list[ReleasedFile],
    *,
    batch_size: int = 1024,
    workers: int = 2,
    chunk_size: int = 64,
    skipped: SkipReport | None = None,
    on_file: Callable[[int], None] | None = None,
) -> Iterator[PatchBatch]:
    """Read the files in order as batches of at most ``batch_size`` rows.

    With ``workers > 1`` (and more than a few hundred files) the files are read by that many processes, ``chunk_size`` files per
    task and a bounded number of tasks in flight, so reading overlaps the caller's writing and
    memory stays flat however many files there are. All files must share one dtype.

    Args:
        skipped: count invalid files there instead of raising.
        on_file: called with the number of files done after each chunk (progress bars).
    """
    chunks = [files[i : i + chunk_size] for i in range(0, len(files), chunk_size)]
    dtype = None
    pending: list[tuple[ReleasedFile, _Patch]] = []
    for chunk, results in zip(chunks, _read_chunks([[f.path for f in c] for c in chunks], workers)):
        for f, result in zip(chunk, results):
            if isinstance(result, _Patch) and dtype is not None and result.data.dtype != dtype:
                result = InvalidSourceError(f.path, f"dtype {result.data.dtype} differs from the other files' {dtype}")
            if isinstance(result, InvalidSourceError):
                if skipped is None:
                    raise result
                skipped.add(result)
                continue
            dtype = result.data.dtype
            pending.append((f, result))
        if on_file:
            on_file(len(chunk))
        if len(pending) >= batch_size:
            yield _to_batch(pending)
            pending = []
    if pending:
        yield _to_batch(pending)


def _read_chunks(chunks: list[list[Path]], workers: int) -> Iterator[list]:
    """Results of :func:`_read_chunk` in order, at most ``2 * workers`` chunks in flight."""
    if workers <= 1 or len(chunks) < 4 * workers:  # starting processes costs more than it saves
        yield from map(_read_chunk, chunks)
        return
    # fork where there is one: workers only run GDAL reads, and a spawned worker would re-import
    # the caller's main module (torch, datasets ...), which costs seconds per worker
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method)) as pool:
        in_flight: deque = deque()
        todo = iter(chunks)
        for chunk in islice(todo, 2 * workers):
            in_flight.append(pool.submit(_read_chunk, chunk))
        while in_flight:
            result = in_flight.popleft().result()
            for chunk in islice(todo, 1):
                in_flight.append(pool.submit(_read_chunk, chunk))
            yield result


def _read_chunk(paths: list[Path]) -> list["_Patch | InvalidSourceError"]:
    out: list[_Patch | InvalidSourceError] = []
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        for path in paths:
            try:
                out.append(read_released_patch(path))
            except InvalidSourceError as err:
                out.append(err)
    return out


def _to_batch(rows: list[tuple[ReleasedFile, _Patch]]) -> PatchBatch:
    n = len(rows)
    return PatchBatch(
        sample_id=np.array([f.sample_id for f, _ in rows], dtype=object),
        patches=np.stack([p.data for _, p in rows]),
        label=np.array([f.label for f, _ in rows], dtype=np.int64),
        fold=np.array([f.fold for f, _ in rows], dtype=np.int8),
        glacier=np.array([f.glacier for f, _ in rows], dtype=object),
        date=np.array([f.date for f, _ in rows], dtype=object),
        scene=np.array([scene_id(f.glacier, f.date) for f, _ in rows], dtype=object),
        sensor=np.array([f.sensor for f, _ in rows], dtype=object),
        x=np.array([p.x for _, p in rows], dtype=np.float64),
        y=np.array([p.y for _, p in rows], dtype=np.float64),
        crs=np.array([p.crs for _, p in rows], dtype=object),
        padded=np.zeros(n, dtype=bool),
        label_issue=np.zeros(n, dtype=bool),
        label_quality=np.full(n, np.nan, dtype=np.float32),
    )
