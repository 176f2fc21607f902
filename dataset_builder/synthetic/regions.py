"""The four regional characters of the synthetic glaciers: Alpine valley glaciers, Scandinavian plateau ice,
Svalbard tidewater-like glaciers and Icelandic ice caps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    """The character of one glacier region; elevation spans scale with the scene size (:func:`.terrain.scene_scale`)."""

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
        (300.0, 400.0),
        0.18,
        25.0,
        12.5,
        0.9,
        2500.0,
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
        (80.0, 120.0),
        0.18,
        20.0,
        17.5,
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
        (175.0, 225.0),
        0.18,
        20.0,
        40.0,
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
        (70.0, 110.0),
        0.18,
        25.0,
        20.0,
        0.5,
        650.0,
        (240, 268),
    ),
)
REGIONS_BY_KEY: dict[str, Region] = {r.key: r for r in REGIONS}
