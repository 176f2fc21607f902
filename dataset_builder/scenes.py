"""Reader of the scenes-plus-points layout, for people who label their own glaciers.

A source is one multi-band GeoTIFF per scene (the 11 bands, or a subset named by the band
descriptions) plus a point table (GeoPackage, GeoJSON, shapefile or CSV) with the columns
``class``, ``fold`` and ``scene`` or ``glacier`` + ``date`` (optional: ``sensor``,
``sample_id``). CSV tables give ``x``/``y`` with a ``crs`` column (or ``points_crs=``), or
``lon``/``lat`` in WGS 84. Points are reprojected to each scene's CRS and all patches of a scene
are cut in one vectorised pass over a single read of the window they cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence

import numpy as np
import pandas as pd
import rasterio
from pyproj import CRS, Transformer
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from dataset_builder.errors import InvalidSourceError, SchemaError
from dataset_builder.records import PatchBatch, SkipReport, parse_date, scene_id
from dataset_builder.released import TIFF_SUFFIXES, find_files
from dataset_builder.schema import BAND_NAMES, PATCH_SIZE, check_bands, check_fold, class_index

POINT_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".csv")
EdgePolicy = Literal["pad", "skip"]


@dataclass
class PointTable:
    """Point labels in columnar form, coordinates in ``crs``; ``row`` is the 1-based table row."""

    path: Path
    row: np.ndarray
    sample_id: np.ndarray
    label: np.ndarray
    fold: np.ndarray
    glacier: np.ndarray
    date: np.ndarray
    scene: np.ndarray
    sensor: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: CRS

    def where(self, i: int) -> str:
        return f"{self.path} row {int(self.row[i])} (sample {self.sample_id[i]})"


def find_point_table(root: str | Path) -> Path | None:
    """The point table directly in ``root`` (``points.gpkg`` etc.), or None."""
    found = sorted(p for p in Path(root).glob("points.*") if p.suffix.lower() in POINT_SUFFIXES)
    if len(found) > 1:
        raise InvalidSourceError(root, f"several point tables {[p.name for p in found]}; keep one")
    return found[0] if found else None


def read_points(path: str | Path, *, points_crs: str | None = None) -> PointTable:
    """Read and validate a point table (see module docstring for the columns)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidSourceError(path, "point table not found")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.columns = [c.strip().lower() for c in frame.columns]
        if {"x", "y"} <= set(frame.columns):
            crs_values = set(frame["crs"]) if "crs" in frame.columns else set()
            if points_crs is None and len(crs_values) != 1:
                raise InvalidSourceError(
                    path, "x/y columns need one CRS: a 'crs' column with a single value, or points_crs"
                )
            crs = CRS.from_user_input(points_crs or crs_values.pop())
            xcol, ycol = "x", "y"
        elif {"lon", "lat"} <= set(frame.columns):
            crs, xcol, ycol = CRS.from_epsg(4326), "lon", "lat"
        else:
            raise InvalidSourceError(path, "CSV point table needs x/y (with crs) or lon/lat columns")
        try:
            x = frame[xcol].astype(float).to_numpy()
            y = frame[ycol].astype(float).to_numpy()
        except ValueError as err:
            raise InvalidSourceError(path, f"non-numeric coordinate ({err})") from None
    else:
        import pyogrio
        import shapely

        try:
            meta, _, geometry, fields = pyogrio.raw.read(path)
        except Exception as err:  # pyogrio raises DataSourceError and friends
            raise InvalidSourceError(path, f"not a readable vector file ({err})") from None
        names = [str(n).lower() for n in meta["fields"]]
        frame = pd.DataFrame({n: np.asarray(v) for n, v in zip(names, fields)})
        if meta.get("crs") is None and points_crs is None:
            raise InvalidSourceError(path, "point table has no CRS; pass points_crs")
        crs = CRS.from_user_input(points_crs or meta["crs"])
        geoms = shapely.from_wkb(geometry)
        kinds = shapely.get_type_id(geoms)
        if np.any(kinds != 0):
            bad = int(np.flatnonzero(kinds != 0)[0]) + 1
            raise InvalidSourceError(path, f"row {bad}: geometry is not a point")
        x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    return _point_table(path, frame, x, y, crs)


def _point_table(path: Path, frame: pd.DataFrame, x: np.ndarray, y: np.ndarray, crs: CRS) -> PointTable:
    n = len(frame)
    if n == 0:
        raise InvalidSourceError(path, "point table is empty")
    cols = set(frame.columns)
    missing = [c for c in ("class", "fold") if c not in cols]
    if "scene" not in cols and not {"glacier", "date"} <= cols:
        missing.append("scene (or glacier and date)")
    if missing:
        raise InvalidSourceError(path, f"point table lacks column(s) {missing}")
    rows = np.arange(1, n + 1)

    def per_row(fn: Callable[[object, str], object], column: str) -> list:
        out = []
        for i, value in enumerate(frame[column].tolist()):
            try:
                out.append(fn(value, f"{path} row {i + 1}"))
            except SchemaError as err:
                raise InvalidSourceError(f"{path} row {i + 1}", str(err)) from None
        return out

    label = np.array(per_row(lambda v, w: class_index(str(v)), "class"), dtype=np.int64)
    fold = np.array(per_row(lambda v, w: check_fold(str(v)), "fold"), dtype=np.int8)
    if {"glacier", "date"} <= cols:
        glacier = frame["glacier"].astype(str).to_numpy(dtype=object)
        date = np.array(per_row(lambda v, w: parse_date(str(v), w), "date"), dtype=object)
        scene = np.array([scene_id(g, d) for g, d in zip(glacier, date)], dtype=object)
    else:
        glacier_date = per_row(lambda v, w: _split_scene(str(v), w), "scene")
        glacier = np.array([g for g, _ in glacier_date], dtype=object)
        date = np.array([d for _, d in glacier_date], dtype=object)
        scene = np.array([scene_id(g, d) for g, d in glacier_date], dtype=object)
    if "sample_id" in cols:
        sample_id = frame["sample_id"].astype(str).to_numpy(dtype=object)
    else:
        sample_id = np.array([f"{s}_p{r:06d}" for s, r in zip(scene, rows)], dtype=object)
    _check_unique(path, sample_id)
    sensor = frame["sensor"].astype(str).to_numpy(dtype=object) if "sensor" in cols else np.full(n, None, dtype=object)
    bad = np.flatnonzero(~np.isfinite(x) | ~np.isfinite(y))
    if len(bad):
        raise InvalidSourceError(f"{path} row {bad[0] + 1}", "coordinate is missing or not finite")
    return PointTable(path, rows, sample_id, label, fold, glacier, date, scene, sensor, x, y, crs)


def _split_scene(value: str, where: str) -> tuple[str, str]:
    glacier, _, date = value.rpartition("_")
    if not glacier:
        raise InvalidSourceError(where, f"scene {value!r} is not {{glacier}}_{{date}}")
    return glacier, parse_date(date, where)


def _check_unique(path: Path, sample_id: np.ndarray) -> None:
    values, first, counts = np.unique(sample_id.astype(str), return_index=True, return_counts=True)
    if np.any(counts > 1):
        dup = values[counts > 1][0]
        rows = np.flatnonzero(sample_id.astype(str) == dup) + 1
        raise InvalidSourceError(f"{path} rows {rows.tolist()}", f"duplicate sample id {dup!r}")


@dataclass(frozen=True)
class SceneFile:
    """One scene raster and what identifies it."""

    path: Path
    scene: str
    glacier: str
    date: str
    sensor: str | None


def scan_scenes(folder: str | Path) -> dict[str, SceneFile]:
    """Scene rasters in ``folder`` keyed by scene id (tags GLACIER/DATE, else ``{glacier}_{date}`` stem)."""
    folder = Path(folder)
    scenes: dict[str, SceneFile] = {}
    for path in find_files(folder, TIFF_SUFFIXES):
        try:
            with rasterio.open(path) as src:
                tags, driver = src.tags(), src.driver
        except RasterioIOError as err:
            raise InvalidSourceError(path, f"not a readable GeoTIFF ({err})") from None
        if driver != "GTiff":
            raise InvalidSourceError(path, f"not a GeoTIFF but a {driver} file (GDAL driver)")
        if "GLACIER" in tags and "DATE" in tags:
            glacier, date = tags["GLACIER"], parse_date(tags["DATE"], path)
        else:
            glacier, date = _split_scene(path.stem, str(path))
        key = scene_id(glacier, date)
        if key in scenes:
            raise InvalidSourceError(path, f"scene {key} is also {scenes[key].path}")
        scenes[key] = SceneFile(path, key, glacier, date, tags.get("SENSOR") or None)
    return scenes


def scene_bands(path: Path, descriptions: Sequence[str | None]) -> tuple[tuple[str, ...], list[int]]:
    """Band names of a scene in the published order, and the 1-based raster bands holding them.

    Band descriptions name the bands; a raster without descriptions must hold all 11 in order.
    """
    if all(d is None or d == "" for d in descriptions):
        if len(descriptions) != len(BAND_NAMES):
            raise InvalidSourceError(
                path, f"{len(descriptions)} bands without descriptions; name them or provide all {len(BAND_NAMES)}"
            )
        return BAND_NAMES, list(range(1, len(BAND_NAMES) + 1))
    names = [str(d).strip().lower() for d in descriptions]
    unknown = [n for n in names if n not in BAND_NAMES]
    if unknown:
        raise InvalidSourceError(path, f"unknown band description(s) {unknown}; expected names from {list(BAND_NAMES)}")
    try:
        bands = check_bands(sorted(names, key=BAND_NAMES.index))
    except SchemaError as err:
        raise InvalidSourceError(path, f"band descriptions {names}: {err}") from None
    return bands, [names.index(b) + 1 for b in bands]


class PatchCutter:
    """Cut ``patch_size`` squares centred on pixels of one in-memory image, many at a time.

    The image is copied once, band-first, into an array padded by half a patch on each side (with ``fill``). Every
    patch row of one band is then a run of ``patch_size`` contiguous values, and a view of the padded array whose
    elements are such runs (as opaque ``patch_size``-value items), (positions, bands, size), holds every patch at the
    flat position of its top-left pixel. A call is one gather from that view straight into the band-first result:
    one copy of a whole run per band and patch row, no per-value step. The invalid pixels of each patch are counted
    in O(1) from a summed-area table.

    Args:
        image: (bands, H, W) array; non-finite values mark nodata in float images.
        patch_size: side of the square patch (odd).
        fill: value for pixels outside the image or on nodata.
    """

    def __init__(self, image: np.ndarray, patch_size: int = PATCH_SIZE, fill: float = 0.0):
        self.size, half = patch_size, patch_size // 2
        bands, height, width = image.shape
        floating = np.issubdtype(image.dtype, np.floating)
        nodata = ~np.isfinite(image).all(axis=0) if floating else np.zeros((height, width), bool)
        padded = np.full((bands, height + 2 * half, width + 2 * half), fill, dtype=image.dtype)
        inside = padded[:, half : half + height, half : half + width]
        inside[...] = image
        if nodata.any():
            inside[:, nodata] = fill
        invalid = np.ones(padded.shape[1:], dtype=np.int32)
        invalid[half : half + height, half : half + width] = nodata
        self._sat = np.pad(invalid.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        rows, cols = padded.shape[1:]
        item = padded.itemsize
        # runs[p, b, r] = padded[b].flat[p + r * cols : p + r * cols + size]: row r of band b of the patch whose
        # top-left pixel is at flat position p of a band (p = row * cols + col)
        self._runs = np.ndarray(
            ((rows - patch_size) * cols + cols - patch_size + 1, bands, patch_size),
            dtype=np.dtype((np.void, patch_size * item)),
            buffer=padded,
            strides=(item, rows * cols * item, cols * item),
        )
        self._cols, self._dtype = cols, padded.dtype
        self.shape = (height, width)

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Patches centred on pixel (rows, cols) of the image, each (N,) int inside it.

        Returns:
            patches (N, bands, size, size) C-contiguous and ``padded`` (N,) bool: True where a patch
            crossed the image edge or held nodata.

        Raises:
            IndexError: a pixel outside the image.
        """
        rows, cols, k = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), self.size
        outside = (rows < 0) | (rows >= self.shape[0]) | (cols < 0) | (cols >= self.shape[1])
        if outside.any():
            i = int(np.argmax(outside))
            raise IndexError(f"pixel ({rows[i]}, {cols[i]}) is outside the {self.shape[0]} x {self.shape[1]} image")
        runs = self._runs[rows * self._cols + cols]  # (N, bands, size) runs of size values: one gather
        patches = runs.view(self._dtype).reshape(len(rows), runs.shape[1], k, k)
        sat = self._sat
        bad = sat[rows + k, cols + k] - sat[rows, cols + k] - sat[rows + k, cols] + sat[rows, cols]
        return patches, bad > 0


def iter_scenes(
    points: PointTable,
    scenes: dict[str, SceneFile],
    *,
    edge: EdgePolicy = "pad",
    batch_size: int = 2048,
    skipped: SkipReport | None = None,
    on_scene: Callable[[int], None] | None = None,
) -> Iterator[PatchBatch]:
    """Cut the labelled patches scene by scene (sorted by scene id), in table order within a scene.

    Args:
        edge: ``"pad"`` fills the part of a patch outside the scene (or on nodata) with the fill
            value (the scene's finite nodata value, else 0) and flags the row ``padded``;
            ``"skip"`` leaves such points out and counts them in ``skipped``.
        skipped: count invalid points there instead of raising.
        on_scene: called with 1 after each scene (progress bars).
    """
    unknown = sorted(set(points.scene) - set(scenes))
    if unknown:
        i = int(np.flatnonzero(points.scene == unknown[0])[0])
        raise InvalidSourceError(
            points.where(i), f"no scene raster for scene {unknown[0]!r} ({len(unknown)} scene(s) missing)"
        )
    band_set: tuple[str, ...] | None = None
    dtype = None
    for key in sorted(set(points.scene)):
        scene = scenes[key]
        idx = np.flatnonzero(points.scene == key)
        try:
            src = rasterio.open(scene.path)
        except RasterioIOError as err:
            raise InvalidSourceError(scene.path, f"not a readable GeoTIFF ({err})") from None
        with src:
            bands, order = scene_bands(scene.path, src.descriptions)
            if band_set is None:
                band_set, dtype = bands, np.dtype(src.dtypes[0])
            elif bands != band_set:
                raise InvalidSourceError(
                    scene.path, f"bands {list(bands)} differ from the other scenes' {list(band_set)}"
                )
            if src.crs is None:
                raise InvalidSourceError(scene.path, "missing CRS; the scene is not georeferenced")
            transformer = Transformer.from_crs(points.crs, src.crs, always_xy=True)
            px, py = transformer.transform(points.x[idx], points.y[idx])
            colf, rowf = ~src.transform @ (np.asarray(px), np.asarray(py))
            rows, cols = np.floor(rowf).astype(np.int64), np.floor(colf).astype(np.int64)
            outside = (rows < 0) | (rows >= src.height) | (cols < 0) | (cols >= src.width) | ~np.isfinite(rowf)
            if np.any(outside):
                i = idx[np.flatnonzero(outside)[0]]
                raise InvalidSourceError(points.where(i), f"point lies outside scene {key} ({scene.path.name})")
            half = PATCH_SIZE // 2
            r0, r1 = max(int(rows.min()) - half, 0), min(int(rows.max()) + half + 1, src.height)
            c0, c1 = max(int(cols.min()) - half, 0), min(int(cols.max()) + half + 1, src.width)
            image = src.read(order, window=Window(c0, r0, c1 - c0, r1 - r0))
            if src.nodata is not None and np.isfinite(src.nodata) and np.issubdtype(image.dtype, np.floating):
                image = np.where(image == src.nodata, np.nan, image).astype(image.dtype)
            fill = float(src.nodata) if src.nodata is not None and np.isfinite(src.nodata) else 0.0
            transform, crs = src.transform, src.crs.to_string()
        lr, lc = rows - r0, cols - c0
        centre_bad = (
            ~np.isfinite(image[:, lr, lc]).all(axis=0)
            if np.issubdtype(image.dtype, np.floating)
            else np.zeros(len(idx), bool)
        )
        keep = np.ones(len(idx), dtype=bool)
        for j in np.flatnonzero(centre_bad):
            err = InvalidSourceError(points.where(idx[j]), f"label point falls on nodata in scene {key}")
            if skipped is None:
                raise err
            skipped.add(err)
            keep[j] = False
        cutter = PatchCutter(image, PATCH_SIZE, fill)
        for start in range(0, len(idx), batch_size):
            sel = np.arange(start, min(start + batch_size, len(idx)))
            sel = sel[keep[sel]]
            if len(sel) == 0:
                continue
            patches, padded = cutter(lr[sel], lc[sel])
            if edge == "skip" and np.any(padded):
                for j in sel[padded]:
                    err = InvalidSourceError(points.where(idx[j]), "patch crosses the scene edge or nodata")
                    if skipped is None:
                        raise err
                    skipped.add(err)
                sel, patches, padded = sel[~padded], patches[~padded], padded[~padded]
                if len(sel) == 0:
                    continue
            rows_i = idx[sel]
            cx, cy = transform @ (cols[sel] + 0.5, rows[sel] + 0.5)
            n = len(sel)
            sensor = points.sensor[rows_i].copy()
            sensor[pd.isna(sensor) | (sensor == "")] = scene.sensor
            yield PatchBatch(
                sample_id=points.sample_id[rows_i],
                patches=patches.astype(dtype, copy=False),
                label=points.label[rows_i],
                fold=points.fold[rows_i],
                glacier=points.glacier[rows_i],
                date=points.date[rows_i],
                scene=points.scene[rows_i],
                sensor=sensor,
                x=np.asarray(cx, dtype=np.float64),
                y=np.asarray(cy, dtype=np.float64),
                crs=np.full(n, crs, dtype=object),
                padded=padded,
                label_issue=np.zeros(n, dtype=bool),
                label_quality=np.full(n, np.nan, dtype=np.float32),
                fill=np.where(padded, fill, np.nan),
            )
        if on_scene:
            on_scene(1)
