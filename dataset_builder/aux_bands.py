"""The auxiliary bands of the benchmark, computed from a DEM and a glacier mask, in the released data's conventions.

One home for elevation, slope, shadow_mask, hillshade and proximity: the synthetic generator uses these functions,
and so does whole-scene mapping on real DEMs. The conventions (see ``dataset_builder.schema.BANDS`` and the README's
"Band conventions"), inferred from the authors' inference code and the BatchNorm statistics of their weights:

- ``elevation``: min-max scaled per glacier over its outline (:func:`glacier_scaled_elevation`);
- ``slope``: degrees (:func:`slope_degrees`);
- ``shadow_mask``: 1 sunlit, 0 in cast terrain shadow (:func:`cast_shadow_mask`);
- ``hillshade``: combined shading, 1 on flat ground, darker with slope and incidence angle (:func:`hillshade`);
- ``proximity``: distance to the outline divided by its maximum over the raster (:func:`scaled_proximity`).

Conventions for every function here: arrays are ``(rows, cols)`` on a north-up grid (row 0 is
the northern edge, column 0 the western edge) with square pixels of ``pixel_size`` metres;
elevations in metres; ``sun_azimuth`` in degrees clockwise from north (the direction the sun is
seen in), ``sun_elevation`` in degrees above the horizon.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy import ndimage

from dataset_builder.schema import BAND_NAMES, CAST_SHADOW, SUNLIT

#: The auxiliary bands, in schema order (the bands after the six reflectances).
AUX_BAND_NAMES: tuple[str, ...] = BAND_NAMES[6:]


def _gradients(dem: np.ndarray, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Elevation gradients (dz/d east, dz/d north), dimensionless; edges by one-sided differences."""
    dz_drow, dz_dcol = np.gradient(np.asarray(dem, dtype=np.float64), pixel_size)
    return dz_dcol, -dz_drow


def slope_degrees(dem: np.ndarray, pixel_size: float) -> np.ndarray:
    """Terrain slope in degrees (0 = flat, 90 = vertical).

    Args:
        dem: ``(rows, cols)`` elevation in metres.
        pixel_size: pixel side in metres.

    Returns:
        ``(rows, cols)`` float32 slope in degrees, from central differences (one-sided at the edges).
    """
    dzdx, dzdy = _gradients(dem, pixel_size)
    return np.degrees(np.arctan(np.hypot(dzdx, dzdy))).astype(np.float32)


def sun_vector(sun_azimuth: float, sun_elevation: float) -> np.ndarray:
    """Unit vector pointing to the sun, components (east, north, up)."""
    az, el = np.radians(sun_azimuth), np.radians(sun_elevation)
    return np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)])


def incidence_cosine(dem: np.ndarray, pixel_size: float, sun_azimuth: float, sun_elevation: float) -> np.ndarray:
    """Cosine of the solar incidence angle on the terrain (negative on slopes turned away from the sun).

    Args:
        dem: ``(rows, cols)`` elevation in metres.
        pixel_size: pixel side in metres.
        sun_azimuth: degrees clockwise from north.
        sun_elevation: degrees above the horizon.

    Returns:
        ``(rows, cols)`` float64 in -1..1: ``sin(sun_elevation)`` on flat ground, 1 on a slope facing the sun
        squarely. Cast shadows are not included (see :func:`cast_shadow_mask`).
    """
    dzdx, dzdy = _gradients(dem, pixel_size)
    sx, sy, sz = sun_vector(sun_azimuth, sun_elevation)
    return (sz - dzdx * sx - dzdy * sy) / np.sqrt(1.0 + dzdx**2 + dzdy**2)


def hillshade(dem: np.ndarray, pixel_size: float, sun_azimuth: float, sun_elevation: float) -> np.ndarray:
    """The schema's hillshade: combined shading, as GDAL's ``gdaldem hillshade -combined`` computes it, in 0-1.

    ``1 - i * s / (pi / 2)^2`` with ``i`` the solar incidence angle and ``s`` the slope, both in radians, clipped
    at 0 (GDAL writes ``1 + 254`` times this as a byte; the global min-max scaling makes the two the same).

    Args:
        dem: ``(rows, cols)`` elevation in metres.
        pixel_size: pixel side in metres.
        sun_azimuth: degrees clockwise from north.
        sun_elevation: degrees above the horizon.

    Returns:
        ``(rows, cols)`` float32 in 0-1: 1 on flat ground whatever the sun, a little less on gentle slopes,
        down to 0 on steep slopes turned from the sun. Cast shadows are not included.
    """
    incidence = np.arccos(np.clip(incidence_cosine(dem, pixel_size, sun_azimuth, sun_elevation), -1.0, 1.0))
    slope = np.radians(slope_degrees(dem, pixel_size).astype(np.float64))
    return np.clip(1.0 - incidence * slope / (np.pi / 2) ** 2, 0.0, 1.0).astype(np.float32)


def in_cast_shadow(dem: np.ndarray, pixel_size: float, sun_azimuth: float, sun_elevation: float) -> np.ndarray:
    """Pixels in the terrain's cast shadow (True) or sunlit (False).

    A horizon sweep in a grid rotated to the sun direction: along each ray that runs away from
    the sun, a pixel at distance ``d`` is shadowed when any pixel before it rises above the sun
    ray through it, i.e. when ``max_{j<i} (z_j + d_j tan(el)) > z_i + d_i tan(el)`` - a running
    maximum, so the whole grid is done at once. The DEM is sampled bilinearly at 1-pixel steps;
    slopes turned away from the sun steeper than the sun's elevation shade themselves. Terrain
    outside the DEM casts no shadow (the edge is extended by 1.5 px); NaN elevations cast none
    and are never shadowed.

    Args:
        dem: ``(rows, cols)`` elevation in metres.
        pixel_size: pixel side in metres.
        sun_azimuth: degrees clockwise from north.
        sun_elevation: degrees above the horizon (> 0).

    Returns:
        ``(rows, cols)`` bool, True in shadow. A few tenths of a second for a 1000 x 1000 DEM.
    """
    if not 0 < sun_elevation <= 90:
        raise ValueError(f"sun_elevation must be in (0, 90] degrees, got {sun_elevation}")
    dem = np.asarray(dem, dtype=np.float32)
    rows, cols = dem.shape
    az = np.radians(sun_azimuth)
    # Rotated grid: axis 0 runs across the sun rays, axis 1 along them away from the sun.
    # ``rot`` maps rotated offsets (across, along) to DEM offsets (row, col); it is orthonormal.
    rot = np.array([[np.sin(az), np.cos(az)], [np.cos(az), -np.sin(az)]])
    n = int(np.ceil(np.hypot(rows, cols))) + 2
    centre = np.array([(rows - 1) / 2.0, (cols - 1) / 2.0])
    half = (n - 1) / 2.0
    i = np.arange(n) - half
    r = centre[0] + rot[0, 0] * i[:, None] + rot[0, 1] * i[None, :]
    c = centre[1] + rot[1, 0] * i[:, None] + rot[1, 1] * i[None, :]
    # Rotated grid points up to 1.5 px off the DEM take the nearest edge elevation, so that every
    # DEM pixel's interpolation neighbours (within sqrt(2) px) are valid.
    inside = (r >= -1.5) & (r <= rows + 0.5) & (c >= -1.5) & (c <= cols + 0.5)
    z = ndimage.affine_transform(
        dem, rot, offset=centre - rot @ [half, half], output_shape=(n, n), order=1, mode="nearest"
    )
    rise = np.float32(pixel_size * np.tan(np.radians(sun_elevation)))
    valid = inside & np.isfinite(z)
    low = np.float32(-1e30)  # below any terrain: casts no shadow, and is never shadowed
    u = np.where(valid, z + rise * np.arange(n, dtype=np.float32), low)
    horizon = np.full_like(u, low)
    horizon[:, 1:] = np.maximum.accumulate(u[:, :-1], axis=1)
    excess = np.where(valid, horizon - u, low)
    # Back to the DEM grid (the inverse rotation is the transpose).
    excess = ndimage.affine_transform(
        excess, rot.T, offset=[half, half] - rot.T @ centre, output_shape=(rows, cols), order=1, mode="nearest"
    )
    return (excess > 0) & np.isfinite(dem)


def cast_shadow_mask(dem: np.ndarray, pixel_size: float, sun_azimuth: float, sun_elevation: float) -> np.ndarray:
    """The schema's shadow_mask: ``SUNLIT`` (1) where the sun reaches the pixel, ``CAST_SHADOW`` (0) in the terrain's
    cast shadow (:func:`in_cast_shadow`); ``(rows, cols)`` uint8. NaN elevations count as sunlit."""
    return np.where(in_cast_shadow(dem, pixel_size, sun_azimuth, sun_elevation), CAST_SHADOW, SUNLIT).astype(np.uint8)


def glacier_outline(glaciers: np.ndarray) -> np.ndarray:
    """The rasterised outline: glacier pixels with a 4-neighbour outside their glacier.

    Args:
        glaciers: ``(rows, cols)`` bool mask (True on the glacier), or integer glacier ids (0 = no
            glacier), so that the shared border of two touching glaciers is an outline too.

    Returns:
        ``(rows, cols)`` bool. Pixels beyond the array edge count as the same glacier (an edge is
        not an outline).
    """
    ids = np.asarray(glaciers)
    rows, cols = ids.shape
    padded = np.pad(ids, 1, mode="edge")
    differs = np.zeros(ids.shape, dtype=bool)
    for dr, dc in ((0, 1), (2, 1), (1, 0), (1, 2)):
        differs |= padded[dr : dr + rows, dc : dc + cols] != ids
    return differs & (ids != 0)


def outline_distance_m(
    outline: np.ndarray, pixel_size: float, strip_rows: int | None = None, needed: np.ndarray | None = None
) -> np.ndarray:
    """Euclidean distance in metres from each pixel centre to the nearest outline pixel centre.

    Args:
        outline: ``(rows, cols)`` bool, True on the outline.
        pixel_size: pixel side in metres.
        strip_rows: bound the memory on large grids: compute in strips of this many rows, each
            with a halo of rows around it that grows until the strip is exact (every distance in
            the strip at most the halo, so no outline pixel beyond the halo can be nearer). The
            result equals the whole-grid computation exactly. None: one pass over the whole grid.
        needed: ``(rows, cols)`` bool, with ``strip_rows``: only these pixels' distances must be
            exact (the halo stops growing once they are); elsewhere a distance may come out
            larger than the true one (inf in strips without a needed pixel). Default: all pixels.

    Returns:
        ``(rows, cols)`` float32 metres; all NaN when there is no outline pixel.
    """
    outline = np.asarray(outline, dtype=bool)
    rows = outline.shape[0]
    if not outline.any():
        return np.full(outline.shape, np.nan, dtype=np.float32)
    if strip_rows is None or strip_rows >= rows:
        return (ndimage.distance_transform_edt(~outline) * pixel_size).astype(np.float32)
    out = np.empty(outline.shape, dtype=np.float32)
    for top in range(0, rows, strip_rows):
        bottom, halo = min(rows, top + strip_rows), strip_rows
        if needed is not None and not needed[top:bottom].any():
            out[top:bottom] = np.inf
            continue
        while True:
            lo, hi = max(0, top - halo), min(rows, bottom + halo)
            window = outline[lo:hi]
            whole = lo == 0 and hi == rows
            if window.any():
                # the nearest outline pixel of each pixel (8 bytes a pixel), distances of the strip only
                nearest = ndimage.distance_transform_edt(~window, return_distances=False, return_indices=True)[
                    :, top - lo : bottom - lo
                ]
                drow = (nearest[0] - np.arange(top - lo, bottom - lo)[:, None]).astype(np.float64)
                dcol = (nearest[1] - np.arange(outline.shape[1])[None, :]).astype(np.float64)
                distance = np.sqrt(drow * drow + dcol * dcol)
                check = distance if needed is None else distance[needed[top:bottom]]
                if whole or not check.size or check.max() <= halo:
                    break
            halo *= 2
        out[top:bottom] = (distance * pixel_size).astype(np.float32)
    return out


def proximity_m(
    glacier_mask: np.ndarray, pixel_size: float, strip_rows: int | None = None, needed: np.ndarray | None = None
) -> np.ndarray:
    """Distance to the glacier outline in metres, inside and outside the glacier alike.

    The outline is the set of glacier pixels with at least one 4-neighbour outside the glacier
    (the rasterised outline line, :func:`glacier_outline`); each pixel gets the Euclidean distance
    from its centre to the nearest outline pixel centre (``scipy.ndimage.distance_transform_edt``,
    :func:`outline_distance_m`), so the outline itself is 0 and values grow both into the glacier
    and away from it.

    Args:
        glacier_mask: ``(rows, cols)`` bool, True on the glacier; or integer glacier ids (0 = none),
            where the border between two glaciers is an outline of both.
        pixel_size: pixel side in metres.
        strip_rows, needed: compute in strips of this many rows (same result, bounded memory),
            exact on the ``needed`` pixels at least; see :func:`outline_distance_m`.

    Returns:
        ``(rows, cols)`` float32 metres; all NaN when the mask has no outline (empty or full).
    """
    return outline_distance_m(glacier_outline(glacier_mask), pixel_size, strip_rows, needed)


def scaled_proximity(distance_m: np.ndarray) -> np.ndarray:
    """The schema's proximity: distances to the outline divided by their largest finite value (0 on the outline,
    1 at the farthest pixel of the raster), as the authors' inference code scales its proximity raster.

    Args:
        distance_m: ``(rows, cols)`` distances in metres (:func:`proximity_m`) over the whole raster.

    Returns:
        ``(rows, cols)`` float32 in 0-1; all NaN where there is no finite positive distance.
    """
    distance_m = np.asarray(distance_m, dtype=np.float64)
    finite = distance_m[np.isfinite(distance_m)]
    top = finite.max() if finite.size else 0.0
    if top <= 0:
        return np.full(distance_m.shape, np.nan, dtype=np.float32)
    return (distance_m / top).astype(np.float32)


def glacier_scaled_elevation(
    dem: np.ndarray, glaciers: np.ndarray, ranges: Mapping[int, tuple[float, float]] | None = None
) -> np.ndarray:
    """The schema's elevation: each pixel min-max scaled with the elevation range of its glacier's outline.

    Args:
        dem: ``(rows, cols)`` elevation in metres.
        glaciers: ``(rows, cols)`` bool mask (True on the glacier) or integer glacier ids (0 = none). Pixels
            outside every glacier take the range of the nearest glacier.
        ranges: glacier id -> (lowest, highest) elevation in metres over its whole outline, for a DEM that
            covers only part of it (a block of a larger grid); default: the ranges on ``dem``.

    Returns:
        ``(rows, cols)`` float32: 0 at the glacier's lowest point, 1 at its highest, below 0 or above 1 beyond
        the glacier; all NaN when no glacier pixel has a finite elevation range.
    """
    dem = np.asarray(dem, dtype=np.float64)
    ids = np.asarray(glaciers).astype(np.int64)
    if not ids.any():
        return np.full(dem.shape, np.nan, dtype=np.float32)
    count = max([int(ids.max()), *(ranges or {})]) + 1
    low, high = np.full(count, np.inf), np.full(count, -np.inf)
    if ranges is None:
        finite = (ids > 0) & np.isfinite(dem)
        np.minimum.at(low, ids[finite], dem[finite])
        np.maximum.at(high, ids[finite], dem[finite])
    else:
        for glacier, (lo, hi) in ranges.items():
            low[glacier], high[glacier] = lo, hi
    nearest = ndimage.distance_transform_edt(ids == 0, return_distances=False, return_indices=True)
    owner = ids[nearest[0], nearest[1]]
    span = high[owner] - low[owner]
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(span > 0, (dem - low[owner]) / span, np.nan)
    return scaled.astype(np.float32)


def auxiliary_bands(
    dem: np.ndarray, glacier_mask: np.ndarray, pixel_size: float, sun_azimuth: float, sun_elevation: float
) -> dict[str, np.ndarray]:
    """The five auxiliary bands of one scene raster, keyed by band name in schema order, in the schema's conventions.

    Args:
        dem: ``(rows, cols)`` elevation in metres.
        glacier_mask: ``(rows, cols)`` bool, the rasterised glacier outline (or integer glacier ids, 0 = none;
            see :func:`proximity_m`).
        pixel_size: pixel side in metres.
        sun_azimuth: degrees clockwise from north.
        sun_elevation: degrees above the horizon.

    Returns:
        ``{"elevation": 0-1 per glacier, "slope": degrees, "shadow_mask": 1 sunlit / 0 cast shadow,
        "hillshade": 0-1 combined shading, "proximity": 0-1 of the raster's largest distance}``, each
        ``(rows, cols)`` float32.
    """
    bands = {
        "elevation": glacier_scaled_elevation(dem, glacier_mask),
        "slope": slope_degrees(dem, pixel_size),
        "shadow_mask": cast_shadow_mask(dem, pixel_size, sun_azimuth, sun_elevation).astype(np.float32),
        "hillshade": hillshade(dem, pixel_size, sun_azimuth, sun_elevation),
        "proximity": scaled_proximity(proximity_m(glacier_mask, pixel_size)),
    }
    assert tuple(bands) == AUX_BAND_NAMES
    return bands
