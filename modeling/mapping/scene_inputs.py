"""Whole-scene inputs: optical products, DEM and glacier outlines on the model's 10 m grid.

Readers (:func:`open_scene` picks one):

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

:func:`prepare_scene` then builds everything the classifier reads, on a grid of ``pixel_size`` (10 m)
over the selected glaciers' extent (plus a margin): the optical bands reprojected (nearest, as the
training patches repeat coarse pixels), the DEM reprojected (bilinear, any CRS and resolution,
several files mosaicked), the auxiliary bands from :mod:`dataset_builder.aux_bands` (the code the
synthetic generator uses), the glacier index raster and the per-glacier elevation ranges. It works
in blocks, so memory is bounded on large grids, and writes the inputs to a float32 GeoTIFF in a
work folder; :meth:`PreparedScene.reader` serves tiles of it to :func:`modeling.mapping.dense.predict_tiled`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import rasterio
import rasterio.features
import shapely
from pyproj import CRS
from rasterio.errors import RasterioIOError
from rasterio.transform import Affine, array_bounds
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window
from scipy import ndimage

from dataset_builder.aux_bands import cast_shadow_mask, hillshade, proximity_m, slope_degrees
from dataset_builder.errors import InvalidSourceError
from dataset_builder.outlines import Outlines
from dataset_builder.records import parse_date
from dataset_builder.scenes import scene_bands
from dataset_builder.schema import OPTICAL_BANDS, PIXEL_SIZE_M, check_bands
from modeling.errors import SceneInputError
from modeling.mapping.dense import GroupReader, normalised_groups, tile_windows, window_slices
from modeling.network import FaciesCNNConfig

#: Bands derived from the DEM (and the sun), and the one derived from the outlines.
TERRAIN_BANDS: tuple[str, ...] = ("elevation", "slope", "shadow_mask", "hillshade")
SUN_BANDS: tuple[str, ...] = ("shadow_mask", "hillshade")
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
#: Pixels of grid around the glaciers' extent (more than the dense receptive half-width, 28 px).
GRID_MARGIN_PX = 32
#: Rows per strip of the proximity computation (see ``aux_bands.outline_distance_m``): ~50 bytes per
#: pixel of a strip and its halo, a few hundred MB on a 10980 px wide grid.
PROXIMITY_STRIP_ROWS = 256
QUICKLOOK_BANDS: tuple[str, ...] = ("blue", "green", "red")


# -- optical products ---------------------------------------------------------------------------------------


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


# -- outlines, grid, DEM -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """A north-up grid: CRS, affine transform (square pixels) and shape."""

    crs: CRS
    transform: Affine
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def pixel_size(self) -> float:
        return float(self.transform.a)

    def window_transform(self, window: Window) -> Affine:
        return self.transform * Affine.translation(window.col_off, window.row_off)

    def bounds(self, halo: int = 0) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid CRS, grown by ``halo`` pixels."""
        left, bottom, right, top = array_bounds(self.height, self.width, self.transform)
        pad = halo * self.pixel_size
        return left - pad, bottom - pad, right + pad, top + pad


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone CRS of a point."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def grid_crs(scene: OpticalScene, outlines: Outlines) -> CRS:
    """The scene's CRS when it is projected in metres, else the UTM zone of the outlines' centre."""
    with rasterio.open(next(iter(scene.bands.values())).path) as src:
        crs = CRS.from_user_input(src.crs)
    if crs.is_projected and crs.axis_info and all(a.unit_name in ("metre", "meter") for a in crs.axis_info):
        return crs
    lon, lat = shapely.centroid(shapely.union_all(outlines.to_crs(CRS.from_epsg(4326)))).coords[0]
    return utm_crs(lon, lat)


def make_grid(
    bounds: Sequence[float], crs: CRS, pixel_size: float = PIXEL_SIZE_M, margin_px: int = GRID_MARGIN_PX
) -> Grid:
    """A grid of ``pixel_size`` covering ``bounds`` (left, bottom, right, top) plus a margin, snapped to
    multiples of the pixel size (so that 10, 20 and 30 m products align with it)."""
    left, bottom, right, top = bounds
    pad = margin_px * pixel_size
    x0, y1 = math.floor((left - pad) / pixel_size) * pixel_size, math.ceil((top + pad) / pixel_size) * pixel_size
    x1, y0 = math.ceil((right + pad) / pixel_size) * pixel_size, math.floor((bottom - pad) / pixel_size) * pixel_size
    return Grid(
        crs,
        Affine(pixel_size, 0.0, x0, 0.0, -pixel_size, y1),
        round((y1 - y0) / pixel_size),
        round((x1 - x0) / pixel_size),
    )


def _footprint(paths: Sequence[Path], crs: CRS) -> shapely.Geometry:
    boxes = []
    for path in paths:
        try:
            with rasterio.open(path) as src:
                boxes.append(shapely.box(*transform_bounds(src.crs, crs, *src.bounds)))
        except RasterioIOError as err:
            raise SceneInputError(path, f"not a readable raster ({err})") from None
    return shapely.union_all(boxes)


def dem_files(paths: Sequence[str | Path]) -> list[Path]:
    """DEM rasters given as files or folders (their ``.tif``, ``.tiff``, ``.vrt``, ``.jp2`` files)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise SceneInputError(path, "no such DEM file or folder")
    return files


def _warp_into(
    sources: Sequence[tuple[Path, int, float | None]], grid: Grid, window: Window, resampling: Resampling
) -> np.ndarray:
    """Mosaic raster bands (path, band, extra nodata) onto a grid window: float32 (h, w), NaN where none has data;
    the first source with data wins."""
    out = np.full((window.height, window.width), np.nan, dtype=np.float32)
    transform = grid.window_transform(window)
    for path, band, extra_nodata in sources:
        try:
            src = rasterio.open(path)
        except RasterioIOError as err:
            raise SceneInputError(path, f"not a readable raster ({err})") from None
        with src:
            if src.crs is None:
                raise SceneInputError(path, "no CRS; the raster is not georeferenced")
            part = np.full(out.shape, np.nan, dtype=np.float32)
            nodata = (
                src.nodata
                if src.nodata is not None
                else (np.nan if np.dtype(src.dtypes[band - 1]).kind == "f" else None)
            )
            reproject(
                rasterio.band(src, band),
                part,
                src_nodata=nodata,
                dst_transform=transform,
                dst_crs=grid.crs,
                dst_nodata=np.nan,
                resampling=resampling,
            )
        if extra_nodata is not None:
            part[part == extra_nodata] = np.nan
        fill = np.isnan(out)
        out[fill] = part[fill]
    return out


def _grown(window: Window, halo: int) -> Window:
    return Window(window.col_off - halo, window.row_off - halo, window.width + 2 * halo, window.height + 2 * halo)


# -- the prepared scene ------------------------------------------------------------------------------------------


@dataclass
class PreparedScene:
    """A scene on the model grid, ready to classify.

    Attributes:
        scene: the optical product.
        grid: the 10 m grid over the selected glaciers.
        glacier_ids: glacier id of each glacier index (index 1 is ``glacier_ids[0]``).
        glacier_index: (H, W) unsigned ints, 0 outside the glaciers.
        classify: (H, W) bool, glacier pixels with data in every band the model reads.
        elevation_ranges: glacier index -> (min, max) DEM elevation in metres on its pixels.
        bands: the bands of the input stack, in order (the model's, then the quick-look's missing ones).
        stack_path: float32 GeoTIFF of those bands on the grid (NaN = no data), in the work folder.
        coverage: glacier id -> share of its pixels that can be classified.
        dem: the DEM files used.
    """

    scene: OpticalScene
    grid: Grid
    glacier_ids: tuple[str, ...]
    glacier_index: np.ndarray
    classify: np.ndarray
    elevation_ranges: dict[int, tuple[float, float]]
    bands: tuple[str, ...]
    stack_path: Path
    coverage: dict[str, float]
    dem: tuple[Path, ...] = ()

    def read(self, window: Window, bands: Sequence[str] | None = None) -> np.ndarray:
        """Raw values (len(bands), h, w) float32 of a window that may reach beyond the grid (NaN there)."""
        bands = self.bands if bands is None else tuple(bands)
        r0, c0 = max(window.row_off, 0), max(window.col_off, 0)
        r1, c1 = (
            min(window.row_off + window.height, self.grid.height),
            min(window.col_off + window.width, self.grid.width),
        )
        out = np.full((len(bands), window.height, window.width), np.nan, dtype=np.float32)
        if r1 > r0 and c1 > c0:
            with rasterio.open(self.stack_path) as src:
                data = src.read([self.bands.index(b) + 1 for b in bands], window=Window(c0, r0, c1 - c0, r1 - r0))
            out[:, r0 - window.row_off : r1 - window.row_off, c0 - window.col_off : c1 - window.col_off] = data
        return out

    def reader(self, config: FaciesCNNConfig) -> GroupReader:
        """Tiles of normalised inputs for a model (see :func:`modeling.mapping.dense.normalised_groups`)."""

        def read(window: Window, halo: int) -> list[tuple[np.ndarray, np.ndarray]]:
            rows, cols = window_slices(window)
            claim = self.classify[rows, cols]
            if not claim.any():
                return []
            raw = self.read(_grown(window, halo), config.bands)
            return normalised_groups(raw, config, claim, self.glacier_index[rows, cols], self.elevation_ranges)

        return read

    def quicklook_bands(self, max_size: int) -> np.ndarray | None:
        """Blue, green, red reflectance decimated to at most ``max_size`` px a side, (3, h, w); None without them."""
        if not set(QUICKLOOK_BANDS) <= set(self.bands):
            return None
        step = max(1, math.ceil(max(self.grid.shape) / max_size))
        with rasterio.open(self.stack_path) as src:
            return src.read(
                [self.bands.index(b) + 1 for b in QUICKLOOK_BANDS],
                out_shape=(3, math.ceil(self.grid.height / step), math.ceil(self.grid.width / step)),
                resampling=Resampling.nearest,
            )


def check_model_inputs(scene: OpticalScene, bands: Sequence[str], has_dem: bool) -> None:
    """Raise a clear error when the scene, the DEM or the sun geometry cannot provide the model's bands."""
    bands = check_bands(bands)
    missing = [b for b in bands if b in OPTICAL_BANDS and b not in scene.bands]
    if missing:
        raise SceneInputError(
            scene.path,
            f"the model needs band(s) {missing} that this scene lacks (it provides {sorted(scene.bands, key=OPTICAL_BANDS.index)})",
        )
    if not has_dem and any(b in TERRAIN_BANDS for b in bands):
        raise SceneInputError(
            scene.path, f"the model needs DEM bands {[b for b in bands if b in TERRAIN_BANDS]}: give a DEM"
        )
    if any(b in SUN_BANDS for b in bands) and (scene.sun_azimuth is None or scene.sun_elevation is None):
        raise SceneInputError(
            scene.path, "no sun azimuth/elevation in the metadata: give them (sun_azimuth=, sun_elevation=)"
        )
    if any(b in SUN_BANDS for b in bands) and not 0 < scene.sun_elevation <= 90:
        raise SceneInputError(scene.path, f"sun elevation {scene.sun_elevation} is not in (0, 90] degrees")
    if scene.date is None:
        raise SceneInputError(scene.path, "no acquisition date in the metadata or name: give it (date=YYYY-MM-DD)")


def select_glaciers(
    scene: OpticalScene, outlines: Outlines, crs: CRS, glaciers: Sequence[str] | None = None
) -> tuple[list[int], np.ndarray]:
    """Rows of ``outlines`` (optionally only ``glaciers``) that the scene's footprint touches, and their geometries in ``crs``."""
    geometries = outlines.to_crs(crs)
    rows = np.arange(len(outlines.ids))
    if glaciers:
        unknown = sorted(set(glaciers) - set(outlines.ids))
        if unknown:
            raise SceneInputError(outlines.path, f"no outline for glacier(s) {unknown}")
        rows = np.array([outlines.ids.index(g) for g in glaciers])
    footprint = _footprint(sorted({b.path for b in scene.bands.values()}), crs)
    rows = rows[shapely.intersects(geometries[rows], footprint)]
    if not len(rows):
        raise SceneInputError(
            scene.path, f"the scene covers none of the {len(outlines.ids)} glacier outline(s) of {outlines.path}"
        )
    return rows.tolist(), geometries[rows]


def _terrain(name: str, dem: np.ndarray, pixel_size: float, scene: OpticalScene) -> np.ndarray:
    if name == "elevation":
        return dem
    if name == "slope":
        return slope_degrees(dem, pixel_size)
    if name == "hillshade":
        return hillshade(dem, pixel_size, scene.sun_azimuth, scene.sun_elevation)
    return cast_shadow_mask(dem, pixel_size, scene.sun_azimuth, scene.sun_elevation).astype(np.float32)


def prepare_scene(
    scene: OpticalScene,
    outlines: Outlines,
    dem: Sequence[str | Path],
    bands: Sequence[str],
    workdir: str | Path,
    *,
    glaciers: Sequence[str] | None = None,
    pixel_size: float = PIXEL_SIZE_M,
    block_size: int = 1024,
    shadow_reach_m: float = 5000.0,
    margin_px: int = GRID_MARGIN_PX,
) -> PreparedScene:
    """Put a scene, its DEM and its glaciers on the model grid (see the module docstring).

    Args:
        scene: the optical product (:func:`open_scene`).
        outlines: glacier outlines (:func:`read_outlines`); those the scene touches are mapped.
        dem: DEM files or folders (any CRS and resolution; holes inside the glaciers are an error).
        bands: the model's input bands.
        workdir: folder for the input stack (``inputs.tif``).
        glaciers: only these glacier ids.
        pixel_size: grid pixel in metres.
        block_size: grid block processed at once (memory ~ 40 bytes x (block + 2 x shadow reach)^2).
        shadow_reach_m: DEM read around each block for cast shadows; shadows of terrain farther away
            are missed (at most relief / tan(sun elevation) is needed; less is read where the relief allows).
        margin_px: context around the glaciers (at least the model's receptive half-width): the grid
            extends this far beyond them, and inputs are computed only this close to a glacier (the
            rest of the stack stays NaN: no classified pixel sees it).

    Raises:
        SceneInputError: naming the file: missing bands, metadata or sun, a DEM that does not cover the
            glaciers or has holes in them, a scene without data over any glacier.
    """
    bands = check_bands(bands)
    files = dem_files(dem) if dem else []
    check_model_inputs(scene, bands, bool(files))
    crs = grid_crs(scene, outlines)
    rows, geometries = select_glaciers(scene, outlines, crs, glaciers)
    ids = tuple(outlines.ids[r] for r in rows)
    grid = make_grid(shapely.total_bounds(geometries), crs, pixel_size, margin_px)
    dtype = np.uint8 if len(ids) < 255 else np.uint16 if len(ids) < 65535 else np.uint32
    index = rasterio.features.rasterize(
        zip(geometries, range(1, len(ids) + 1)), out_shape=grid.shape, transform=grid.transform, fill=0, dtype=dtype
    )
    stack_bands = bands + tuple(b for b in QUICKLOOK_BANDS if b not in bands and b in scene.bands)
    near = ndimage.maximum_filter(index > 0, size=2 * margin_px + 1)  # inputs are needed here only
    proximity = None
    if "proximity" in bands:
        proximity = proximity_m(index, pixel_size, strip_rows=PROXIMITY_STRIP_ROWS, needed=near)
        proximity[~near] = np.nan
    terrain = [b for b in bands if b in TERRAIN_BANDS]
    uses_dem = bool(terrain)
    if uses_dem:
        dem_crs_bounds = grid.bounds(halo=math.ceil(shadow_reach_m / pixel_size))
        files = [f for f in files if shapely.intersects(_footprint([f], crs), shapely.box(*dem_crs_bounds))]
        if not files:
            raise SceneInputError(
                ", ".join(map(str, dem_files(dem))), f"no DEM covers the glaciers of scene {scene.scene}"
            )
    classify = np.zeros(grid.shape, dtype=bool)
    lows = np.full(len(ids) + 1, np.inf)
    highs = np.full(len(ids) + 1, -np.inf)
    holes = 0
    Path(workdir).mkdir(parents=True, exist_ok=True)
    stack_path = Path(workdir) / "inputs.tif"
    profile = dict(
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=len(stack_bands),
        dtype="float32",
        crs=grid.crs,
        transform=grid.transform,
        nodata=np.nan,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        BIGTIFF="IF_SAFER",
        SPARSE_OK=True,  # blocks never written (far from any glacier) read as nodata
    )
    with rasterio.open(stack_path, "w", **profile) as dst:
        dst.descriptions = stack_bands
        for block in tile_windows(grid.shape, block_size):
            rr, cc = window_slices(block)
            if not near[rr, cc].any():
                continue
            values = {
                b: _warp_into([(s.path, s.index, s.nodata)], grid, block, Resampling.nearest) * np.float32(s.scale)
                + np.float32(s.offset)
                for b, s in ((b, scene.bands[b]) for b in stack_bands if b in OPTICAL_BANDS)
            }
            on_glacier = index[rr, cc] > 0
            ok = on_glacier.copy()
            for b in bands:
                if b in OPTICAL_BANDS:
                    ok &= np.isfinite(values[b])
            if uses_dem:
                dem_block = _dem_block(
                    files, grid, block, shadow_reach_m if "shadow_mask" in terrain else pixel_size, scene
                )
                halo = (dem_block.shape[0] - block.height) // 2
                core = dem_block[halo : halo + block.height, halo : halo + block.width]
                hole = on_glacier & ~np.isfinite(core)
                holes += int(hole.sum())
                for b in terrain:
                    values[b] = _terrain(b, dem_block, pixel_size, scene)[
                        halo : halo + block.height, halo : halo + block.width
                    ]
                ok &= ~hole
                labels = index[rr, cc][on_glacier & ~hole]
                np.minimum.at(lows, labels, core[on_glacier & ~hole])
                np.maximum.at(highs, labels, core[on_glacier & ~hole])
            if proximity is not None:
                values["proximity"] = proximity[rr, cc]
            classify[rr, cc] = ok
            dst.write(np.stack([values[b] for b in stack_bands]).astype(np.float32), window=block)
    if holes:
        raise SceneInputError(
            ", ".join(map(str, files)),
            f"the DEM has no data at {holes} glacier pixel(s) of scene {scene.scene}: fill its holes",
        )
    counts = np.bincount(index.ravel(), minlength=len(ids) + 1)[1:]
    covered = np.bincount(index[classify], minlength=len(ids) + 1)[1:]
    if not covered.any():
        raise SceneInputError(
            scene.path, f"no data over any of its glaciers ({', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''})"
        )
    coverage = {g: float(c / n) if n else 0.0 for g, c, n in zip(ids, covered, counts)}
    ranges = {i: (float(lows[i]), float(highs[i])) for i in range(1, len(ids) + 1) if highs[i] > lows[i]}
    return PreparedScene(scene, grid, ids, index, classify, ranges, stack_bands, stack_path, coverage, tuple(files))


def _dem_block(files: Sequence[Path], grid: Grid, block: Window, reach_m: float, scene: OpticalScene) -> np.ndarray:
    """The DEM (m) on a grid block with a square halo: 1 px for slope and hillshade, up to ``reach_m`` for
    cast shadows - only as far as the block's relief can cast one (relief / tan(sun elevation)) + 2 px."""
    pixel_size = grid.pixel_size
    halo = max(1, math.ceil(reach_m / pixel_size))
    dem = _warp_into([(f, 1, None) for f in files], grid, _grown(block, halo), Resampling.bilinear)
    if halo > 1 and np.isfinite(dem).any():
        core = dem[halo : halo + block.height, halo : halo + block.width]
        low = np.nanmin(core) if np.isfinite(core).any() else np.nanmin(dem)
        reach = (np.nanmax(dem) - low) / math.tan(math.radians(scene.sun_elevation)) / pixel_size
        need = min(halo, max(1, math.ceil(reach) + 2))
        dem = dem[halo - need : dem.shape[0] - (halo - need), halo - need : dem.shape[1] - (halo - need)]
    return dem
