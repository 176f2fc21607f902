"""Map glacier facies on whole scenes: dense inference with FaciesCNN, many scenes on a Dask cluster.

    glacier-facies map SCENE [SCENE ...] --model MODEL --outlines OUTLINES --dem DEM --out OUT [options]

A SCENE is a multi-band GeoTIFF with band descriptions, a Landsat Collection 2 Level-2 folder (or its MTL), or a
Sentinel-2 L2A product as a .SAFE folder, .SAFE.zip, MTD_MSIL2A.xml, GRANULE folder, folder of band files or
STAC COG folder (``--scene-list FILE``: one per line; Landsat and Sentinel-2 may be mixed). MODEL is a FaciesCNN
folder or hub id (``--statistics DATASET`` adds the normalisation converted weights lack). OUT receives per scene
``{scene}_facies.tif`` (COG, colour table; pixels the product flags as cloud, shadow, cirrus, saturated or
defective are 254, unobserved, unless ``--cloud-mask model``), ``_facies.qml``, ``_confidence.tif``,
``_quicklook.png``, ``_areas.csv`` and ``_mapping.json``, and ``areas.csv`` for all its scenes. Scenes are
distributed over a local Dask cluster (``--workers``), an existing one (``--scheduler ADDRESS``), or mapped in
this process (``--workers 0``); finished scenes are skipped on re-runs, failed ones retried and reported (exit
status 1).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modeling.cli.options import UsageError, comma_list, float_in, int_in
from modeling.mapping import (
    CLOUD_MASKS,
    DEFAULT_TILE,
    MODES,
    MappingOptions,
    ModelSpec,
    SceneJob,
    load_model,
    map_many,
)

#: Most scenes one run takes (arguments plus --scene-list).
MAX_SCENES = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenes", nargs="*", type=Path, help="scene GeoTIFFs, product folders, archives or metadata files"
    )
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
    parser.add_argument(
        "--tile-size", type=int_in(8, 16384), default=DEFAULT_TILE, help="inference tile in pixels (8-16384)"
    )
    parser.add_argument("--smooth", action="store_true", help="3x3 mode filter of the class map (as published)")
    parser.add_argument(
        "--cloud-mask",
        choices=CLOUD_MASKS,
        default="product",
        help="product: pixels the product flags as cloud/shadow/cirrus are unobserved (default); model: keep the "
        "model's own cloud and shadow classes (saturated and defective pixels are unobserved either way)",
    )
    parser.add_argument(
        "--glaciers", type=comma_list, help="comma-separated glacier ids (default: all the scene covers)"
    )
    parser.add_argument("--date", help="acquisition date YYYY-MM-DD (overrides the metadata)")
    parser.add_argument("--sensor", help="sensor name (overrides the metadata)")
    parser.add_argument(
        "--sun-azimuth", type=float_in(0, 360), help="degrees clockwise from north (overrides the metadata)"
    )
    parser.add_argument(
        "--sun-elevation", type=float_in(0, 90), help="degrees above the horizon (overrides the metadata)"
    )
    parser.add_argument(
        "--boa-offset",
        type=float_in(-10000, 10000),
        help="Sentinel-2 L2A BOA offset in DN where no metadata tells it (-1000 from processing baseline 04.00 on, 0 "
        "before); overrides the product's",
    )
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    parser.add_argument(
        "--workers", type=int_in(0, 256), default=2, help="local cluster worker processes; 0 = no cluster"
    )
    parser.add_argument("--threads-per-worker", type=int_in(1, 256), default=1, help="threads per worker")
    parser.add_argument("--retries", type=int_in(0, 10), default=1, help="extra attempts of a failed scene")
    parser.add_argument("--overwrite", action="store_true", help="map scenes whose outputs are complete, too")


def scene_paths(args: argparse.Namespace) -> list[Path]:
    """The scenes named on the command line and in ``--scene-list``, at most :data:`MAX_SCENES`."""
    scenes = list(args.scenes)
    if args.scene_list:
        with open(args.scene_list, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    scenes.append(Path(line.strip()))
                if len(scenes) > MAX_SCENES:
                    raise UsageError(f"{args.scene_list}: more than {MAX_SCENES} scenes; split the run")
    if not scenes:
        raise UsageError("no scenes: give SCENE arguments or --scene-list")
    return scenes


def run(args: argparse.Namespace) -> int:
    scenes = scene_paths(args)
    options = MappingOptions(
        mode=args.mode,
        tile_size=args.tile_size,
        smooth=args.smooth,
        glaciers=args.glaciers,
        cloud_mask=args.cloud_mask,
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
            args.boa_offset,
        )
        for scene in scenes
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
