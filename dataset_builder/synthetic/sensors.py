"""The simulated sensors: when each flew, its noise and native pixel sizes, and what it records of a scene."""

from __future__ import annotations

import numpy as np

from dataset_builder.schema import PIXEL_SIZE_M

#: Sensor: (first year, last year, reflectance noise sd, native pixel size in m per optical band).
SENSORS: dict[str, tuple[int, int, float, tuple[int, ...]]] = {
    "L5": (1995, 2011, 0.012, (30,) * 6),
    "L7": (1999, 2003, 0.010, (30,) * 6),  # SLC-off (striped) scenes from mid-2003 on are not simulated
    "L8": (2013, 2021, 0.006, (30,) * 6),
    "S2": (2016, 2021, 0.005, (10, 10, 10, 10, 20, 20)),
}


def sensors_of(year: int) -> list[str]:
    """The sensors that acquired scenes in ``year`` (none in 2012)."""
    return [name for name, (first, last, _, _) in SENSORS.items() if first <= year <= last]


def sensor_view(rng: np.random.Generator, radiance: np.ndarray, sensor: str) -> np.ndarray:
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
