"""Facies and truth maps to accumulation-area ratios per glacier and scene, and the end-of-season scene per year.

Balance year: the balance year ends with the ablation season, by default on 31 October (see
:class:`SeasonRule`). A scene dated after the end month belongs to the next balance year; only
scenes from the start month (default July) to the end month count as end-of-season scenes. WGMS
fixed-date hydrological years end on 30 September in the Northern Hemisphere; end-of-summer
snowlines seen in early October still belong to the ending year, hence the October default.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import rasterio
from tqdm.auto import tqdm

from dataset_builder.outlines import Outlines
from dataset_builder.schema import CLASS_NAMES, MAP_NODATA, MAP_UNOBSERVED, canonical_class
from modeling.errors import MassBalanceInputError
from modeling.mapping.products import OUTPUTS
from modeling.mass_balance.notes import warn

#: Accumulation-area-like class sets: name -> classes counted as accumulation area.
ACCUMULATION_SETS: dict[str, tuple[str, ...]] = {
    "snow": ("snow",),
    "snow_firn": ("snow", "firn"),
    "snow_firn_refrozen": ("snow", "firn", "refrozen-like"),
}
#: The class set of the synthetic benchmark's generating model (and the default predictor).
DEFAULT_PREDICTOR = "snow_firn_refrozen"
#: Classes that hide the surface: their pixels count as unobserved glacier area (as do the product-masked code
#: ``schema.MAP_UNOBSERVED`` and nodata).
HIDING_CLASSES: tuple[str, ...] = ("shadow", "cloud")
#: Files ``map_scene`` writes beside a facies map that carry its tags but are no class map (confidence ...).
COMPANIONS: tuple[str, ...] = tuple(suffix for kind, suffix in OUTPUTS.items() if kind != "facies")
#: Scene selection rules per glacier and balance year.
SELECTION_RULES: tuple[str, ...] = ("latest", "best_observed")
_TRUTH_NAME = re.compile(r"^(?P<glacier>.+)_(?P<date>\d{8})$")


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

    A file with a GLACIER or GLACIERS tag and integer class codes in band 1 is a facies map (DATE tag required);
    one without such tags named ``{glacier}_{YYYYMMDD}.tif`` is a truth map, read at ``truth_band`` (1 = the
    label class with shadow and cloud, 2 = the surface facies under them). The other outputs of ``map_scene``
    beside a facies map (``_confidence.tif``: float, same tags) are passed over silently.
    """
    if truth_band not in (1, 2):
        raise ValueError(f"truth_band must be 1 (label class) or 2 (surface facies), got {truth_band}")
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    paths: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            paths.extend(p for p in sorted(source.glob("*.tif")) if not p.name.endswith(COMPANIONS))
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
            tags, count, dtype = src.tags(), src.count, np.dtype(src.dtypes[0])
    except rasterio.errors.RasterioIOError as err:
        warn(f"{path}: not a readable raster, skipped ({err})")
        return None
    glaciers = tags.get("GLACIERS") or tags.get("GLACIER")
    if glaciers and dtype.kind not in "ui":
        warn(f"{path}: tagged GLACIER/GLACIERS but holds {dtype} values, not class codes (a confidence map?), skipped")
        return None
    if glaciers:
        try:
            date = dt.date.fromisoformat(tags.get("DATE", ""))
        except ValueError:
            warn(f"{path}: facies map without a valid DATE tag (YYYY-MM-DD), skipped")
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
        warn(
            f"{path}: neither a facies map (tags GLACIER/GLACIERS, DATE) nor a truth map ({{glacier}}_{{YYYYMMDD}}.tif), skipped"
        )
        return None
    if count < truth_band:
        warn(f"{path}: truth map with {count} band(s), band {truth_band} requested, skipped")
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
    else the map's pixels holding a class other than water (or unobserved). Observed area = glacier pixels whose
    class is neither shadow, cloud, unobserved (``MAP_UNOBSERVED``: masked by the product's quality flags) nor
    nodata (``MAP_NODATA``). ``aar_{set}`` = accumulation pixels / observed pixels (NaN when nothing is observed).

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
    hiding = _class_codes(HIDING_CLASSES) + [MAP_UNOBSERVED, MAP_NODATA]
    maps = [maps] if isinstance(maps, (str, Path)) else list(maps)
    items = maps if all(isinstance(m, MapFile) for m in maps) else find_maps(maps, truth_band=truth_band)
    known = set(outlines.ids) if outlines else None
    rows, seen = [], {}
    for item in tqdm(items, desc="maps", disable=not progress):
        glaciers = [g for g in item.glaciers if _known_glacier(g, item, known)]
        if not glaciers:
            continue
        if outlines is None and len(item.glaciers) > 1:
            warn(f"{item.path}: map of {len(item.glaciers)} glaciers needs outlines to split it, skipped")
            continue
        with rasterio.open(item.path) as src:
            codes = src.read(item.band)
            masks = (
                outlines.masks(glaciers, src.crs, src.transform, codes.shape)
                if outlines
                else {glaciers[0]: (codes != MAP_NODATA) & (codes != CLASS_NAMES.index("water"))}
            )
        for glacier, mask in masks.items():
            key = (glacier, item.date)
            if key in seen:
                warn(f"{item.path}: {glacier} on {item.date} already read from {seen[key]}, skipped")
                continue
            seen[key] = item.path
            counts = np.bincount(codes[mask], minlength=MAP_NODATA + 1)
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
    warn(f"{item.path}: unknown glacier {glacier!r} (not in the outlines' id column), skipped")
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
            warn(
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
