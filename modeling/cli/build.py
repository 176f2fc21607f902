"""Build the glacier facies Hugging Face dataset folder from a raw source.

    glacier-facies build SOURCE OUT [--skip-invalid] [--edge pad|skip] [--layout auto|released|scenes] [--overwrite]

SOURCE is a released-layout folder (one GeoTIFF per label, searched recursively) or a
scenes-plus-points folder (points.gpkg|geojson|csv and scene GeoTIFFs under scenes/).
OUT is replaced only when it is a dataset built before (or empty, or missing); anything else
needs --overwrite. OUT is never SOURCE, inside it or around it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dataset_builder.statistics import DatasetStatistics
from dataset_builder.writer import DEFAULT_ROW_GROUP_SIZE, DEFAULT_ROWS_PER_SHARD
from hub_cards.dataset_folder import build_dataset
from modeling.cli.options import int_in


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="raw source folder")
    parser.add_argument("out", type=Path, help="dataset folder to write (replaced atomically)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUT even when it is not a dataset built before"
    )
    parser.add_argument("--layout", choices=("auto", "released", "scenes"), default="auto")
    parser.add_argument(
        "--skip-invalid", action="store_true", help="skip invalid files/rows and count them in the report"
    )
    parser.add_argument(
        "--edge", choices=("pad", "skip"), default="pad", help="scenes layout: patches crossing the scene edge"
    )
    parser.add_argument("--points-crs", help="CRS of x/y in a point table that carries none (e.g. EPSG:32632)")
    parser.add_argument(
        "--rows-per-shard", type=int_in(1, 1_000_000), default=DEFAULT_ROWS_PER_SHARD, help="rows per Parquet shard"
    )
    parser.add_argument(
        "--row-group-size", type=int_in(1, 1_000_000), default=DEFAULT_ROW_GROUP_SIZE, help="rows per row group"
    )
    parser.add_argument("--workers", type=int_in(1, 64), default=2, help="reader processes")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    report = build_dataset(
        args.source,
        args.out,
        layout=args.layout,
        skip_invalid=args.skip_invalid,
        edge=args.edge,
        points_crs=args.points_crs,
        rows_per_shard=args.rows_per_shard,
        row_group_size=args.row_group_size,
        workers=args.workers,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    print(summary(args.out, report.seconds, report.skipped))
    return 0


def summary(folder: Path, seconds: float | None, skipped: dict) -> str:
    """A short text summary of a built dataset folder."""
    stats = DatasetStatistics.load(folder)
    lines = [f"{folder}: {stats.num_rows} rows, bands {', '.join(stats.band_names)} ({stats.dtype})"]
    if seconds is not None:
        lines[0] += f", built in {seconds:.1f} s"
    for config, per_split in stats.class_counts.items():
        rows = {split: sum(c.values()) for split, c in per_split.items()}
        lines.append(f"  {config:7s} " + "  ".join(f"{s}={n}" for s, n in rows.items()))
    if skipped.get("total"):
        lines.append(f"  skipped {skipped['total']}: {json.dumps(skipped['by_reason'])}")
    return "\n".join(lines)
