#!/usr/bin/env python
"""Map glacier facies on whole scenes: dense inference with FaciesCNN, many scenes on a Dask cluster.

    python scripts/map_scene.py SCENE [SCENE ...] --model MODEL --outlines OUTLINES --dem DEM --out OUT [options]

A SCENE is a multi-band GeoTIFF with band descriptions, a Landsat Collection 2 Level-2 folder or a
Sentinel-2 L2A product folder (``--scene-list FILE``: one per line). MODEL is a FaciesCNN folder or hub
id (``--statistics DATASET`` adds the normalisation converted weights lack). OUT receives per scene
``{scene}_facies.tif`` (COG, colour table), ``_facies.qml``, ``_confidence.tif``, ``_quicklook.png``,
``_areas.csv`` and ``_mapping.json``. Scenes are distributed over a local Dask cluster (``--workers``),
an existing one (``--scheduler ADDRESS``), or mapped in this process (``--workers 0``); finished scenes
are skipped on re-runs, failed ones retried and reported (exit status 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modeling.mapping import DEFAULT_TILE, MODES, MappingOptions, ModelSpec, SceneJob, load_model, map_many


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", nargs="*", type=Path, help="scene GeoTIFFs or product folders")
    parser.add_argument("--scene-list", type=Path, help="text file with one scene path per line")
    parser.add_argument("--model", required=True, help="FaciesCNN folder or hub repo id")
    parser.add_argument("--statistics", help="built dataset folder whose statistics.json normalises the inputs")
    parser.add_argument(
        "--outlines", required=True, type=Path, help="glacier outlines (GeoPackage, GeoJSON, shapefile, ...)"
    )
    parser.add_argument("--id-column", help="glacier id column of the outlines (default: glacier, rgi_id, RGIId, ...)")
    parser.add_argument("--dem", action="append", default=[], type=Path, help="DEM file or folder (repeatable)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--mode", choices=MODES, default="dense", help="inference mode (default dense)")
    parser.add_argument("--tile-size", type=int, default=DEFAULT_TILE, help="inference tile in pixels")
    parser.add_argument("--smooth", action="store_true", help="3x3 mode filter of the class map (as published)")
    parser.add_argument("--glaciers", help="comma-separated glacier ids to map (default: all the scene covers)")
    parser.add_argument("--date", help="acquisition date YYYY-MM-DD (overrides the metadata)")
    parser.add_argument("--sensor", help="sensor name (overrides the metadata)")
    parser.add_argument("--sun-azimuth", type=float, help="degrees clockwise from north (overrides the metadata)")
    parser.add_argument("--sun-elevation", type=float, help="degrees above the horizon (overrides the metadata)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    parser.add_argument("--workers", type=int, default=2, help="local cluster worker processes; 0 = no cluster")
    parser.add_argument("--threads-per-worker", type=int, default=1, help="threads per worker (torch threads)")
    parser.add_argument("--retries", type=int, default=1, help="extra attempts of a failed scene")
    parser.add_argument("--overwrite", action="store_true", help="map scenes whose outputs are complete, too")
    args = parser.parse_args(argv)
    if args.scene_list:
        args.scenes += [Path(line.strip()) for line in args.scene_list.read_text().splitlines() if line.strip()]
    if not args.scenes:
        parser.error("no scenes: give SCENE arguments or --scene-list")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = MappingOptions(
        mode=args.mode,
        tile_size=args.tile_size,
        smooth=args.smooth,
        glaciers=tuple(g.strip() for g in args.glaciers.split(",") if g.strip()) if args.glaciers else None,
    )
    spec = ModelSpec(args.model, args.statistics)
    load_model(spec)  # a model that cannot be loaded fails here, once, with its own message
    jobs = [
        SceneJob(
            str(scene),
            str(args.out),
            str(args.outlines),
            tuple(map(str, args.dem)),
            options,
            args.id_column,
            args.date,
            args.sensor,
            args.sun_azimuth,
            args.sun_elevation,
        )
        for scene in args.scenes
    ]
    report = map_many(
        jobs,
        spec,
        scheduler=args.scheduler,
        n_workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        retries=args.retries,
        overwrite=args.overwrite,
        on_result=lambda scene, state: print(f"{state:>8} {scene}", flush=True),
    )
    print(report.format())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
