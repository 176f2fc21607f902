"""Plausibility checks: figures that show a benchmark behaves like real data (class spectra, NDSI and SWIR
separation, dark shadows, balance against snowline and AAR, class order, folds, clean protected classes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from scipy import ndimage
from scipy.special import ndtri
from scipy.stats import binom

from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, NUM_FOLDS, SUNLIT
from dataset_builder.synthetic.facies import CODE
from dataset_builder.synthetic.labels import NOISY_CLASSES
from dataset_builder.synthetic.reflectance import SIGNATURES
from dataset_builder.synthetic.scene import direct_illumination

#: Thresholds of the plausibility checks.
NDSI_THRESHOLD = 0.4  # the usual snow/ice NDSI threshold
SWIR_CLOUD_THRESHOLD = 0.3  # swir1 reflectance separating cloud (above) from snow (below)
NOMINAL_ILLUMINATION = 0.1  # |direct light relative to flat ground - 1| below this counts as flat-lit
#: One-sided significance level of the checks whose outcome depends on the sample size (balance correlations,
#: class order): a small benchmark fails them only when it contradicts real data significantly.
ALPHA = 0.05
#: The weakest correlation of annual balance with the AAR (and, negative, with the snowline anomaly) that counts as
#: realistic: in the study, facies-derived AAR explained WGMS balances with r = 0.63 pooled over all glaciers
#: (Maslov et al., "Automating glacier facies classification: pan-European dataset and deep learning baseline";
#: https://github.com/konstantin-a-maslov/glacier_facies_classification).
MIN_BALANCE_CORRELATION = 0.5
#: Label counts of the real dataset, as (more, fewer) pairs: ice >> snow > debris ~ firn > shadow >> refrozen-like
#: > water ~ cloud.
CLASS_ORDER: tuple[tuple[str, str], ...] = (
    ("ice", "snow"),
    ("snow", "debris"),
    ("snow", "firn"),
    ("debris", "shadow"),
    ("firn", "shadow"),
    ("shadow", "refrozen-like"),
    ("refrozen-like", "water"),
    ("refrozen-like", "cloud"),
)


def weaker_correlation(r: float, n: int, at_least: float = MIN_BALANCE_CORRELATION, alpha: float = ALPHA) -> bool:
    """Whether a Pearson correlation ``r`` of ``n`` pairs is significantly weaker than ``at_least``.

    One-sided test of rho >= ``at_least`` with Fisher's z: arctanh(r) is about normal with mean arctanh(rho) and
    sd 1 / sqrt(n - 3), so the test rejects when the upper confidence bound
    ``tanh(arctanh(r) + z_(1-alpha) / sqrt(n - 3))`` stays below ``at_least``. With few pairs only a much weaker
    correlation rejects; with many, ``r`` itself must come close to ``at_least``. NaN (a constant sample) rejects;
    three pairs or fewer cannot.
    """
    if np.isnan(r):
        return True
    if r >= at_least or n <= 3:
        return False
    return bool(np.arctanh(r) + ndtri(1 - alpha) / np.sqrt(n - 3) < np.arctanh(at_least))


def fewer_significantly(more: int, fewer: int, alpha: float = ALPHA) -> bool:
    """Whether the class expected to have ``more`` labels has significantly fewer than the one expected to have
    ``fewer``: one-sided sign test, ``P(X <= more)`` for X ~ Binomial(more + fewer, 1/2) below ``alpha``."""
    return more + fewer > 0 and float(binom.cdf(more, more + fewer, 0.5)) < alpha


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

    def add(self, bands: np.ndarray, label_map: np.ndarray, surface_map: np.ndarray, illumination: np.ndarray) -> None:
        """Accumulate one scene: ``bands`` (11, n, n) schema order, the truth maps (n, n) uint8, the direct light
        relative to flat ground (n, n) (:func:`.scene.direct_illumination`)."""
        optical = bands[:6].reshape(6, -1).astype(np.float64)
        labels = label_map.ravel()
        pure = ndimage.minimum_filter(label_map, 5) == ndimage.maximum_filter(label_map, 5)
        ok = (labels < len(CLASS_NAMES)) & pure.ravel()
        sunlit = bands[BAND_NAMES.index("shadow_mask")].ravel() == SUNLIT
        nominal = ok & sunlit & (np.abs(illumination.ravel() - 1) < NOMINAL_ILLUMINATION)
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
    balance_years: int  # glacier-years behind both correlations
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
            f"  r(snowline anomaly, balance) {self.snowline_balance_r:.2f}; r(AAR, balance) {self.aar_balance_r:.2f} "
            f"over {self.balance_years} glacier-years (fails if significantly weaker than |r| = "
            f"{MIN_BALANCE_CORRELATION}, one-sided {ALPHA:.0%})",
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
    checks = {
        "signatures": within,
        "ndsi": ndsi_ice > 0.95 and ndsi_debris > 0.95,
        "swir_cloud_snow": swir_cloud > 0.9 and swir_snow > 0.95,
        "shadow_dark": bool(np.all(ratio[:4] < 0.35) and ratio[3] < ratio[0]),
        "snowline_balance": not (weaker_correlation(-r_snowline, len(mb)) or weaker_correlation(r_aar, len(mb))),
        "class_order": not any(fewer_significantly(c[more], c[fewer]) for more, fewer in CLASS_ORDER),
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
        balance_years=len(mb),
        label_counts={k: int(v) for k, v in c.items()},
        noise_rate=round(noise_rate, 4),
        checks=checks,
    )


def check_plausibility(out_dir: str | Path) -> PlausibilityReport:
    """Recompute the plausibility report from a written benchmark (scenes, truth maps, DEMs, tables)."""
    out_dir = Path(out_dir)
    metadata = json.loads((out_dir / "metadata.json").read_text())
    stats = SpectralStats()
    for scene in metadata["scenes"]:
        with rasterio.open(out_dir / "scenes" / f"{scene['scene']}.tif") as src:
            bands = src.read()
        with rasterio.open(out_dir / "truth" / "maps" / f"{scene['scene']}.tif") as src:
            label_map, surface_map = src.read()
        with rasterio.open(out_dir / "dems" / f"{scene['glacier']}.tif") as src:
            illumination = direct_illumination(src.read(1), scene["sun_azimuth"], scene["sun_elevation"])
        stats.add(bands, label_map, surface_map, illumination)
    return evaluate_plausibility(
        stats,
        pd.read_parquet(out_dir / "truth" / "labels.parquet"),
        pd.read_csv(out_dir / "mass_balance.csv"),
        metadata,
    )
