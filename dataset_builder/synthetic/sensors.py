"""The simulated sensors: when each flew, its noise and native pixel sizes, and what it records of a scene."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dataset_builder.schema import PIXEL_SIZE_M

#: Reflectance step of the level-2 products as simulated here (Sentinel-2 L2A: 1 / 10000).
QUANTUM = 1e-4
#: Largest surface reflectance a Landsat Collection 2 Level-2 product can hold: DN 65535 x 2.75e-5 - 0.2.
LANDSAT_C2_MAX = 65535 * 2.75e-5 - 0.2
#: Largest surface reflectance a Sentinel-2 Level-2A product can hold: DN 65535 / 10000.
SENTINEL2_L2A_MAX = 65535 / 10000
#: Standard deviation of the optics' point spread function (:func:`optics_blur`), in the band's native pixels. With
#: the detector's box (MTF sinc(1/2) = 0.64 at Nyquist) it gives a system MTF at Nyquist of
#: 0.64 x exp(-2 pi^2 0.35^2 / 4) = 0.35, the sharp end of what OLI and MSI reach in orbit (TM's is lower). Before,
#: every band was blurred by a Gaussian of 0.5 px of the 10 m grid (a sixth of a Landsat pixel), and with the noise
#: below the BatchNorm layers of the published 11-band models stood 0.15 0.30 0.35 0.51 0.56 0.33 sigma from the
#: stored statistics (default profile, seed 21); with both, 0.15 0.31 0.36 0.46 0.47 0.26. Blurrier optics (0.4-0.5
#: native px, nearer TM's) lit the smallest cast shadows, seen at 30 m, beyond the plausibility check's 0.35 of sunlit.
PSF_SD_NATIVE_PX = 0.35


@dataclass(frozen=True)
class Sensor:
    """One sensor: the years it flew, its reflectance noise, native pixel size per optical band and product range."""

    first: int
    last: int
    noise_sd: float
    native_m: tuple[int, ...]  # per optical band
    max_reflectance: float  # level-2 surface reflectance is not clipped at 1 (bright snow, clouds); the product's cap


#: Noise (reflectance sd per native pixel): TM's 8-bit quantisation (~0.004 per DN) and detector noise; ETM+'s
#: higher gain; OLI's 12 bits and SNR of 200+; MSI's SNR of 100-170 at reference radiance (reflectance ~0.1-0.2).
#: At three times these (0.012, 0.010, 0.006, 0.005) the pixel noise raised the published models' deep BatchNorm
#: statistics and their optical transfer fell by 0.04 macro-F1.
SENSORS: dict[str, Sensor] = {
    "L5": Sensor(1995, 2011, 0.004, (30,) * 6, LANDSAT_C2_MAX),
    "L7": Sensor(1999, 2003, 0.003, (30,) * 6, LANDSAT_C2_MAX),  # SLC-off (striped) scenes from mid-2003 on: none
    "L8": Sensor(2013, 2021, 0.002, (30,) * 6, LANDSAT_C2_MAX),
    "S2": Sensor(2016, 2021, 0.0015, (10, 10, 10, 10, 20, 20), SENTINEL2_L2A_MAX),
}


def sensors_of(year: int) -> list[str]:
    """The sensors that acquired scenes in ``year`` (none in 2012)."""
    return [name for name, s in SENSORS.items() if s.first <= year <= s.last]


def finest_sensors(year: int) -> list[str]:
    """The sensors of ``year`` (:func:`sensors_of`) with the finest pixels: Sentinel-2 (10 m) where it flew, as the
    released dataset's 10 m grid is its own, else Landsat (30 m)."""
    options = sensors_of(year)
    finest = min(min(SENSORS[s].native_m) for s in options)
    return [s for s in options if min(SENSORS[s].native_m) == finest]


def optics_blur(image: np.ndarray, sd_px: float) -> np.ndarray:
    """``(rows, cols)`` ``image`` blurred by a point spread function of ``sd_px`` pixels standard deviation: a Gaussian,
    or below 0.7 px, where a sampled Gaussian loses much of its spread (0.35 px sampled has 0.18), the 3-tap kernel
    ``[a, 1 - 2a, a]`` of that variance (``a = sd_px^2 / 2``). Edges repeat the nearest pixel."""
    if sd_px >= 0.7:
        return ndimage.gaussian_filter(image, sd_px, mode="nearest")
    a = sd_px**2 / 2
    kernel = np.array([a, 1 - 2 * a, a])
    return ndimage.correlate1d(ndimage.correlate1d(image, kernel, 0, mode="nearest"), kernel, 1, mode="nearest")


def sensor_view(rng: np.random.Generator, radiance: np.ndarray, sensor: str) -> np.ndarray:
    """What the sensor records of ``(6, n, n)`` reflectance on the 10 m grid.

    Each band is blurred by the optics (:func:`optics_blur`, ``PSF_SD_NATIVE_PX`` native pixels), averaged to its
    native pixel (Landsat 30 m, Sentinel-2 SWIR 20 m), gets the sensor's noise and a per-scene calibration gain, and
    is resampled back to 10 m bilinearly (as ``gdalwarp -r bilinear`` or Earth Engine's ``resample('bilinear')``: with
    30 m pixels repeated as 3 x 3 blocks instead, the BatchNorm statistics of the published models' second scale
    stood 0.05-0.1 sigma (11-band) and 0.15-0.2 sigma (optical) further from the stored ones); then quantised to
    ``QUANTUM`` (as level-2 products) and kept within one quantum (a level-2 value of 0 means no data) and the
    product's largest value (level-2 reflectance exceeds 1 over sunlit snow slopes and bright clouds).
    """
    spec = SENSORS[sensor]
    out = np.empty_like(radiance)
    n = radiance.shape[1]
    gains = 1 + 0.01 * rng.standard_normal(6)
    for b in range(6):
        k = spec.native_m[b] // int(PIXEL_SIZE_M)
        coarse = optics_blur(radiance[b], PSF_SD_NATIVE_PX * k).reshape(n // k, k, n // k, k).mean(axis=(1, 3))
        coarse = coarse * gains[b] + spec.noise_sd * rng.standard_normal(coarse.shape)
        out[b] = ndimage.zoom(coarse, k, order=1, mode="nearest", grid_mode=True) if k > 1 else coarse
    return np.clip(np.round(out, 4), QUANTUM, spec.max_reflectance)
