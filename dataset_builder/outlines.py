"""Glacier outlines: the one reader for every job that needs them (scene mapping, mass balance).

Any vector format and CRS that pyogrio reads (GeoPackage, GeoJSON, shapefile, RGI files). The glacier id column
is named, or the first of :data:`ID_COLUMNS` present (``glacier``; RGI 7 ``rgi_id``; RGI 6 ``RGIId``; GLIMS
``glac_id``; ``id``); optional name (:data:`NAME_COLUMNS`: ours, RGI 7 ``glac_name``, RGI 6 ``Name``) and
``wgms_id`` columns link glaciers to mass-balance records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyogrio
import rasterio.features
import shapely
from pyproj import CRS, Transformer
from rasterio import Affine

from dataset_builder.errors import OutlinesError

#: Glacier id columns recognised, in order of preference (case-insensitive): ours, RGI 6/7, GLIMS.
ID_COLUMNS: tuple[str, ...] = ("glacier", "rgi_id", "rgiid", "glac_id", "id")
#: Glacier name columns recognised (case-insensitive): ours and RGI 6 (``name``/``Name``), RGI 7, GLIMS.
NAME_COLUMNS: tuple[str, ...] = ("name", "glac_name", "glacier_name")
_POLYGON_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon


@dataclass(frozen=True)
class Outlines:
    """Glacier outlines with their identities.

    Attributes:
        path: the file they were read from.
        ids: glacier ids (the maps' GLACIER tags), one per outline.
        geometries: shapely (multi)polygons in ``crs``, (N,) object array.
        crs: the outlines' CRS.
        names: glacier names ('' where unknown).
        wgms_ids: WGMS ids (-1 where unknown).
    """

    path: Path
    ids: tuple[str, ...]
    geometries: np.ndarray
    crs: CRS
    names: tuple[str, ...]
    wgms_ids: tuple[int, ...]

    def to_crs(self, crs: Any) -> np.ndarray:
        """The geometries in ``crs`` (anything pyproj reads), (N,) object array."""
        transformer = Transformer.from_crs(self.crs, CRS.from_user_input(crs), always_xy=True)
        return shapely.transform(self.geometries, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

    def masks(
        self, glaciers: Sequence[str], crs: Any, transform: Affine, shape: tuple[int, int]
    ) -> dict[str, np.ndarray]:
        """Rasterised outlines (pixel centres inside) of ``glaciers`` on a grid: id -> ``shape`` bool array."""
        index = {g: i for i, g in enumerate(self.ids)}
        projected = self.to_crs(crs)
        return {
            g: rasterio.features.rasterize(
                [(projected[index[g]], 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8"
            )
            > 0
            for g in glaciers
        }


def read_outlines(
    path: str | Path,
    id_column: str | None = None,
    *,
    name_column: str | None = None,
    wgms_id_column: str = "wgms_id",
) -> Outlines:
    """Read and validate glacier outlines.

    Args:
        path: the vector file.
        id_column: the glacier id column (case-insensitive); default the first of :data:`ID_COLUMNS` present.
        name_column, wgms_id_column: optional columns used to link glaciers to mass-balance records (default
            name column: the first of :data:`NAME_COLUMNS` present).

    Raises:
        OutlinesError: unreadable file, no CRS, no id column, no rows, repeated ids, or empty, non-polygonal
            or invalid geometries (naming the rows, glaciers and GEOS's reason).
    """
    path = Path(path)
    try:
        meta, _, wkb, fields = pyogrio.raw.read(path)
    except Exception as err:  # pyogrio raises DataSourceError and friends
        raise OutlinesError(path, f"not a readable vector file ({err})") from None
    if meta.get("crs") is None:
        raise OutlinesError(path, "the outlines have no CRS")
    columns = {str(n).lower(): np.asarray(v) for n, v in zip(meta["fields"], fields)}
    wanted = [id_column.lower()] if id_column else list(ID_COLUMNS)
    key = next((c for c in wanted if c in columns), None)
    if key is None:
        raise OutlinesError(
            path, f"no glacier id column {wanted}; columns are {list(meta['fields'])} (choose one with id_column)"
        )
    ids = tuple(str(v) for v in columns[key])
    if not ids:
        raise OutlinesError(path, "no outlines")
    values, counts = np.unique(np.asarray(ids, dtype=object).astype(str), return_counts=True)
    if (counts > 1).any():
        raise OutlinesError(path, f"glacier ids repeated in column {key!r}: {sorted(values[counts > 1])[:5]}")
    geometries = shapely.from_wkb(wkb)
    _check_geometries(path, ids, geometries)
    n = len(ids)
    name_key = name_column.lower() if name_column else next((c for c in NAME_COLUMNS if c in columns), "")
    names = columns.get(name_key, np.full(n, ""))
    wgms = columns.get(wgms_id_column.lower(), np.full(n, -1))
    return Outlines(
        path=path,
        ids=ids,
        geometries=geometries,
        crs=CRS.from_user_input(meta["crs"]),
        names=tuple("" if v is None else str(v) for v in names),
        wgms_ids=tuple(int(v) if v is not None and str(v).lstrip("-").isdigit() else -1 for v in wgms),
    )


def _check_geometries(path: Path, ids: tuple[str, ...], geometries: np.ndarray) -> None:
    """Refuse missing, empty, non-polygonal and invalid geometries, naming up to five rows."""
    absent = shapely.is_missing(geometries) | shapely.is_empty(geometries)
    kinds = shapely.get_type_id(geometries)
    polygonal = np.isin(kinds, _POLYGON_TYPES)
    invalid = np.flatnonzero(~shapely.is_valid(geometries) & ~absent & polygonal)
    problems = [f"row {i + 1} ({ids[i]}): no geometry" for i in np.flatnonzero(absent)]
    problems += [
        f"row {i + 1} ({ids[i]}): a {kinds[i]} geometry type, not a polygon"
        for i in np.flatnonzero(~polygonal & ~absent)
    ]
    problems += [
        f"row {i + 1} ({ids[i]}): invalid geometry ({shapely.is_valid_reason(geometries[i])})" for i in invalid
    ]
    if problems:
        hint = "; repair them (e.g. shapely.make_valid, or QGIS 'Fix geometries')" if len(invalid) else ""
        raise OutlinesError(path, f"{len(problems)} unusable outline(s): " + "; ".join(problems[:5]) + hint)
