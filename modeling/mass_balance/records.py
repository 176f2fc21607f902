"""Mass-balance records: WGMS-like tables read into m w.e., and matched to the glaciers and their selected scenes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataset_builder.outlines import Outlines
from modeling.errors import MassBalanceInputError
from modeling.mass_balance.notes import warn

#: Accepted spellings of the mass-balance table columns (case-insensitive), first match wins.
MB_COLUMNS: dict[str, tuple[str, ...]] = {
    "wgms_id": ("WGMS_ID", "GLACIER_ID"),
    "name": ("NAME", "GLACIER_NAME"),
    "year": ("YEAR",),
    "balance": ("ANNUAL_BALANCE",),
}
#: WGMS code of the whole-glacier row in LOWER_BOUND / UPPER_BOUND (other rows are elevation bands).
WGMS_WHOLE_GLACIER = 9999


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
            warn(
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
        warn(f"{int(bad.sum())} record(s) without a valid glacier id or name, YEAR or ANNUAL_BALANCE ignored")
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
            warn(
                f"{len(same)} duplicate record(s) with identical balances collapsed: "
                + ", ".join(sorted({f"{k} {y}" for k, y in zip(same["key"], same["year"])}))
            )
        if len(conflicting):
            warn(
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
        warn(f"{len(unknown)} record(s) of unknown glaciers ignored: {', '.join(sorted(set(unknown['key'])))}")
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
        warn(
            f"{len(without_scene)} record(s) in years without a usable scene: "
            + ", ".join(f"{g} {int(y)}" for g, y in zip(without_scene["glacier"], without_scene["year"]))
        )
    without_record = joined[joined["_merge"] == "left_only"]
    if len(without_record):
        warn(
            f"{len(without_record)} selected scene(s) without a mass-balance record: "
            + ", ".join(f"{g} {int(y)}" for g, y in zip(without_record["glacier"], without_record["balance_year"]))
        )
    both = joined[joined["_merge"] == "both"].drop(columns=["_merge", "status"])
    return both.assign(year=both["year"].astype(int)).sort_values(["glacier", "year"]).reset_index(drop=True)
