"""Optical products: which layout a path holds, and its reader (:func:`open_scene`).

Accepted layouts (:data:`LAYOUTS`):

- a multi-band GeoTIFF whose band descriptions name the bands (``blue`` ... ``swir2``; other bands are ignored:
  the auxiliary bands are always derived from the DEM), reflectance = value x the band's GDAL scale + offset;
  tags DATE, SENSOR, SUN_AZIMUTH, SUN_ELEVATION, GLACIER are used when present (the synthetic scenes carry them);
  it has no quality raster;
- a Landsat Collection 2 Level-2 product folder, or one of its ``*_MTL.json|txt|xml`` files
  (:mod:`~modeling.mapping.landsat`);
- Sentinel-2 L2A: a ``.SAFE`` folder, a ``.SAFE.zip``, its ``MTD_MSIL2A.xml``, a folder inside it
  (``GRANULE/...``), a granule folder alone, a plain folder of band files, a STAC-style COG folder or its item
  JSON (:mod:`~modeling.mapping.sentinel2`).

Readers only read metadata; the pixels are read onto the model grid by :mod:`modeling.mapping.prepare`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import rasterio
from rasterio.errors import RasterioIOError

from dataset_builder.errors import InvalidSourceError
from dataset_builder.records import parse_date
from dataset_builder.scenes import scene_bands
from dataset_builder.schema import OPTICAL_BANDS
from modeling.errors import SceneInputError
from modeling.mapping.landsat import MTL_NAME, mtl_files, read_landsat_c2l2
from modeling.mapping.sentinel2 import detect
from modeling.mapping.sources import RASTER_SUFFIXES, BandSource, OpticalScene, date_in, number

#: The layouts :func:`open_scene` reads, in words (unknown inputs are told this list).
LAYOUTS: tuple[str, ...] = (
    "a scene GeoTIFF with band descriptions (blue ... swir2)",
    "a Landsat Collection 2 Level-2 folder (*_MTL.json|txt|xml, *_SR_B*.TIF, *_QA_PIXEL.TIF, *_QA_RADSAT.TIF) or its MTL",
    "a Sentinel-2 L2A .SAFE folder, .SAFE.zip, MTD_MSIL2A.xml or GRANULE/... folder",
    "a folder of Sentinel-2 band files (T32TNS_..._B02_10m.jp2 ..., SCL_20m)",
    "a STAC-style Sentinel-2 COG folder (B02.tif ... SCL.tif or blue.tif ... scl.tif, item JSON)",
)
GEOTIFF = "scene GeoTIFF"


def read_geotiff_scene(path: str | Path) -> OpticalScene:
    """A scene GeoTIFF whose band descriptions name its bands (see the module docstring)."""
    path = Path(path)
    try:
        with rasterio.open(path) as src:
            descriptions, tags, crs = src.descriptions, src.tags(), src.crs
            scales, offsets, nodata = src.scales, src.offsets, src.nodata
    except RasterioIOError as err:
        raise SceneInputError(path, f"not a readable raster ({err})") from None
    if crs is None:
        raise SceneInputError(path, "no CRS; the scene is not georeferenced")
    try:
        names, indices = scene_bands(path, descriptions)
    except InvalidSourceError as err:
        raise SceneInputError(path, f"{GEOTIFF}: {err.reason}") from None
    bands = {
        name: BandSource(str(path), i, float(scales[i - 1]), float(offsets[i - 1]), nodata)
        for name, i in zip(names, indices)
        if name in OPTICAL_BANDS
    }
    if not bands:
        raise SceneInputError(
            path, f"{GEOTIFF}: no optical band among its bands {list(names)}; expected some of {list(OPTICAL_BANDS)}"
        )
    sun = [(number(tags[k], path, f"tag {k}") if k in tags else None) for k in ("SUN_AZIMUTH", "SUN_ELEVATION")]
    date = parse_date(tags["DATE"], path) if "DATE" in tags else date_in(path.stem)
    return OpticalScene(
        path,
        path.stem,
        "geotiff",
        tags.get("SENSOR", "unknown"),
        date,
        sun[0],
        sun[1],
        bands,
        tags.get("GLACIER"),
        metadata={"layout": GEOTIFF, "quality": "none"},
        layout=GEOTIFF,
    )


def _unknown(path: Path) -> SceneInputError:
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())
        if "MTD_MSIL1C.xml" in names:
            return SceneInputError(path, "a Sentinel-2 Level-1C product (top of atmosphere): map its Level-2A product")
        found = f"it holds {len(names)} entries ({', '.join(names[:6])}{' ...' if len(names) > 6 else ''})"
    else:
        found = f"a {path.suffix or 'suffix-less'} file"
    return SceneInputError(path, f"not a scene layout this reader knows: {found}. Accepted: " + "; ".join(LAYOUTS))


def scene_reader(path: Path, boa_offset: float | None = None) -> Callable[[], OpticalScene]:
    """The reader of the layout at ``path`` (a zero-argument callable), or a :class:`SceneInputError` naming what
    was found and the accepted layouts."""
    if path.is_file() and MTL_NAME.match(path.name):
        return lambda: read_landsat_c2l2(path.parent, path)
    if path.is_dir() and mtl_files(path):
        return lambda: read_landsat_c2l2(path)
    if not path.exists():
        raise SceneInputError(path, "no such scene file or folder")
    reader = detect(path, boa_offset)
    if reader:
        return reader
    if path.is_file() and path.suffix.lower() in RASTER_SUFFIXES:
        return lambda: read_geotiff_scene(path)
    raise _unknown(path)


def open_scene(
    path: str | Path,
    *,
    date: str | None = None,
    sensor: str | None = None,
    sun_azimuth: float | None = None,
    sun_elevation: float | None = None,
    boa_offset: float | None = None,
) -> OpticalScene:
    """Read a scene's metadata, whatever its layout (see the module docstring).

    The keyword arguments override (or supply) what the product's metadata says; ``boa_offset`` (DN, e.g. -1000)
    is the Sentinel-2 L2A BOA_ADD_OFFSET, needed where no metadata tells it.
    """
    path = Path(path)
    try:
        scene = scene_reader(path, boa_offset)()
        return dataclasses.replace(
            scene,
            date=parse_date(date, f"{path} (date given)") if date else scene.date,
            sensor=sensor or scene.sensor,
            sun_azimuth=scene.sun_azimuth if sun_azimuth is None else float(sun_azimuth),
            sun_elevation=scene.sun_elevation if sun_elevation is None else float(sun_elevation),
        )
    except InvalidSourceError as err:  # a malformed date
        raise SceneInputError(err.where, err.reason) from None
