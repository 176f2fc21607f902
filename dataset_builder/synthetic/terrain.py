"""Random fields and glacier geometry: the DEM, the glacier, its lakes or fjord and its debris, per region kind."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dataset_builder.schema import PIXEL_SIZE_M
from dataset_builder.synthetic.regions import Region


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


def _valley_terrain(rng: np.random.Generator, n: int, region: Region, z_low: float, relief: float) -> Terrain:
    """A valley glacier (Alps) or a wide tidewater glacier ending in a fjord (Svalbard)."""
    tidewater = region.kind == "tidewater"
    size = n * PIXEL_SIZE_M
    x, y = _grid(n)
    flow = rng.uniform(0, 2 * np.pi)
    s = x * np.sin(flow) + y * np.cos(flow)  # along the flow, increasing downstream
    t = x * np.cos(flow) - y * np.sin(flow)  # across the flow
    t = t - 0.05 * size * np.sin(2 * np.pi * s / (1.3 * size) + rng.uniform(0, 2 * np.pi))
    s_head, s_end = -0.42 * size, (0.26 if tidewater else 0.2) * size
    p = (s - s_head) / (s_end - s_head)  # 0 at the head, 1 at the terminus
    w_top, w_end = (0.25, 0.17) if tidewater else (0.2, 0.065)
    width = size * (w_top + (w_end - w_top) * np.clip(p, 0, 1)) * (1 + 0.08 * fractal_noise(rng, (n, n), 3.5, 48))
    width = width * np.sqrt(np.clip((s - s_head) / (0.12 * size), 0, 1))  # a rounded cirque at the head
    floor = z_low + relief * np.clip(1 - p, 0, 1) ** 1.3 - 0.25 * relief * np.clip(p - 1, 0, None)
    if tidewater:
        floor = np.maximum(floor, 0.0)
    rough = fractal_noise(rng, (n, n), 3.0, 96)
    d = np.maximum(np.abs(t) - width, 0.0)
    ridge, span = (0.45, 700.0) if tidewater else (0.8, 550.0)
    walls = ridge * relief * (1 - np.exp(-((d / (span * scene_scale(n))) ** 1.2)))
    dem = floor + walls + (0.05 * relief) * rough * (1 - np.exp(-d / 80.0))
    end = s_end + 0.02 * size * fractal_noise(rng, (n, n), 4, 64)
    glacier = _largest_component((np.abs(t) < width) & (s < end))
    dome = 0.03 * width * np.clip(1 - (t / np.maximum(width, 1.0)) ** 2, 0, 1)
    dem = np.where(glacier, floor + dome + 1.5 * fractal_noise(rng, (n, n), 4.0, 32), dem)
    if tidewater:
        water = (s >= end) & (d < 0.08 * size) & ~glacier
        dem = np.where(water, 0.0, dem)
    else:
        along = (s - s_end) / (0.13 * size)
        water = (along > 0.15) & (np.hypot(2 * along - 1.2, t / (0.9 * w_end * size)) < 1) & ~glacier
        level = dem[water].min() if water.any() else 0.0
        dem = np.where(water, level, dem)
    # Debris: lateral margins widening downstream, medial moraines, a debris-covered tongue.
    margin_w = (30 + 80 * region.debris * (0.4 + np.clip(p, 0, 1))) * (1 + 0.5 * fractal_noise(rng, (n, n), 3.5, 32))
    debris = (width - np.abs(t)) < margin_w
    for t_m in rng.uniform(-0.5, 0.5, size=1 + int(region.debris * 2.5)):
        start = rng.uniform(0.25, 0.6)
        debris |= (np.abs(t - t_m * width) < (25 + 30 * region.debris) * (1 + 0.3 * rough)) & (p > start)
    debris |= (p > 1 - 0.18 * region.debris) & (fractal_noise(rng, (n, n), 4, 24) > -0.2)
    return Terrain(dem=dem, glacier=glacier, water=water, debris=debris & glacier)


def _cap_terrain(rng: np.random.Generator, n: int, region: Region, z_low: float, relief: float) -> Terrain:
    """Plateau ice with outlet lobes and nunataks (Scandinavia) or a domed ice cap (Iceland)."""
    plateau = region.kind == "plateau"
    size = n * PIXEL_SIZE_M
    x, y = _grid(n)
    r, phi = np.hypot(x, y), np.arctan2(y, x)
    radius = (0.33 if plateau else 0.37) * size * np.ones_like(r)
    for k in range(2, 6):
        radius *= 1 + rng.uniform(0.0, 0.06) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    tilt_dir = rng.uniform(0, 2 * np.pi)
    lobe = 0.3 if plateau else 0.12  # an outlet lobe on the low side
    radius *= 1 + lobe * np.exp(-((np.angle(np.exp(1j * (phi - tilt_dir))) / 0.35) ** 2))
    rho = r / radius
    tilt = -np.cos(phi - tilt_dir) * np.clip(rho, 0, 1.5)  # -1 .. 1, low towards tilt_dir
    margin_z = z_low + 0.25 * relief * (1 + tilt)
    shape = 1 - np.clip(rho, 0, 1) ** (3.0 if plateau else 1.6)
    rough = fractal_noise(rng, (n, n), 3.0, 96)
    outside = np.clip(rho - 1, 0, None) * radius
    drop, span = (0.6 * relief, 250.0) if plateau else (0.3 * relief, 700.0)
    dem = np.where(
        rho < 1,
        margin_z + 0.75 * relief * shape + 1.5 * fractal_noise(rng, (n, n), 4.0, 32),
        margin_z - drop * (1 - np.exp(-outside / (span * scene_scale(n)))) + 0.08 * relief * rough,
    )
    glacier = rho < 1 + 0.015 * fractal_noise(rng, (n, n), 4, 48)
    bump = np.zeros_like(dem)
    for _ in range(rng.integers(2, 4) if plateau else rng.integers(1, 3)):
        a = rng.uniform(0, 2 * np.pi)
        at = rng.uniform(0.2, 0.7) * 0.33 * size
        sigma = rng.uniform(70, 120) * scene_scale(n) ** 0.5
        bump += (
            rng.uniform(100, 160)
            * scene_scale(n)
            * np.exp(-((x - at * np.cos(a)) ** 2 + (y - at * np.sin(a)) ** 2) / (2 * sigma**2))
        )
    dem += bump
    nunatak = bump > 25 * scene_scale(n)
    glacier = _largest_component(glacier & ~nunatak)
    low_side = np.cos(phi - tilt_dir) > 0.8
    water = (rho > 1.03) & (rho < 1.16) & low_side & (fractal_noise(rng, (n, n), 4, 32) > -0.3) & ~glacier
    water = _largest_component(water) if water.any() else water
    if water.any():
        dem = np.where(water, np.percentile(dem[water], 10), dem)
    ice_z = dem - bump
    inner = ndimage.distance_transform_edt(glacier) * PIXEL_SIZE_M
    debris = inner < (30 + 100 * region.debris) * (1 + 0.5 * fractal_noise(rng, (n, n), 3.5, 24))
    debris |= (bump > 4 * scene_scale(n)) & (bump <= 25 * scene_scale(n))  # moraine rims around nunataks
    if not plateau:  # tephra bands outcropping along the contours of the lower ice cap
        phase = 2 * np.pi * ice_z / (0.2 * relief) + 1.5 * fractal_noise(rng, (n, n), 4.0, 48)
        debris |= (np.sin(phase) > 0.7) & (shape < 0.55)
    return Terrain(dem=dem, glacier=glacier, water=water, debris=debris & glacier)


def make_terrain(rng: np.random.Generator, n: int, region: Region) -> Terrain:
    """The terrain of one glacier of ``region`` on an ``(n, n)`` grid; the DEM as float32, as written to dems/."""
    z_low = rng.uniform(*region.z_low)
    relief = rng.uniform(*region.relief) * scene_scale(n)
    builder = _valley_terrain if region.kind in ("valley", "tidewater") else _cap_terrain
    terrain = builder(rng, n, region, z_low, relief)
    terrain.dem = terrain.dem.astype(np.float32)  # as written to dems/: the bands derive from this
    return terrain
