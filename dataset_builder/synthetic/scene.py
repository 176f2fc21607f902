"""One rendered scene: facies under the scene's snowline, clouds and their shadows, terrain shadow, the truth maps
and the 11 bands as the sensor records them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dataset_builder.aux_bands import auxiliary_bands, incidence_cosine
from dataset_builder.schema import CAST_SHADOW, MAP_NODATA, PIXEL_SIZE_M
from dataset_builder.synthetic.facies import CODE, accumulation_area_ratio, surface_facies
from dataset_builder.synthetic.plan import GlacierPlan, ScenePlan
from dataset_builder.synthetic.reflectance import illuminate, surface_reflectance, under_clouds
from dataset_builder.synthetic.regions import REGIONS_BY_KEY
from dataset_builder.synthetic.sensors import sensor_view
from dataset_builder.synthetic.terrain import Terrain, fractal_noise, scene_scale


@dataclass
class SceneArrays:
    """A rendered scene on its ``(n, n)`` grid."""

    bands: np.ndarray  # (11, n, n) float32, schema band order
    label_map: np.ndarray  # (n, n) uint8: the class an expert sees (shadow, cloud on top); 255 outside the domain
    surface_map: np.ndarray  # (n, n) uint8: the surface facies under shadows and clouds; 255 outside the domain
    illumination: (
        np.ndarray
    )  # (n, n) float32: direct sunlight on the terrain relative to flat ground (cast shadow aside)
    aar: float  # (snow + firn + refrozen-like) / glacier area, from the surface map


def clouds(
    rng: np.random.Generator, scene: ScenePlan, glacier_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cloud opacity, cloud thickness and cloud-shadow opacity, ``(n, n)`` in 0-1 (opacity 0.5 = the cloud's edge;
    thickness 0 there, 1 at the thickest point).

    Blobs of the scene's cloud cover, one of them over the glacier, at 0.8-2.5 km above the
    ground; the shadow is the opacity shifted away from the sun by height / tan(elevation).
    Heights scale with the scene like elevations (:func:`.terrain.scene_scale`; 1 for the default
    3.84 km scene), so that in the smaller scenes of quick runs shadows still fall on the glacier.
    """
    n = glacier_mask.shape[0]
    if scene.cloud_cover <= 0:
        return np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    field_ = fractal_noise(rng, (n, n), 4.0, n / 3)
    rows, cols = np.nonzero(glacier_mask)
    pick = rng.integers(rows.size)
    peak = np.unravel_index(np.argmax(field_), field_.shape)
    field_ = np.roll(field_, (rows[pick] - peak[0], cols[pick] - peak[1]), axis=(0, 1))
    edge = np.quantile(field_, 1 - scene.cloud_cover)
    opacity = np.clip((field_ - edge) / 0.1 + 0.5, 0, 1)
    thickness = np.clip((field_ - edge) / (field_.max() - edge), 0, 1)
    shift_px = rng.uniform(800, 2500) * scene_scale(n) / np.tan(np.radians(scene.sun_elevation)) / PIXEL_SIZE_M
    az = np.radians(scene.sun_azimuth)
    shadow = ndimage.shift(opacity, (np.cos(az) * shift_px, -np.sin(az) * shift_px), order=1, cval=0.0)
    return opacity, thickness, shadow


def direct_illumination(dem: np.ndarray, sun_azimuth: float, sun_elevation: float) -> np.ndarray:
    """``(n, n)`` float32 direct sunlight on the terrain relative to flat ground: ``max(cos i, 0) / sin(sun elevation)``
    for the solar incidence angle i on the DEM (m) under the sun (degrees), cast shadows aside."""
    cos_i = incidence_cosine(dem, PIXEL_SIZE_M, sun_azimuth, sun_elevation)
    return (np.clip(cos_i, 0.0, None) / np.sin(np.radians(sun_elevation))).astype(np.float32)


def render_scene(rng: np.random.Generator, terrain: Terrain, glacier: GlacierPlan, scene: ScenePlan) -> SceneArrays:
    """Facies, clouds, shadows and the 11 bands of one scene.

    Reflectance (:func:`.reflectance.surface_reflectance`) lit by the sun and the sky
    (:func:`.reflectance.illuminate`), mixed with the clouds and seen by the sensor, its optics' blur included
    (:func:`.sensors.sensor_view`); the auxiliary bands come from the DEM and the outline
    (:func:`dataset_builder.aux_bands.auxiliary_bands`). The random draws follow this order; one seed, one scene.
    """
    region = REGIONS_BY_KEY[glacier.region]
    aux = auxiliary_bands(terrain.dem, terrain.glacier, PIXEL_SIZE_M, scene.sun_azimuth, scene.sun_elevation)
    surface = surface_facies(rng, terrain, glacier, scene, region, aux["slope"])
    cloud, thickness, cloud_shadow = clouds(rng, scene, terrain.glacier)
    terrain_shadow = aux["shadow_mask"] == CAST_SHADOW
    illumination = direct_illumination(terrain.dem, scene.sun_azimuth, scene.sun_elevation)

    domain = terrain.glacier | terrain.water
    label_map = np.where(domain, surface, MAP_NODATA).astype(np.uint8)
    label_map[domain & (terrain_shadow | (cloud_shadow > 0.5))] = CODE["shadow"]
    label_map[domain & (cloud > 0.5)] = CODE["cloud"]
    surface_map = np.where(domain, surface, MAP_NODATA).astype(np.uint8)

    reflectance = surface_reflectance(rng, surface, terrain.dem, region.vegetation_below_m)
    radiance = illuminate(reflectance, illumination, aux["slope"], terrain_shadow, cloud_shadow)
    optical = sensor_view(rng, under_clouds(rng, radiance, cloud, thickness), scene.sensor)

    bands = np.concatenate([optical.astype(np.float32), np.stack(list(aux.values()))]).astype(np.float32)
    return SceneArrays(
        bands=bands,
        label_map=label_map,
        surface_map=surface_map,
        illumination=illumination,
        aar=accumulation_area_ratio(surface, terrain.glacier),
    )
