#!/usr/bin/env python
"""Regress accumulation-area ratios from facies maps against annual mass balances (WGMS-like table).

    python scripts/mass_balance.py --benchmark SYNTH [--maps DIR] [--truth-band 2] --out DIR
    python scripts/mass_balance.py --maps DIR_OR_FILES... --outlines OUTLINES.gpkg --mb mass_balance.csv --out DIR

--benchmark reads a synthetic benchmark folder: truth/maps (unless --maps), outlines.gpkg,
mass_balance.csv and metadata.json (the generating law is reported beside the fits). Writes
mass_balance_results.json, aar_scenes.csv, glacier_years.csv, scatter.png and timeseries.png.
Exits 1 when the inputs cannot be used at all; left-out parts are listed as notes.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from modeling.errors import MassBalanceInputError
from modeling.mass_balance import (
    ACCUMULATION_SETS,
    ALL_GLACIERS,
    DEFAULT_PREDICTOR,
    MODELS,
    SELECTION_RULES,
    MassBalanceWarning,
    SeasonRule,
    run,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--benchmark", type=Path, help="synthetic benchmark folder (default maps, outlines, table, metadata)"
    )
    parser.add_argument(
        "--maps", type=Path, nargs="+", help="facies maps (*_facies.tif) or truth maps: folders and/or files"
    )
    parser.add_argument("--outlines", type=Path, help="glacier outlines (any vector format and CRS)")
    parser.add_argument(
        "--id-column", help="outline column holding the glacier ids of the maps (default: glacier, rgi_id, RGIId, ...)"
    )
    parser.add_argument("--mb", type=Path, help="mass-balance table (CSV, WGMS layout)")
    parser.add_argument("--units", choices=("mm", "m"), default="mm", help="units of ANNUAL_BALANCE (w.e.)")
    parser.add_argument("--metadata", type=Path, help="synthetic metadata.json: report the generating law")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--truth-band",
        type=int,
        choices=(1, 2),
        default=1,
        help="truth maps: 1 = label class with shadow/cloud (like mapped facies), 2 = surface facies (cloud-free bound)",
    )
    parser.add_argument(
        "--predictor", choices=tuple(ACCUMULATION_SETS), default=DEFAULT_PREDICTOR, help="class set plotted"
    )
    parser.add_argument(
        "--max-unobserved", type=float, default=0.5, help="drop scenes with a larger cloud/shadow share of the glacier"
    )
    parser.add_argument(
        "--selection", choices=SELECTION_RULES, default="latest", help="scene kept per glacier and balance year"
    )
    parser.add_argument(
        "--season",
        type=int,
        nargs=2,
        default=(7, 10),
        metavar=("START", "END"),
        help="end-of-season months; the balance year ends with END (later dates: next year)",
    )
    parser.add_argument("--min-years", type=int, default=3, help="fewest glacier-years for a glacier-specific fit")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.benchmark:
        args.maps = args.maps or [args.benchmark / "truth" / "maps"]
        args.outlines = args.outlines or args.benchmark / "outlines.gpkg"
        args.mb = args.mb or args.benchmark / "mass_balance.csv"
        args.metadata = args.metadata or args.benchmark / "metadata.json"
    if not args.maps or not args.mb:
        parser.error("give --maps and --mb, or --benchmark")
    warnings.simplefilter("ignore", MassBalanceWarning)  # run() returns them as notes
    try:
        results = run(
            args.maps,
            args.mb,
            args.out,
            outlines=args.outlines,
            id_column=args.id_column,
            units=args.units,
            truth_band=args.truth_band,
            predictor=args.predictor,
            max_unobserved=args.max_unobserved,
            selection=args.selection,
            season=SeasonRule(*args.season),
            min_years=args.min_years,
            confidence=args.confidence,
            metadata=args.metadata,
            progress=not args.no_progress,
        )
    except (MassBalanceInputError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_results(results))
    print(f"outputs: {args.out}")
    return 0


def _estimate(e: dict) -> str:
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]" if e["low"] is not None else f"{e['value']:.3f}"


def format_results(results: dict) -> str:
    """A text summary: notes, then r / RMSE / slope per class set and model, in-sample and cross-validated."""
    data = results["data"]
    lines = [f"note: {n}" for n in results["notes"]]
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


if __name__ == "__main__":
    sys.exit(main())
