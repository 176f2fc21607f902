"""Optical products: the three readers of a scene's bands and metadata (:func:`open_scene` picks one).

- a multi-band GeoTIFF whose band descriptions name the bands (``blue`` ... ``swir2``; other bands
  are ignored: the auxiliary bands are always derived from the DEM), reflectance = value x the
  band's GDAL scale + offset; tags DATE, SENSOR, SUN_AZIMUTH, SUN_ELEVATION, GLACIER are used
  when present (the synthetic scenes carry them);
- a Landsat Collection 2 Level-2 folder (TM, ETM+, OLI/OLI-2): ``*_MTL.json`` or ``*_MTL.txt``
  and ``*_SR_B{n}.TIF``; reflectance = DN x REFLECTANCE_MULT_BAND_n + REFLECTANCE_ADD_BAND_n of
  LEVEL2_SURFACE_REFLECTANCE_PARAMETERS (2.75e-5, -0.2); DN 0 = no data; sun from IMAGE_ATTRIBUTES;
  TM/ETM+ B1, B2, B3, B4, B5, B7 and OLI B2-B7 are blue, green, red, nir, swir1, swir2;
- a Sentinel-2 L2A product folder (``*.SAFE``): ``MTD_MSIL2A.xml`` (BOA_QUANTIFICATION_VALUE,
  processing baseline, BOA_ADD_OFFSET per band - required from baseline 04.00 on, usually -1000),
  ``GRANULE/*/MTD_TL.xml`` (mean sun zenith and azimuth; elevation = 90 - zenith) and
  ``GRANULE/*/IMG_DATA/R10m/*_B02_10m.jp2`` ... (B02, B03, B04, B08 at 10 m, B11, B12 at 20 m;
  ``.jp2`` through GDAL's JP2OpenJPEG driver, ``.tif`` accepted too); reflectance = (DN + offset) /
  quantification; DN 0 = no data.

Readers only read metadata; the pixels are read onto the model grid by :mod:`modeling.mapping.prepare`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import rasterio
from rasterio.errors import RasterioIOError

from dataset_builder.errors import InvalidSourceError
from dataset_builder.records import parse_date
from dataset_builder.scenes import scene_bands
from dataset_builder.schema import OPTICAL_BANDS
from modeling.errors import SceneInputError

#: Landsat band numbers of the six optical bands, per instrument family.
LANDSAT_BANDS: dict[str, dict[str, int]] = {
    "TM": {"blue": 1, "green": 2, "red": 3, "nir": 4, "swir1": 5, "swir2": 7},  # TM and ETM+
    "OLI": {"blue": 2, "green": 3, "red": 4, "nir": 5, "swir1": 6, "swir2": 7},
}
#: Sentinel-2 band names of the six optical bands, and the band_id order of MTD_MSIL2A.xml.
SENTINEL2_BANDS: dict[str, str] = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir": "B08",
    "swir1": "B11",
    "swir2": "B12",
}
SENTINEL2_BAND_IDS: tuple[str, ...] = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
)
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")


@dataclass(frozen=True)
class BandSource:
    """Where one optical band lives and how its values become reflectance (value x scale + offset)."""

    path: Path
    index: int = 1  # 1-based band of the file
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None  # value marking no data, besides the file's own nodata


@dataclass(frozen=True)
class OpticalScene:
    """One acquisition: identity, sun geometry and its optical bands (published names -> sources)."""

    path: Path
    scene: str  # output name stem
    kind: str  # "geotiff", "landsat" or "sentinel2"
    sensor: str
    date: str | None  # YYYY-MM-DD
    sun_azimuth: float | None  # degrees clockwise from north
    sun_elevation: float | None  # degrees above the horizon
    bands: Mapping[str, BandSource]
    glacier: str | None = None  # GLACIER tag of a scene GeoTIFF
    metadata: Mapping[str, str] = field(default_factory=dict)  # provenance (product id, baseline, ...)


def _date_in(text: str) -> str | None:
    match = re.search(r"(?<!\d)(\d{4}-\d{2}-\d{2}|\d{8})(?!\d)", text)
    if not match:
        return None
    try:
        return parse_date(match[1], text)
    except InvalidSourceError:
        return None


def _float(value: object, where: Path, what: str) -> float:
    try:
        out = float(str(value).strip().strip('"'))
    except ValueError:
        raise SceneInputError(where, f"{what} is not a number: {value!r}") from None
    if not math.isfinite(out):
        raise SceneInputError(where, f"{what} is not finite: {value!r}")
    return out


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
        raise SceneInputError(path, err.reason) from None
    bands = {
        name: BandSource(path, i, float(scales[i - 1]), float(offsets[i - 1]), nodata)
        for name, i in zip(names, indices)
        if name in OPTICAL_BANDS
    }
    if not bands:
        raise SceneInputError(
            path, f"no optical band among its bands {list(names)}; expected some of {list(OPTICAL_BANDS)}"
        )
    sun = [(_float(tags[k], path, f"tag {k}") if k in tags else None) for k in ("SUN_AZIMUTH", "SUN_ELEVATION")]
    date = parse_date(tags["DATE"], path) if "DATE" in tags else _date_in(path.stem)
    return OpticalScene(
        path, path.stem, "geotiff", tags.get("SENSOR", "unknown"), date, sun[0], sun[1], bands, tags.get("GLACIER")
    )


def parse_mtl_text(text: str) -> dict:
    """A Landsat ``MTL.txt`` (``GROUP = X`` ... ``END_GROUP = X``, ``KEY = value``) as nested dicts."""
    root: dict = {}
    stack = [root]
    for line in text.splitlines():
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            continue
        if key == "GROUP":
            stack[-1][value] = child = {}
            stack.append(child)
        elif key == "END_GROUP":
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1][key] = value.strip('"')
    return root


def _landsat_metadata(folder: Path) -> tuple[Path, dict]:
    found = sorted(folder.glob("*_MTL.json")) or sorted(folder.glob("*_MTL.txt"))
    if not found:
        raise SceneInputError(folder, "no *_MTL.json or *_MTL.txt: not a Landsat Collection 2 Level-2 folder")
    path = found[0]
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else parse_mtl_text(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SceneInputError(path, f"unreadable metadata ({err})") from None
    if "LANDSAT_METADATA_FILE" not in data:
        raise SceneInputError(path, "no LANDSAT_METADATA_FILE group")
    return path, data["LANDSAT_METADATA_FILE"]


def read_landsat_c2l2(folder: str | Path) -> OpticalScene:
    """A Landsat Collection 2 Level-2 folder (TM, ETM+, OLI); see the module docstring."""
    folder = Path(folder)
    mtl, meta = _landsat_metadata(folder)

    def get(group: str, key: str) -> str:
        try:
            return str(meta[group][key])
        except (KeyError, TypeError):
            raise SceneInputError(mtl, f"missing {group}.{key}") from None

    product = meta.get("PRODUCT_CONTENTS", {}).get("LANDSAT_PRODUCT_ID") or mtl.name[: mtl.name.rfind("_MTL")]
    spacecraft = meta.get("IMAGE_ATTRIBUTES", {}).get("SPACECRAFT_ID", "")
    instrument = str(meta.get("IMAGE_ATTRIBUTES", {}).get("SENSOR_ID", ""))
    number = re.search(r"(\d)$", spacecraft) or re.match(r"L[CEOT]0?(\d)", product)
    if not number:
        raise SceneInputError(
            mtl, f"cannot tell the Landsat mission from SPACECRAFT_ID {spacecraft!r} or product {product!r}"
        )
    family = "OLI" if "OLI" in instrument or product[:2] in ("LC", "LO") else "TM"
    scale_group = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
    bands = {}
    for name, n in LANDSAT_BANDS[family].items():
        listed = meta.get("PRODUCT_CONTENTS", {}).get(f"FILE_NAME_BAND_{n}")
        candidates = [folder / listed] if listed else sorted(folder.glob(f"*_SR_B{n}.[Tt][Ii][Ff]"))
        if not candidates or not candidates[0].is_file():
            raise SceneInputError(folder, f"missing the {name} band (SR_B{n}) of this {family} product")
        bands[name] = BandSource(
            candidates[0],
            1,
            _float(get(scale_group, f"REFLECTANCE_MULT_BAND_{n}"), mtl, f"REFLECTANCE_MULT_BAND_{n}"),
            _float(get(scale_group, f"REFLECTANCE_ADD_BAND_{n}"), mtl, f"REFLECTANCE_ADD_BAND_{n}"),
            0.0,
        )
    return OpticalScene(
        path=folder,
        scene=product,
        kind="landsat",
        sensor=f"L{number[1]}",
        date=parse_date(get("IMAGE_ATTRIBUTES", "DATE_ACQUIRED"), mtl),
        sun_azimuth=_float(get("IMAGE_ATTRIBUTES", "SUN_AZIMUTH"), mtl, "SUN_AZIMUTH"),
        sun_elevation=_float(get("IMAGE_ATTRIBUTES", "SUN_ELEVATION"), mtl, "SUN_ELEVATION"),
        bands=bands,
        metadata={"product": product, "instrument": instrument or family, "metadata_file": mtl.name},
    )


def _xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise SceneInputError(path, f"unreadable XML ({err})") from None


def _local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if _local(e) == name]


def read_sentinel2_l2a(folder: str | Path) -> OpticalScene:
    """A Sentinel-2 L2A product folder (``.SAFE``); see the module docstring."""
    folder = Path(folder)
    mtd = folder / "MTD_MSIL2A.xml"
    if not mtd.is_file():
        raise SceneInputError(folder, "no MTD_MSIL2A.xml: not a Sentinel-2 L2A product folder")
    root = _xml(mtd)

    def text(name: str, required: bool = True) -> str | None:
        found = _find(root, name)
        if not found or not (found[0].text or "").strip():
            if required:
                raise SceneInputError(mtd, f"missing {name}")
            return None
        return found[0].text.strip()

    quantification = _float(text("BOA_QUANTIFICATION_VALUE"), mtd, "BOA_QUANTIFICATION_VALUE")
    if quantification <= 0:
        raise SceneInputError(mtd, f"BOA_QUANTIFICATION_VALUE must be positive, got {quantification}")
    baseline = text("PROCESSING_BASELINE")
    offsets = {int(e.get("band_id", -1)): _float(e.text, mtd, "BOA_ADD_OFFSET") for e in _find(root, "BOA_ADD_OFFSET")}
    if not offsets and _float(baseline, mtd, "PROCESSING_BASELINE") >= 4.0:
        raise SceneInputError(mtd, f"processing baseline {baseline} (>= 04.00) but no BOA_ADD_OFFSET values")
    tiles = sorted((folder / "GRANULE").glob("*/MTD_TL.xml"))
    if len(tiles) != 1:
        raise SceneInputError(folder, f"expected one GRANULE/*/MTD_TL.xml, found {len(tiles)}")
    tile = _xml(tiles[0])
    mean_sun = _find(tile, "Mean_Sun_Angle")
    if not mean_sun:
        raise SceneInputError(tiles[0], "missing Mean_Sun_Angle")
    angles = {_local(e): e.text for e in mean_sun[0]}
    if "ZENITH_ANGLE" not in angles or "AZIMUTH_ANGLE" not in angles:
        raise SceneInputError(tiles[0], "Mean_Sun_Angle lacks ZENITH_ANGLE or AZIMUTH_ANGLE")
    images = tiles[0].parent / "IMG_DATA"
    bands = {}
    for name, band in SENTINEL2_BANDS.items():
        found = [
            p
            for resolution in ("R10m", "R20m", "R60m")
            for p in sorted((images / resolution).glob(f"*_{band}_*"))
            if p.suffix.lower() in RASTER_SUFFIXES
        ]
        if not found:
            raise SceneInputError(images, f"missing the {name} band ({band}, R10m/R20m/R60m, .jp2 or .tif)")
        offset = offsets.get(SENTINEL2_BAND_IDS.index(band), 0.0)
        bands[name] = BandSource(found[0], 1, 1.0 / quantification, offset / quantification, 0.0)
    product = folder.name.removesuffix(".SAFE")
    return OpticalScene(
        path=folder,
        scene=product,
        kind="sentinel2",
        sensor="S2",
        date=parse_date(text("PRODUCT_START_TIME"), mtd),
        sun_azimuth=_float(angles["AZIMUTH_ANGLE"], tiles[0], "AZIMUTH_ANGLE"),
        sun_elevation=90.0 - _float(angles["ZENITH_ANGLE"], tiles[0], "ZENITH_ANGLE"),
        bands=bands,
        metadata={
            "product": product,
            "spacecraft": text("SPACECRAFT_NAME", False) or "",
            "processing_baseline": baseline or "",
        },
    )


def open_scene(
    path: str | Path,
    *,
    date: str | None = None,
    sensor: str | None = None,
    sun_azimuth: float | None = None,
    sun_elevation: float | None = None,
) -> OpticalScene:
    """Read a scene's metadata: a GeoTIFF file, a Landsat C2 L2 folder or a Sentinel-2 L2A folder.

    The keyword arguments override (or supply) what the product's metadata says.
    """
    path = Path(path)
    if path.is_dir():
        reader = read_sentinel2_l2a if (path / "MTD_MSIL2A.xml").is_file() else read_landsat_c2l2
    elif path.is_file():
        reader = read_geotiff_scene
    else:
        raise SceneInputError(path, "no such scene file or folder")
    try:
        scene = reader(path)
        return dataclasses.replace(
            scene,
            date=parse_date(date, f"{path} (date given)") if date else scene.date,
            sensor=sensor or scene.sensor,
            sun_azimuth=scene.sun_azimuth if sun_azimuth is None else float(sun_azimuth),
            sun_elevation=scene.sun_elevation if sun_elevation is None else float(sun_elevation),
        )
    except InvalidSourceError as err:  # a malformed date
        raise SceneInputError(err.where, err.reason) from None
