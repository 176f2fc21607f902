"""Facies to mass balance: accumulation-area ratios from facies maps regressed against annual balances.

The chain, one function per step (:func:`run` strings them together and writes the outputs):

1. :func:`aar_from_maps` - one row per glacier and scene: pixel counts over the glacier outline and
   accumulation-area-like ratios (AAR) for several class sets, counted over the *observed* glacier
   area (not cloud, shadow or nodata), with the unobserved share beside them.
2. :func:`select_end_of_season` - drops scenes outside the ablation season or seen too poorly, and
   keeps one scene per glacier and balance year (the latest by default).
3. :func:`read_mb_table` / :func:`match_records` - a WGMS-like table (glacier id and/or name, year,
   annual balance in mm w.e.), matched to the glaciers by WGMS id, name or glacier id and balance year.
4. :func:`fit_pooled`, :func:`fit_glacier_specific` (one line per glacier, or a shared slope with
   glacier offsets) and :func:`cross_validation` (leave one glacier out for the pooled fit, leave one
   year out for glacier-specific ones), scored by :func:`score`.
5. :func:`plot_scatter`, :func:`plot_timeseries`, :func:`write_results`.

Balances are in m w.e. from :func:`read_mb_table` on; slopes are m w.e. per unit AAR.

Balance year: the balance year ends with the ablation season, by default on 31 October (see
:class:`SeasonRule`). A scene dated after the end month belongs to the next balance year; only
scenes from the start month (default July) to the end month count as end-of-season scenes. WGMS
fixed-date hydrological years end on 30 September in the Northern Hemisphere; end-of-summer
snowlines seen in early October still belong to the ending year, hence the October default.

Problems in the inputs (unknown glaciers, duplicate records, years without scenes, scenes without
records, poorly observed scenes) are reported as :class:`MassBalanceWarning` and the rest is used;
only inputs that cannot be read or interpreted (e.g. balances that look like m w.e. when mm w.e. was
declared) raise :class:`MassBalanceInputError`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import rasterio  # noqa: E402
import rasterio.features  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from scipy import stats  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from dataset_builder.atomic import atomic_path, atomic_write_text  # noqa: E402
from dataset_builder.outlines import Outlines, read_outlines
from dataset_builder.quicklook import save_figure  # noqa: E402
from dataset_builder.schema import CLASS_NAMES, canonical_class  # noqa: E402
from modeling.errors import MassBalanceInputError

RESULTS_SCHEMA_VERSION = 1
#: Accumulation-area-like class sets: name -> classes counted as accumulation area.
ACCUMULATION_SETS: dict[str, tuple[str, ...]] = {
    "snow": ("snow",),
    "snow_firn": ("snow", "firn"),
    "snow_firn_refrozen": ("snow", "firn", "refrozen-like"),
}
#: The class set of the synthetic benchmark's generating model (and the default predictor).
DEFAULT_PREDICTOR = "snow_firn_refrozen"
#: Classes that hide the surface: their pixels count as unobserved glacier area.
HIDING_CLASSES: tuple[str, ...] = ("shadow", "cloud")
NODATA = 255
#: Regression models: one line for all glaciers, one per glacier, one shared slope with glacier offsets.
MODELS: tuple[str, ...] = ("pooled", "glacier_specific", "glacier_offsets")
#: Key of the shared slope/intercept in :attr:`Fit.slope` and :attr:`Fit.intercept`.
ALL_GLACIERS = "*"
#: Scene selection rules per glacier and balance year.
SELECTION_RULES: tuple[str, ...] = ("latest", "best_observed")
#: Accepted spellings of the mass-balance table columns (case-insensitive), first match wins.
MB_COLUMNS: dict[str, tuple[str, ...]] = {
    "wgms_id": ("WGMS_ID", "GLACIER_ID"),
    "name": ("NAME", "GLACIER_NAME"),
    "year": ("YEAR",),
    "balance": ("ANNUAL_BALANCE",),
}
#: WGMS code of the whole-glacier row in LOWER_BOUND / UPPER_BOUND (other rows are elevation bands).
WGMS_WHOLE_GLACIER = 9999
_TRUTH_NAME = re.compile(r"^(?P<glacier>.+)_(?P<date>\d{8})$")


class MassBalanceWarning(UserWarning):
    """A part of the input that is left out (the rest is used)."""


def _warn(message: str) -> None:
    warnings.warn(message, MassBalanceWarning, stacklevel=3)


# -- balance year --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeasonRule:
    """The end of the ablation season and its balance year (Northern Hemisphere defaults).

    Attributes:
        start_month: first month (1-12) whose scenes count as end-of-season scenes.
        end_month: last month of the ablation season; the balance year ends with it.
    """

    start_month: int = 7
    end_month: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.start_month <= self.end_month <= 12:
            raise ValueError(f"need 1 <= start_month <= end_month <= 12, got {self.start_month}, {self.end_month}")

    def balance_year(self, date: dt.date) -> int:
        """The balance year of a scene date: its calendar year, or the next one after ``end_month``."""
        return date.year + int(date.month > self.end_month)

    def in_season(self, date: dt.date) -> bool:
        """Whether a scene date lies in the end-of-season window (``start_month``-``end_month``)."""
        return self.start_month <= date.month <= self.end_month


# -- maps -> AAR per glacier and scene -----------------------------------------------------------------


@dataclass(frozen=True)
class MapFile:
    """One map to read: a ``map_scene.py`` facies map or a synthetic truth map.

    Attributes:
        path: the GeoTIFF.
        kind: ``"facies"`` (tags GLACIER or GLACIERS, DATE, SENSOR) or ``"truth"`` (``{glacier}_{YYYYMMDD}.tif``).
        scene: scene name (file stem without ``_facies``).
        glaciers: glacier ids on the map.
        date: acquisition date.
        sensor: sensor tag ('' where unknown).
        band: band (1-based) holding the class codes.
    """

    path: Path
    kind: str
    scene: str
    glaciers: tuple[str, ...]
    date: dt.date
    sensor: str
    band: int


def find_maps(sources: str | Path | Iterable[str | Path], *, truth_band: int = 1) -> list[MapFile]:
    """Identify the maps in folders (``*.tif`` inside) and/or files; other files are warned about and skipped.

    A file with a GLACIER or GLACIERS tag is a facies map (band 1, DATE tag required); one without
    such tags named ``{glacier}_{YYYYMMDD}.tif`` is a truth map, read at ``truth_band`` (1 = the
    label class with shadow and cloud, 2 = the surface facies under them).
    """
    if truth_band not in (1, 2):
        raise ValueError(f"truth_band must be 1 (label class) or 2 (surface facies), got {truth_band}")
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    paths: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            paths.extend(sorted(source.glob("*.tif")))
        elif source.is_file():
            paths.append(source)
        else:
            raise MassBalanceInputError(f"{source}: no such file or folder")
    maps = [m for m in map(lambda p: _identify(p, truth_band), paths) if m is not None]
    if not maps:
        raise MassBalanceInputError(f"no facies or truth maps in {', '.join(map(str, sources))}")
    return maps


def _identify(path: Path, truth_band: int) -> MapFile | None:
    try:
        with rasterio.open(path) as src:
            tags, count = src.tags(), src.count
    except rasterio.errors.RasterioIOError as err:
        _warn(f"{path}: not a readable raster, skipped ({err})")
        return None
    glaciers = tags.get("GLACIERS") or tags.get("GLACIER")
    if glaciers:
        try:
            date = dt.date.fromisoformat(tags.get("DATE", ""))
        except ValueError:
            _warn(f"{path}: facies map without a valid DATE tag (YYYY-MM-DD), skipped")
            return None
        scene = path.stem.removesuffix("_facies")
        names = tuple(g.strip() for g in glaciers.split(",") if g.strip())
        return MapFile(path, "facies", scene, names, date, tags.get("SENSOR", ""), 1)
    match = _TRUTH_NAME.match(path.stem)
    if match:
        try:
            date = dt.datetime.strptime(match["date"], "%Y%m%d").date()
        except ValueError:
            match = None
    if not match:
        _warn(
            f"{path}: neither a facies map (tags GLACIER/GLACIERS, DATE) nor a truth map ({{glacier}}_{{YYYYMMDD}}.tif), skipped"
        )
        return None
    if count < truth_band:
        _warn(f"{path}: truth map with {count} band(s), band {truth_band} requested, skipped")
        return None
    return MapFile(path, "truth", path.stem, (match["glacier"],), date, tags.get("SENSOR", ""), truth_band)


def _class_codes(classes: Iterable[str]) -> list[int]:
    return [CLASS_NAMES.index(canonical_class(c)) for c in classes]


def _check_class_sets(class_sets: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
    codes = {}
    for name, classes in class_sets.items():
        hidden = [c for c in classes if canonical_class(c) in HIDING_CLASSES]
        if hidden or not classes:
            raise ValueError(
                f"class set {name!r} must name facies, not hiding classes {HIDING_CLASSES}: {list(classes)}"
            )
        codes[name] = _class_codes(classes)
    return codes


def aar_from_maps(
    maps: str | Path | Iterable[str | Path] | Sequence[MapFile],
    *,
    outlines: Outlines | None = None,
    class_sets: Mapping[str, Sequence[str]] = ACCUMULATION_SETS,
    truth_band: int = 1,
    season: SeasonRule = SeasonRule(),
    progress: bool = False,
) -> pd.DataFrame:
    """Observed accumulation-area ratios per glacier and scene.

    The glacier area is the rasterised outline (pixel centres inside) when ``outlines`` are given,
    else the map's pixels holding a class other than water. Observed area = glacier pixels whose
    class is neither shadow, cloud nor nodata (255). ``aar_{set}`` = accumulation pixels / observed
    pixels (NaN when nothing is observed).

    Args:
        maps: folders, files, or :class:`MapFile` items from :func:`find_maps`.
        outlines: glacier outlines; needed for maps covering several glaciers.
        class_sets: set name -> accumulation classes (default :data:`ACCUMULATION_SETS`).
        truth_band: band of truth maps (see :func:`find_maps`).
        season: balance-year rule.
        progress: show a progress bar over maps.

    Returns:
        One row per glacier and scene: glacier, scene, date (YYYY-MM-DD), balance_year, in_season,
        sensor, kind, path, glacier_px, observed_px, unobserved_share (0-1), ``aar_{set}`` (0-1).
    """
    set_codes = _check_class_sets(class_sets)
    hiding = _class_codes(HIDING_CLASSES) + [NODATA]
    maps = [maps] if isinstance(maps, (str, Path)) else list(maps)
    items = maps if all(isinstance(m, MapFile) for m in maps) else find_maps(maps, truth_band=truth_band)
    known = set(outlines.ids) if outlines else None
    rows, seen = [], {}
    for item in tqdm(items, desc="maps", disable=not progress):
        glaciers = [g for g in item.glaciers if _known_glacier(g, item, known)]
        if not glaciers:
            continue
        if outlines is None and len(item.glaciers) > 1:
            _warn(f"{item.path}: map of {len(item.glaciers)} glaciers needs outlines to split it, skipped")
            continue
        with rasterio.open(item.path) as src:
            codes = src.read(item.band)
            masks = (
                outlines.masks(glaciers, src.crs, src.transform, codes.shape)
                if outlines
                else {glaciers[0]: (codes != NODATA) & (codes != CLASS_NAMES.index("water"))}
            )
        for glacier, mask in masks.items():
            key = (glacier, item.date)
            if key in seen:
                _warn(f"{item.path}: {glacier} on {item.date} already read from {seen[key]}, skipped")
                continue
            seen[key] = item.path
            counts = np.bincount(codes[mask], minlength=NODATA + 1)
            glacier_px = int(mask.sum())
            observed = glacier_px - int(counts[hiding].sum())
            row = dict(
                glacier=glacier,
                scene=item.scene,
                date=item.date.isoformat(),
                balance_year=season.balance_year(item.date),
                in_season=season.in_season(item.date),
                sensor=item.sensor,
                kind=item.kind,
                path=str(item.path),
                glacier_px=glacier_px,
                observed_px=observed,
                unobserved_share=1.0 - observed / glacier_px if glacier_px else 1.0,
            )
            for name, acc in set_codes.items():
                row[f"aar_{name}"] = counts[acc].sum() / observed if observed else math.nan
            rows.append(row)
    if not rows:
        raise MassBalanceInputError("no glacier could be read from the maps (see the warnings)")
    return pd.DataFrame(rows)


def _known_glacier(glacier: str, item: MapFile, known: set[str] | None) -> bool:
    if known is None or glacier in known:
        return True
    _warn(f"{item.path}: unknown glacier {glacier!r} (not in the outlines' id column), skipped")
    return False


def select_end_of_season(scenes: pd.DataFrame, *, max_unobserved: float = 0.5, rule: str = "latest") -> pd.DataFrame:
    """Choose one scene per glacier and balance year.

    Scenes outside the season window and scenes whose unobserved share exceeds ``max_unobserved``
    are dropped first; of the rest, ``rule="latest"`` keeps the latest date (end of the ablation
    season), ``"best_observed"`` the smallest unobserved share (ties: the latest).

    Args:
        scenes: the table of :func:`aar_from_maps`.
        max_unobserved: largest share (0-1) of the glacier hidden by cloud, shadow or nodata.
        rule: one of :data:`SELECTION_RULES`.

    Returns:
        ``scenes`` with a ``status`` column: ``"selected"`` or why the row was not.
    """
    if rule not in SELECTION_RULES:
        raise ValueError(f"unknown selection rule {rule!r}; expected one of {', '.join(SELECTION_RULES)}")
    if not 0 <= max_unobserved <= 1:
        raise ValueError(f"max_unobserved must be within 0-1, got {max_unobserved}")
    out = scenes.copy()
    out["status"] = "selected"
    out.loc[~out["in_season"], "status"] = "out of season"
    poor = out["in_season"] & (out["unobserved_share"] > max_unobserved)
    out.loc[poor, "status"] = [
        f"unobserved share {v:.2f} > {max_unobserved:.2f}" for v in out.loc[poor, "unobserved_share"]
    ]
    for status, what in (
        ("out of season", "outside the season window"),
        ("unobserved share", f"more than {max_unobserved:.0%} unobserved"),
    ):
        dropped = out.loc[out["status"].str.startswith(status)]
        if len(dropped):
            _warn(
                f"{len(dropped)} glacier-scene(s) {what}, not used: "
                + ", ".join(f"{g} {d}" for g, d in zip(dropped["glacier"], dropped["date"]))
            )
    candidates = out[out["status"] == "selected"]
    order = ["date"] if rule == "latest" else ["unobserved_share", "date"]
    ascending = [True] if rule == "latest" else [False, True]
    best = candidates.sort_values(order, ascending=ascending).groupby(["glacier", "balance_year"]).tail(1)
    kept = best.set_index(["glacier", "balance_year"])["date"]
    superseded = candidates.drop(best.index)
    out.loc[superseded.index, "status"] = [
        f"superseded by {kept[key]}" for key in zip(superseded["glacier"], superseded["balance_year"])
    ]
    return out


# -- mass-balance records ------------------------------------------------------------------------------


def _normal_name(name: Any) -> str:
    return re.sub(r"[^0-9a-z]+", " ", str(name).casefold()).strip()


def read_mb_table(source: str | Path | pd.DataFrame, *, units: str = "mm") -> pd.DataFrame:
    """Read a mass-balance table in the layout of the WGMS public tables.

    Columns (case-insensitive; others ignored): WGMS_ID and/or NAME, YEAR, ANNUAL_BALANCE. When
    LOWER_BOUND and UPPER_BOUND are present only whole-glacier rows (9999) are kept. Identical
    duplicates (same glacier and year) are collapsed; conflicting ones are dropped, with a warning.

    Args:
        source: CSV path or a DataFrame.
        units: ``"mm"`` (WGMS: mm w.e.) or ``"m"`` for m w.e.; a table whose values do not look
            like the declared unit (median |balance| below 10 means m w.e.) is refused.

    Returns:
        Columns wgms_id (Int64, missing where absent), name, key (the glacier key used for
        duplicates), year (int), balance (float, m w.e.).
    """
    if units not in ("mm", "m"):
        raise ValueError(f"units must be 'mm' or 'm', got {units!r}")
    if isinstance(source, pd.DataFrame):
        raw = source
    else:
        try:
            raw = pd.read_csv(source)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise MassBalanceInputError(f"{source}: not a readable CSV table ({err})") from None
    upper = {str(c).upper(): c for c in raw.columns}
    found = {key: next((upper[a] for a in aliases if a in upper), None) for key, aliases in MB_COLUMNS.items()}
    missing = [MB_COLUMNS[k][0] for k in ("year", "balance") if found[k] is None]
    if found["wgms_id"] is None and found["name"] is None:
        missing.append("WGMS_ID or NAME")
    if missing:
        raise MassBalanceInputError(
            f"mass-balance table lacks column(s) {', '.join(missing)}; columns are {', '.join(map(str, raw.columns))}"
        )
    if {"LOWER_BOUND", "UPPER_BOUND"} <= set(upper):
        whole = (pd.to_numeric(raw[upper["LOWER_BOUND"]], errors="coerce") == WGMS_WHOLE_GLACIER) & (
            pd.to_numeric(raw[upper["UPPER_BOUND"]], errors="coerce") == WGMS_WHOLE_GLACIER
        )
        if (~whole).any():
            _warn(
                f"{int((~whole).sum())} elevation-band row(s) (LOWER_BOUND/UPPER_BOUND not {WGMS_WHOLE_GLACIER}) ignored"
            )
        raw = raw[whole]
    table = pd.DataFrame(
        {
            "wgms_id": pd.to_numeric(raw[found["wgms_id"]], errors="coerce").astype("Int64")
            if found["wgms_id"]
            else pd.array([pd.NA] * len(raw), "Int64"),
            "name": raw[found["name"]].fillna("").astype(str).str.strip().to_numpy() if found["name"] else "",
            "year": pd.to_numeric(raw[found["year"]], errors="coerce"),
            "balance": pd.to_numeric(raw[found["balance"]], errors="coerce"),
        }
    )
    bad = (
        table["year"].isna()
        | table["balance"].isna()
        | (table["year"] % 1 != 0)
        | (table["wgms_id"].isna() & (table["name"] == ""))
    ).to_numpy()
    if bad.any():
        _warn(f"{int(bad.sum())} record(s) without a valid glacier id or name, YEAR or ANNUAL_BALANCE ignored")
        table = table[~bad]
    if table.empty:
        raise MassBalanceInputError("mass-balance table holds no usable record")
    _check_units(table["balance"].to_numpy(), units)
    table["year"] = table["year"].astype(int)
    table["balance"] = table["balance"] / (1000.0 if units == "mm" else 1.0)
    table["key"] = [
        f"wgms {w}" if pd.notna(w) else f"name {_normal_name(n)}" for w, n in zip(table["wgms_id"], table["name"])
    ]
    return _drop_duplicates(table).reset_index(drop=True)


def _check_units(balance: np.ndarray, units: str) -> None:
    median = float(np.median(np.abs(balance)))
    if units == "mm" and median < 10:
        raise MassBalanceInputError(
            f"ANNUAL_BALANCE looks like m w.e. (median |balance| {median:.3g}); WGMS tables give mm w.e. "
            "- convert the table, or declare m w.e. (units='m', --units m)"
        )
    if units == "m" and median >= 10:
        raise MassBalanceInputError(
            f"ANNUAL_BALANCE declared m w.e. but looks like mm w.e. (median |balance| {median:.3g})"
        )


def _drop_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    groups = table.groupby(["key", "year"])["balance"]
    size, spread = groups.transform("size"), groups.transform("nunique")
    if (size > 1).any():
        same = table[(size > 1) & (spread == 1)]
        conflicting = table[spread > 1]
        if len(same):
            _warn(
                f"{len(same)} duplicate record(s) with identical balances collapsed: "
                + ", ".join(sorted({f"{k} {y}" for k, y in zip(same["key"], same["year"])}))
            )
        if len(conflicting):
            _warn(
                f"{len(conflicting)} duplicate record(s) with different balances dropped: "
                + ", ".join(
                    f"{k} {y} {b:+.0f}"
                    for k, y, b in zip(conflicting["key"], conflicting["year"], conflicting["balance"] * 1000)
                )
                + " (mm w.e.)"
            )
    return table[spread == 1].drop_duplicates(["key", "year"])


def match_records(selected: pd.DataFrame, records: pd.DataFrame, *, outlines: Outlines | None = None) -> pd.DataFrame:
    """Join the selected scenes to the mass-balance records by glacier and balance year.

    A record's glacier is found by its WGMS id, then its name, in the outlines (``wgms_id``,
    ``name`` columns), then by its name equal to a glacier id. Records of unknown glaciers,
    records of years without a selected scene, selected scenes without a record and records that
    reach the same glacier-year by different keys (checked as in :func:`read_mb_table`) are warned
    about and left out.

    Args:
        selected: :func:`select_end_of_season` output (rows with status ``"selected"`` are used).
        records: :func:`read_mb_table` output.
        outlines: the glacier registry; without it names are matched to the map glacier ids.

    Returns:
        One row per glacier-year: the selected scene's columns, ``year`` and ``balance`` (m w.e.).
    """
    scenes = selected[selected["status"] == "selected"]
    ids = outlines.ids if outlines else tuple(sorted(set(selected["glacier"])))
    by_wgms = {w: g for w, g in zip(outlines.wgms_ids, ids) if w >= 0} if outlines else {}
    by_name = {_normal_name(g): g for g in ids}
    if outlines:
        by_name.update({_normal_name(n): g for n, g in zip(outlines.names, ids) if n})
    glacier = [
        by_wgms.get(int(w)) if pd.notna(w) and int(w) in by_wgms else by_name.get(_normal_name(n))
        for w, n in zip(records["wgms_id"], records["name"])
    ]
    records = records.assign(glacier=glacier)
    unknown = records[records["glacier"].isna()]
    if len(unknown):
        _warn(f"{len(unknown)} record(s) of unknown glaciers ignored: {', '.join(sorted(set(unknown['key'])))}")
    records = _drop_duplicates(
        records.dropna(subset=["glacier"]).assign(key=lambda r: "glacier " + r["glacier"])
    )  # matched by id and by name
    joined = scenes.merge(
        records[["glacier", "year", "balance"]],
        left_on=["glacier", "balance_year"],
        right_on=["glacier", "year"],
        how="outer",
        indicator=True,
    )
    without_scene = joined[joined["_merge"] == "right_only"]
    if len(without_scene):
        _warn(
            f"{len(without_scene)} record(s) in years without a usable scene: "
            + ", ".join(f"{g} {int(y)}" for g, y in zip(without_scene["glacier"], without_scene["year"]))
        )
    without_record = joined[joined["_merge"] == "left_only"]
    if len(without_record):
        _warn(
            f"{len(without_record)} selected scene(s) without a mass-balance record: "
            + ", ".join(f"{g} {int(y)}" for g, y in zip(without_record["glacier"], without_record["balance_year"]))
        )
    both = joined[joined["_merge"] == "both"].drop(columns=["_merge", "status"])
    return both.assign(year=both["year"].astype(int)).sort_values(["glacier", "year"]).reset_index(drop=True)


# -- regressions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A fitted value with its two-sided confidence interval (NaN where undefined)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Fit:
    """Fitted lines: balance (m w.e.) = intercept + slope * AAR.

    Attributes:
        model: one of :data:`MODELS`.
        predictor: the class set name.
        slope: glacier (or :data:`ALL_GLACIERS` when shared) -> slope, m w.e. per unit AAR.
        intercept: glacier (or :data:`ALL_GLACIERS`) -> intercept, m w.e.
        n: records used.
    """

    model: str
    predictor: str
    slope: dict[str, Estimate]
    intercept: dict[str, Estimate]
    n: int

    def predict(self, glaciers: Sequence[str], aar: np.ndarray) -> np.ndarray:
        """``(n,)`` balances in m w.e. for glaciers and AARs; NaN for glaciers the fit does not cover."""

        def value(table: dict[str, Estimate], glacier: str) -> float:
            return table.get(glacier, table.get(ALL_GLACIERS, Estimate(math.nan, math.nan, math.nan))).value

        return np.array(
            [value(self.intercept, g) + value(self.slope, g) * x for g, x in zip(glaciers, np.asarray(aar, float))]
        )


@dataclass(frozen=True)
class Score:
    """Agreement of predictions with observed balances.

    Attributes:
        n: records compared.
        r: Pearson r with a Fisher-z interval (needs n > 3).
        rmse: root-mean-square error in m w.e., interval from n * rmse^2 / sigma^2 ~ chi2(n).
        bias: mean predicted - observed, m w.e.
    """

    n: int
    r: Estimate
    rmse: Estimate
    bias: float


def _ols(design: np.ndarray, y: np.ndarray, confidence: float) -> list[Estimate]:
    """Least squares with t intervals: ``design`` ``(n, p)``, ``y`` ``(n,)`` -> p estimates."""
    n, p = design.shape
    if np.linalg.matrix_rank(design) < p:
        raise np.linalg.LinAlgError("the AARs do not vary enough to fit a slope")
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = n - p
    if dof == 0:
        return [Estimate(float(c), math.nan, math.nan) for c in coef]
    sigma2 = float(np.sum((y - design @ coef) ** 2)) / dof
    se = np.sqrt(np.diag(np.linalg.inv(design.T @ design)) * sigma2)
    half = stats.t.ppf(0.5 + confidence / 2, dof) * se
    return [Estimate(float(c), float(c - h), float(c + h)) for c, h in zip(coef, half)]


def _xy(table: pd.DataFrame, predictor: str) -> tuple[np.ndarray, np.ndarray]:
    column = f"aar_{predictor}"
    if column not in table:
        raise ValueError(f"no column {column!r}: predictor must be one of the class sets")
    return table[column].to_numpy(float), table["balance"].to_numpy(float)


def fit_pooled(table: pd.DataFrame, *, predictor: str = DEFAULT_PREDICTOR, confidence: float = 0.95) -> Fit:
    """One line for all glaciers.

    Args:
        table: glacier-years with ``glacier``, ``balance`` (m w.e.) and ``aar_{predictor}``.
        predictor: class set name.
        confidence: level of the intervals (0-1).
    """
    x, y = _xy(table, predictor)
    intercept, slope = _ols(np.column_stack([np.ones_like(x), x]), y, confidence)
    return Fit("pooled", predictor, {ALL_GLACIERS: slope}, {ALL_GLACIERS: intercept}, len(y))


def fit_glacier_specific(
    table: pd.DataFrame,
    *,
    predictor: str = DEFAULT_PREDICTOR,
    shared_slope: bool = False,
    min_years: int = 3,
    confidence: float = 0.95,
    quiet: bool = False,
) -> Fit:
    """Glacier-specific calibration: a line per glacier, or one slope with an intercept per glacier.

    Glaciers with fewer than ``min_years`` records (or AARs that do not vary) are left out, with a
    warning unless ``quiet``.

    Args:
        table: glacier-years with ``glacier``, ``balance`` (m w.e.) and ``aar_{predictor}``.
        predictor: class set name.
        shared_slope: fit one slope for all glaciers with glacier offsets (model ``glacier_offsets``).
        min_years: fewest records per glacier (2 fit a line exactly, without an interval).
        confidence: level of the intervals (0-1).
        quiet: no warnings (cross-validation refits).
    """
    if min_years < 2:
        raise ValueError(f"min_years must be at least 2, got {min_years}")
    counts = table["glacier"].value_counts()
    few = sorted(counts.index[counts < min_years])
    if few and not quiet:
        _warn(
            f"{len(few)} glacier(s) with fewer than {min_years} glacier-years left out of glacier-specific fits: {', '.join(few)}"
        )
    table = table[~table["glacier"].isin(few)]
    if table.empty:
        raise MassBalanceInputError(f"no glacier has {min_years} or more glacier-years for a glacier-specific fit")
    if shared_slope:
        glaciers = sorted(set(table["glacier"]))
        x, y = _xy(table, predictor)
        dummies = (table["glacier"].to_numpy()[:, None] == np.array(glaciers)[None, :]).astype(float)
        *intercepts, slope = _ols(np.column_stack([dummies, x]), y, confidence)
        return Fit("glacier_offsets", predictor, {ALL_GLACIERS: slope}, dict(zip(glaciers, intercepts)), len(y))
    slopes, intercepts, n = {}, {}, 0
    for glacier, rows in table.groupby("glacier"):
        x, y = _xy(rows, predictor)
        try:
            intercepts[glacier], slopes[glacier] = _ols(np.column_stack([np.ones_like(x), x]), y, confidence)
            n += len(y)
        except np.linalg.LinAlgError as err:
            if not quiet:
                _warn(f"{glacier}: no glacier-specific fit ({err})")
    return Fit("glacier_specific", predictor, slopes, intercepts, n)


def score(observed: np.ndarray, predicted: np.ndarray, *, confidence: float = 0.95) -> Score:
    """r, RMSE (m w.e.) and bias of ``(n,)`` predictions against ``(n,)`` observations; NaN pairs are skipped."""
    observed, predicted = np.asarray(observed, float), np.asarray(predicted, float)
    ok = np.isfinite(observed) & np.isfinite(predicted)
    o, p = observed[ok], predicted[ok]
    n = int(ok.sum())
    nan = Estimate(math.nan, math.nan, math.nan)
    if n < 2:
        return Score(n, nan, nan, math.nan)
    alpha = 1 - confidence
    r = float(np.corrcoef(o, p)[0, 1]) if np.std(o) > 0 and np.std(p) > 0 else math.nan
    if n > 3 and np.isfinite(r):
        z, half = np.arctanh(np.clip(r, -0.999999, 0.999999)), stats.norm.ppf(1 - alpha / 2) / math.sqrt(n - 3)
        r_est = Estimate(r, float(np.tanh(z - half)), float(np.tanh(z + half)))
    else:
        r_est = Estimate(r, math.nan, math.nan)
    sse = float(np.sum((p - o) ** 2))
    rmse = Estimate(
        math.sqrt(sse / n),
        math.sqrt(sse / stats.chi2.ppf(1 - alpha / 2, n)),
        math.sqrt(sse / stats.chi2.ppf(alpha / 2, n)),
    )
    return Score(n, r_est, rmse, float(np.mean(p - o)))


def fit(
    table: pd.DataFrame,
    *,
    model: str,
    predictor: str = DEFAULT_PREDICTOR,
    confidence: float = 0.95,
    min_years: int = 3,
    quiet: bool = False,
) -> Fit:
    """Fit one of :data:`MODELS` (:func:`fit_pooled` or :func:`fit_glacier_specific`; ``min_years`` and ``quiet`` for the latter)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")
    if model == "pooled":
        return fit_pooled(table, predictor=predictor, confidence=confidence)
    return fit_glacier_specific(
        table,
        predictor=predictor,
        shared_slope=model == "glacier_offsets",
        min_years=min_years,
        confidence=confidence,
        quiet=quiet,
    )


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-sample predictions of one model.

    Attributes:
        model: one of :data:`MODELS`.
        scheme: ``"leave one glacier out"`` (pooled) or ``"leave one year out"`` (glacier-specific).
        predictions: glacier, year, observed, predicted (m w.e.; NaN where no fit covered the record).
        fold_slopes: ``(folds,)`` (or ``(folds x glaciers,)``) slopes fitted on the training sets, m w.e. per unit AAR.
        score: :func:`score` of the predictions.
    """

    model: str
    scheme: str
    predictions: pd.DataFrame
    fold_slopes: np.ndarray
    score: Score


def cross_validation(
    table: pd.DataFrame, *, model: str, predictor: str = DEFAULT_PREDICTOR, confidence: float = 0.95, min_years: int = 3
) -> CrossValidation:
    """Cross-validate a model: leave one glacier out (pooled) or leave one balance year out (glacier-specific).

    Each fold refits on the other glaciers (years) and predicts the held-out records; glacier-specific
    models use only glaciers with ``min_years`` (at least 3) records in the whole table, refitted on
    the other years.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(MODELS)}")
    if min_years < 3:
        raise ValueError(f"min_years must be at least 3 for cross-validation (2 left to fit), got {min_years}")
    if model == "pooled":
        group, scheme = "glacier", "leave one glacier out"
    else:
        counts = table["glacier"].value_counts()
        table = table[table["glacier"].isin(counts.index[counts >= min_years])]
        group, scheme = "year", "leave one year out"
    predicted = np.full(len(table), math.nan)
    slopes: list[float] = []
    for held_out in sorted(set(table[group])):
        test = (table[group] == held_out).to_numpy()
        try:
            fold = fit(
                table[~test],
                model=model,
                predictor=predictor,
                confidence=confidence,
                min_years=min_years - 1,
                quiet=True,
            )
        except (np.linalg.LinAlgError, MassBalanceInputError):
            continue
        predicted[test] = fold.predict(table["glacier"].to_numpy()[test], _xy(table[test], predictor)[0])
        slopes.extend(e.value for e in fold.slope.values())
    observed = table["balance"].to_numpy(float)
    predictions = pd.DataFrame(
        {
            "glacier": table["glacier"].to_numpy(),
            "year": table["year"].to_numpy(),
            "observed": observed,
            "predicted": predicted,
        }
    )
    return CrossValidation(
        model, scheme, predictions, np.array(slopes), score(observed, predicted, confidence=confidence)
    )


# -- the job -------------------------------------------------------------------------------------------


def read_generating_model(metadata: str | Path) -> dict[str, Any]:
    """The synthetic benchmark's AAR -> balance law from its ``metadata.json``, in m w.e.

    Returns:
        slope (m w.e. per unit AAR), intercept (mean, m w.e.), intercept_per_glacier, noise_sd (m w.e.), aar_classes.
    """
    model = json.loads(Path(metadata).read_text())["mass_balance_model"]
    return {
        "formula": model["formula"],
        "aar_classes": model["aar_classes"],
        "slope": model["slope_mm_we"] / 1000,
        "intercept": model["intercept_mm_we"] / 1000,
        "intercept_per_glacier": {g: v / 1000 for g, v in model["intercept_per_glacier_mm_we"].items()},
        "noise_sd": model["noise_sd_mm_we"] / 1000,
    }


def _model_summary(fitted: Fit, in_sample: Score, cv: CrossValidation) -> dict[str, Any]:
    return {
        "in_sample": {
            "score": asdict(in_sample),
            "slope": {g: asdict(e) for g, e in fitted.slope.items()},
            "intercept": {g: asdict(e) for g, e in fitted.intercept.items()},
            "n": fitted.n,
        },
        "cross_validated": {
            "scheme": cv.scheme,
            "score": asdict(cv.score),
            "fold_slopes": {
                "n": int(cv.fold_slopes.size),
                **(
                    {
                        "min": float(cv.fold_slopes.min()),
                        "median": float(np.median(cv.fold_slopes)),
                        "max": float(cv.fold_slopes.max()),
                    }
                    if cv.fold_slopes.size
                    else {}
                ),
            },
            "not_predicted": int(cv.predictions["predicted"].isna().sum()),
        },
    }


def regress(
    table: pd.DataFrame, *, predictor: str, confidence: float = 0.95, min_years: int = 3
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """All :data:`MODELS` for one predictor, in-sample and cross-validated.

    Returns:
        The summary per model (JSON-ready) and the cross-validated predictions per model.
    """
    summary, predictions = {}, {}
    for model in MODELS:
        try:
            fitted = fit(table, model=model, predictor=predictor, confidence=confidence, min_years=min_years)
        except (np.linalg.LinAlgError, MassBalanceInputError) as err:
            _warn(f"{predictor}: no {model} fit ({err})")
            continue
        x, y = _xy(table, predictor)
        cv = cross_validation(table, model=model, predictor=predictor, confidence=confidence, min_years=min_years)
        summary[model] = _model_summary(
            fitted, score(y, fitted.predict(table["glacier"].to_numpy(), x), confidence=confidence), cv
        )
        predictions[model] = cv.predictions
    return summary, predictions


def compare_with_generating(summary: Mapping[str, Any], generating: Mapping[str, Any]) -> dict[str, Any]:
    """Fitted slopes and intercepts of one predictor's :func:`regress` summary beside the generating ones (m w.e.)."""
    out: dict[str, Any] = {
        "generating_slope": generating["slope"],
        "generating_intercept": generating["intercept"],
        "noise_sd": generating["noise_sd"],
    }
    for model in ("pooled", "glacier_offsets"):
        if model in summary:
            slope = summary[model]["in_sample"]["slope"][ALL_GLACIERS]
            out[f"{model}_slope"] = slope
            out[f"{model}_slope_ci_covers_generating"] = bool(slope["low"] <= generating["slope"] <= slope["high"])
    if "pooled" in summary:
        out["pooled_intercept"] = summary["pooled"]["in_sample"]["intercept"][ALL_GLACIERS]
    if "glacier_offsets" in summary:
        fitted = summary["glacier_offsets"]["in_sample"]["intercept"]
        out["glacier_offsets_intercepts"] = {
            g: {
                "generating": generating["intercept_per_glacier"].get(g),
                "fitted": e["value"],
                "low": e["low"],
                "high": e["high"],
            }
            for g, e in fitted.items()
        }
    return out


def run(
    maps: str | Path | Iterable[str | Path],
    mb_table: str | Path | pd.DataFrame,
    out_dir: str | Path,
    *,
    outlines: str | Path | None = None,
    id_column: str = "glacier",
    units: str = "mm",
    truth_band: int = 1,
    class_sets: Mapping[str, Sequence[str]] = ACCUMULATION_SETS,
    predictor: str = DEFAULT_PREDICTOR,
    max_unobserved: float = 0.5,
    selection: str = "latest",
    season: SeasonRule = SeasonRule(),
    min_years: int = 3,
    confidence: float = 0.95,
    metadata: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The whole job: maps + outlines + mass-balance table -> regressions, plots and a results JSON.

    Writes into ``out_dir`` (each file atomically): ``mass_balance_results.json``, ``aar_scenes.csv``
    (every glacier-scene with its AARs and status), ``glacier_years.csv`` (the matched table),
    ``scatter.png`` and ``timeseries.png`` (for ``predictor``). Warnings about left-out input are
    collected into the results' ``notes`` instead of being emitted.

    Args:
        maps, outlines, truth_band, class_sets, season: see :func:`aar_from_maps`; ``id_column``
            names the outlines' glacier id column.
        mb_table, units: see :func:`read_mb_table`.
        predictor: the class set plotted and compared with the generating model.
        max_unobserved, selection: see :func:`select_end_of_season`.
        min_years, confidence: see :func:`fit_glacier_specific`.
        metadata: a synthetic benchmark's ``metadata.json``; adds its generating law beside the fits.
        progress: progress bar over the maps.

    Returns:
        The results (also written as JSON).
    """
    if predictor not in class_sets:
        raise ValueError(f"predictor {predictor!r} is not one of the class sets {', '.join(class_sets)}")
    out_dir = Path(out_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MassBalanceWarning)
        registry = read_outlines(outlines, id_column=id_column) if outlines else None
        records = read_mb_table(mb_table, units=units)
        scenes = select_end_of_season(
            aar_from_maps(
                maps, outlines=registry, class_sets=class_sets, truth_band=truth_band, season=season, progress=progress
            ),
            max_unobserved=max_unobserved,
            rule=selection,
        )
        table = match_records(scenes, records, outlines=registry)
        if table.empty:
            raise MassBalanceInputError(
                "no glacier-year has both a usable scene and a mass-balance record (see the warnings)"
            )
        regressions, predictions = {}, {}
        for name in class_sets:
            regressions[name], predictions[name] = regress(
                table, predictor=name, confidence=confidence, min_years=min_years
            )
    notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, MassBalanceWarning)))
    for w in caught:
        if not issubclass(w.category, MassBalanceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    generating = read_generating_model(metadata) if metadata else None
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "units": {"balance": "m w.e.", "slope": "m w.e. per unit AAR", "aar": "fraction of the observed glacier area"},
        "settings": {
            "truth_band": truth_band,
            "class_sets": {k: list(v) for k, v in class_sets.items()},
            "predictor": predictor,
            "max_unobserved": max_unobserved,
            "selection": selection,
            "season": asdict(season),
            "min_years": min_years,
            "confidence": confidence,
            "input_units": units,
        },
        "data": {
            "glacier_scenes": len(scenes),
            "selected": int((scenes["status"] == "selected").sum()),
            "records": len(records),
            "glacier_years": len(table),
            "glaciers": int(table["glacier"].nunique()),
            "map_kinds": sorted(set(scenes["kind"])),
        },
        "notes": notes,
        "regressions": regressions,
        "generating_model": generating,
        "recovery": {name: compare_with_generating(summary, generating) for name, summary in regressions.items()}
        if generating
        else None,
    }
    used = scenes.merge(table[["glacier", "date"]].assign(matched=True), on=["glacier", "date"], how="left")
    scenes = scenes.assign(
        status=np.where(
            (scenes["status"] == "selected") & used["matched"].isna().to_numpy(), "no record", scenes["status"]
        )
    )
    _write_csv(scenes, out_dir / "aar_scenes.csv")
    _write_csv(table, out_dir / "glacier_years.csv")
    if "pooled" in regressions[predictor]:
        plot_scatter(
            table, regressions[predictor], predictions[predictor], out_dir / "scatter.png", predictor=predictor
        )
        plot_timeseries(predictions[predictor], out_dir / "timeseries.png")
    write_results(results, out_dir / "mass_balance_results.json")
    return results


# -- outputs -------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """NaN -> None, numpy scalars -> Python, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_results(results: Mapping[str, Any], path: str | Path) -> Path:
    """Write the results as JSON (NaN as null), atomically."""
    atomic_write_text(path, json.dumps(_jsonable(results), indent=1, allow_nan=False) + "\n")
    return Path(path)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _glacier_colours(glaciers: Sequence[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab20")
    return {g: cmap(i % 20) for i, g in enumerate(sorted(set(glaciers)))}


def _label(summary: Mapping[str, Any]) -> str:
    s = summary["score"]
    return f"r {s['r']['value']:.2f}, RMSE {s['rmse']['value']:.2f} m w.e. (n {s['n']})"


def _balance_limits(observed: np.ndarray) -> tuple[float, float]:
    """Axis limits (m w.e.): the observed range widened by half its span, so wild extrapolations do not hide the data."""
    low, high = float(np.nanmin(observed)), float(np.nanmax(observed))
    pad = 0.5 * (high - low) + 0.1
    return low - pad, high + pad


def _off_scale(predicted: pd.Series, limits: tuple[float, float]) -> str:
    n = int(((predicted < limits[0]) | (predicted > limits[1])).sum())
    return f", {n} beyond the axes" if n else ""


def plot_scatter(
    table: pd.DataFrame,
    summary: Mapping[str, Any],
    predictions: Mapping[str, pd.DataFrame],
    out_png: str | Path,
    *,
    predictor: str = DEFAULT_PREDICTOR,
) -> Path:
    """Left: AAR vs balance by glacier with the pooled and glacier-specific lines; right: cross-validated predictions vs observed.

    Args:
        table: the matched glacier-years (``aar_{predictor}``, ``balance`` in m w.e.).
        summary, predictions: :func:`regress` outputs for ``predictor``.
        out_png: the PNG to write.
    """
    colours = _glacier_colours(table["glacier"])
    lim = _balance_limits(table["balance"].to_numpy(float))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.2), constrained_layout=True)
    grid = np.linspace(0, 1, 2)
    for glacier, rows in table.groupby("glacier"):
        gx, gy = _xy(rows, predictor)
        left.scatter(gx, gy, color=colours[glacier], s=24, label=glacier)
        line = summary.get("glacier_specific", {}).get("in_sample", {}).get("slope", {}).get(glacier)
        if line:
            intercept = summary["glacier_specific"]["in_sample"]["intercept"][glacier]["value"]
            span = np.array([gx.min(), gx.max()])
            left.plot(span, intercept + line["value"] * span, color=colours[glacier], lw=0.8)
    pooled = summary["pooled"]["in_sample"]
    slope, intercept = pooled["slope"][ALL_GLACIERS], pooled["intercept"][ALL_GLACIERS]
    left.plot(
        grid,
        intercept["value"] + slope["value"] * grid,
        color="k",
        lw=1.5,
        label=f"pooled: {slope['value']:.2f} [{slope['low']:.2f}, {slope['high']:.2f}] m w.e./AAR",
    )
    left.set_xlabel(f"AAR ({predictor.replace('_', ' + ')}, observed area)")
    left.set_ylabel("annual balance (m w.e.)")
    left.set_xlim(0, 1)
    left.legend(fontsize="x-small", ncols=2)
    for model, marker in (("pooled", "o"), ("glacier_specific", "s"), ("glacier_offsets", "^")):
        if model in predictions:
            cv = predictions[model]
            right.scatter(
                cv["observed"],
                cv["predicted"],
                marker=marker,
                s=20,
                alpha=0.7,
                label=f"{model.replace('_', ' ')} ({summary[model]['cross_validated']['scheme']}): "
                f"{_label(summary[model]['cross_validated'])}{_off_scale(cv['predicted'], lim)}",
            )
    right.plot(lim, lim, color="0.5", lw=0.8)
    right.set_xlim(lim)
    right.set_ylim(lim)
    right.set_xlabel("observed balance (m w.e.)")
    right.set_ylabel("cross-validated prediction (m w.e.)")
    right.legend(fontsize="x-small", loc="upper left")
    return save_figure(fig, out_png)


def plot_timeseries(predictions: Mapping[str, pd.DataFrame], out_png: str | Path) -> Path:
    """Per glacier: observed balances and cross-validated predictions of each model over the years.

    Args:
        predictions: model -> :class:`CrossValidation` predictions (glacier, year, observed, predicted).
        out_png: the PNG to write.
    """
    pooled = predictions["pooled"]
    limits = _balance_limits(pooled["observed"].to_numpy(float))
    glaciers = sorted(set(pooled["glacier"]))
    cols = min(4, len(glaciers))
    rows = math.ceil(len(glaciers) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.4 * cols, 2.6 * rows), sharex=True, sharey=True, squeeze=False, constrained_layout=True
    )
    for ax, glacier in zip(axes.flat, glaciers):
        obs = pooled[pooled["glacier"] == glacier].sort_values("year")
        ax.plot(obs["year"], obs["observed"], "ko-", ms=4, lw=1, label="observed")
        for model, style in (("pooled", "C0s--"), ("glacier_specific", "C1^:"), ("glacier_offsets", "C2v:")):
            if model in predictions:
                cv = predictions[model]
                cv = cv[cv["glacier"] == glacier].sort_values("year")
                ax.plot(
                    cv["year"],
                    cv["predicted"],
                    style,
                    ms=4,
                    lw=1,
                    label=f"{model.replace('_', ' ')} (CV{_off_scale(predictions[model]['predicted'], limits)})",
                )
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_title(glacier, fontsize="small")
    for ax in axes.flat[len(glaciers) :]:
        ax.set_axis_off()
    axes[0, 0].set_ylabel("balance (m w.e.)")
    axes[0, 0].set_ylim(limits)
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    axes.flat[0].legend(fontsize="xx-small")
    return save_figure(fig, out_png)
