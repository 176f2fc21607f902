"""A seeded, physically plausible synthetic pan-European glacier facies benchmark.

The real data cannot be downloaded here; this generator writes a stand-in with a known truth:
glaciers of four regional characters (Alpine valley glaciers, Scandinavian plateau ice, Svalbard
tidewater-like glaciers, Icelandic ice caps) on a 10 m DEM, several end-of-season scenes per glacier
(Landsat 5/7/8, Sentinel-2), facies driven by a yearly snowline, clouds with cast shadows, terrain
shadows, the 11 bands of the released data, expert-like point labels with boundary label noise,
folds by glacier and a WGMS-like annual mass-balance table. See :func:`generate` for the layout.

Everything is vectorised numpy over whole scenes; the only loops are over glaciers, scenes,
classes and labels' file writes. One seed fixes every byte of the output.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio.raw
import pyproj
import rasterio
import rasterio.features
import shapely
from rasterio.crs import CRS
from rasterio.transform import Affine, from_origin
from scipy import ndimage
from scipy.special import ndtri
from tqdm.auto import tqdm

from dataset_builder.atomic import atomic_directory
from dataset_builder.aux_bands import auxiliary_bands
from dataset_builder.schema import (
    BAND_NAMES,
    BANDS,
    CLASS_NAMES,
    NUM_FOLDS,
    PATCH_SIZE,
    PIXEL_SIZE_M,
)

# --------------------------------------------------------------------------------------------
# Physical constants of the simulation
# --------------------------------------------------------------------------------------------

CODE: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
#: Code of the truth maps outside the labelled domain (glacier and its water bodies).
NODATA_CODE = 255
#: Internal surface code of the terrain around the glacier (rock, vegetation); never labelled.
_TERRAIN = 8

#: Typical surface reflectance (blue, green, red, nir, swir1, swir2) of each class, from FACTS.md.
SIGNATURES: dict[str, tuple[float, ...]] = {
    "snow": (0.90, 0.88, 0.85, 0.75, 0.10, 0.06),
    "firn": (0.65, 0.62, 0.58, 0.50, 0.06, 0.04),
    "refrozen-like": (0.55, 0.52, 0.48, 0.35, 0.04, 0.03),
    "ice": (0.45, 0.42, 0.37, 0.22, 0.03, 0.02),
    "debris": (0.10, 0.12, 0.14, 0.18, 0.22, 0.18),
    "water": (0.12, 0.15, 0.12, 0.05, 0.01, 0.01),
    "cloud": (0.75, 0.74, 0.73, 0.72, 0.50, 0.35),
}
_ROCK = np.array([0.08, 0.10, 0.12, 0.17, 0.24, 0.19])
_VEGETATION = np.array([0.04, 0.07, 0.05, 0.30, 0.16, 0.08])
#: Share of each band's illumination that comes from the sky (diffuse); all that is left in shadow.
DIFFUSE_FRACTION = np.array([0.25, 0.20, 0.17, 0.12, 0.08, 0.07])

#: Within-class variability: (brightness sd, the class a pixel may drift towards, drift sd).
#: Drifts are symmetric (a pixel may also move away from the partner), so class means stay on
#: the signature while firn/snow, refrozen-like/ice and debris/ice distributions overlap.
_VARIABILITY: dict[str, tuple[float, str, float]] = {
    "ice": (0.07, "debris", 0.08),
    "snow": (0.04, "firn", 0.12),
    "debris": (0.20, "ice", 0.10),
    "firn": (0.06, "snow", 0.15),
    "refrozen-like": (0.06, "ice", 0.15),
    "water": (0.20, "water", 0.0),
}

#: Ambiguous facies boundaries: the classes an expert may confuse a facies label with.
AMBIGUOUS_PARTNERS: dict[str, tuple[str, ...]] = {
    "ice": ("firn", "refrozen-like", "debris"),
    "snow": ("firn",),
    "debris": ("ice",),
    "firn": ("snow", "ice"),
    "refrozen-like": ("ice",),
}

#: The classes whose labels may be noisy: ice, snow, debris, firn, refrozen-like (shadow, water, cloud stay clean).
NOISY_CLASSES: tuple[str, ...] = tuple(AMBIGUOUS_PARTNERS)

#: Target label shares of the real dataset (ice >> snow > debris ~ firn > shadow >> refrozen-like > water ~ cloud).
CLASS_SHARES: dict[str, float] = {
    "ice": 0.42,
    "snow": 0.20,
    "debris": 0.11,
    "firn": 0.10,
    "shadow": 0.09,
    "refrozen-like": 0.04,
    "water": 0.02,
    "cloud": 0.02,
}
#: Labels per fold in the released data (FACTS.md); folds here get the same proportions.
REAL_FOLD_SIZES: tuple[int, ...] = (10354, 9083, 30613, 14093, 16787, 56662)

#: Sensor: (first year, last year, reflectance noise sd, native pixel size in m per band).
SENSORS: dict[str, tuple[int, int, float, tuple[int, ...]]] = {
    "L5": (1995, 2011, 0.012, (30,) * 6),
    "L7": (1999, 2003, 0.010, (30,) * 6),  # SLC-off (striped) scenes from mid-2003 on are not simulated
    "L8": (2013, 2021, 0.006, (30,) * 6),
    "S2": (2016, 2021, 0.005, (10, 10, 10, 10, 20, 20)),
}
_AAR_CLASSES = ("snow", "firn", "refrozen-like")


@dataclass(frozen=True)
class Region:
    """The character of one glacier region (elevations scale with the scene size, see ``_scale``)."""

    key: str
    prefix: str
    kind: str  # "valley", "tidewater", "plateau" or "icecap"
    title: str
    political_unit: str
    lon: tuple[float, float]
    lat: tuple[float, float]
    z_low: tuple[float, float]  # lowest glacier elevation, m
    relief: tuple[float, float]  # glacier elevation span for a 3.84 km scene, m
    snowline_sd: float  # interannual snowline sd, fraction of the relief
    firn_m: float  # base firn band width below the snowline, m of elevation
    refrozen_m: float  # refrozen-like zone width below the firn, m of elevation
    refrozen_cover: float  # fraction of that zone covered by refrozen-like patches
    debris: float  # 0-1, amount of debris (margins, moraines, tephra)
    vegetation_below_m: float
    season_doy: tuple[int, int]  # acquisition window, day of year


REGIONS: tuple[Region, ...] = (
    Region(
        "alps",
        "alp",
        "valley",
        "Alpine valley glacier",
        "CH",
        (7.0, 11.0),
        (45.9, 47.0),
        (2150.0, 2450.0),
        (600.0, 800.0),
        0.18,
        50.0,
        25.0,
        0.35,
        0.9,
        2300.0,
        (232, 268),
    ),
    Region(
        "scandinavia",
        "sca",
        "plateau",
        "Scandinavian plateau glacier",
        "NO",
        (13.0, 17.0),
        (66.3, 68.0),
        (850.0, 1000.0),
        (220.0, 320.0),
        0.18,
        40.0,
        35.0,
        0.40,
        0.35,
        950.0,
        (235, 262),
    ),
    Region(
        "svalbard",
        "sva",
        "tidewater",
        "Svalbard tidewater glacier",
        "SJ",
        (12.2, 17.5),
        (78.3, 79.2),
        (0.0, 0.0),
        (350.0, 450.0),
        0.18,
        40.0,
        80.0,
        0.60,
        0.55,
        -1e9,
        (222, 248),
    ),
    Region(
        "iceland",
        "isl",
        "icecap",
        "Icelandic ice cap",
        "IS",
        (-23.5, -15.5),
        (64.2, 64.9),
        (600.0, 750.0),
        (200.0, 300.0),
        0.18,
        50.0,
        40.0,
        0.40,
        0.5,
        650.0,
        (240, 268),
    ),
)
REGIONS_BY_KEY: dict[str, Region] = {r.key: r for r in REGIONS}


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of one synthetic benchmark; the defaults are the embedded default data."""

    seed: int = 20240601
    n_glaciers: int = 12
    scenes_per_glacier: int = 3
    scene_size: int = 384  # px on the 10 m grid; a multiple of 6 (Landsat 30 m and S2 20 m blocks)
    n_labels: int = 2400  # target number of point labels in all
    noise_rate: float = 0.15  # share of facies labels given a neighbouring class
    boundary_px: float = 3.0  # a label this close to an ambiguous boundary is "near" it
    boundary_share: float = 0.35  # share of facies labels drawn near an ambiguous boundary
    min_labels_per_class: int = 2  # per scene, for every class it shows
    cloudy_scene_share: float = 0.6  # the first scene of each glacier is always cloudy
    fold_sizes: tuple[int, ...] = REAL_FOLD_SIZES  # relative label counts per fold
    mb_slope: float = 3000.0  # mm w.e. per unit AAR
    aar0: float = 0.55  # AAR of a zero balance; glacier offsets around it
    aar0_sd: float = 0.06
    mb_noise: float = 300.0  # mm w.e., sd of the balance around the AAR relation
    years: tuple[int, int] = (1995, 2021)

    def __post_init__(self) -> None:
        if self.n_glaciers < NUM_FOLDS:
            raise ValueError(f"n_glaciers must be at least {NUM_FOLDS} (folds are made of glaciers)")
        if self.scene_size % 6 or self.scene_size < 4 * PATCH_SIZE:
            raise ValueError("scene_size must be a multiple of 6 and at least 132 px")
        if not 0 <= self.noise_rate <= self.boundary_share <= 1:
            raise ValueError("need 0 <= noise_rate <= boundary_share <= 1")
        if len(self.fold_sizes) != NUM_FOLDS:
            raise ValueError(f"fold_sizes needs {NUM_FOLDS} entries")
        if sum(1 for y in range(self.years[0], self.years[1] + 1) if _sensors_of(y)) < self.scenes_per_glacier:
            raise ValueError("fewer years with a sensor (1995-2011, 2013-2021) than scenes per glacier")

    @classmethod
    def quick(cls, seed: int = 7) -> SyntheticConfig:
        """A small benchmark for tests and smoke runs: 6 glaciers x 3 scenes, a few seconds."""
        return cls(seed=seed, n_glaciers=6, scenes_per_glacier=3, scene_size=192, n_labels=900)


# --------------------------------------------------------------------------------------------
# Random fields and terrain
# --------------------------------------------------------------------------------------------


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


def _scale(n: int) -> float:
    """Size of the scene relative to the 3.84 km reference scene (elevation spans scale with it)."""
    return n * PIXEL_SIZE_M / 3840.0


def _largest_component(mask: np.ndarray) -> np.ndarray:
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
    walls = ridge * relief * (1 - np.exp(-((d / (span * _scale(n))) ** 1.2)))
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
        margin_z - drop * (1 - np.exp(-outside / (span * _scale(n)))) + 0.08 * relief * rough,
    )
    glacier = rho < 1 + 0.015 * fractal_noise(rng, (n, n), 4, 48)
    bump = np.zeros_like(dem)
    for _ in range(rng.integers(2, 4) if plateau else rng.integers(1, 3)):
        a = rng.uniform(0, 2 * np.pi)
        at = rng.uniform(0.2, 0.7) * 0.33 * size
        sigma = rng.uniform(70, 120) * _scale(n) ** 0.5
        bump += (
            rng.uniform(100, 160)
            * _scale(n)
            * np.exp(-((x - at * np.cos(a)) ** 2 + (y - at * np.sin(a)) ** 2) / (2 * sigma**2))
        )
    dem += bump
    nunatak = bump > 25 * _scale(n)
    glacier = _largest_component(glacier & ~nunatak)
    low_side = np.cos(phi - tilt_dir) > 0.8
    water = (rho > 1.03) & (rho < 1.16) & low_side & (fractal_noise(rng, (n, n), 4, 32) > -0.3) & ~glacier
    water = _largest_component(water) if water.any() else water
    if water.any():
        dem = np.where(water, np.percentile(dem[water], 10), dem)
    ice_z = dem - bump
    inner = ndimage.distance_transform_edt(glacier) * PIXEL_SIZE_M
    debris = inner < (30 + 100 * region.debris) * (1 + 0.5 * fractal_noise(rng, (n, n), 3.5, 24))
    debris |= (bump > 4 * _scale(n)) & (bump <= 25 * _scale(n))  # moraine rims around nunataks
    if not plateau:  # tephra bands outcropping along the contours of the lower ice cap
        phase = 2 * np.pi * ice_z / (0.2 * relief) + 1.5 * fractal_noise(rng, (n, n), 4.0, 48)
        debris |= (np.sin(phase) > 0.7) & (shape < 0.55)
    return Terrain(dem=dem, glacier=glacier, water=water, debris=debris & glacier)


# --------------------------------------------------------------------------------------------
# The plan: glaciers, folds, scenes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlacierPlan:
    """One synthetic glacier: identity, place, fold and climate."""

    glacier: str  # id, no "_"
    name: str
    wgms_id: int
    region: str
    fold: int
    epsg: int
    lon: float
    lat: float
    x0: float  # scene grid origin (upper-left corner), m in ``epsg``
    y0: float
    z_min: float
    z_max: float
    area_km2: float
    mean_snowline_m: float  # long-term snowline (firn line)
    snowline_sd_m: float  # interannual sd
    aar0: float  # AAR of a zero balance for this glacier


@dataclass(frozen=True)
class ScenePlan:
    """One end-of-season acquisition of one glacier."""

    scene: str  # "{glacier}_{YYYYMMDD}"
    glacier: str
    date: str  # YYYY-MM-DD
    sensor: str
    sun_azimuth: float  # degrees clockwise from north
    sun_elevation: float  # degrees
    snowline_m: float
    cloud_cover: float  # target cloud fraction of the scene
    n_labels: int  # label budget of the scene


def sun_position(lat: float, day_of_year: int, solar_hour: float) -> tuple[float, float]:
    """Approximate solar azimuth and elevation in degrees (Cooper's declination, no refraction).

    Args:
        lat: latitude in degrees.
        day_of_year: 1-366.
        solar_hour: local solar time in hours (Landsat and Sentinel-2 pass at about 10-11).
    """
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + day_of_year) / 365.0)
    phi, h = np.radians(lat), np.radians(15.0 * (solar_hour - 12.0))
    elevation = np.arcsin(np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(h))
    azimuth = np.arctan2(-np.sin(h), np.tan(decl) * np.cos(phi) - np.sin(phi) * np.cos(h))
    return float(np.degrees(azimuth) % 360.0), float(np.degrees(elevation))


def _utm_epsg(lon: float) -> int:
    return 32600 + int((lon + 180.0) // 6.0) + 1


def _make_terrain(rng: np.random.Generator, n: int, region: Region) -> Terrain:
    z_low = rng.uniform(*region.z_low)
    relief = rng.uniform(*region.relief) * _scale(n)
    builder = _valley_terrain if region.kind in ("valley", "tidewater") else _cap_terrain
    terrain = builder(rng, n, region, z_low, relief)
    terrain.dem = terrain.dem.astype(np.float32)  # as written to dems/: the bands derive from this
    return terrain


def _plan(config: SyntheticConfig) -> tuple[list[GlacierPlan], list[Terrain], list[ScenePlan]]:
    """Glaciers (regions in turn, fold = index mod 6), their terrain, and their scenes."""
    n = config.scene_size
    seeds = np.random.SeedSequence(config.seed).spawn(config.n_glaciers)
    glaciers, terrains, scene_draws = [], [], []
    counters: dict[str, int] = {}
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        region = REGIONS[i % len(REGIONS)]
        counters[region.key] = counters.get(region.key, 0) + 1
        number = counters[region.key]
        terrain = _make_terrain(rng, n, region)
        lon, lat = rng.uniform(*region.lon), rng.uniform(*region.lat)
        epsg = _utm_epsg(lon)
        east, north = pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
        z = terrain.dem[terrain.glacier]
        relief = float(z.max() - z.min())
        glaciers.append(
            GlacierPlan(
                glacier=f"{region.prefix}-{region.kind}-{number:02d}",
                name=f"Synthetic {region.title} {number:02d}",
                wgms_id=90001 + i,
                region=region.key,
                fold=i % NUM_FOLDS,
                epsg=epsg,
                lon=round(lon, 5),
                lat=round(lat, 5),
                x0=round(east / PIXEL_SIZE_M) * PIXEL_SIZE_M - n / 2 * PIXEL_SIZE_M,
                y0=round(north / PIXEL_SIZE_M) * PIXEL_SIZE_M + n / 2 * PIXEL_SIZE_M,
                z_min=round(float(z.min()), 1),
                z_max=round(float(z.max()), 1),
                area_km2=round(float(terrain.glacier.sum()) * PIXEL_SIZE_M**2 / 1e6, 4),
                # the snowline that leaves about half the glacier in snow, firn and refrozen-like ice
                mean_snowline_m=round(
                    float(np.median(z)) + (region.firn_m + region.refrozen_m * region.refrozen_cover) * _scale(n), 1
                ),
                snowline_sd_m=round(region.snowline_sd * relief, 1),
                aar0=round(float(config.aar0 + config.aar0_sd * rng.standard_normal()), 4),
            )
        )
        terrains.append(terrain)
        scene_draws.append(rng)
    fold_share = np.asarray(config.fold_sizes, float) / np.sum(config.fold_sizes)
    per_fold = np.bincount([g.fold for g in glaciers], minlength=NUM_FOLDS) * config.scenes_per_glacier
    scenes = []
    for g, rng in zip(glaciers, scene_draws):
        region = REGIONS_BY_KEY[g.region]
        years = [y for y in range(config.years[0], config.years[1] + 1) if _sensors_of(y)]
        for k, year in enumerate(sorted(rng.choice(years, size=config.scenes_per_glacier, replace=False))):
            day = date(int(year), 1, 1) + timedelta(days=int(rng.integers(*region.season_doy)) - 1)
            azimuth, elevation = sun_position(g.lat, day.timetuple().tm_yday, rng.uniform(10.0, 11.0))
            cloudy = k == 0 or rng.random() < config.cloudy_scene_share
            snowline = g.mean_snowline_m + g.snowline_sd_m * float(np.clip(rng.standard_normal(), -2.2, 2.2))
            scenes.append(
                ScenePlan(
                    scene=f"{g.glacier}_{day:%Y%m%d}",
                    glacier=g.glacier,
                    date=f"{day:%Y-%m-%d}",
                    sensor=str(rng.choice(_sensors_of(int(year)))),
                    sun_azimuth=round(azimuth, 2),
                    sun_elevation=round(elevation, 2),
                    snowline_m=round(snowline, 1),
                    cloud_cover=round(float(rng.uniform(0.08, 0.25) if cloudy else 0.0), 3),
                    n_labels=int(round(config.n_labels * fold_share[g.fold] / per_fold[g.fold])),
                )
            )
    return glaciers, terrains, scenes


def _sensors_of(year: int) -> list[str]:
    return [name for name, (first, last, _, _) in SENSORS.items() if first <= year <= last]


# --------------------------------------------------------------------------------------------
# One scene: facies, clouds, shadows, bands
# --------------------------------------------------------------------------------------------


@dataclass
class SceneArrays:
    """A rendered scene on its ``(n, n)`` grid."""

    bands: np.ndarray  # (11, n, n) float32, schema band order
    label_map: np.ndarray  # (n, n) uint8: the class an expert sees (shadow, cloud on top); 255 outside the domain
    surface_map: np.ndarray  # (n, n) uint8: the surface facies under shadows and clouds; 255 outside the domain
    aar: float  # (snow + firn + refrozen-like) / glacier area, from the surface map


def _signature_table() -> np.ndarray:
    """(6, 9) reflectance per internal surface code (class codes 0-7, 8 = terrain rock)."""
    table = np.zeros((6, 9))
    for name, values in SIGNATURES.items():
        table[:, CODE[name]] = values
    table[:, _TERRAIN] = _ROCK
    return table


def _variability_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brightness sd, partner code and drift sd per internal surface code (terrain: 0.25, itself, 0)."""
    bright, partner, drift = np.full(9, 0.25), np.arange(9), np.zeros(9)
    for name, (b, other, d) in _VARIABILITY.items():
        bright[CODE[name]], partner[CODE[name]], drift[CODE[name]] = b, CODE[other], d
    return bright, partner, drift


def _facies(
    rng: np.random.Generator,
    terrain: Terrain,
    glacier: GlacierPlan,
    scene: ScenePlan,
    region: Region,
    slope: np.ndarray,
) -> np.ndarray:
    """Surface codes over the whole grid (terrain = 8).

    Snow above an irregular snowline; firn in a band below it that widens in years with a high
    snowline; refrozen-like patches below the firn; bare ice below with debris where the terrain
    carries it and a few melt ponds; the glacier's lakes; seasonal snow on gentle terrain above
    the snowline.
    """
    n = terrain.dem.shape[0]
    z, on_ice = terrain.dem, terrain.glacier
    relief = glacier.z_max - glacier.z_min
    snowline = scene.snowline_m + 0.04 * relief * fractal_noise(rng, (n, n), 3.0, 64)
    firn_w = (region.firn_m * _scale(n) + 0.2 * max(0.0, scene.snowline_m - glacier.mean_snowline_m)) * (
        1 + 0.3 * fractal_noise(rng, (n, n), 3.0, 32)
    )
    below_firn = z <= snowline - firn_w
    refrozen_zone = below_firn & (z > snowline - firn_w - region.refrozen_m * _scale(n))
    patches = fractal_noise(rng, (n, n), 4.0, 32) > ndtri(1 - region.refrozen_cover)
    ponds = fractal_noise(rng, (n, n), 4.0, 6) > 2.7
    surface = np.full((n, n), _TERRAIN, dtype=np.uint8)
    surface[(z > snowline + 30) & (slope < 40)] = CODE["snow"]
    surface[terrain.water] = CODE["water"]
    facies = np.select(
        [z > snowline, ~below_firn, refrozen_zone & patches, terrain.debris, ponds],
        [CODE["snow"], CODE["firn"], CODE["refrozen-like"], CODE["debris"], CODE["water"]],
        default=CODE["ice"],
    )
    surface[on_ice] = facies[on_ice]
    return surface


def _clouds(rng: np.random.Generator, scene: ScenePlan, glacier_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cloud opacity and cloud-shadow opacity, ``(n, n)`` in 0-1 (0.5 = the cloud's edge).

    Blobs of the scene's cloud cover, one of them over the glacier, at 0.8-2.5 km above the
    ground; the shadow is the opacity shifted away from the sun by height / tan(elevation).
    """
    n = glacier_mask.shape[0]
    if scene.cloud_cover <= 0:
        return np.zeros((n, n)), np.zeros((n, n))
    field_ = fractal_noise(rng, (n, n), 4.0, n / 3)
    rows, cols = np.nonzero(glacier_mask)
    pick = rng.integers(rows.size)
    peak = np.unravel_index(np.argmax(field_), field_.shape)
    field_ = np.roll(field_, (rows[pick] - peak[0], cols[pick] - peak[1]), axis=(0, 1))
    opacity = np.clip((field_ - np.quantile(field_, 1 - scene.cloud_cover)) / 0.1 + 0.5, 0, 1)
    shift_px = rng.uniform(800, 2500) / np.tan(np.radians(scene.sun_elevation)) / PIXEL_SIZE_M
    az = np.radians(scene.sun_azimuth)
    shadow = ndimage.shift(opacity, (np.cos(az) * shift_px, -np.sin(az) * shift_px), order=1, cval=0.0)
    return opacity, shadow


def _sensor_view(rng: np.random.Generator, radiance: np.ndarray, sensor: str) -> np.ndarray:
    """What the sensor records of ``(6, n, n)`` reflectance on the 10 m grid.

    Each band is averaged to its native pixel (Landsat 30 m, Sentinel-2 SWIR 20 m), gets the
    sensor's noise and a per-scene calibration gain, and is resampled back to 10 m by nearest
    neighbour (each 30 m pixel becomes 3 x 3 equal pixels); then quantised to 1e-4 (as level-2
    products) and clipped to 0-1.
    """
    _, _, noise_sd, native = SENSORS[sensor]
    out = np.empty_like(radiance)
    n = radiance.shape[1]
    gains = 1 + 0.01 * rng.standard_normal(6)
    for b in range(6):
        k = native[b] // int(PIXEL_SIZE_M)
        coarse = radiance[b].reshape(n // k, k, n // k, k).mean(axis=(1, 3))
        coarse = coarse * gains[b] + noise_sd * rng.standard_normal(coarse.shape)
        out[b] = coarse.repeat(k, axis=0).repeat(k, axis=1)
    return np.clip(np.round(out, 4), 0.0, 1.0)


def render_scene(rng: np.random.Generator, terrain: Terrain, glacier: GlacierPlan, scene: ScenePlan) -> SceneArrays:
    """Facies, clouds, shadows and the 11 bands of one scene.

    Reflectance = class signature with within-class variability, times the illumination
    (direct share ``hillshade / sin(sun elevation)`` removed in terrain and cloud shadow, diffuse
    share per band from ``DIFFUSE_FRACTION`` weighted by the sky view), mixed with the clouds,
    blurred by a 0.5 px point spread function and seen by the sensor (:func:`_sensor_view`).
    """
    region = REGIONS_BY_KEY[glacier.region]
    n = terrain.dem.shape[0]
    aux = auxiliary_bands(terrain.dem, terrain.glacier, PIXEL_SIZE_M, scene.sun_azimuth, scene.sun_elevation)
    surface = _facies(rng, terrain, glacier, scene, region, aux["slope"])
    cloud, cloud_shadow = _clouds(rng, scene, terrain.glacier)
    terrain_shadow = aux["shadow_mask"] > 0

    domain = terrain.glacier | terrain.water
    label_map = np.where(domain, surface, NODATA_CODE).astype(np.uint8)
    label_map[domain & (terrain_shadow | (cloud_shadow > 0.5))] = CODE["shadow"]
    label_map[domain & (cloud > 0.5)] = CODE["cloud"]
    surface_map = np.where(domain, surface, NODATA_CODE).astype(np.uint8)

    bright, partner, drift = _variability_table()
    table = _signature_table()
    variation = fractal_noise(rng, (n, n), 3.0, 32)
    mix = np.clip(fractal_noise(rng, (n, n), 3.0, 24), -2.5, 2.5) * drift[surface]
    reflectance = table[:, surface] + mix * (table[:, partner[surface]] - table[:, surface])
    vegetation = np.clip((region.vegetation_below_m - terrain.dem) / 300.0, 0.0, 0.8) * (surface == _TERRAIN)
    reflectance += vegetation * (_VEGETATION - _ROCK)[:, None, None]
    reflectance *= (1 + bright[surface] * variation) * (1 + 0.015 * rng.standard_normal((6, n, n)))

    soft_shadow = ndimage.gaussian_filter(terrain_shadow.astype(float), 0.7)
    direct = aux["hillshade"] / np.sin(np.radians(scene.sun_elevation)) * (1 - soft_shadow) * (1 - 0.95 * cloud_shadow)
    sky_view = (1 + np.cos(np.radians(aux["slope"]))) / 2
    diffuse = DIFFUSE_FRACTION[:, None, None]
    radiance = reflectance * ((1 - diffuse) * direct + diffuse * sky_view)
    cloud_reflectance = table[:, CODE["cloud"], None, None] * (1 + 0.06 * fractal_noise(rng, (n, n), 3.0, 32))
    radiance = (1 - cloud) * radiance + cloud * cloud_reflectance
    radiance = ndimage.gaussian_filter(radiance, (0, 0.5, 0.5))
    optical = _sensor_view(rng, radiance, scene.sensor)

    bands = np.concatenate([optical.astype(np.float32), np.stack(list(aux.values()))]).astype(np.float32)
    accumulation = np.isin(surface, [CODE[c] for c in _AAR_CLASSES]) & terrain.glacier
    return SceneArrays(
        bands=bands,
        label_map=label_map,
        surface_map=surface_map,
        aar=float(accumulation.sum() / terrain.glacier.sum()),
    )


# --------------------------------------------------------------------------------------------
# Expert point labels with boundary noise
# --------------------------------------------------------------------------------------------


@dataclass
class SceneLabels:
    """The labels of one scene, one entry per label."""

    rows: np.ndarray  # int, pixel row of the label (patch centre)
    cols: np.ndarray
    true_code: np.ndarray  # uint8 class code the truth map holds there
    given_code: np.ndarray  # uint8 class code of the dataset label
    near_boundary: np.ndarray  # bool, within ``boundary_px`` of an ambiguous partner class
    boundary_distance_px: np.ndarray  # float, distance to the nearest ambiguous partner class


def _stochastic_round(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, float)
    return (np.floor(x) + (rng.random(x.shape) < x - np.floor(x))).astype(int)


def _nearest_partner(label_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of a facies class: distance (px) to the nearest ambiguous partner class, and that class.

    Returns ``(distance, partner_code)``, ``(n, n)``; inf / 255 on pixels of other classes.
    """
    targets = sorted({c for partners in AMBIGUOUS_PARTNERS.values() for c in partners})
    distance_to = {c: ndimage.distance_transform_edt(label_map != CODE[c]) for c in targets}
    best = np.full(label_map.shape, np.inf)
    partner = np.full(label_map.shape, NODATA_CODE, dtype=np.uint8)
    for name, partners in AMBIGUOUS_PARTNERS.items():
        here = label_map == CODE[name]
        for other in partners:
            closer = here & (distance_to[other] < best)
            best[closer] = distance_to[other][closer]
            partner[closer] = CODE[other]
    return best, partner


def sample_labels(
    rng: np.random.Generator, label_map: np.ndarray, n_labels: int, shares: np.ndarray, config: SyntheticConfig
) -> SceneLabels:
    """Draw a scene's point labels, then give a share of the facies labels a neighbouring class.

    Args:
        rng: random generator.
        label_map: ``(n, n)`` uint8 truth class codes (255 = not labelled).
        n_labels: the scene's label budget.
        shares: ``(8,)`` class shares for this scene (sum 1).
        config: ``min_labels_per_class``, ``boundary_share``, ``boundary_px``, ``noise_rate``.

    Labels lie at least ``PATCH_SIZE // 2`` pixels from the scene edge, one per pixel at most.
    Per class: ``n_labels * share`` (stochastically rounded, at least ``min_labels_per_class``
    where the class shows, at most what it shows); ``boundary_share`` of each facies class is drawn
    within ``boundary_px`` of an ambiguous partner class (``AMBIGUOUS_PARTNERS``). Then
    ``noise_rate`` of the scene's facies labels (stochastically rounded) get the nearest partner
    class: near-boundary labels in random order first, then the closest others if there are too
    few. Shadow, water and cloud labels are never changed.
    """
    n = label_map.shape[0]
    half = PATCH_SIZE // 2
    inner = np.zeros(label_map.shape, bool)
    inner[half : n - half, half : n - half] = True
    distance, partner = _nearest_partner(label_map)
    near = distance <= config.boundary_px
    quotas = _stochastic_round(rng, n_labels * shares)
    picked: list[np.ndarray] = []
    for code, name in enumerate(CLASS_NAMES):
        where = inner & (label_map == code)
        available = int(where.sum())
        quota = min(available, max(quotas[code], config.min_labels_per_class if available else 0))
        if quota == 0:
            continue
        first = np.empty(0, dtype=np.int64)
        if name in NOISY_CLASSES:
            close = np.flatnonzero(where & near)
            first = rng.choice(close, size=min(close.size, int(round(config.boundary_share * quota))), replace=False)
            where.flat[first] = False
        rest = rng.choice(np.flatnonzero(where), size=quota - first.size, replace=False)
        picked.append(np.concatenate([first, rest]))
    flat = np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)
    true_code = label_map.flat[flat]
    given = true_code.copy()
    facies = np.flatnonzero(np.isin(true_code, [CODE[c] for c in NOISY_CLASSES]))
    n_flip = min(facies.size, int(_stochastic_round(rng, config.noise_rate * facies.size)))
    d = distance.flat[flat[facies]]
    order = np.lexsort((rng.random(facies.size), np.where(d <= config.boundary_px, 0.0, d)))
    flip = facies[order[:n_flip]]
    given[flip] = partner.flat[flat[flip]]
    rows, cols = np.divmod(flat, n)
    return SceneLabels(
        rows=rows,
        cols=cols,
        true_code=true_code.astype(np.uint8),
        given_code=given.astype(np.uint8),
        near_boundary=distance.flat[flat] <= config.boundary_px,
        boundary_distance_px=distance.flat[flat],
    )


# --------------------------------------------------------------------------------------------
# Plausibility checks
# --------------------------------------------------------------------------------------------

#: Thresholds of the plausibility checks.
NDSI_THRESHOLD = 0.4  # the usual snow/ice NDSI threshold
SWIR_CLOUD_THRESHOLD = 0.3  # swir1 reflectance separating cloud (above) from snow (below)
NOMINAL_ILLUMINATION = 0.1  # |hillshade / sin(sun elevation) - 1| below this counts as flat-lit


@dataclass
class SpectralStats:
    """Per-class sums over the core pixels of the scenes, accumulated scene by scene (see :meth:`add`).

    A core pixel is a labelled pixel whose 5 x 5 neighbourhood holds its class only: the
    physics of a class, free of the mixed pixels at its boundaries (a 30 m Landsat pixel
    reaches at most 2 pixels from any of its 10 m pixels).
    """

    nominal_count: np.ndarray = field(default_factory=lambda: np.zeros(8))
    nominal_sum: np.ndarray = field(default_factory=lambda: np.zeros((8, 6)))
    count: np.ndarray = field(default_factory=lambda: np.zeros(8))
    total: np.ndarray = field(default_factory=lambda: np.zeros((8, 6)))
    ndsi_above: np.ndarray = field(default_factory=lambda: np.zeros(8))
    swir_above: np.ndarray = field(default_factory=lambda: np.zeros(8))
    #: surface classes under the shadow-labelled pixels, and those pixels' reflectance sum
    shadow_surface: np.ndarray = field(default_factory=lambda: np.zeros(8))
    shadow_sum: np.ndarray = field(default_factory=lambda: np.zeros(6))

    def add(self, bands: np.ndarray, label_map: np.ndarray, surface_map: np.ndarray, sun_elevation: float) -> None:
        """Accumulate one scene: ``bands`` (11, n, n) schema order, the truth maps (n, n) uint8."""
        optical = bands[:6].reshape(6, -1).astype(np.float64)
        labels = label_map.ravel()
        pure = ndimage.minimum_filter(label_map, 5) == ndimage.maximum_filter(label_map, 5)
        ok = (labels < len(CLASS_NAMES)) & pure.ravel()
        illumination = bands[BAND_NAMES.index("hillshade")].ravel() / np.sin(np.radians(sun_elevation))
        sunlit = bands[BAND_NAMES.index("shadow_mask")].ravel() == 0
        nominal = ok & sunlit & (np.abs(illumination - 1) < NOMINAL_ILLUMINATION)
        green, swir1 = optical[1], optical[4]
        ndsi = (green - swir1) / np.maximum(green + swir1, 1e-6)
        for target, mask in ((self.nominal_count, nominal), (self.count, ok)):
            target += np.bincount(labels[mask], minlength=8)
        for target, mask in ((self.nominal_sum, nominal), (self.total, ok)):
            for b in range(6):
                target[:, b] += np.bincount(labels[mask], weights=optical[b, mask], minlength=8)
        self.ndsi_above += np.bincount(labels[ok & (ndsi > NDSI_THRESHOLD)], minlength=8)
        self.swir_above += np.bincount(labels[ok & (swir1 > SWIR_CLOUD_THRESHOLD)], minlength=8)
        shadow = ok & (labels == CODE["shadow"])
        self.shadow_surface += np.bincount(surface_map.ravel()[shadow], minlength=256)[:8]
        self.shadow_sum += optical[:, shadow].sum(axis=1)


@dataclass
class PlausibilityReport:
    """Figures that show the benchmark behaves like real data, and whether each check passed."""

    class_means: dict[str, list[float]]  # mean reflectance per class (flat-lit sunlit pixels; cloud: all)
    signature_deviation: dict[str, float]  # max |mean - signature| over the six bands, per class
    ndsi_ice_snow_above: float  # share of snow/firn/ice/refrozen-like pixels with NDSI > 0.4
    ndsi_debris_below: float  # share of debris pixels with NDSI <= 0.4
    swir_cloud_above: float  # share of cloud pixels with swir1 > 0.3
    swir_snow_below: float  # share of snow pixels with swir1 <= 0.3
    shadow_ratio: list[float]  # per band: shadow reflectance / the same surfaces sunlit (SWIR ill-conditioned)
    snowline_balance_r: float  # pooled r of the standardised snowline anomaly vs annual balance
    aar_balance_r: float  # pooled r of the truth AAR vs annual balance
    label_counts: dict[str, int]  # dataset (given) labels per class
    noise_rate: float  # share of noisy-class labels whose given class differs from the truth
    checks: dict[str, bool]

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def format(self) -> str:
        """Human-readable lines."""
        lines = ["plausibility:"]
        for name, dev in self.signature_deviation.items():
            mean = " ".join(f"{v:.3f}" for v in self.class_means[name])
            lines.append(f"  {name:>13}: mean {mean}  max |dev| vs signature {dev:.3f}")
        lines += [
            f"  NDSI>{NDSI_THRESHOLD}: snow/firn/ice/refrozen {self.ndsi_ice_snow_above:.3f}, debris below {self.ndsi_debris_below:.3f}",
            f"  swir1>{SWIR_CLOUD_THRESHOLD}: cloud {self.swir_cloud_above:.3f}, snow below {self.swir_snow_below:.3f}",
            "  shadow / sunlit per band: " + " ".join(f"{v:.2f}" for v in self.shadow_ratio),
            f"  r(snowline anomaly, balance) {self.snowline_balance_r:.2f}; r(AAR, balance) {self.aar_balance_r:.2f}",
            f"  label noise rate {self.noise_rate:.4f}",
            "  checks: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in self.checks.items()),
        ]
        return "\n".join(lines)


def evaluate_plausibility(
    stats: SpectralStats, labels: pd.DataFrame, balance: pd.DataFrame, metadata: dict, tolerance: float = 0.05
) -> PlausibilityReport:
    """Turn accumulated pixel statistics and the written tables into a :class:`PlausibilityReport`.

    Args:
        stats: pixel sums over all scenes.
        labels: ``truth/labels.parquet`` (given_class, true_class).
        balance: ``mass_balance.csv``.
        metadata: ``metadata.json`` (glaciers' mean snowline, scenes' snowline and AAR).
        tolerance: allowed |class mean - signature| per band, reflectance units, plus 10 % of the signature.
    """
    means, deviation, within = {}, {}, True
    for name, signature in SIGNATURES.items():
        c = CODE[name]
        count, sums = (
            (stats.count[c], stats.total[c]) if name == "cloud" else (stats.nominal_count[c], stats.nominal_sum[c])
        )
        mean = sums / max(count, 1)
        means[name] = [round(float(v), 4) for v in mean]
        dev = np.abs(mean - np.asarray(signature))
        deviation[name] = round(float(dev.max()), 4)
        within &= bool(count > 0 and np.all(dev <= tolerance + 0.1 * np.asarray(signature)))
    ice_like = [CODE[c] for c in ("snow", "firn", "ice", "refrozen-like")]
    ndsi_ice = float(stats.ndsi_above[ice_like].sum() / max(stats.count[ice_like].sum(), 1))
    d = CODE["debris"]
    ndsi_debris = float(1 - stats.ndsi_above[d] / max(stats.count[d], 1))
    swir_cloud = float(stats.swir_above[CODE["cloud"]] / max(stats.count[CODE["cloud"]], 1))
    swir_snow = float(1 - stats.swir_above[CODE["snow"]] / max(stats.count[CODE["snow"]], 1))
    sunlit_means = stats.nominal_sum / np.maximum(stats.nominal_count, 1)[:, None]
    expected = stats.shadow_surface @ sunlit_means
    ratio = stats.shadow_sum / np.maximum(expected, 1e-9)

    glaciers = {g["wgms_id"]: g for g in metadata["glaciers"]}
    scenes = {(s["glacier"], int(s["date"][:4])): s for s in metadata["scenes"]}
    joined = [
        (scenes[(glaciers[w]["glacier"], y)], glaciers[w], b)
        for w, y, b in balance[["WGMS_ID", "YEAR", "ANNUAL_BALANCE"]].itertuples(index=False)
    ]
    anomaly = [(s["snowline_m"] - g["mean_snowline_m"]) / g["snowline_sd_m"] for s, g, _ in joined]
    aar = [s["aar"] for s, _, _ in joined]
    mb = [b for _, _, b in joined]
    r_snowline = float(np.corrcoef(anomaly, mb)[0, 1])
    r_aar = float(np.corrcoef(aar, mb)[0, 1])

    counts = labels["given_class"].value_counts().reindex(CLASS_NAMES, fill_value=0)
    noisy = labels["true_class"].isin(NOISY_CLASSES)
    noise_rate = float((labels["given_class"] != labels["true_class"])[noisy].mean())
    c = counts.to_dict()
    order = c["ice"] > c["snow"] > max(c["debris"], c["firn"]) and min(c["debris"], c["firn"]) > c["shadow"] > c[
        "refrozen-like"
    ] > max(c["water"], c["cloud"])
    checks = {
        "signatures": within,
        "ndsi": ndsi_ice > 0.95 and ndsi_debris > 0.95,
        "swir_cloud_snow": swir_cloud > 0.9 and swir_snow > 0.95,
        "shadow_dark": bool(np.all(ratio[:4] < 0.35) and ratio[3] < ratio[0]),
        "snowline_balance": r_snowline < -0.5 and r_aar > 0.5,
        "class_order": bool(order),
        "every_class_in_every_fold": bool(
            (
                pd.crosstab(labels["sample_id"].str.split("_").str[0], labels["given_class"])
                .reindex(columns=CLASS_NAMES, fill_value=0)
                .reindex([str(k) for k in range(NUM_FOLDS)], fill_value=0)
                > 0
            ).all(axis=None)
        ),
        "protected_clean": bool((labels["given_class"] == labels["true_class"])[~noisy].all()),
    }
    return PlausibilityReport(
        class_means=means,
        signature_deviation=deviation,
        ndsi_ice_snow_above=round(ndsi_ice, 4),
        ndsi_debris_below=round(ndsi_debris, 4),
        swir_cloud_above=round(swir_cloud, 4),
        swir_snow_below=round(swir_snow, 4),
        shadow_ratio=[round(float(v), 3) for v in ratio],
        snowline_balance_r=round(r_snowline, 3),
        aar_balance_r=round(r_aar, 3),
        label_counts={k: int(v) for k, v in c.items()},
        noise_rate=round(noise_rate, 4),
        checks=checks,
    )


def check_plausibility(out_dir: str | Path) -> PlausibilityReport:
    """Recompute the plausibility report from a written benchmark (scenes, truth maps, tables)."""
    out_dir = Path(out_dir)
    metadata = json.loads((out_dir / "metadata.json").read_text())
    stats = SpectralStats()
    for scene in metadata["scenes"]:
        with rasterio.open(out_dir / "scenes" / f"{scene['scene']}.tif") as src:
            bands = src.read()
        with rasterio.open(out_dir / "truth" / "maps" / f"{scene['scene']}.tif") as src:
            label_map, surface_map = src.read()
        stats.add(bands, label_map, surface_map, scene["sun_elevation"])
    return evaluate_plausibility(
        stats,
        pd.read_parquet(out_dir / "truth" / "labels.parquet"),
        pd.read_csv(out_dir / "mass_balance.csv"),
        metadata,
    )


# --------------------------------------------------------------------------------------------
# Writing the benchmark
# --------------------------------------------------------------------------------------------


@dataclass
class SyntheticSummary:
    """What :func:`generate` wrote, how long it took, and the plausibility figures."""

    out_dir: Path
    seconds: float
    n_glaciers: int
    n_scenes: int
    counts: dict[int, dict[str, int]]  # fold -> class -> dataset (given) labels
    noise_rate_requested: float
    noise_rate: float  # measured: noisy-class labels whose given class is not the true one
    near_boundary_share: float  # share of noisy-class labels near an ambiguous boundary
    sizes: dict[str, int]  # bytes per top-level entry of the output, and "total"
    plausibility: PlausibilityReport

    @property
    def n_labels(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def format(self) -> str:
        """Human-readable summary: counts per class and fold, noise, timing, sizes, checks."""
        width = max(len(c) for c in CLASS_NAMES)
        lines = [
            f"synthetic benchmark: {self.out_dir}",
            f"  {self.n_glaciers} glaciers, {self.n_scenes} scenes, {self.n_labels} labels, generated in {self.seconds:.1f} s",
            "  labels per class and fold:",
            "    " + " " * width + "".join(f"{f'fold {k}':>9}" for k in self.counts) + f"{'total':>9}",
        ]
        for name in CLASS_NAMES:
            row = [self.counts[k][name] for k in self.counts]
            lines.append(f"    {name:>{width}}" + "".join(f"{v:>9}" for v in row) + f"{sum(row):>9}")
        totals = [sum(c.values()) for c in self.counts.values()]
        lines.append(f"    {'all':>{width}}" + "".join(f"{v:>9}" for v in totals) + f"{sum(totals):>9}")
        lines.append(
            f"  label noise: requested {self.noise_rate_requested:.3f}, measured {self.noise_rate:.4f} "
            f"of ice/snow/debris/firn/refrozen-like labels ({self.near_boundary_share:.2f} of them near a boundary)"
        )
        lines.append("  sizes: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in self.sizes.items()))
        lines.append(self.plausibility.format())
        return "\n".join(lines)


def _write_raster(
    path: Path,
    array: np.ndarray,
    crs: int,
    transform: Affine,
    descriptions: tuple[str, ...],
    units: tuple[str, ...] | None = None,
    tags: dict[str, str] | None = None,
    compress: bool = True,
) -> None:
    """Write ``(bands, rows, cols)`` as a GeoTIFF; float rasters get nodata NaN, uint8 ones 255."""
    profile = dict(
        driver="GTiff",
        width=array.shape[2],
        height=array.shape[1],
        count=array.shape[0],
        dtype=array.dtype.name,
        crs=CRS.from_epsg(crs),
        transform=transform,
        nodata=float("nan") if array.dtype.kind == "f" else NODATA_CODE,
    )
    if compress:
        profile.update(tiled=True, blockxsize=256, blockysize=256, compress="deflate", interleave="band")
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
        dst.descriptions = descriptions
        if units:
            dst.units = units
        if tags:
            dst.update_tags(**tags)


def _outline(mask: np.ndarray, transform: Affine, to_lonlat: pyproj.Transformer) -> shapely.Polygon:
    """The glacier mask (one 4-connected component) as an exact pixel-edge polygon in lon/lat."""
    polygons = [
        shapely.geometry.shape(g)
        for g, _ in rasterio.features.shapes(mask.astype(np.uint8), mask=mask, transform=transform, connectivity=4)
    ]
    if len(polygons) != 1:
        raise AssertionError(f"a glacier mask makes {len(polygons)} polygons, expected 1")
    return shapely.transform(polygons[0], lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))


def _write_vector(path: Path, layer: str, geometries: list, columns: dict[str, np.ndarray], geometry_type: str) -> None:
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.asarray(geometries, dtype=object)),
        list(columns.values()),
        list(columns),
        layer=layer,
        driver="GPKG",
        geometry_type=geometry_type,
        crs="EPSG:4326",
    )


def _folder_sizes(root: Path) -> dict[str, int]:
    sizes = {
        entry.name: sum(f.stat().st_size for f in ([entry] if entry.is_file() else entry.rglob("*")) if f.is_file())
        for entry in sorted(root.iterdir())
    }
    sizes["total"] = sum(sizes.values())
    return sizes


def generate(
    out_dir: str | Path, config: SyntheticConfig = SyntheticConfig(), progress: bool = True
) -> SyntheticSummary:
    """Generate a synthetic benchmark into ``out_dir`` (replaced atomically when complete).

    Layout (both raw layouts hold the same labels and patch values)::

        patches/fold_{k}/{fold}_{glacier}_{YYYYMMDD}_{sensor}_{nnnnnn}_{class}.tif
            one label: 11 bands x 33 x 33 float32, the label pixel at row 16, col 16, UTM CRS,
            band descriptions = band names; uncompressed. The stem is the sample_id.
        scenes/{glacier}_{YYYYMMDD}.tif
            the 11 bands of a scene, float32, nodata NaN, tags GLACIER, DATE, SENSOR,
            SUN_AZIMUTH, SUN_ELEVATION; tiled, deflate.
        points.gpkg       labels as points (EPSG:4326, pixel centres): sample_id, class, glacier,
                          date, fold, sensor
        dems/{glacier}.tif, outlines.gpkg (glacier, name, region, wgms_id; EPSG:4326)
        truth/labels.parquet   sample_id, given_class, true_class, noisy, near_boundary, scene,
                               row, col, boundary_distance_px
        truth/maps/{scene}.tif band 1 label_class (what an expert labels: shadow and cloud on
                               top), band 2 surface_facies (under shadows and clouds);
                               uint8 class codes, 255 outside the glacier and its water bodies
        mass_balance.csv  WGMS-like: POLITICAL_UNIT, NAME, WGMS_ID, YEAR, LOWER_BOUND,
                          UPPER_BOUND, AREA (km2), ANNUAL_BALANCE, ANNUAL_BALANCE_UNC (mm w.e.)
        metadata.json     config, glaciers, scenes (sun, snowline, AAR, ...), the AAR->balance
                          model, counts, noise rate

    Args:
        out_dir: the benchmark folder.
        config: generator parameters.
        progress: show a progress bar over scenes.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    glaciers, terrains, scenes = _plan(config)
    by_id = {g.glacier: (g, t) for g, t in zip(glaciers, terrains)}
    cloudy_labels = sum(s.n_labels for s in scenes if s.cloud_cover > 0)
    cloud_boost = sum(s.n_labels for s in scenes) / max(cloudy_labels, 1)
    base_shares = np.array([CLASS_SHARES[c] for c in CLASS_NAMES])
    scene_seeds = np.random.SeedSequence([config.seed, 1]).spawn(len(scenes))
    descriptions = BAND_NAMES
    units = tuple(b.unit for b in BANDS)
    stats = SpectralStats()
    label_rows: list[dict] = []
    scene_rows: list[dict] = []
    balance_rows: list[dict] = []
    half = PATCH_SIZE // 2
    with atomic_directory(out_dir) as tmp:
        for g, terrain in zip(glaciers, terrains):
            _write_raster(
                tmp / "dems" / f"{g.glacier}.tif",
                terrain.dem[None],
                g.epsg,
                from_origin(g.x0, g.y0, PIXEL_SIZE_M, PIXEL_SIZE_M),
                ("elevation",),
                ("m",),
            )
        for scene, seed in zip(tqdm(scenes, desc="scenes", disable=not progress), scene_seeds):
            g, terrain = by_id[scene.glacier]
            rng = np.random.default_rng(seed)
            transform = from_origin(g.x0, g.y0, PIXEL_SIZE_M, PIXEL_SIZE_M)
            arrays = render_scene(rng, terrain, g, scene)
            shares = base_shares.copy()
            shares[CODE["cloud"]] *= cloud_boost if scene.cloud_cover > 0 else 0.0
            labels = sample_labels(rng, arrays.label_map, scene.n_labels, shares / shares.sum(), config)
            tags = dict(
                GLACIER=g.glacier,
                DATE=scene.date,
                SENSOR=scene.sensor,
                SUN_AZIMUTH=str(scene.sun_azimuth),
                SUN_ELEVATION=str(scene.sun_elevation),
            )
            _write_raster(
                tmp / "scenes" / f"{scene.scene}.tif", arrays.bands, g.epsg, transform, descriptions, units, tags
            )
            _write_raster(
                tmp / "truth" / "maps" / f"{scene.scene}.tif",
                np.stack([arrays.label_map, arrays.surface_map]),
                g.epsg,
                transform,
                ("label_class", "surface_facies"),
                tags={"CLASS_CODES": json.dumps(dict(CODE)), "NODATA": str(NODATA_CODE)},
            )
            stats.add(arrays.bands, arrays.label_map, arrays.surface_map, scene.sun_elevation)
            stamp = scene.date.replace("-", "")
            for r, c, true, given, near, dist in zip(
                labels.rows,
                labels.cols,
                labels.true_code,
                labels.given_code,
                labels.near_boundary,
                labels.boundary_distance_px,
            ):
                sample_id = f"{g.fold}_{g.glacier}_{stamp}_{scene.sensor}_{len(label_rows):06d}_{CLASS_NAMES[given]}"
                _write_raster(
                    tmp / "patches" / f"fold_{g.fold}" / f"{sample_id}.tif",
                    arrays.bands[:, r - half : r + half + 1, c - half : c + half + 1],
                    g.epsg,
                    transform * Affine.translation(c - half, r - half),
                    descriptions,
                    units,
                    compress=False,
                )
                label_rows.append(
                    dict(
                        sample_id=sample_id,
                        given_class=CLASS_NAMES[given],
                        true_class=CLASS_NAMES[true],
                        noisy=bool(given != true),
                        near_boundary=bool(near),
                        scene=scene.scene,
                        row=int(r),
                        col=int(c),
                        boundary_distance_px=float(dist),
                        glacier=g.glacier,
                        date=scene.date,
                        fold=g.fold,
                        sensor=scene.sensor,
                        x=g.x0 + (c + 0.5) * PIXEL_SIZE_M,
                        y=g.y0 - (r + 0.5) * PIXEL_SIZE_M,
                        epsg=g.epsg,
                    )
                )
            balance = config.mb_slope * (arrays.aar - g.aar0) + config.mb_noise * rng.standard_normal()
            region = REGIONS_BY_KEY[g.region]
            balance_rows.append(
                dict(
                    POLITICAL_UNIT=region.political_unit,
                    NAME=g.name.upper(),
                    WGMS_ID=g.wgms_id,
                    YEAR=int(scene.date[:4]),
                    LOWER_BOUND=9999,
                    UPPER_BOUND=9999,
                    AREA=g.area_km2,
                    ANNUAL_BALANCE=int(round(balance)),
                    ANNUAL_BALANCE_UNC=int(round(config.mb_noise)),
                )
            )
            domain = arrays.label_map != NODATA_CODE
            scene_rows.append(
                asdict(scene)
                | dict(
                    aar=round(arrays.aar, 4),
                    cloud_fraction=round(float((arrays.label_map[domain] == CODE["cloud"]).mean()), 4),
                    shadow_fraction=round(float((arrays.label_map[domain] == CODE["shadow"]).mean()), 4),
                    labels=int(labels.rows.size),
                )
            )

        table = pd.DataFrame(label_rows)
        _write_points(tmp / "points.gpkg", table)
        outlines = [
            _outline(
                t.glacier,
                from_origin(g.x0, g.y0, PIXEL_SIZE_M, PIXEL_SIZE_M),
                pyproj.Transformer.from_crs(g.epsg, 4326, always_xy=True),
            )
            for g, t in zip(glaciers, terrains)
        ]
        _write_vector(
            tmp / "outlines.gpkg",
            "outlines",
            outlines,
            {
                "glacier": np.array([g.glacier for g in glaciers], dtype=object),
                "name": np.array([g.name for g in glaciers], dtype=object),
                "region": np.array([g.region for g in glaciers], dtype=object),
                "wgms_id": np.array([g.wgms_id for g in glaciers], dtype=np.int32),
            },
            "Polygon",
        )
        truth = table[
            [
                "sample_id",
                "given_class",
                "true_class",
                "noisy",
                "near_boundary",
                "scene",
                "row",
                "col",
                "boundary_distance_px",
            ]
        ]
        (tmp / "truth").mkdir(exist_ok=True)
        truth.to_parquet(tmp / "truth" / "labels.parquet", index=False)
        balance_table = pd.DataFrame(balance_rows)
        balance_table.to_csv(tmp / "mass_balance.csv", index=False)
        noisy_rows = table["true_class"].isin(NOISY_CLASSES)
        noise_rate = float(table.loc[noisy_rows, "noisy"].mean())
        counts = {
            k: table.loc[table["fold"] == k, "given_class"].value_counts().reindex(CLASS_NAMES, fill_value=0).to_dict()
            for k in range(NUM_FOLDS)
        }
        metadata = {
            "generator": "dataset_builder.synthetic.core",
            "config": asdict(config),
            "class_names": list(CLASS_NAMES),
            "band_names": list(BAND_NAMES),
            "signatures": SIGNATURES,
            "regions": [asdict(r) for r in REGIONS],
            "glaciers": [asdict(g) for g in glaciers],
            "scenes": scene_rows,
            "mass_balance_model": {
                "formula": "ANNUAL_BALANCE = slope * (AAR - aar0[glacier]) + N(0, noise_sd)",
                "aar_classes": list(_AAR_CLASSES),
                "aar_definition": "(snow + firn + refrozen-like) pixels of the surface_facies truth map / glacier pixels",
                "slope_mm_we": config.mb_slope,
                "intercept_mm_we": -config.mb_slope * config.aar0,
                "aar0_mean": config.aar0,
                "aar0_sd": config.aar0_sd,
                "intercept_per_glacier_mm_we": {g.glacier: round(-config.mb_slope * g.aar0, 1) for g in glaciers},
                "noise_sd_mm_we": config.mb_noise,
            },
            "counts": {str(k): v for k, v in counts.items()},
            "noise": {
                "requested": config.noise_rate,
                "measured": round(noise_rate, 5),
                "classes": list(NOISY_CLASSES),
                "ambiguous_partners": {k: list(v) for k, v in AMBIGUOUS_PARTNERS.items()},
                "boundary_px": config.boundary_px,
            },
        }
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n")
        sizes = _folder_sizes(tmp)
        plausibility = evaluate_plausibility(stats, truth, balance_table, metadata)
    return SyntheticSummary(
        out_dir=out_dir,
        seconds=time.perf_counter() - start,
        n_glaciers=len(glaciers),
        n_scenes=len(scenes),
        counts=counts,
        noise_rate_requested=config.noise_rate,
        noise_rate=noise_rate,
        near_boundary_share=float(table.loc[noisy_rows, "near_boundary"].mean()),
        sizes=sizes,
        plausibility=plausibility,
    )


def _write_points(path: Path, table: pd.DataFrame) -> None:
    """The labels as EPSG:4326 points at their pixel centres (the builder reprojects per scene)."""
    lon, lat = np.empty(len(table)), np.empty(len(table))
    for epsg, rows in table.groupby("epsg").indices.items():
        to_lonlat = pyproj.Transformer.from_crs(int(epsg), 4326, always_xy=True)
        lon[rows], lat[rows] = to_lonlat.transform(table["x"].to_numpy()[rows], table["y"].to_numpy()[rows])
    text = lambda name: table[name].to_numpy(dtype=object)  # noqa: E731
    columns = {
        "sample_id": text("sample_id"),
        "class": text("given_class"),
        "glacier": text("glacier"),
        "date": text("date"),
        "fold": table["fold"].to_numpy(dtype=np.int32),
        "sensor": text("sensor"),
    }
    _write_vector(path, "points", list(shapely.points(lon, lat)), columns, "Point")
