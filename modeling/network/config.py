"""``FaciesCNNConfig``: everything needed to rebuild a FaciesCNN and feed it, as plain JSON.

``config.json`` of a saved model holds exactly ``FaciesCNNConfig.to_dict()``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Self, get_args, get_origin, get_type_hints

from dataset_builder.errors import SchemaError
from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, PATCH_SIZE, canonical_class, check_bands
from dataset_builder.statistics import DatasetStatistics
from modeling.errors import ConfigError

#: Keys of ``FaciesCNNConfig.calibration`` that ``predict`` knows how to apply.
CALIBRATION_KEYS = ("temperature",)
#: Upper bounds of the architecture fields, checked before anything is built: configs come from hub repos.
#: They leave room for models ~100 times the published one (200,072 parameters), no more.
ARCHITECTURE_LIMITS = {"filters": 1024, "depths": 16, "dense_units": 4096, "patch_size": 256}
MAX_DENSE_LAYERS = 8
MAX_PARAMETERS = 20_000_000
#: A ``config.json`` is read only up to this size (the published ones have ~3 kB).
MAX_CONFIG_BYTES = 1 << 20


class JsonOptions:
    """JSON round trip of a dataclass (options, configs, records): the one home of dataclass <-> JSON.

    ``to_dict`` gives JSON-native values (tuples become lists); ``from_dict`` turns lists back into tuples
    for fields typed as tuples, refuses unknown keys and reports missing required ones, naming them.
    Subclasses set ``OPTION_KIND`` (what a key is called in messages) and ``OPTION_ERROR`` (the error raised).
    """

    OPTION_KIND: ClassVar[str] = "option"
    OPTION_ERROR: ClassVar[type[Exception]] = ValueError

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        if not isinstance(data, Mapping):
            raise cls.OPTION_ERROR(f"{cls.__name__} must be read from a JSON object, got {type(data).__name__}")
        fields = dataclasses.fields(cls)
        known = {f.name for f in fields}
        unknown = sorted(set(data) - known)
        if unknown:
            raise cls.OPTION_ERROR(f"unknown {cls.OPTION_KIND}(s) {unknown}; {cls.__name__} knows {sorted(known)}")
        missing = [f.name for f in fields if _required(f) and f.name not in data]
        if missing:
            raise cls.OPTION_ERROR(f"missing {cls.OPTION_KIND}(s) {missing}")
        tuples = _tuple_fields(cls)
        return cls(**{k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items()})


def _required(field: dataclasses.Field) -> bool:
    return field.init and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _tuple_fields(cls: type) -> set[str]:
    """Names of the fields of dataclass ``cls`` typed as a tuple, alone or in a union (``tuple[str, ...] | None``)."""
    hints = get_type_hints(cls)
    return {
        f.name
        for f in dataclasses.fields(cls)
        if any(get_origin(t) is tuple or t is tuple for t in (hints[f.name], *get_args(hints[f.name])))
    }


def _positive_ints(name: str, values: Any, limit: int, length: int | None = None) -> tuple[int, ...]:
    """``values`` as a tuple of integers in [1, ``limit``]; ``length`` entries when given."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"config field {name!r} must be a list of integers, got {values!r}")
    out = tuple(values)
    if not out or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= limit for v in out):
        raise ConfigError(f"config field {name!r} must hold integers from 1 to {limit}, got {_shorten(out)}")
    if length is not None and len(out) != length:
        raise ConfigError(f"config field {name!r} must have {length} entries (one per scale), got {len(out)}")
    return out


def _shorten(values: tuple, keep: int = 8) -> str:
    """``values`` as a list for a message, at most ``keep`` entries shown."""
    return str(list(values)) if len(values) <= keep else f"{list(values[:keep])} ... ({len(values)} entries)"


def mapping_geometry_problem(patch_size: int, pool_size: int) -> str | None:
    """Why whole-scene mapping cannot serve a network of this input and pool size, or None when it can.

    The one home of the crop rule: the patch side must be odd (a centre pixel), between 3 and ``PATCH_SIZE``
    pixels, and a multiple of an odd pool size, so that the pooled grid has a centre cell. Training refuses
    such crops up front, and dense inference refuses such models.
    """
    if not 3 <= patch_size <= PATCH_SIZE or patch_size % 2 == 0 or pool_size % 2 == 0 or patch_size % pool_size:
        return (
            f"the patch side must be an odd multiple of an odd pool size between 3 and {PATCH_SIZE} pixels, "
            f"got patch side {patch_size} with pool size {pool_size}"
        )
    return None


@dataclass(frozen=True)
class FaciesCNNConfig(JsonOptions):
    """Architecture, inputs, outputs and expected normalisation of a FaciesCNN.

    Attributes:
        bands: input band names, in the published order (``dataset_builder.schema.BAND_NAMES``).
        class_names: output classes, in label-code order.
        patch_size: side in pixels of the patches the model was trained on (it runs on any size).
        filters: convolution filters of scale 1 and scale 2.
        depths: number of conv-BN-ELU blocks of scale 1 and scale 2.
        dense_units: units of the hidden dense layers of the head.
        dropout: dropout rate before every dense layer.
        pool_size: side and stride of the max-pool between the scales ("valid" padding), at most ``patch_size``.

    The architecture fields are bounded (``ARCHITECTURE_LIMITS``, ``MAX_DENSE_LAYERS``) and so is the parameter
    count they make (``MAX_PARAMETERS``), so that a config from anywhere is refused before anything is allocated.
        normalization: ``{"min": [...], "max": [...]}`` per band (raw units), or None when unknown.
            ``predict`` maps each band to ``(x - min) / (max - min)``.
        per_glacier_elevation_scaling: the elevation band must first be min-max scaled per glacier
            (0 at the glacier's lowest, 1 at its highest point) before the global scaling.
        provenance: where the weights came from (e.g. source file, sha256, fold, pruning stage), or None.
        training: how the weights were trained (data, folds, recipe), or None.
        calibration: post-hoc calibration applied by ``predict``, e.g. ``{"temperature": 1.7}``, or None.
    """

    OPTION_KIND = "config field"
    OPTION_ERROR = ConfigError

    bands: tuple[str, ...] = BAND_NAMES
    class_names: tuple[str, ...] = CLASS_NAMES
    patch_size: int = PATCH_SIZE
    filters: tuple[int, ...] = (64, 64)
    depths: tuple[int, ...] = (3, 3)
    dense_units: tuple[int, ...] = (32, 32)
    dropout: float = 0.5
    pool_size: int = 3
    normalization: dict[str, list[float]] | None = None
    per_glacier_elevation_scaling: bool = False
    provenance: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    calibration: dict[str, float] | None = None

    def __post_init__(self) -> None:
        def set_(name: str, value: Any) -> None:  # the dataclass is frozen
            object.__setattr__(self, name, value)

        try:
            set_("bands", check_bands(self.bands))
        except SchemaError as err:
            raise ConfigError(f"config field 'bands': {err}") from err
        if not self.bands:
            raise ConfigError("config field 'bands' is empty")
        set_("class_names", self._check_classes(self.class_names))
        limits = ARCHITECTURE_LIMITS
        set_("filters", _positive_ints("filters", self.filters, limits["filters"], 2))
        set_("depths", _positive_ints("depths", self.depths, limits["depths"], 2))
        set_("dense_units", _positive_ints("dense_units", self.dense_units, limits["dense_units"]))
        if len(self.dense_units) > MAX_DENSE_LAYERS:
            raise ConfigError(
                f"config field 'dense_units' has {len(self.dense_units)} layers; at most {MAX_DENSE_LAYERS} are allowed"
            )
        set_("patch_size", _positive_ints("patch_size", [self.patch_size], limits["patch_size"])[0])
        set_("pool_size", _positive_ints("pool_size", [self.pool_size], self.patch_size)[0])
        if self.parameter_count > MAX_PARAMETERS:
            raise ConfigError(
                f"config fields 'filters', 'depths' and 'dense_units' make {self.parameter_count:,} parameters; "
                f"at most {MAX_PARAMETERS:,} are allowed"
            )
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ConfigError(f"config field 'dropout' must be a number in [0, 1), got {self.dropout!r}")
        set_("dropout", float(self.dropout))
        if not isinstance(self.per_glacier_elevation_scaling, bool):
            raise ConfigError(
                f"config field 'per_glacier_elevation_scaling' must be true or false, got {self.per_glacier_elevation_scaling!r}"
            )
        if self.per_glacier_elevation_scaling and "elevation" not in self.bands:
            raise ConfigError(
                "config field 'per_glacier_elevation_scaling' is set but 'elevation' is not among the bands"
            )
        set_("normalization", self._check_normalization(self.normalization))
        set_("calibration", self._check_calibration(self.calibration))
        for name in ("provenance", "training"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(f"config field {name!r} must be an object or null, got {type(value).__name__}")
            set_(name, None if value is None else dict(value))

    @staticmethod
    def _check_classes(names: Any) -> tuple[str, ...]:
        names = tuple(names)
        try:
            unknown = [n for n in names if canonical_class(n) != n]
        except SchemaError as err:
            raise ConfigError(f"config field 'class_names': {err}") from err
        if unknown:
            raise ConfigError(f"config field 'class_names': use the canonical spelling, not {unknown}")
        if len(set(names)) != len(names) or len(names) < 2:
            raise ConfigError(f"config field 'class_names' must name at least two distinct classes, got {list(names)}")
        return names

    def _check_normalization(self, norm: Any) -> dict[str, list[float]] | None:
        if norm is None:
            return None
        if not isinstance(norm, Mapping) or set(norm) != {"min", "max"}:
            raise ConfigError(
                f"config field 'normalization' must be null or an object with keys 'min' and 'max', got {norm!r}"
            )
        lo, hi = (list(norm[k]) for k in ("min", "max"))
        for key, values in (("min", lo), ("max", hi)):
            if len(values) != len(self.bands):
                raise ConfigError(
                    f"config field 'normalization.{key}' has {len(values)} values for {len(self.bands)} bands {list(self.bands)}"
                )
        bad = [b for b, a, z in zip(self.bands, lo, hi) if not (math.isfinite(a) and math.isfinite(z) and z > a)]
        if bad:
            raise ConfigError(f"config field 'normalization': band(s) {bad} need finite min < max")
        return {"min": [float(v) for v in lo], "max": [float(v) for v in hi]}

    @staticmethod
    def _check_calibration(calibration: Any) -> dict[str, float] | None:
        if calibration is None:
            return None
        if not isinstance(calibration, Mapping):
            raise ConfigError(f"config field 'calibration' must be null or an object, got {calibration!r}")
        unknown = sorted(set(calibration) - set(CALIBRATION_KEYS))
        if unknown:
            raise ConfigError(
                f"config field 'calibration' has unknown key(s) {unknown}; known: {list(CALIBRATION_KEYS)}"
            )
        temperature = calibration.get("temperature")
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
            raise ConfigError(f"config field 'calibration.temperature' must be a positive number, got {temperature!r}")
        return {"temperature": float(temperature)}

    @property
    def num_bands(self) -> int:
        return len(self.bands)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def parameter_count(self) -> int:
        """Parameters of the network this config builds, counted as Keras does (with the BatchNorm moving
        statistics: 4 per channel), from the fields alone; 200,072 for the published 11-band model."""
        f1, f2 = self.filters
        convs = [(self.num_bands, f1), *[(f1, f1)] * (self.depths[0] - 1), (f1, f2), *[(f2, f2)] * (self.depths[1] - 1)]
        widths = (f1 + 2 * f2, *self.dense_units, self.num_classes)
        return sum(9 * a * b + 5 * b for a, b in convs) + sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))

    def replace(self, **changes: Any) -> "FaciesCNNConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_statistics(self, statistics: DatasetStatistics) -> "FaciesCNNConfig":
        """A copy whose normalisation is the global per-band min/max of a built dataset's statistics."""
        lo, hi = statistics.minmax(self.bands)
        return self.replace(normalization={"min": lo, "max": hi})


def read_config(path: str | Path) -> FaciesCNNConfig:
    """Strictly read a model's ``config.json``: at most ``MAX_CONFIG_BYTES`` of UTF-8 JSON holding one object
    whose keys are config fields, every value checked by :class:`FaciesCNNConfig`.

    Raises:
        ConfigError: naming the file and what is wrong with it.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes; a FaciesCNN config is at most {MAX_CONFIG_BYTES:,} bytes")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as err:  # not UTF-8, not JSON, too deep, or an integer too long
        raise ConfigError(f"{path}: not a JSON file ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a JSON object of config fields, not a JSON {type(data).__name__}")
    try:
        return FaciesCNNConfig.from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
