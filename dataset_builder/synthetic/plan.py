"""The plan of a benchmark: glaciers (place, fold, climate), their terrain, and their end-of-season scenes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyproj

from dataset_builder.schema import NUM_FOLDS, PIXEL_SIZE_M
from dataset_builder.synthetic.config import SyntheticConfig
from dataset_builder.synthetic.regions import REGIONS, REGIONS_BY_KEY
from dataset_builder.synthetic.sensors import finest_sensors
from dataset_builder.synthetic.terrain import Terrain, make_terrain, scene_scale

#: Share of a glacier's elevation range at its top that keeps snow at the end of every season.
SNOW_CAP = 0.1


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
    """EPSG code of the northern-hemisphere WGS 84 / UTM zone of a longitude in degrees."""
    return 32600 + int((lon + 180.0) // 6.0) + 1


def plan_benchmark(config: SyntheticConfig) -> tuple[list[GlacierPlan], list[Terrain], list[ScenePlan]]:
    """Glaciers (regions in turn, fold = index mod 6), their terrain, and their scenes.

    Each glacier draws from its own seed, first its terrain and identity, then (after all glaciers) its scenes:
    years, days, sun, cloudiness, snowline and sensor.
    """
    n = config.scene_size
    seeds = np.random.SeedSequence(config.seed).spawn(config.n_glaciers)
    glaciers, terrains, scene_draws = [], [], []
    counters: dict[str, int] = {}
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        region = REGIONS[i % len(REGIONS)]
        counters[region.key] = counters.get(region.key, 0) + 1
        number = counters[region.key]
        terrain = make_terrain(rng, n, region)
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
                    float(np.median(z)) + (region.firn_m + region.refrozen_m) * scene_scale(n),
                    1,
                ),
                snowline_sd_m=round(region.snowline_sd * relief, 1),
                aar0=round(float(config.aar0 + config.aar0_sd * rng.standard_normal()), 4),
            )
        )
        terrains.append(terrain)
        scene_draws.append(rng)
    budgets = iter(config.scene_budgets([g.fold for g in glaciers]))
    years = config.sensor_years()
    scenes = []
    for g, rng in zip(glaciers, scene_draws):
        region = REGIONS_BY_KEY[g.region]
        # one scene of each glacier, any of them, is always cloudy: clouds are no likelier in the Landsat 5 years
        # than in the Sentinel-2 ones. (Always the earliest scene left the bright cloud cores, which set the global
        # per-band maxima, nearly always under Landsat's level-2 cap of 1.602, never in Sentinel-2 products.) The
        # finest sensor of the year images the glacier (:func:`.sensors.finest_sensors`).
        always_cloudy = int(rng.integers(config.scenes_per_glacier))
        for k, year in enumerate(sorted(rng.choice(years, size=config.scenes_per_glacier, replace=False))):
            day = date(int(year), 1, 1) + timedelta(days=int(rng.integers(*region.season_doy)) - 1)
            azimuth, elevation = sun_position(g.lat, day.timetuple().tm_yday, rng.uniform(10.0, 11.0))
            cloudy = k == always_cloudy or rng.random() < config.cloudy_scene_share
            snowline = g.mean_snowline_m + g.snowline_sd_m * float(np.clip(rng.standard_normal(), -2.2, 2.2))
            snowline = min(snowline, g.z_max - SNOW_CAP * (g.z_max - g.z_min))  # the highest part keeps its snow
            scenes.append(
                ScenePlan(
                    scene=f"{g.glacier}_{day:%Y%m%d}",
                    glacier=g.glacier,
                    date=f"{day:%Y-%m-%d}",
                    sensor=str(rng.choice(finest_sensors(int(year)))),
                    sun_azimuth=round(azimuth, 2),
                    sun_elevation=round(elevation, 2),
                    snowline_m=round(snowline, 1),
                    cloud_cover=round(float(rng.uniform(0.03, 0.08) if cloudy else 0.0), 3),
                    n_labels=next(budgets),
                )
            )
    return glaciers, terrains, scenes
