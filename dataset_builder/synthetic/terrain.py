"""Random fields and glacier geometry: the DEM, the glacier, its lakes or fjord and its debris, per region kind."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from dataset_builder.schema import PIXEL_SIZE_M
from dataset_builder.synthetic.regions import Region

#: Pixels between a glacier (or its lake) and the edge of its scene.
EDGE_PX = 4


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.0, scale_px: float = 64.0
) -> np.ndarray:
    """Gaussian random field, zero mean and unit sd, power spectrum ~ (f^2 + f0^2)^(-beta/2).

    Args:
        rng: random generator.
        shape: ``(rows, cols)``.
        beta: spectral slope; 2-3 for rough natural surfaces, 4 for smooth blobs.
        scale_px: largest feature size in pixels (``f0 = 1 / scale_px``).

    Returns:
        ``(rows, cols)`` float64 (periodic at the edges).
    """
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    amplitude = (fy**2 + fx**2 + scale_px**-2) ** (-beta / 4.0)
    amplitude[0, 0] = 0.0
    spectrum = (rng.standard_normal(amplitude.shape) + 1j * rng.standard_normal(amplitude.shape)) * amplitude
    f = np.fft.irfft2(spectrum, s=shape)
    return (f - f.mean()) / f.std()


@dataclass
class Terrain:
    """A glacier's static geometry on the scene grid (``(n, n)`` arrays)."""

    dem: np.ndarray  # m a.s.l. (float32 once planned)
    glacier: np.ndarray  # bool, the glacier (its outline rasterised)
    water: np.ndarray  # bool, proglacial lakes / fjord next to the glacier
    debris: np.ndarray  # bool, where the ablation area carries debris (margins, moraines, tephra)


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Easting and northing of pixel centres relative to the scene centre, m."""
    idx = (np.arange(n) - n / 2 + 0.5) * PIXEL_SIZE_M
    return idx[None, :].repeat(n, 0), -idx[:, None].repeat(n, 1)


def scene_scale(n: int) -> float:
    """Side of an ``n`` px scene relative to the 3.84 km reference scene (elevation spans scale with it)."""
    return n * PIXEL_SIZE_M / 3840.0


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected part of a bool mask (the mask itself when it has one part or none)."""
    lab, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, count + 1))
    return lab == (1 + int(np.argmax(sizes)))


def ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, linear between."""
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth cubic ramp between."""
    u = ramp(x, lo, hi)
    return u * u * (3 - 2 * u)


@dataclass
class Ribbon:
    """A glacier branch or a valley along a bending centreline: per pixel, the arc length of the nearest centreline
    point (``along``, m from the start; beyond the ends the distance is measured from the end point) and the signed
    distance across it (``across``, m, positive to the left of the flow)."""

    length: float
    along: np.ndarray  # (n, n) m
    across: np.ndarray  # (n, n) m

    @classmethod
    def trace(
        cls, rng: np.random.Generator, n: int, start: np.ndarray, heading: float, length: float, bend: float
    ) -> Ribbon:
        """A centreline of ``length`` m from ``start`` (east, north in m from the scene centre) in the direction
        ``heading`` (radians from east, counter-clockwise), bending by up to ``bend`` radians."""
        step = PIXEL_SIZE_M / 2
        arc = np.arange(0.0, length + step, step)
        angle = heading + bend * np.sin(np.pi * arc / length + rng.uniform(0, 2 * np.pi))
        direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        points = start + np.vstack([[0.0, 0.0], np.cumsum(direction[:-1] * step, axis=0)])
        x, y = _grid(n)
        pixels = np.column_stack([x.ravel(), y.ravel()])
        distance, nearest = cKDTree(points).query(pixels)
        offset = pixels - points[nearest]
        side = np.sign(direction[nearest, 0] * offset[:, 1] - direction[nearest, 1] * offset[:, 0])
        return cls(length, arc[nearest].reshape(n, n), (side * distance).reshape(n, n))

    def point(self, at: float) -> tuple[int, int]:
        """The pixel (row, col) of the centreline nearest ``at`` m along it."""
        score = np.abs(self.along - at) + np.abs(self.across)
        return np.unravel_index(int(np.argmin(score)), score.shape)


def _outside(
    floor: np.ndarray, valley: np.ndarray, wall_m: np.ndarray | float, span_m: float, rough: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Terrain around a valley floor: ``floor`` (m) on ``valley`` (bool), elsewhere the floor at the nearest valley
    pixel plus walls rising ``wall_m`` (m, or ``(n, n)`` per pixel) over about ``span_m``, with ``rough`` (m)
    relief on them. Returns the DEM and the distance to the valley (m)."""
    distance, nearest = ndimage.distance_transform_edt(~valley, return_indices=True)
    distance = distance * PIXEL_SIZE_M
    edge = floor[nearest[0], nearest[1]]
    walls = wall_m * (1 - np.exp(-((distance / span_m) ** 1.5)))
    return np.where(valley, floor, edge + walls + rough * (1 - np.exp(-distance / 60.0))), distance


def _valley_terrain(rng: np.random.Generator, n: int, region: Region, z_low: float, relief: float) -> Terrain:
    """A valley glacier (Alps) or a wide tidewater glacier ending in a fjord (Svalbard): an accumulation basin
    narrowing into a tongue that follows a bending valley, with one or two tributaries joining it (a medial moraine
    from each confluence), steep rock walls and a proglacial lake or the fjord beyond the terminus."""
    tidewater = region.kind == "tidewater"
    size, k = n * PIXEL_SIZE_M, scene_scale(n)
    heading = rng.uniform(0, 2 * np.pi)
    length = (0.74 if tidewater else 0.66) * size
    along_axis = np.array([np.cos(heading), np.sin(heading)])
    start = -0.5 * length * along_axis + rng.uniform(-0.05, 0.05, 2) * size
    trunk = Ribbon.trace(rng, n, start, heading, length + 0.5 * size, 0.3)  # the valley runs on past the terminus
    basin, tongue = (0.21, 0.13) if tidewater else (0.17, 0.06)
    wobble = 1 + 0.06 * fractal_noise(rng, (n, n), 3.5, 48)
    half = size * (tongue + (basin - tongue) * (1 - smoothstep(trunk.along / length, 0.15, 0.6))) * wobble
    glacier = (np.abs(trunk.across) < half) & (trunk.along < length)
    glacier |= (np.hypot(trunk.along - length, trunk.across) < half) & (trunk.along >= length)
    to_terminus = np.where(glacier, np.clip(length - trunk.along, 0, None), np.inf)
    medial = np.zeros((n, n), bool)
    for _ in range(rng.integers(1, 3)):
        side = rng.choice([-1.0, 1.0])
        join = rng.uniform(0.35, 0.55) * length
        join_row, join_col = trunk.point(join)
        x, y = _grid(n)
        join_xy = np.array([x[join_row, join_col], y[join_row, join_col]])
        branch_heading = heading + side * rng.uniform(0.6, 1.0)
        branch_length = rng.uniform(0.28, 0.4) * size
        branch_start = join_xy - branch_length * np.array([np.cos(branch_heading), np.sin(branch_heading)])
        branch = Ribbon.trace(rng, n, branch_start, branch_heading, branch_length, 0.15)
        branch_half = size * rng.uniform(0.055, 0.075) * (1 - 0.25 * branch.along / branch_length) * wobble
        inside = (np.abs(branch.across) < branch_half) & (branch.along <= branch_length)
        to_terminus = np.where(
            inside, np.minimum(to_terminus, branch_length - branch.along + length - join), to_terminus
        )
        glacier |= inside
        # the seam between the tributary's ice and the trunk's, carried down the tongue
        seam = side * half * (1 - 2 * branch_half / (half + branch_half))
        medial |= (np.abs(trunk.across - seam) < (8 + 14 * region.debris) * k * wobble) & (trunk.along > join)
    glacier = _largest_component(glacier)
    flow = np.where(glacier, to_terminus, 0.0)
    r = flow / flow[glacier].max()
    surface = z_low + relief * r**1.25 + 1.5 * k * fractal_noise(rng, (n, n), 4.0, 32)
    # the valley floor beyond the terminus: a forefield descending down-valley, or the fjord
    beyond = trunk.along - length
    forefield = (beyond > 0) & (np.abs(trunk.across) < (1.5 if tidewater else 1.7) * size * tongue) & ~glacier
    forefield &= beyond < (0.6 if tidewater else 0.3) * size
    # (0.3 of the glacier's span over 0.15 of the scene: 9-12 degrees, an Alpine forefield's fall below its snout;
    # the published weights' first BN layer puts the real data's lowest scaled elevation near -0.2, see README)
    floor = np.where(glacier, surface, z_low - 0.3 * relief * np.clip(beyond / (0.15 * size), 0, 1))
    if tidewater:
        floor = np.where(forefield, 0.0, np.maximum(floor, 0.0))
    valley = glacier | forefield
    # valley sides high above the tongue, a lower rim around the accumulation basin
    height = relief * (rng.uniform(1.4, 1.8) if tidewater else rng.uniform(2.0, 2.5))
    nearest = ndimage.distance_transform_edt(~valley, return_distances=False, return_indices=True)
    wall = height * (1 - 0.85 * np.where(valley, r, 0.0)[nearest[0], nearest[1]])
    rough = 0.1 * relief * fractal_noise(rng, (n, n), 3.6, 64) + 4.0 * fractal_noise(rng, (n, n), 3.6, 12)
    dem, _ = _outside(floor, valley, wall, 250.0 * k**0.5, rough)
    if tidewater:
        water = forefield
    else:
        # bays and headlands, not an ellipse; drawn from a spawned generator, so the scene's own draws stay as they were
        shore = 1 + 0.25 * fractal_noise(rng.spawn(1)[0], (n, n), 3.5, 24)
        lake = (beyond > 0.02 * size) & (np.hypot((beyond - 0.08 * size) / 0.06, trunk.across / tongue) < size * shore)
        water = _largest_component(lake & forefield) if (lake & forefield).any() else lake & forefield
        if water.any():
            dem = np.where(water, dem[water].min(), dem)
    # debris: lateral margins widening downstream, medial moraines, a debris-covered snout
    p = np.clip(trunk.along / length, 0, 1)
    inner = ndimage.distance_transform_edt(glacier) * PIXEL_SIZE_M
    debris = inner < (10 + 35 * region.debris * (0.3 + p)) * k * (1 + 0.5 * fractal_noise(rng, (n, n), 3.5, 32))
    debris |= medial
    debris |= (p > 1 - 0.15 * region.debris) & (fractal_noise(rng, (n, n), 4, 24) > -0.2)
    return Terrain(dem=dem, glacier=glacier, water=water, debris=debris & glacier)


def _cap_terrain(rng: np.random.Generator, n: int, region: Region, z_low: float, relief: float) -> Terrain:
    """Plateau ice with outlet glaciers falling into valleys and nunataks (Scandinavia), or a domed ice cap with
    outlet lobes (Iceland): a flat dome with steep margins (a Vialov-like profile) and tongues flowing outwards."""
    plateau = region.kind == "plateau"
    size, k = n * PIXEL_SIZE_M, scene_scale(n)
    x, y = _grid(n)
    r, phi = np.hypot(x, y), np.arctan2(y, x)
    radius = (0.27 if plateau else 0.3) * size * np.ones_like(r)
    for harmonic in range(2, 7):
        radius *= 1 + rng.uniform(0.02, 0.07) * np.cos(harmonic * phi + rng.uniform(0, 2 * np.pi))
    rho = r / radius
    tilt_dir = rng.uniform(0, 2 * np.pi)
    tilt = -np.cos(phi - tilt_dir) * np.clip(rho, 0, 1.5)  # -1 .. 1, low towards tilt_dir
    margin_z = z_low + 0.25 * relief * (1 + tilt)
    dome = margin_z + relief * np.sqrt(1 - np.clip(rho, 0, 1))  # a perfectly plastic profile: steep margins
    glacier = rho < 1 + 0.015 * fractal_noise(rng, (n, n), 4, 48)
    surface = dome + 1.5 * k * fractal_noise(rng, (n, n), 4.0, 32)
    lobes = np.zeros((n, n), bool)
    drop = (0.8 if plateau else 0.45) * relief
    directions = tilt_dir + np.linspace(-1.2, 1.2, int(rng.integers(1, 3) if plateau else rng.integers(2, 4)))
    for direction in directions + rng.uniform(-0.25, 0.25, len(directions)):
        inset = 0.25 * radius.mean()
        start = np.array([np.cos(direction), np.sin(direction)]) * (radius.mean() - inset)
        lobe_length = inset + rng.uniform(0.14, 0.22) * size
        lobe = Ribbon.trace(rng, n, start, direction, lobe_length, 0.3)
        half = size * rng.uniform(0.08, 0.11) * (1 - 0.4 * np.clip(lobe.along / lobe_length, 0, 1))
        inside = ((np.abs(lobe.across) < half) & (lobe.along < lobe_length)) | (
            (np.hypot(lobe.along - lobe_length, lobe.across) < half) & (lobe.along >= lobe_length)
        )
        inside &= ~glacier
        start_z = z_low + 0.25 * relief * (1 - np.cos(direction - tilt_dir))
        down = np.clip((lobe.along - inset) / (lobe_length - inset), 0, 1)
        surface = np.where(inside, start_z - drop * down**0.9, surface)
        lobes |= inside
    glacier = glacier | lobes
    bump = np.zeros((n, n))
    for _ in range(rng.integers(2, 4) if plateau else rng.integers(1, 3)):
        a = rng.uniform(0, 2 * np.pi)
        at = rng.uniform(0.2, 0.6) * radius.mean()
        sigma = rng.uniform(70, 110) * k**0.5
        bump += (
            rng.uniform(0.15, 0.3)
            * relief
            * np.exp(-((x - at * np.cos(a)) ** 2 + (y - at * np.sin(a)) ** 2) / (2 * sigma**2))
        )
    nunatak = bump > 0.1 * relief
    glacier = _largest_component(glacier & ~nunatak)
    floor = np.where(glacier, surface, 0.0)
    rough = 0.1 * relief * fractal_noise(rng, (n, n), 3.6, 64) + 4.0 * fractal_noise(rng, (n, n), 3.6, 12)
    # the land falls away below the outlets and rises into ridges and peaks elsewhere around the ice
    ridges = np.clip(fractal_noise(rng, (n, n), 4.0, n / 4) + 0.6 * np.cos(phi - tilt_dir + np.pi), -0.3, None)
    around = relief * (1.0 if plateau else 0.8) * ridges
    # a nunatak is its bump of bedrock: the ridges of the land around the ice stay out of the holes in it
    around = np.where(ndimage.binary_fill_holes(glacier), 0.0, around)
    dem, distance = _outside(floor, glacier, around, 350.0 * k**0.5, rough)
    dem += bump
    low_side = (np.cos(phi - tilt_dir) > 0.6) & ~glacier & (distance > 30.0) & (distance < 0.06 * size)
    water = _largest_component(low_side & (fractal_noise(rng, (n, n), 4, 32) > 0.2))
    if water.any():
        dem = np.where(water, np.percentile(dem[water], 10), dem)
    inner = ndimage.distance_transform_edt(glacier) * PIXEL_SIZE_M
    debris = inner < (10 + 40 * region.debris) * k * (1 + 0.5 * fractal_noise(rng, (n, n), 3.5, 24))
    debris |= (bump > 0.05 * relief) & (bump <= 0.1 * relief)  # moraine rims around nunataks
    debris |= lobes & (fractal_noise(rng, (n, n), 4, 24) > 0.6)
    if not plateau:  # tephra bands outcropping along the contours of the lower ice cap
        phase = 2 * np.pi * surface / (0.2 * relief) + 1.5 * fractal_noise(rng, (n, n), 4.0, 48)
        debris |= (np.sin(phase) > 0.85) & (rho > 0.65)
    return Terrain(dem=dem, glacier=glacier, water=water & ~glacier, debris=debris & glacier)


def make_terrain(rng: np.random.Generator, n: int, region: Region) -> Terrain:
    """The terrain of one glacier of ``region`` on an ``(n, n)`` grid; the DEM as float32, as written to dems/."""
    z_low = rng.uniform(*region.z_low)
    relief = rng.uniform(*region.relief) * scene_scale(n)
    builder = _valley_terrain if region.kind in ("valley", "tidewater") else _cap_terrain
    terrain = builder(rng, n, region, z_low, relief)
    inner = np.zeros((n, n), bool)  # glaciers and their lakes stay off the scene's edge: outlines close inside it
    inner[EDGE_PX:-EDGE_PX, EDGE_PX:-EDGE_PX] = True
    terrain.glacier = _largest_component(terrain.glacier & inner)
    terrain.water &= inner & ~terrain.glacier
    terrain.debris &= terrain.glacier
    terrain.dem = terrain.dem.astype(np.float32)  # as written to dems/: the bands derive from this
    return terrain
