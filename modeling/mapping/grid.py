"""The model grid and the rasters warped onto it: a north-up 10 m grid over the glaciers, DEM files and blocks.

The grid's CRS (:func:`choose_grid`) is the scene's when that is projected in metres that are true ground metres
at the glaciers (scale error within :data:`GROUND_SCALE_TOLERANCE` along meridians and parallels); else (a
geographic CRS, Web Mercator, a UTM zone far from the glaciers, a polar stereographic grid away from its true-scale
latitude, ...) the grid is reprojected to the UTM zone of the glaciers' centre. In the scene's own CRS the grid is
aligned to the scene's pixel corners (Landsat corners lie at odd multiples of 15 m: each 30 m pixel then holds
exactly 3 x 3 grid cells); reprojected, it is snapped to multiples of the pixel size.

:func:`warp_into` mosaics raster bands (the DEM, bilinear; quality rasters, nearest; any CRS and resolution,
several files) onto a window of the grid; :func:`warp_valid` warps one optical band bilinearly from its valid pixels
only (no-data and saturated values never leak into their neighbours); :func:`dem_block` reads a block's DEM with
the halo its terrain bands need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
import shapely
from pyproj import CRS, Proj
from rasterio.errors import RasterioIOError
from rasterio.transform import Affine, array_bounds
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from dataset_builder.schema import PIXEL_SIZE_M
from modeling.errors import SceneInputError
from modeling.mapping.sources import RASTER_SUFFIXES, OpticalScene
from modeling.mapping.tiles import grow, relative_slices

#: Pixels of grid around the glaciers' extent (more than the dense receptive half-width, 28 px).
GRID_MARGIN_PX = 32
#: Largest |scale factor - 1| of a CRS at the glaciers (along meridians or parallels) that still counts as ground
#: metres: 0.5 % (areas within 1 %); UTM inside its zone and the next is within it, Web Mercator is not (1.44 at 46 deg).
GROUND_SCALE_TOLERANCE = 0.005


@dataclass(frozen=True)
class Grid:
    """A north-up grid: CRS, affine transform (square pixels) and shape."""

    crs: CRS
    transform: Affine
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self.height, self.width

    @property
    def pixel_size(self) -> float:
        """Pixel side in the CRS units (metres)."""
        return float(self.transform.a)

    def window_transform(self, window: Window) -> Affine:
        """The affine transform of a window of the grid (its top-left pixel at the window's offset)."""
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


def scale_error(crs: CRS, lon: np.ndarray, lat: np.ndarray) -> float:
    """Largest |scale factor - 1| along meridians and parallels of a CRS at points (degrees); inf unless the CRS is
    projected with metre axes."""
    if not (crs.is_projected and crs.axis_info and all(a.unit_name in ("metre", "meter") for a in crs.axis_info)):
        return math.inf
    factors = Proj(crs).get_factors(np.asarray(lon, float), np.asarray(lat, float))
    scales = np.concatenate([np.atleast_1d(factors.meridional_scale), np.atleast_1d(factors.parallel_scale)])
    return float(np.max(np.abs(scales - 1.0))) if np.isfinite(scales).all() else math.inf


@dataclass(frozen=True)
class GridChoice:
    """The grid's CRS, the origin its lines pass through (None: multiples of the pixel size) and why."""

    crs: CRS
    origin: tuple[float, float] | None
    reason: str


def scene_crs(scene: OpticalScene) -> tuple[CRS, Affine]:
    """CRS and transform of the scene's finest band."""
    best = None
    for band in scene.bands.values():
        try:
            with rasterio.open(band.path) as src:
                found = (abs(src.transform.a), CRS.from_user_input(src.crs) if src.crs else None, src.transform)
        except RasterioIOError as err:
            raise SceneInputError(band.path, f"not a readable raster ({err})") from None
        if found[1] is None:
            raise SceneInputError(band.path, "no CRS; the raster is not georeferenced")
        best = found if best is None or found[0] < best[0] else best
    return best[1], best[2]


def choose_grid(scene: OpticalScene, glaciers_lonlat: np.ndarray) -> GridChoice:
    """The grid's CRS and alignment for glaciers ((N,) geometries in EPSG:4326); see the module docstring."""
    crs, transform = scene_crs(scene)
    x0, y0, x1, y1 = shapely.total_bounds(glaciers_lonlat)
    lon, lat = np.array([x0, x1, x0, x1, (x0 + x1) / 2]), np.array([y0, y0, y1, y1, (y0 + y1) / 2])
    error = scale_error(crs, lon, lat)
    if error <= GROUND_SCALE_TOLERANCE:
        north_up = transform.b == 0 and transform.d == 0
        return GridChoice(crs, (transform.c, transform.f) if north_up else None, f"the scene's CRS {crs.to_string()}")
    utm = utm_crs(float(lon[-1]), float(lat[-1]))
    why = "is not projected in metres" if math.isinf(error) else f"has a scale error of {error:.1%} at the glaciers"
    return GridChoice(utm, None, f"{utm.to_string()} (UTM): the scene's CRS {crs.to_string()} {why}")


def make_grid(
    bounds: Sequence[float],
    crs: CRS,
    pixel_size: float = PIXEL_SIZE_M,
    margin_px: int = GRID_MARGIN_PX,
    origin: tuple[float, float] | None = None,
) -> Grid:
    """A grid of ``pixel_size`` covering ``bounds`` (left, bottom, right, top) plus a margin, its lines through
    ``origin`` (a scene's pixel corner) or, without one, on multiples of the pixel size (so that 10, 20 and 30 m
    products on the usual grids align with it)."""
    left, bottom, right, top = bounds
    ox, oy = origin or (0.0, 0.0)
    pad = margin_px * pixel_size

    def down(v: float, o: float) -> float:
        return o + math.floor((v - o) / pixel_size) * pixel_size

    def up(v: float, o: float) -> float:
        return o + math.ceil((v - o) / pixel_size) * pixel_size

    x0, y1, x1, y0 = down(left - pad, ox), up(top + pad, oy), up(right + pad, ox), down(bottom - pad, oy)
    return Grid(
        crs,
        Affine(pixel_size, 0.0, x0, 0.0, -pixel_size, y1),
        round((y1 - y0) / pixel_size),
        round((x1 - x0) / pixel_size),
    )


def footprint(paths: Sequence[Path], crs: CRS) -> shapely.Geometry:
    """The union of the rasters' bounding boxes in ``crs``."""
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


def _open(path: Path) -> rasterio.DatasetReader:
    """Open a georeferenced raster, or raise :class:`SceneInputError` naming it."""
    try:
        src = rasterio.open(path)
    except RasterioIOError as err:
        raise SceneInputError(path, f"not a readable raster ({err})") from None
    if src.crs is None:
        src.close()
        raise SceneInputError(path, "no CRS; the raster is not georeferenced")
    return src


def warp_into(
    sources: Sequence[tuple[Path, int, float | None]], grid: Grid, window: Window, resampling: Resampling
) -> np.ndarray:
    """Mosaic raster bands (path, band, extra nodata) onto a grid window: float32 (h, w), NaN where none has data;
    the first source with data wins."""
    out = np.full((window.height, window.width), np.nan, dtype=np.float32)
    transform = grid.window_transform(window)
    for path, band, extra_nodata in sources:
        with _open(path) as src:
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


#: Source pixel states of :func:`warp_valid`'s nearest pass.
VALID, NO_VALUE, FLAGGED = 0, 1, 2


def warp_valid(
    path: Path, band: int, grid: Grid, window: Window, nodata: float | None, flagged: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Band ``band`` of raster ``path`` warped bilinearly onto a grid window from its valid pixels only.

    Source pixels without data (the file's nodata, ``nodata``, non-finite) or equal to ``flagged`` (a product's
    saturated value) are left out of the interpolation: GDAL weighs the valid pixels around each grid pixel, so a
    bad value never leaks into its neighbours. A grid pixel whose nearest source pixel is bad takes its state, as
    a nearest warp would: float32 (h, w) values, NaN there (and beyond the raster), and (h, w) bool, True where
    the nearest source pixel holds ``flagged``.
    """
    values = np.full((window.height, window.width), np.nan, dtype=np.float32)
    transform = grid.window_transform(window)
    with _open(path) as src:
        bounds = transform_bounds(grid.crs, src.crs, *array_bounds(window.height, window.width, transform))
        (row0, row1), (col0, col1) = from_bounds(*bounds, transform=src.transform).toranges()
        c0, r0 = math.floor(col0), math.floor(row0)
        # grown by the bilinear kernel's reach, clipped to the raster
        read = grow(Window(c0, r0, math.ceil(col1) - c0, math.ceil(row1) - r0), 2, (src.height, src.width))
        if not read.width or not read.height:
            return values, np.zeros(values.shape, dtype=bool)
        data = src.read(band, window=read).astype(np.float32)
        bad = ~np.isfinite(data)
        for value in (src.nodata, nodata):
            if value is not None:
                bad |= data == np.float32(value)
        hit = data == np.float32(flagged) if flagged is not None else np.zeros(data.shape, dtype=bool)
        data[bad | hit] = np.nan
        where = {"src_transform": src.window_transform(read), "src_crs": src.crs}
    target = {"dst_transform": transform, "dst_crs": grid.crs}
    reproject(data, values, src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.bilinear, **where, **target)
    state = np.where(bad, NO_VALUE, np.where(hit, FLAGGED, VALID)).astype(np.uint8)
    nearest = np.full(values.shape, NO_VALUE, dtype=np.uint8)
    reproject(state, nearest, src_nodata=None, resampling=Resampling.nearest, **where, **target)
    values[nearest != VALID] = np.nan
    return values, nearest == FLAGGED


def dem_block(
    files: Sequence[Path], grid: Grid, block: Window, reach_m: float, sun_elevation: float
) -> tuple[np.ndarray, Window]:
    """The DEM (m) on a grid block with a square halo: 1 px for slope and hillshade, up to ``reach_m`` for
    cast shadows - only as far as the block's relief can cast one (relief / tan(sun elevation, degrees)) + 2 px.

    Returns:
        (h, w) float32 elevations (NaN = no data) and the grid window they cover (``block`` grown by the halo).
    """
    pixel_size = grid.pixel_size
    halo = max(1, math.ceil(reach_m / pixel_size))
    covered = grow(block, halo)
    dem = warp_into([(f, 1, None) for f in files], grid, covered, Resampling.bilinear)
    if halo > 1 and np.isfinite(dem).any():
        core = dem[relative_slices(block, covered)]
        low = np.nanmin(core) if np.isfinite(core).any() else np.nanmin(dem)
        reach = (np.nanmax(dem) - low) / math.tan(math.radians(sun_elevation)) / pixel_size
        need = grow(block, min(halo, max(1, math.ceil(reach) + 2)))
        dem, covered = dem[relative_slices(need, covered)], need
    return dem, covered
