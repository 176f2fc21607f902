"""The prepared scene: everything the classifier reads, on the model grid over the selected glaciers.

:func:`prepare_scene` builds, on a grid of ``pixel_size`` (10 m) over the selected glaciers' extent (plus a
margin): the optical bands reprojected (bilinear, as the released patches are inferred to be, from valid source
pixels only: no-data and saturated values never leak into their neighbours), the DEM reprojected (bilinear, any
CRS and resolution, several files mosaicked), the auxiliary bands from :mod:`dataset_builder.aux_bands` (the code
the synthetic generator uses), the glacier index raster, the per-glacier elevation ranges and the product's
quality flags (:class:`~modeling.mapping.sources.QualityRaster`, saturated values): glacier pixels they hide are
*unobserved*, left out of the classification. It works in blocks, so memory is bounded on large grids, and writes
the inputs to a float32 GeoTIFF in a work folder, which :meth:`PreparedScene.read` serves by window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
import rasterio.features
import shapely
from pyproj import CRS
from rasterio.warp import Resampling
from rasterio.windows import Window
from scipy import ndimage

from dataset_builder.aux_bands import (
    cast_shadow_mask,
    glacier_scaled_elevation,
    hillshade,
    proximity_m,
    scaled_proximity,
    slope_degrees,
)
from dataset_builder.outlines import Outlines
from dataset_builder.schema import OPTICAL_BANDS, PIXEL_SIZE_M, check_bands
from modeling.errors import SceneInputError
from modeling.mapping.grid import (
    GRID_MARGIN_PX,
    Grid,
    choose_grid,
    dem_block,
    dem_files,
    footprint,
    make_grid,
    scene_crs,
    warp_into,
    warp_valid,
)
from modeling.mapping.sources import OpticalScene
from modeling.mapping.tiles import clip, decimated_shape, grow, relative_slices, tile_windows, window_slices

#: Bands derived from the DEM, and those of them that also need the sun.
TERRAIN_BANDS: tuple[str, ...] = ("elevation", "slope", "shadow_mask", "hillshade")
SUN_BANDS: tuple[str, ...] = ("shadow_mask", "hillshade")
#: Rows per strip of the proximity computation (see ``aux_bands.outline_distance_m``): ~50 bytes per
#: pixel of a strip and its halo, a few hundred MB on a 10980 px wide grid.
PROXIMITY_STRIP_ROWS = 256
QUICKLOOK_BANDS: tuple[str, ...] = ("blue", "green", "red")


@dataclass
class PreparedScene:
    """A scene on the model grid, ready to classify.

    Attributes:
        scene: the optical product.
        grid: the 10 m grid over the selected glaciers.
        glacier_ids: glacier id of each glacier index (index 1 is ``glacier_ids[0]``).
        glacier_index: (H, W) unsigned ints, 0 outside the glaciers.
        classify: (H, W) bool, glacier pixels with data in every band the model reads that no quality flag hides.
        hidden: (H, W) bool, glacier pixels with data that the product's quality flags hide (unobserved).
        bands: the bands of the input stack, in order (the model's, then the quick-look's missing ones).
        stack_path: float32 GeoTIFF of those bands on the grid (NaN = no data), in the work folder.
        coverage: glacier id -> share of its pixels that can be classified.
        dem: the DEM files used.
        grid_reason: why the grid has its CRS (:class:`~modeling.mapping.grid.GridChoice`).
    """

    scene: OpticalScene
    grid: Grid
    glacier_ids: tuple[str, ...]
    glacier_index: np.ndarray
    classify: np.ndarray
    hidden: np.ndarray
    bands: tuple[str, ...]
    stack_path: Path
    coverage: dict[str, float]
    dem: tuple[Path, ...] = ()
    grid_reason: str = ""

    def read(self, window: Window, bands: Sequence[str] | None = None) -> np.ndarray:
        """Raw values (len(bands), h, w) float32 of a window that may reach beyond the grid (NaN there)."""
        bands = self.bands if bands is None else tuple(bands)
        out = np.full((len(bands), window.height, window.width), np.nan, dtype=np.float32)
        inside = clip(window, self.grid.shape)
        if inside.height and inside.width:
            with rasterio.open(self.stack_path) as src:
                data = src.read([self.bands.index(b) + 1 for b in bands], window=inside)
            out[(slice(None), *relative_slices(inside, window))] = data
        return out

    def observed(self) -> list[str]:
        """The glaciers with at least one pixel that can be classified, in outline order."""
        return [g for g in self.glacier_ids if self.coverage[g] > 0]

    def seen(self) -> list[str]:
        """The glaciers the scene has data over (classifiable or hidden by quality flags), in outline order."""
        index = np.bincount(self.glacier_index[self.classify | self.hidden], minlength=len(self.glacier_ids) + 1)
        return [g for g, n in zip(self.glacier_ids, index[1:]) if n > 0]

    def pixel_counts(self) -> dict[str, np.ndarray]:
        """Per glacier (``glacier_ids`` order), (glaciers,) int64: ``pixels`` in the outline, ``classified``,
        ``unobserved`` (hidden by quality flags) and ``no_data`` (the rest)."""
        n = len(self.glacier_ids) + 1
        pixels, classified, unobserved = (
            np.bincount(self.glacier_index[m], minlength=n)[1:].astype(np.int64)
            for m in (self.glacier_index > 0, self.classify, self.hidden)
        )
        return {
            "pixels": pixels,
            "classified": classified,
            "unobserved": unobserved,
            "no_data": pixels - classified - unobserved,
        }

    def quicklook_bands(self, max_size: int) -> np.ndarray | None:
        """Blue, green, red reflectance decimated to at most ``max_size`` px a side, (3, h, w); None without them."""
        if not set(QUICKLOOK_BANDS) <= set(self.bands):
            return None
        with rasterio.open(self.stack_path) as src:
            return src.read(
                [self.bands.index(b) + 1 for b in QUICKLOOK_BANDS],
                out_shape=(3, *decimated_shape(self.grid.shape, max_size)),
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
) -> list[int]:
    """Rows of ``outlines`` (optionally only ``glaciers``) that the scene's footprint touches, tested in ``crs``
    (the scene's)."""
    geometries = outlines.to_crs(crs)
    rows = np.arange(len(outlines.ids))
    if glaciers:
        unknown = sorted(set(glaciers) - set(outlines.ids))
        if unknown:
            raise SceneInputError(outlines.path, f"no outline for glacier(s) {unknown}")
        rows = np.array([outlines.ids.index(g) for g in glaciers])
    seen = footprint(sorted({b.path for b in scene.bands.values()}), crs)
    rows = rows[shapely.intersects(geometries[rows], seen)]
    if not len(rows):
        raise SceneInputError(
            scene.path, f"the scene covers none of the {len(outlines.ids)} glacier outline(s) of {outlines.path}"
        )
    return rows.tolist()


def _read_optical(
    scene: OpticalScene, names: Sequence[str], model_bands: Sequence[str], grid: Grid, block: Window
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Reflectance (h, w) float32 of optical bands on a grid block (NaN = no data), and (h, w) bool where a band the
    model reads holds the product's saturated value (that band is NaN there). Bilinear, as the released patches
    are inferred to be (README "Band conventions"), from valid source pixels only (:func:`warp_valid`)."""
    values, saturated = {}, np.zeros((block.height, block.width), dtype=bool)
    for name in names:
        source = scene.bands[name]
        raw, hit = warp_valid(source.path, source.index, grid, block, source.nodata, source.saturated)  # NaN at hits
        if name in model_bands:
            saturated |= hit
        values[name] = raw * np.float32(source.scale) + np.float32(source.offset)
    return values, saturated


def quality_flags(scene: OpticalScene, grid: Grid, block: Window, clouds: bool) -> tuple[np.ndarray, np.ndarray]:
    """(no data, hidden) (h, w) bool on a grid block from the product's quality rasters (see
    :meth:`~modeling.mapping.sources.QualityRaster.flags`; ``clouds``: apply their cloud/shadow/cirrus flags)."""
    fill = np.zeros((block.height, block.width), dtype=bool)
    hidden = fill.copy()
    for raster in scene.quality:
        values = warp_into([(raster.path, 1, None)], grid, block, Resampling.nearest)
        no_data, hides = raster.flags(values, clouds=clouds)
        fill |= no_data
        hidden |= hides
    return fill, hidden


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
    clouds: bool = True,
) -> PreparedScene:
    """Put a scene, its DEM and its glaciers on the model grid (see the module docstring).

    Args:
        scene: the optical product (:func:`open_scene`).
        outlines: glacier outlines (:func:`dataset_builder.outlines.read_outlines`); those the scene touches are mapped.
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
        clouds: apply the product's cloud, cloud shadow and cirrus flags (saturated and defective pixels are
            always unobserved).

    Raises:
        SceneInputError: naming the file: missing bands, metadata or sun, a DEM that does not cover the
            glaciers or has holes in them, a scene without data over any glacier.
    """
    bands = check_bands(bands)
    files = dem_files(dem) if dem else []
    check_model_inputs(scene, bands, bool(files))
    rows = select_glaciers(scene, outlines, scene_crs(scene)[0], glaciers)
    choice = choose_grid(scene, outlines.to_crs(CRS.from_epsg(4326))[rows])
    crs = choice.crs
    geometries = outlines.to_crs(crs)[rows]
    ids = tuple(outlines.ids[r] for r in rows)
    grid = make_grid(shapely.total_bounds(geometries), crs, pixel_size, margin_px, choice.origin)
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
        proximity = scaled_proximity(proximity)  # the released convention: divided by its largest value here
    terrain = [b for b in bands if b in TERRAIN_BANDS]
    uses_dem = bool(terrain)
    if uses_dem:
        dem_crs_bounds = grid.bounds(halo=math.ceil(shadow_reach_m / pixel_size))
        files = [f for f in files if shapely.intersects(footprint([f], crs), shapely.box(*dem_crs_bounds))]
        if not files:
            raise SceneInputError(
                ", ".join(map(str, dem_files(dem))), f"no DEM covers the glaciers of scene {scene.scene}"
            )
    classify = np.zeros(grid.shape, dtype=bool)
    hidden = np.zeros(grid.shape, dtype=bool)
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
    optical = [b for b in stack_bands if b in OPTICAL_BANDS]
    with rasterio.open(stack_path, "w", **profile) as dst:
        dst.descriptions = stack_bands
        for block in tile_windows(grid.shape, block_size):
            rr, cc = window_slices(block)
            if not near[rr, cc].any():
                continue
            values, saturated = _read_optical(scene, optical, bands, grid, block)
            fill, flagged = quality_flags(scene, grid, block, clouds)
            on_glacier = index[rr, cc] > 0
            ok = on_glacier & ~fill
            for b in bands:
                if b in OPTICAL_BANDS:
                    ok &= np.isfinite(values[b]) | saturated
            if uses_dem:
                dem, dem_window = dem_block(
                    files, grid, block, shadow_reach_m if "shadow_mask" in terrain else pixel_size, scene.sun_elevation
                )
                core_of_dem = relative_slices(block, dem_window)
                core = dem[core_of_dem]
                hole = on_glacier & ~np.isfinite(core)
                holes += int(hole.sum())
                for b in terrain:
                    values[b] = _terrain(b, dem, pixel_size, scene)[core_of_dem]
                ok &= ~hole
                labels = index[rr, cc][on_glacier & ~hole]
                np.minimum.at(lows, labels, core[on_glacier & ~hole])
                np.maximum.at(highs, labels, core[on_glacier & ~hole])
            if proximity is not None:
                values["proximity"] = proximity[rr, cc]
            hidden[rr, cc] = ok & (flagged | saturated)
            classify[rr, cc] = ok & ~hidden[rr, cc]
            dst.write(np.stack([values[b] for b in stack_bands]).astype(np.float32), window=block)
    if holes:
        raise SceneInputError(
            ", ".join(map(str, files)),
            f"the DEM has no data at {holes} glacier pixel(s) of scene {scene.scene}: fill its holes",
        )
    ranges = {i: (float(lows[i]), float(highs[i])) for i in range(1, len(ids) + 1) if highs[i] > lows[i]}
    if "elevation" in bands:  # the released convention: scaled over each glacier's outline, known only now
        e = stack_bands.index("elevation") + 1
        with rasterio.open(stack_path, "r+") as dst:
            for block in tile_windows(grid.shape, block_size):
                rr, cc = window_slices(block)
                if near[rr, cc].any():
                    halo = grow(block, margin_px, grid.shape)
                    hr, hc = window_slices(halo)
                    scaled = glacier_scaled_elevation(dst.read(e, window=halo), index[hr, hc], ranges)
                    dst.write(scaled[relative_slices(block, halo)], e, window=block)
    counts = np.bincount(index.ravel(), minlength=len(ids) + 1)[1:]
    covered = np.bincount(index[classify], minlength=len(ids) + 1)[1:]
    if not (classify | hidden).any():
        raise SceneInputError(
            scene.path, f"no data over any of its glaciers ({', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''})"
        )
    coverage = {g: float(c / n) if n else 0.0 for g, c, n in zip(ids, covered, counts)}
    return PreparedScene(
        scene,
        grid,
        ids,
        index,
        classify,
        hidden,
        stack_bands,
        stack_path,
        coverage,
        tuple(files),
        choice.reason,
    )
