"""The mass-balance job: maps + outlines + mass-balance table -> regressions, figures, tables and a results JSON."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from dataset_builder.atomic import atomic_path, atomic_write_text
from dataset_builder.outlines import read_outlines
from dataset_builder.quicklook import save_figure
from modeling.errors import MassBalanceInputError
from modeling.mass_balance.links import link_records, link_report
from modeling.mass_balance.maps import (
    ACCUMULATION_SETS,
    DEFAULT_PREDICTOR,
    SeasonRule,
    aar_from_maps,
    select_end_of_season,
)
from modeling.mass_balance.notes import MassBalanceWarning
from modeling.mass_balance.plots import plot_scatter, plot_timeseries
from modeling.mass_balance.records import find_link_table, match_records, read_mb_table
from modeling.mass_balance.regression import ALL_GLACIERS, MODELS, compare_with_generating, regress

RESULTS_SCHEMA_VERSION = 1


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


def run(
    maps: str | Path | Iterable[str | Path],
    mb_table: str | Path | pd.DataFrame,
    out_dir: str | Path,
    *,
    outlines: str | Path | None = None,
    id_column: str | None = None,
    links: str | Path | None = None,
    units: str = "auto",
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
    ``glacier_links.csv`` (which glacier each WGMS record was linked to, and how), ``scatter.png`` and
    ``timeseries.png`` (for ``predictor``). Warnings about left-out input are collected into the results'
    ``notes`` instead of being emitted.

    Args:
        maps, truth_band, class_sets, season: see :func:`~modeling.mass_balance.maps.aar_from_maps`.
        outlines, id_column: the glacier outlines (any vector format and CRS) and their glacier id column
            (default: the first of :data:`dataset_builder.outlines.ID_COLUMNS` present: RGI 7 ``rgi_id``, RGI 6
            ``RGIId`` ...).
        links: link table of outline ids to WGMS ids (a WGMS glacier table or a two-column CSV; see
            :mod:`~modeling.mass_balance.links`); default: the WGMS glacier table beside ``mb_table``, if any.
        mb_table, units: see :func:`~modeling.mass_balance.records.read_mb_table` (a CSV or a FoG folder).
        predictor: the class set plotted and compared with the generating model.
        max_unobserved, selection: see :func:`~modeling.mass_balance.maps.select_end_of_season`.
        min_years, confidence: see :func:`~modeling.mass_balance.regression.fit_glacier_specific`.
        metadata: a synthetic benchmark's ``metadata.json``; adds its generating law beside the fits.
        progress: progress bar over the maps.

    Returns:
        The results (also written as JSON).
    """
    if predictor not in class_sets:
        raise ValueError(f"predictor {predictor!r} is not one of the class sets {', '.join(class_sets)}")
    if links is not None and outlines is None:
        raise MassBalanceInputError(f"{links}: a link table links outline ids to WGMS ids: give the outlines too")
    out_dir = Path(out_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MassBalanceWarning)
        registry = read_outlines(outlines, id_column=id_column) if outlines else None
        records = read_mb_table(mb_table, units=units)
        table_info = dict(records.attrs)
        if links is None and registry is not None and not isinstance(mb_table, pd.DataFrame):
            links = find_link_table(mb_table)
        scenes = select_end_of_season(
            aar_from_maps(
                maps, outlines=registry, class_sets=class_sets, truth_band=truth_band, season=season, progress=progress
            ),
            max_unobserved=max_unobserved,
            rule=selection,
        )
        records = link_records(records, registry, links, glacier_ids=sorted(set(scenes["glacier"])))
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
            "input_units": table_info["units"],
            "table_layout": table_info["layout"],
            "link_table": str(links) if links is not None else None,
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
        "links": link_report(records).to_dict("records"),
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
    figures = {}  # drawn before anything is written, so a failure leaves no partial set of outputs
    if "pooled" in regressions[predictor]:
        figures["scatter.png"] = plot_scatter(
            table, regressions[predictor], predictions[predictor], predictor=predictor
        )
        figures["timeseries.png"] = plot_timeseries(predictions[predictor])
    _write_csv(scenes, out_dir / "aar_scenes.csv")
    _write_csv(table, out_dir / "glacier_years.csv")
    _write_csv(link_report(records), out_dir / "glacier_links.csv")
    for name, figure in figures.items():
        save_figure(figure, out_dir / name)
    write_results(results, out_dir / "mass_balance_results.json")
    return results


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


def _estimate(e: dict[str, Any]) -> str:
    """Value [low, high]; the value alone without an interval; "-" where undefined (nothing scored: NaN, or None as
    read back from JSON)."""
    if e["value"] is None or math.isnan(e["value"]):
        return "-"
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]" if e["low"] is not None else f"{e['value']:.3f}"


def format_results(results: Mapping[str, Any]) -> str:
    """A text summary: notes, then r / RMSE / slope per class set and model, in-sample and cross-validated."""
    data = results["data"]
    lines = [f"note: {n}" for n in results["notes"]]
    lines += [
        f"link: {k['glacier']} <- {'WGMS ' + str(k['wgms_id']) if k['wgms_id'] is not None else 'record'}"
        f"{' ' + k['name'] if k['name'] else ''} by {k['linked_by']} ({k['records']} record(s))"
        for k in results.get("links", [])
    ]
    lines.append(
        f"{data['glacier_years']} glacier-years of {data['glaciers']} glaciers ({data['glacier_scenes']} glacier-scenes read, "
        f"{data['records']} records); balances and RMSE in m w.e., slopes in m w.e. per unit AAR"
    )
    for name, summary in results["regressions"].items():
        lines.append(f"AAR = {' + '.join(ACCUMULATION_SETS.get(name, (name,)))}")
        for model in MODELS:
            if model not in summary:
                continue
            fitted, cv = summary[model]["in_sample"], summary[model]["cross_validated"]
            slope = (
                f"slope {_estimate(fitted['slope'][ALL_GLACIERS])}"
                if ALL_GLACIERS in fitted["slope"]
                else (f"{len(fitted['slope'])} glacier slopes")
            )
            for label, part in (("in-sample", fitted), (cv["scheme"], cv)):
                s = part["score"]
                lines.append(
                    f"  {model:16s} {label:21s} n {s['n']:3d}  r {_estimate(s['r'])}  RMSE {_estimate(s['rmse'])}"
                )
            lines.append(
                f"  {'':16s} {slope}; CV fold slopes {cv['fold_slopes'].get('min', float('nan')):.3f}"
                f"..{cv['fold_slopes'].get('max', float('nan')):.3f}"
            )
    if results["generating_model"]:
        g = results["generating_model"]
        lines.append(
            f"generating law: slope {g['slope']:.3f} m w.e. per unit AAR, mean intercept {g['intercept']:.3f}, "
            f"noise sd {g['noise_sd']:.3f} m w.e. (AAR = {' + '.join(g['aar_classes'])}, surface facies)"
        )
    return "\n".join(lines)
