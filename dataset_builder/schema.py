"""The vocabulary of the glacier facies benchmark: classes, bands, patch size, folds, row features.

Every other module takes these names from here; nothing else spells them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from dataset_builder.errors import SchemaError

if TYPE_CHECKING:
    from datasets import Features

#: The 8 classes in the published index order (index = label code).
CLASS_NAMES: tuple[str, ...] = (
    "ice",
    "snow",
    "debris",
    "firn",
    "shadow",
    "refrozen-like",
    "water",
    "cloud",
)
NUM_CLASSES = len(CLASS_NAMES)
#: The five glacier surface facies (the ones pruning may relabel).
FACIES_CLASSES: tuple[str, ...] = ("ice", "snow", "debris", "firn", "refrozen-like")
#: The miscellaneous classes, which the published pruning assumes correct and never prunes.
PROTECTED_CLASSES: tuple[str, ...] = ("shadow", "water", "cloud")
#: Spellings of the released data and earlier versions, mapped to the canonical names.
CLASS_ALIASES: dict[str, str] = {
    "refrozen_like": "refrozen-like",
    "refrozen": "refrozen-like",
    "superimposed-ice": "refrozen-like",
    "superimposed_ice": "refrozen-like",
    "superimposed": "refrozen-like",
}


@dataclass(frozen=True)
class Band:
    """One input band: its name as in the released data, its unit, what it holds, and the values it can take."""

    name: str
    unit: str
    description: str
    #: (low, high): stored values outside are physically impossible for the band (a nodata sentinel such as -9999 or
    #: 3e38 not declared as nodata, scaled integers, wrong units) and refused. Generous on purpose: reflectance allows
    #: for atmospheric over-correction (Landsat C2 L2 reaches -0.2) and saturated pixels (Sentinel-2 L2A up to ~6.5).
    plausible: tuple[float, float]


_REFLECTANCE = (-1.0, 10.0)
#: The 11 bands of the released patches, in order, in the released data's conventions. Those of the auxiliary
#: bands are inferred from the authors' inference code (``apply.py``) and the BatchNorm statistics of their published
#: weights (``modeling.evaluation.realism``); README "Band conventions" gives the evidence for each.
BANDS: tuple[Band, ...] = (
    Band("blue", "reflectance", "surface reflectance, blue (bright snow and clouds may exceed 1)", _REFLECTANCE),
    Band("green", "reflectance", "surface reflectance, green", _REFLECTANCE),
    Band("red", "reflectance", "surface reflectance, red", _REFLECTANCE),
    Band("nir", "reflectance", "surface reflectance, near infrared", _REFLECTANCE),
    Band("swir1", "reflectance", "surface reflectance, shortwave infrared 1 (~1.6 um)", _REFLECTANCE),
    Band("swir2", "reflectance", "surface reflectance, shortwave infrared 2 (~2.2 um)", _REFLECTANCE),
    Band(
        "elevation",
        "0-1 per glacier",
        "DEM elevation min-max scaled over the glacier's outline: 0 at its lowest, 1 at its highest point "
        "(beyond the glacier below 0 or above 1; elevations in metres are refused)",
        (-20.0, 20.0),
    ),
    Band("slope", "degrees", "terrain slope from the DEM (0 flat, 90 vertical)", (0.0, 90.0)),
    Band(
        "shadow_mask",
        "0/1",
        "1 where the pixel is sunlit, 0 where it lies in cast terrain shadow at acquisition",
        (0.0, 1.0),
    ),
    Band(
        "hillshade",
        "0-1",
        "combined shading (gdaldem hillshade -combined) for the scene's sun: 1 - incidence angle x slope / "
        "(pi/2)^2 (radians), clipped at 0; 1 on flat ground",
        (0.0, 1.0),
    ),
    Band(
        "proximity",
        "0-1",
        "distance to the glacier outline divided by its largest value over the scene raster",
        (0.0, 1.0),
    ),
)
BAND_NAMES: tuple[str, ...] = tuple(b.name for b in BANDS)
OPTICAL_BANDS: tuple[str, ...] = BAND_NAMES[:6]
NUM_BANDS = len(BANDS)
BANDS_BY_NAME: dict[str, Band] = {b.name: b for b in BANDS}
#: Values of the shadow_mask band: the released data's polarity (1 = lit), the opposite of a "shadow = 1" mask.
SUNLIT, CAST_SHADOW = 1, 0

#: Side of a labelled patch in pixels (10 m grid), centred on the labelled point.
PATCH_SIZE = 33
#: Pixel size of the benchmark grid in metres.
PIXEL_SIZE_M = 10.0
#: Class-code value of facies and truth maps where nothing was classified or labelled (uint8 rasters).
MAP_NODATA = 255
#: Class-code value of facies maps on glacier pixels that the product's own quality masks hide (cloud, cloud
#: shadow, cirrus, saturated or defective): unobserved, not classified.
MAP_UNOBSERVED = 254
#: Cross-validation folds (split by glacier).
NUM_FOLDS = 6
SPLIT_NAMES: tuple[str, ...] = tuple(f"fold_{k}" for k in range(NUM_FOLDS))


def canonical_class(name: str) -> str:
    """Return the canonical class name for ``name`` (case-insensitive, known aliases accepted).

    Raises:
        SchemaError: for a name that is not one of the 8 classes.
    """
    key = str(name).strip().lower()
    key = CLASS_ALIASES.get(key, key)
    if key not in CLASS_NAMES:
        raise SchemaError(f"unknown class {name!r}; expected one of {', '.join(CLASS_NAMES)}")
    return key


def class_index(name: str) -> int:
    """Label code (0-7) of a class name."""
    return CLASS_NAMES.index(canonical_class(name))


def check_bands(bands: Sequence[str]) -> tuple[str, ...]:
    """Validate a band selection: known names, no repeats, in the published order.

    Returns:
        The names as a tuple.
    """
    bands = tuple(bands)
    unknown = [b for b in bands if b not in BANDS_BY_NAME]
    if unknown:
        raise SchemaError(f"unknown band(s) {unknown}; expected names from {', '.join(BAND_NAMES)}")
    if len(set(bands)) != len(bands):
        raise SchemaError(f"band selection {bands} repeats a band")
    order = [BAND_NAMES.index(b) for b in bands]
    if order != sorted(order):
        raise SchemaError(f"bands {bands} are not in the published order {BAND_NAMES}")
    return bands


def check_fold(fold: int | str) -> int:
    """Validate a cross-validation fold number (0-5)."""
    text = str(fold).strip()
    if isinstance(fold, bool) or not text.isdigit() or not 0 <= int(text) < NUM_FOLDS:
        raise SchemaError(f"fold {fold!r} is not one of 0-{NUM_FOLDS - 1}")
    return int(text)


@dataclass(frozen=True)
class CVSplit:
    """The published cross-validation protocol for one test fold."""

    test: int
    validation: int
    train: tuple[int, ...]

    @property
    def split_names(self) -> dict[str, list[str]]:
        """Hugging Face split names per role."""
        return {
            "train": [SPLIT_NAMES[k] for k in self.train],
            "validation": [SPLIT_NAMES[self.validation]],
            "test": [SPLIT_NAMES[self.test]],
        }


def cv_split(test_fold: int) -> CVSplit:
    """Folds for test fold ``t``: test = t, validation = t-1 (mod 6), train = the other four."""
    t = check_fold(test_fold)
    v = (t - 1) % NUM_FOLDS
    return CVSplit(test=t, validation=v, train=tuple(k for k in range(NUM_FOLDS) if k not in (t, v)))


def make_features(bands: Sequence[str] = BAND_NAMES, dtype: str = "float32", patch_size: int = PATCH_SIZE) -> Features:
    """Hugging Face ``Features`` of one dataset row.

    Args:
        bands: band names in the patch, in order (the released data has all 11).
        dtype: numpy dtype name of the patch values, as in the source (kept lossless).
        patch_size: side of the square patch in pixels.
    """
    from datasets import Array3D, ClassLabel, Features, Value  # lazy: keeps reader worker processes light

    bands = check_bands(bands)
    return Features(
        {
            "sample_id": Value("string"),
            "patch": Array3D(shape=(len(bands), patch_size, patch_size), dtype=dtype),
            "label": ClassLabel(names=list(CLASS_NAMES)),
            "fold": Value("int8"),
            "glacier": Value("string"),
            "date": Value("string"),
            "scene": Value("string"),
            "sensor": Value("string"),
            "x": Value("float64"),
            "y": Value("float64"),
            "crs": Value("string"),
            "padded": Value("bool"),
            "label_issue": Value("bool"),
            "label_quality": Value("float32"),
        }
    )


#: Column names of a row, in the order of :func:`make_features`.
COLUMNS: tuple[str, ...] = (
    "sample_id",
    "patch",
    "label",
    "fold",
    "glacier",
    "date",
    "scene",
    "sensor",
    "x",
    "y",
    "crs",
    "padded",
    "label_issue",
    "label_quality",
)
