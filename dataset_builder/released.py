"""Reader of the released layout: one GeoTIFF per expert label.

File names follow ``{fold}_{glacier}_{date}_..._{class}.tif``: split on ``_``, the first part
is the cross-validation fold, the second the glacier, the third the acquisition date and the
last the class name; parts in between are free-form (a sensor token among them is recognised).
Each file holds one patch, 11 bands by 33 x 33 pixels, centred on the labelled point.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from dataset_builder.errors import InvalidSourceError, SchemaError
from dataset_builder.records import PatchBatch, SkipReport, implausible_values, parse_date, refuse, scene_id
from dataset_builder.schema import BAND_NAMES, PATCH_SIZE, check_fold, class_index

TIFF_SUFFIXES = (".tif", ".tiff")
#: Seconds between a reader worker's checks that the process that started it is still alive.
PARENT_CHECK_S = 0.5
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


def find_files(
    root: str | Path, suffixes: Sequence[str], skipped: SkipReport | None = None, notes: SkipReport | None = None
) -> list[Path]:
    """Files below ``root`` whose suffix (any case) is one of ``suffixes``, sorted.

    Symbolic links to folders are followed, each real folder scanned once. A dangling link with one of
    ``suffixes`` or an unreadable folder raises :class:`InvalidSourceError` naming it, or is counted in ``skipped``;
    links to a folder scanned already (loops, second links) and other dangling links are counted in ``notes``.
    """
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def unreadable(error: OSError) -> None:
        refuse(InvalidSourceError(error.filename, f"unreadable folder ({error.strerror})"), skipped)

    for folder, folders, names in os.walk(root, onerror=unreadable, followlinks=True):
        here = os.stat(folder)
        if (here.st_dev, here.st_ino) in seen:
            folders.clear()
            if notes is not None:
                notes.add(
                    InvalidSourceError(folder, "symbolic link to a folder scanned already (a loop?); not followed")
                )
            continue
        seen.add((here.st_dev, here.st_ino))
        folders.sort()
        for name in names:
            path = Path(folder, name)
            wanted = path.suffix.lower() in suffixes
            if wanted and path.is_file():
                found.append(path)
            elif path.is_symlink() and not path.exists():
                error = InvalidSourceError(path, f"dangling symbolic link (to {os.readlink(path)})")
                if wanted:
                    refuse(error, skipped)
                elif notes is not None:
                    notes.add(error)
    return sorted(found)


def scan_released(
    root: str | Path, skipped: SkipReport | None = None, notes: SkipReport | None = None
) -> list[ReleasedFile]:
    """Every label file below ``root`` (searched recursively, see :func:`find_files`), sorted by fold and sample id.

    With ``skipped`` given, unparsable names are counted there instead of raising; ``notes`` counts the links that
    were not followed.
    """
    files = []
    for path in find_files(root, TIFF_SUFFIXES, skipped, notes):
        try:
            files.append(parse_released_name(path))
        except InvalidSourceError as err:
            refuse(err, skipped)
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
    fill: float  # the nodata value where the patch is partly nodata (padded), else NaN


def read_released_patch(path: Path, patch_size: int = PATCH_SIZE) -> _Patch:
    """Read and validate one label GeoTIFF: a GeoTIFF, 11 bands, ``patch_size`` square, CRS, finite values, a label
    pixel with data, and values each band can take (``Band.plausible``; nodata pixels left aside).

    A patch partly nodata (its declared nodata value) is kept and flagged ``padded``.
    """
    try:
        with rasterio.open(path) as src:
            if src.driver != "GTiff":
                raise InvalidSourceError(path, f"not a GeoTIFF but a {src.driver} file (GDAL driver)")
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
    fill = np.nan
    if nodata is not None and not np.isnan(nodata):
        missing = data == nodata
        if missing.all():
            raise InvalidSourceError(path, f"all-nodata patch (nodata = {nodata})")
        centre = patch_size // 2
        if missing[:, centre, centre].any():
            raise InvalidSourceError(path, f"the label pixel is nodata ({nodata:g}) in some band")
        if missing.any():
            fill = float(nodata)
    implausible = implausible_values(data[None], BAND_NAMES, np.array([fill]))
    if implausible:
        raise InvalidSourceError(path, implausible[0])
    return _Patch(data, float(x), float(y), crs, fill)


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

    With ``workers > 1`` (and more than a few hundred files) the files are read by that many processes, ``chunk_size``
    files per task and a bounded number of tasks in flight, so reading overlaps the caller's writing and memory stays
    flat however many files there are. The workers end with the caller's process, however it ends.

    All files must share one dtype: the first file of another dtype raises (naming it and the first file). With
    ``skipped``, each batch holds one dtype and files of every dtype are read; the caller keeps the majority.

    Args:
        skipped: count invalid files there instead of raising.
        on_file: called with the number of files done after each chunk (progress bars).
    """
    chunks = [files[i : i + chunk_size] for i in range(0, len(files), chunk_size)]
    first: tuple[np.dtype, Path] | None = None
    pending: dict[np.dtype, list[tuple[ReleasedFile, _Patch]]] = {}
    for chunk, results in zip(chunks, _read_chunks([[f.path for f in c] for c in chunks], workers)):
        for f, result in zip(chunk, results):
            if isinstance(result, _Patch) and skipped is None:
                first = first or (result.data.dtype, f.path)
                if result.data.dtype != first[0]:
                    reason = f"dtype {result.data.dtype} differs from {first[0]} of {first[1]}; files must share one"
                    result = InvalidSourceError(f.path, reason)
            if isinstance(result, InvalidSourceError):
                refuse(result, skipped)
                continue
            pending.setdefault(result.data.dtype, []).append((f, result))
        if on_file:
            on_file(len(chunk))
        for rows in pending.values():
            if len(rows) >= batch_size:
                yield _to_batch(rows)
                rows.clear()
    for rows in pending.values():
        if rows:
            yield _to_batch(rows)


def _read_chunks(chunks: list[list[Path]], workers: int) -> Iterator[list]:
    """Results of :func:`_read_chunk` in order, at most ``2 * workers`` chunks in flight."""
    if workers <= 1 or len(chunks) < 4 * workers:  # starting processes costs more than it saves
        yield from map(_read_chunk, chunks)
        return
    # fork where there is one: workers only run GDAL reads, and a spawned worker would re-import
    # the caller's main module (torch, datasets ...), which costs seconds per worker
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context(method), initializer=_start_worker, initargs=(os.getpid(),)
    ) as pool:
        in_flight: deque = deque()
        todo = iter(chunks)
        try:
            for chunk in islice(todo, 2 * workers):
                in_flight.append(pool.submit(_read_chunk, chunk))
            while in_flight:
                result = in_flight.popleft().result()
                for chunk in islice(todo, 1):
                    in_flight.append(pool.submit(_read_chunk, chunk))
                yield result
        except BaseException:  # an error, a signal or the caller closing early: wait only for the running chunks
            pool.shutdown(cancel_futures=True)
            raise


def _start_worker(parent: int) -> None:
    """Reader worker set-up: Ctrl-C is the parent's to handle, SIGTERM ends the worker, and so does the parent's end
    (checked every :data:`PARENT_CHECK_S`; a worker blocked on its task queue would otherwise outlive a killed
    parent)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="exit-with-parent", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


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
    fill = np.array([p.fill for _, p in rows], dtype=np.float64)
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
        padded=np.isfinite(fill),
        label_issue=np.zeros(n, dtype=bool),
        label_quality=np.full(n, np.nan, dtype=np.float32),
        fill=fill,
    )
