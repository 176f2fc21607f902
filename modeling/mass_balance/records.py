"""Mass-balance records: WGMS tables of both generations read into m w.e., and matched to the glaciers and their
selected scenes.

Layouts of the WGMS Fluctuations of Glaciers (FoG) database's mass-balance table (:data:`LAYOUT_UNITS`):

- upper-case (FoG releases up to 2024-01, e.g. ``data/mass_balance.csv`` or ``WGMS-FoG-2021-05-EE-MASS-BALANCE.csv``):
  ``WGMS_ID``, ``NAME``, ``YEAR``, ``LOWER_BOUND``/``UPPER_BOUND`` (9999: the whole glacier; other rows are
  elevation bands) and ``ANNUAL_BALANCE`` in mm w.e. (WGMS's documentation of FoG 2023-09, table MASS_BALANCE);
- lower-case (FoG 2025-02 on): ``glacier_id`` (the WGMS id), ``glacier_name``, ``year``, ``annual_balance``;
  elevation bands are in a table of their own. WGMS's documentation of this layout could not be consulted here and
  third-party readers disagree on its unit, so ``units="auto"`` takes it from the values' magnitude and says so.

A folder (the unpacked FoG download, or its ``data`` folder) gives its mass-balance table, and its glacier table
becomes the link table (:func:`find_link_table`, :mod:`~modeling.mass_balance.links`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dataset_builder.outlines import Outlines
from modeling.errors import MassBalanceInputError
from modeling.mass_balance.links import link_records, normal_name
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
#: Units of the annual balance where a table generation's documentation states them; ``units="auto"`` takes them
#: from here, and from the values' magnitude (:func:`_units_from_values`) for a layout not listed.
LAYOUT_UNITS: dict[str, str] = {"upper-case": "mm"}
#: Median |annual balance| from which values are read as mm w.e. (glacier-wide annual balances beyond 10 m w.e.
#: a year are not observed; below 10 mm w.e. a year hardly any glacier's median lies).
MM_FROM = 10.0
UNITS: tuple[str, ...] = ("auto", "mm", "m")
#: File names of the mass-balance table and of the glacier tables that link WGMS ids to RGI/GLIMS ids.
MB_FILES: tuple[str, ...] = ("mass_balance.csv", "*EE-MASS-BALANCE.csv")
LINK_FILES: tuple[str, ...] = ("glacier.csv", "glacier_id_lut.csv", "*AA-GLACIER-ID-LUT.csv")


def _wgms_folder(folder: Path) -> Path:
    return folder / "data" if (folder / "data").is_dir() else folder


def _first(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    return [p for pattern in patterns for p in sorted(folder.glob(pattern))]


def find_link_table(source: str | Path) -> Path | None:
    """The WGMS glacier table beside a mass-balance table (or in a FoG folder) that holds RGI/GLIMS ids, or None."""
    source = Path(source)
    folder = _wgms_folder(source) if source.is_dir() else source.parent
    for path in _first(folder, LINK_FILES):
        try:
            header = {str(c).lower() for c in pd.read_csv(path, nrows=0).columns}
        except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError):
            continue
        if header & {"rgi50_ids", "rgi60_ids", "rgi70_ids", "rgi60_id", "rgi50_id", "rgi70_id", "glims_id"}:
            return path
    return None


def read_mb_table(source: str | Path | pd.DataFrame, *, units: str = "auto") -> pd.DataFrame:
    """Read a WGMS mass-balance table of either generation (see the module docstring), or a folder holding one.

    Other columns are ignored. Identical duplicates (same glacier and year) are collapsed; conflicting ones are
    dropped, with a warning.

    Args:
        source: CSV path, FoG folder or a DataFrame.
        units: ``"auto"`` (mm w.e. for the upper-case layout, as WGMS documents it; from the values' magnitude for
            the lower-case one, with a note), ``"mm"`` or ``"m"`` (w.e.); a table whose values do not look like the
            unit (median |balance| below 10 means m w.e.) is refused.

    Returns:
        Columns wgms_id (Int64, missing where absent), name, key (the glacier key used for duplicates), year
        (int), balance (float, m w.e.); ``attrs``: layout, units (as read) and source.
    """
    if units not in UNITS:
        raise ValueError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
    if isinstance(source, pd.DataFrame):
        raw, where = source, "mass-balance table"
    else:
        path = Path(source)
        if path.is_dir():
            found = _first(_wgms_folder(path), MB_FILES)
            if not found:
                raise MassBalanceInputError(f"{path}: no {' or '.join(MB_FILES)} in this folder (or its data folder)")
            path = found[0]
        where = str(path)
        try:
            raw = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise MassBalanceInputError(f"{path}: not a readable CSV table ({err})") from None
    upper = {str(c).upper(): c for c in raw.columns}
    found = {key: next((upper[a] for a in aliases if a in upper), None) for key, aliases in MB_COLUMNS.items()}
    missing = [MB_COLUMNS[k][0] for k in ("year", "balance") if found[k] is None]
    if found["wgms_id"] is None and found["name"] is None:
        missing.append("WGMS_ID or NAME")
    if missing:
        raise MassBalanceInputError(
            f"{where}: mass-balance table lacks column(s) {', '.join(missing)} (or their lower-case spellings); "
            f"columns are {', '.join(map(str, raw.columns))}"
        )
    layout = "lower-case" if str(found["balance"]).islower() else "upper-case"
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
    infinite = ~np.isfinite(table["balance"].to_numpy(dtype=float)) & table["balance"].notna().to_numpy()
    if infinite.any():
        rows = ", ".join(str(r + 2) for r in np.flatnonzero(infinite)[:10])  # + header, 1-based
        raise MassBalanceInputError(f"{where}: non-finite annual balance in row(s) {rows}; fix or remove them")
    bad = (
        table["year"].isna()
        | table["balance"].isna()
        | (table["year"] % 1 != 0)
        | (table["wgms_id"].isna() & (table["name"] == ""))
    ).to_numpy()
    if bad.any():
        rows = ", ".join(str(r + 2) for r in np.flatnonzero(bad)[:10])  # + header, 1-based
        warn(
            f"{where}: {int(bad.sum())} record(s) without a valid glacier id or name, year or annual balance "
            f"ignored (rows {rows}{' ...' if bad.sum() > 10 else ''})"
        )
        table = table[~bad]
    if table.empty:
        raise MassBalanceInputError(f"{where}: mass-balance table holds no usable record")
    if units == "auto":
        units = LAYOUT_UNITS.get(layout) or _units_from_values(table["balance"], str(found["balance"]), layout, where)
    _check_units(table["balance"].to_numpy(), units, str(found["balance"]), layout)
    _note_outliers(table["balance"], units, where)
    table["year"] = table["year"].astype(int)
    table["balance"] = table["balance"] / (1000.0 if units == "mm" else 1.0)
    table["key"] = [
        f"wgms {w}" if pd.notna(w) else f"name {normal_name(n)}" for w, n in zip(table["wgms_id"], table["name"])
    ]
    out = _drop_duplicates(table).reset_index(drop=True)
    out.attrs = {"layout": layout, "units": units, "source": where}
    return out


#: Robust z-score (median and scaled MAD) above which a balance is reported as an outlier.
OUTLIER_Z = 5.0


def _note_outliers(balance: pd.Series, units: str, where: str) -> None:
    """Warn about balances far from the others (robust z-score above :data:`OUTLIER_Z`) and about values a
    thousand times smaller than typical, the mark of a value in m w.e. among mm w.e.; they are still used."""
    values = balance.to_numpy(dtype=float)
    rows = balance.index.to_numpy() + 2  # + header, 1-based
    centre = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - centre)))
    if spread > 0:
        z = np.abs(values - centre) / spread
        for row, value, score in zip(rows[z > OUTLIER_Z], values[z > OUTLIER_Z], z[z > OUTLIER_Z]):
            warn(f"{where}: row {row}: annual balance {value:g} {units} w.e. is an outlier (robust z {score:.1f})")
    typical = float(np.median(np.abs(values)))
    if units == "mm" and typical >= 100:
        tiny = (np.abs(values) < typical / 100) & (values != np.round(values))
        for row, value in zip(rows[tiny], values[tiny]):
            warn(
                f"{where}: row {row}: annual balance {value:g} mm w.e. looks like m w.e. (typical |balance| {typical:g})"
            )


def _units_from_values(balance: pd.Series, column: str, layout: str, where: str) -> str:
    """``"mm"`` where the median |balance| is at least :data:`MM_FROM`, else ``"m"``; said as a note."""
    median = float(np.median(np.abs(balance.to_numpy(dtype=float))))
    units = "mm" if median >= MM_FROM else "m"
    warn(
        f"{where}: {column} read as {units} w.e. from its values (median |balance| {median:.3g}); the {layout} "
        "layout's unit was not checked against WGMS's documentation - give --units to override"
    )
    return units


def _check_units(balance: np.ndarray, units: str, column: str, layout: str) -> None:
    median = float(np.median(np.abs(balance)))
    declared = f"the {layout} WGMS layout gives" if units == LAYOUT_UNITS.get(layout) else "declared"
    if units == "mm" and median < MM_FROM:
        raise MassBalanceInputError(
            f"{column} looks like m w.e. (median |balance| {median:.3g}) but {declared} mm w.e. "
            "- convert the table, or declare m w.e. (units='m', --units m)"
        )
    if units == "m" and median >= MM_FROM:
        raise MassBalanceInputError(
            f"{column} looks like mm w.e. (median |balance| {median:.3g}) but {declared} m w.e. "
            "- declare mm w.e. (units='mm', --units mm)"
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


def match_records(
    selected: pd.DataFrame,
    records: pd.DataFrame,
    *,
    outlines: Outlines | None = None,
    links: str | Path | None = None,
) -> pd.DataFrame:
    """Join the selected scenes to the mass-balance records by glacier and balance year.

    Records are linked to glaciers by :func:`~modeling.mass_balance.links.link_records` (unless ``records``
    already carries its ``glacier`` column): by WGMS id through the outlines' ``wgms_id`` column or the link table
    ``links``, else by name. Records of unknown glaciers, records of years without a selected scene, selected
    scenes without a record and records that reach the same glacier-year by different keys (checked as in
    :func:`read_mb_table`) are warned about and left out.

    Args:
        selected: :func:`select_end_of_season` output (rows with status ``"selected"`` are used).
        records: :func:`read_mb_table` output (or :func:`~modeling.mass_balance.links.link_records`'s).
        outlines: the glacier registry; without it names are matched to the map glacier ids.
        links: a link table (WGMS glacier table or two-column CSV), used with outlines.

    Returns:
        One row per glacier-year: the selected scene's columns, ``year`` and ``balance`` (m w.e.).
    """
    scenes = selected[selected["status"] == "selected"]
    if "glacier" not in records:
        records = link_records(records, outlines, links, glacier_ids=sorted(set(selected["glacier"])))
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
