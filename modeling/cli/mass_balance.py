"""Regress accumulation-area ratios from facies maps against annual mass balances (WGMS tables).

    glacier-facies mass-balance --benchmark SYNTH [--maps DIR] [--truth-band 2] --out DIR
    glacier-facies mass-balance --maps DIR_OR_FILES... --outlines OUTLINES.gpkg --mb mass_balance.csv --out DIR
    glacier-facies mass-balance --maps maps/ --outlines rgi.shp --mb DOI-WGMS-FoG-2025-02/ [--links links.csv] --out DIR

--maps takes the output folder of ``glacier-facies map`` as it is (its confidence maps and tables are passed
over). --mb takes either WGMS table generation (or the unpacked FoG folder); glaciers are linked to its records by
WGMS id (outlines' wgms_id column, or --links: the WGMS glacier table's RGI/GLIMS ids - found beside the table by
default - or a two-column CSV of outline id and WGMS id), else by name; each link is printed and written to
glacier_links.csv.

--benchmark reads a synthetic benchmark folder: truth/maps (unless --maps), outlines.gpkg,
mass_balance.csv and metadata.json (the generating law is reported beside the fits). Writes
mass_balance_results.json, aar_scenes.csv, glacier_years.csv, scatter.png and timeseries.png.
Exits 1 when the inputs cannot be used at all; left-out parts are listed as notes.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from modeling.cli.options import UsageError, float_in, int_in
from modeling.mass_balance import (
    ACCUMULATION_SETS,
    DEFAULT_PREDICTOR,
    SELECTION_RULES,
    UNITS,
    MassBalanceWarning,
    SeasonRule,
    format_results,
)
from modeling.mass_balance import (
    run as run_mass_balance,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--mb", type=Path, help="mass-balance table (CSV, either WGMS layout) or WGMS FoG folder")
    parser.add_argument(
        "--links",
        type=Path,
        help="outline id -> WGMS id link table: a WGMS glacier table (RGI/GLIMS id columns) or a two-column CSV "
        "(default: the WGMS glacier table beside --mb, if any)",
    )
    parser.add_argument(
        "--units",
        choices=UNITS,
        default="auto",
        help="units of the annual balance (w.e.); auto: mm for the upper-case layout (as WGMS documents it), from the "
        "values' magnitude for the lower-case one",
    )
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
        "--max-unobserved",
        type=float_in(0, 1),
        default=0.5,
        help="drop scenes with a larger cloud/shadow share of the glacier (0-1)",
    )
    parser.add_argument(
        "--selection", choices=SELECTION_RULES, default="latest", help="scene kept per glacier and balance year"
    )
    parser.add_argument(
        "--season",
        type=int_in(1, 12),
        nargs=2,
        default=(7, 10),
        metavar=("START", "END"),
        help="end-of-season months; the balance year ends with END (later dates: next year)",
    )
    parser.add_argument(
        "--min-years", type=int_in(2, 1000), default=3, help="fewest glacier-years for a glacier-specific fit"
    )
    parser.add_argument("--confidence", type=float_in(0, 1, low_open=True), default=0.95)
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.benchmark:
        args.maps = args.maps or [args.benchmark / "truth" / "maps"]
        args.outlines = args.outlines or args.benchmark / "outlines.gpkg"
        args.mb = args.mb or args.benchmark / "mass_balance.csv"
        args.metadata = args.metadata or args.benchmark / "metadata.json"
    if not args.maps or not args.mb:
        raise UsageError("give --maps and --mb, or --benchmark")
    warnings.simplefilter("ignore", MassBalanceWarning)  # run() returns them as notes
    results = run_mass_balance(
        args.maps,
        args.mb,
        args.out,
        outlines=args.outlines,
        id_column=args.id_column,
        links=args.links,
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
    print(format_results(results))
    print(f"outputs: {args.out}")
    return 0
