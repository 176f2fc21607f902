"""Which glacier (outline id: RGI 6 or 7, GLIMS, or one's own) each mass-balance record belongs to, and how.

A record (WGMS id and/or name) is linked, in this order, by:

1. the outlines' ``wgms_id`` column;
2. a link table (:func:`read_link_table`): the WGMS glacier table's RGI/GLIMS ids - ``glacier.csv`` of the
   lower-case layout (``id``, ``rgi50_ids``, ``rgi60_ids``, ``rgi70_ids``, ``glims_id``), ``glacier_id_lut.csv`` or
   ``*-AA-GLACIER-ID-LUT.csv`` of the upper-case one (``WGMS_ID``, ``RGI50_ID``, ``RGI60_ID``, ``GLIMS_ID``) - or a
   two-column CSV the user gives (an outline id column and a WGMS id column, any header, either order);
3. its name, equal to an outline's name or glacier id after WGMS's transliteration (Ä -> AE, Ø -> OE, ß -> SS,
   ...; other accents dropped; case, spaces and punctuation ignored).

Every link is reported (:func:`link_records` adds ``glacier`` and ``linked_by``); ambiguous ones (a WGMS id or name
reaching several glaciers) are left out with a warning.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from dataset_builder.outlines import Outlines
from modeling.errors import MassBalanceInputError
from modeling.mass_balance.notes import warn

#: Id columns of the WGMS glacier tables that hold other inventories' ids (case-insensitive): lower-case layout
#: (``glacier.csv``: ``id`` is the WGMS id) and upper-case layout (``glacier_id_lut.csv``: ``WGMS_ID``).
WGMS_KEY_COLUMNS: tuple[str, ...] = ("wgms_id", "id")
INVENTORY_COLUMNS: tuple[str, ...] = (
    "rgi70_ids",
    "rgi60_ids",
    "rgi50_ids",
    "glims_id",
    "rgi70_id",
    "rgi60_id",
    "rgi50_id",
)
#: WGMS's transliteration of names (FoG GLACIER.NAME rules); other accents are dropped.
TRANSLITERATION = {
    "å": "aa",
    "æ": "ae",
    "ä": "ae",
    "ð": "d",
    "ø": "oe",
    "œ": "oe",
    "ö": "oe",
    "ß": "ss",
    "þ": "th",
    "ü": "ue",
}


def normal_name(name: Any) -> str:
    """A name as WGMS spells it, for comparison: transliterated, accents dropped, lower case, alphanumeric words."""
    text = "".join(TRANSLITERATION.get(c, c) for c in str(name).casefold())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^0-9a-z]+", " ", text).strip()


def _ids(cell: Any) -> list[str]:
    """The ids in a cell (WGMS lists several as ``a;b`` or ``a,b``)."""
    return [] if pd.isna(cell) else [t for t in re.split(r"[;,\s]+", str(cell).strip()) if t]


def read_link_table(path: str | Path, outlines: Outlines) -> tuple[dict[str, int], str]:
    """Outline glacier id -> WGMS id from a WGMS glacier table or a two-column CSV (see the module docstring).

    Returns:
        The links (only ids of the outlines) and how they were made (for the report).
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise MassBalanceInputError(f"{path}: not a readable CSV link table ({err})") from None
    lower = {str(c).lower(): c for c in raw.columns}
    key = next((lower[c] for c in WGMS_KEY_COLUMNS if c in lower), None)
    inventory = [lower[c] for c in INVENTORY_COLUMNS if c in lower]
    known = set(outlines.ids)
    if key is not None and inventory:
        how = f"WGMS glacier table {path.name} ({', '.join(map(str, inventory))})"
        pairs = [(g, w) for col in inventory for g_cell, w in zip(raw[col], raw[key]) for g in _ids(g_cell)]
    elif raw.shape[1] == 2:
        hits = [sum(str(v).strip() in known for v in raw[c]) for c in raw.columns]
        ids, wgms = (raw.columns[0], raw.columns[1]) if hits[0] >= hits[1] else (raw.columns[1], raw.columns[0])
        how = f"link table {path.name} ({ids} -> {wgms})"
        pairs = list(zip(raw[ids].astype(str).str.strip(), raw[wgms]))
    else:
        raise MassBalanceInputError(
            f"{path}: not a link table: expected a WGMS glacier table (WGMS_ID or id with RGI60_ID, rgi60_ids, "
            f"rgi70_ids, glims_id ...) or two columns (outline id, WGMS id); columns are {', '.join(map(str, raw.columns))}"
        )
    links: dict[str, set[int]] = {}
    bad = []
    for row, (glacier, wgms) in enumerate(pairs, start=2):
        if glacier not in known:
            continue
        number = pd.to_numeric(pd.Series([wgms]), errors="coerce")[0]
        if pd.isna(number) or number % 1:
            bad.append(f"row {row}: {wgms!r}")
            continue
        links.setdefault(glacier, set()).add(int(number))
    if bad:
        warn(f"{path}: {len(bad)} link(s) without an integer WGMS id ignored: {', '.join(bad[:5])}")
    several = sorted(g for g, w in links.items() if len(w) > 1)
    if several:
        warn(f"{path}: glacier(s) linked to several WGMS ids, not linked: {', '.join(several[:10])}")
    return {g: next(iter(w)) for g, w in links.items() if len(w) == 1}, how


def link_records(
    records: pd.DataFrame,
    outlines: Outlines | None,
    table: str | Path | None = None,
    *,
    glacier_ids: Sequence[str] = (),
) -> pd.DataFrame:
    """``records`` (:func:`~modeling.mass_balance.records.read_mb_table`) with the ``glacier`` each belongs to (None:
    unknown) and ``linked_by`` (how), in the order of the module docstring.

    Args:
        records: the mass-balance records.
        outlines: the glacier registry (ids, names, WGMS ids); without it only names are matched, to ``glacier_ids``.
        table: a link table (WGMS glacier table or two-column CSV); needs outlines.
        glacier_ids: the glaciers of the maps, when there are no outlines.
    """
    by_wgms: dict[int, tuple[set[str], str]] = {}

    def add(wgms: int, glacier: str, how: str) -> None:
        glaciers, first = by_wgms.get(wgms, (set(), how))
        by_wgms[wgms] = (glaciers | {glacier}, first)

    if outlines is not None:
        for w, g in zip(outlines.wgms_ids, outlines.ids):
            if w >= 0:
                add(w, g, "wgms_id column of the outlines")
        if table is not None:
            table_links, how = read_link_table(table, outlines)
            for g, w in table_links.items():
                if w not in by_wgms:
                    add(w, g, how)
    by_name: dict[str, set[str]] = {}
    ids = outlines.ids if outlines is not None else tuple(glacier_ids)
    names = outlines.names if outlines is not None else ()
    for key, g in [*zip(ids, ids), *zip(names, ids)]:
        if key:
            by_name.setdefault(normal_name(key), set()).add(g)
    glacier, linked_by, ambiguous = [], [], set()
    for w, name in zip(records["wgms_id"], records["name"]):
        found, how = (by_wgms.get(int(w)) if pd.notna(w) else None) or (None, "")
        if found is None and name:
            found, how = by_name.get(normal_name(name)), f"name {name!r}"
        if found is not None and len(found) > 1:
            ambiguous.add(f"{'wgms ' + str(w) if pd.notna(w) else name} -> {', '.join(sorted(found))}")
            found = None
        glacier.append(next(iter(found)) if found else None)
        linked_by.append(how if found else "")
    if ambiguous:
        warn(f"record(s) reaching several glaciers, not linked: {'; '.join(sorted(ambiguous))}")
    return records.assign(glacier=np.array(glacier, dtype=object), linked_by=linked_by)


def link_report(records: pd.DataFrame) -> pd.DataFrame:
    """One row per linked glacier: glacier, wgms_id, name (as in the records), linked_by, records (count)."""
    linked = records[records["glacier"].notna()]
    if linked.empty:
        return pd.DataFrame(columns=["glacier", "wgms_id", "name", "linked_by", "records"])
    report = (
        linked.groupby(["glacier", "linked_by"], dropna=False)
        .agg(wgms_id=("wgms_id", "first"), name=("name", "first"), records=("year", "size"))
        .reset_index()[["glacier", "wgms_id", "name", "linked_by", "records"]]
        .sort_values("glacier")
        .reset_index(drop=True)
    )
    wgms = report["wgms_id"].astype(object)
    return report.assign(wgms_id=[int(w) if pd.notna(w) else None for w in wgms], records=report["records"].astype(int))
