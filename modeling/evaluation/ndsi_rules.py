"""A rule-based NDSI threshold classifier of the centre pixel: the simplest baseline of the leaderboard.

Thresholds sit halfway between the class signatures published with the study (reflectance 0-1; Maslov et al.,
"Automating glacier facies classification: pan-European dataset and deep learning baseline", code at
https://github.com/konstantin-a-maslov/glacier_facies_classification):
cloud is bright in SWIR unlike snow; water is dark in NIR with a positive NDWI; debris has a low
NDSI; among the snow-like surfaces the blue reflectance orders snow > firn > refrozen-like > ice;
cast terrain shadow comes from the shadow mask or a dark NIR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, OPTICAL_BANDS


@dataclass(frozen=True)
class NDSIRules:
    """Thresholds of the rules (reflectance 0-1 unless said otherwise)."""

    cloud_swir1: float = 0.35  # cloud 0.50, snow 0.10, debris 0.22
    cloud_blue: float = 0.5
    shadow_nir: float = 0.09  # shadowed surfaces: ~0.1-0.25 of their sunlit NIR
    water_ndwi: float = 0.3  # (green - nir) / (green + nir): water 0.5, ice 0.3 -> ice must also be brighter
    water_blue: float = 0.3
    debris_ndsi: float = 0.4  # (green - swir1) / (green + swir1): debris -0.3, snow-like > 0.8
    snow_blue: float = 0.775  # snow 0.90 | firn 0.65
    firn_blue: float = 0.60  # firn 0.65 | refrozen-like 0.55
    refrozen_blue: float = 0.50  # refrozen-like 0.55 | ice 0.45

    def predict(self, patches: np.ndarray, bands: tuple[str, ...] = BAND_NAMES) -> np.ndarray:
        """Class codes (N,) from the centre pixels of raw patches (N, bands, H, W)."""
        missing = [b for b in OPTICAL_BANDS if b not in bands]
        if missing:
            raise ValueError(f"the NDSI rules need the optical bands; missing {missing}")
        h, w = patches.shape[-2:]
        centre = patches[:, :, h // 2, w // 2].astype(np.float64)
        band = {name: centre[:, bands.index(name)] for name in bands}
        blue, green, nir, swir1 = band["blue"], band["green"], band["nir"], band["swir1"]
        ndsi = (green - swir1) / np.maximum(green + swir1, 1e-6)
        ndwi = (green - nir) / np.maximum(green + nir, 1e-6)
        sunlit = band["shadow_mask"] >= 0.5 if "shadow_mask" in band else np.ones(len(centre), bool)  # 1 = sunlit
        in_cast_shadow = ~sunlit
        water = (ndwi > self.water_ndwi) & (blue < self.water_blue) & ~in_cast_shadow
        shadow = in_cast_shadow | ((nir < self.shadow_nir) & ~water)
        code = {name: i for i, name in enumerate(CLASS_NAMES)}
        out = np.full(len(centre), code["ice"], dtype=np.int64)
        out[blue >= self.refrozen_blue] = code["refrozen-like"]
        out[blue >= self.firn_blue] = code["firn"]
        out[blue >= self.snow_blue] = code["snow"]
        out[ndsi < self.debris_ndsi] = code["debris"]
        out[water] = code["water"]
        out[shadow] = code["shadow"]
        out[(swir1 > self.cloud_swir1) & (blue > self.cloud_blue)] = code["cloud"]
        return out
