"""Surface facies under a yearly snowline: snow, firn, refrozen-like ice among firn remnants, bare ice, debris, melt
ponds, lakes."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.special import ndtri

from dataset_builder.schema import CLASS_NAMES
from dataset_builder.synthetic.plan import GlacierPlan, ScenePlan
from dataset_builder.synthetic.regions import Region
from dataset_builder.synthetic.terrain import Terrain, fractal_noise, scene_scale

#: Class code of each class name (``schema.CLASS_NAMES`` order).
CODE: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
#: Internal surface code of the terrain around the glacier (rock, vegetation); never labelled.
TERRAIN = 8
#: The classes of the accumulation area: the AAR is their share of the glacier.
AAR_CLASSES: tuple[str, ...] = ("snow", "firn", "refrozen-like")
#: Share of the refrozen-like zone below the firn that is refrozen-like ice; the rest is firn left in remnant patches.
#: Superimposed and refrozen ice forms where meltwater refreezes on the cold ice below the firn, and by the end of
#: summer it lies exposed in a mosaic with the firn that survived over it: that mixture, bright patches on a darker
#: ground, is what a refrozen-like zone looks like on imagery. As sparse patches of it on bare ice (35-60 % of the
#: zone), the published models took 85 % of our refrozen-like ice for ice and gave the class an F1 of 0.04-0.15
#: against the truth; as a mosaic with 35 % firn, 0.21-0.28 (`glacier-facies check-realism`, seeds 21-24).
REFROZEN_SHARE = 0.65
#: Smallest late-lying snow patch on the terrain that survives the summer, pixels (1.5 ha).
LATE_SNOW_MIN_PX = 150


def surface_facies(
    rng: np.random.Generator,
    terrain: Terrain,
    glacier: GlacierPlan,
    scene: ScenePlan,
    region: Region,
    slope: np.ndarray,
) -> np.ndarray:
    """``(n, n)`` uint8 surface codes over the whole grid (class codes; terrain = ``TERRAIN``); ``slope`` in degrees.

    Snow above an irregular snowline; firn in a band below it that widens in years with a high snowline; below the
    firn a zone of refrozen-like ice with remnant firn patches (``REFROZEN_SHARE``); bare ice below with debris where
    the terrain carries it and a few melt ponds; the glacier's lakes; seasonal snow on gentle terrain above the
    snowline, in coherent patches that grow with the height above it.
    """
    n = terrain.dem.shape[0]
    z, on_ice = terrain.dem, terrain.glacier
    relief = glacier.z_max - glacier.z_min
    snowline = scene.snowline_m + 0.04 * relief * fractal_noise(rng, (n, n), 3.0, 64)
    firn_w = (region.firn_m * scene_scale(n) + 0.2 * max(0.0, scene.snowline_m - glacier.mean_snowline_m)) * (
        1 + 0.3 * fractal_noise(rng, (n, n), 3.0, 32)
    )
    below_firn = z <= snowline - firn_w
    refrozen_zone = below_firn & (z > snowline - firn_w - region.refrozen_m * scene_scale(n))
    remnants = fractal_noise(rng, (n, n), 4.0, 32) > ndtri(REFROZEN_SHARE)
    # melt ponds and small supraglacial lakes, tens of metres to ~200 m across (a few in a thousand of the area)
    ponds = fractal_noise(rng, (n, n), 6.0, 32) > 2.7
    surface = np.full((n, n), TERRAIN, dtype=np.uint8)
    above = z - snowline
    patchy = fractal_noise(rng, (n, n), 4.0, 40)  # late-lying snow in coherent patches on gentle ground
    late = (above > 30) & (ndimage.gaussian_filter(slope, 3.0) < 30) & (patchy > 1.2 - above / 200)
    late = ndimage.binary_opening(late, iterations=2)
    parts, count = ndimage.label(late)
    sizes = np.bincount(parts.ravel(), minlength=count + 1)
    # no specks: patches under a hectare and a half melt out first (a snow patch outlives summer by its depth)
    surface[late & (sizes[parts] >= LATE_SNOW_MIN_PX)] = CODE["snow"]
    surface[terrain.water] = CODE["water"]
    facies = np.select(
        [z > snowline, ~below_firn | (refrozen_zone & remnants), refrozen_zone, terrain.debris, ponds],
        [CODE["snow"], CODE["firn"], CODE["refrozen-like"], CODE["debris"], CODE["water"]],
        default=CODE["ice"],
    )
    surface[on_ice] = facies[on_ice]
    return surface


def accumulation_area_ratio(surface: np.ndarray, glacier: np.ndarray) -> float:
    """(snow + firn + refrozen-like) pixels / glacier pixels, from ``(n, n)`` surface codes and the glacier mask."""
    accumulation = np.isin(surface, [CODE[c] for c in AAR_CLASSES]) & glacier
    return float(accumulation.sum() / glacier.sum())
