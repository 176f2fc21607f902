"""Convert the authors' Keras HDF5 weights to FaciesCNN ``from_pretrained`` folders (h5py only, no TensorFlow).

    glacier-facies convert WEIGHTS.h5 OUT_DIR [--bands B ...] [--stats DATASET_FOLDER]
    glacier-facies convert WEIGHTS_FOLDER OUT_ROOT [--stats DATASET_FOLDER]

A folder converts every ``*.h5`` under it to ``OUT_ROOT/<relative folder>/<file stem>``. The authors' 18 published
files are recognised by their sha256 (their config then records the registry entry); ``glacier-facies published``
writes them by name as hub-ready folders.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dataset_builder.statistics import DatasetStatistics
from modeling.network import convert_folder, convert_keras_weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="a Keras .h5 weight file, or a folder of them")
    parser.add_argument("out_dir", type=Path, help="output folder (for a source folder: the root of the outputs)")
    parser.add_argument("--bands", nargs="+", help="input band names, in order (default: by the file's channel count)")
    parser.add_argument("--stats", type=Path, help="built dataset folder (or statistics.json) for the normalisation")
    parser.add_argument(
        "--per-glacier-elevation-scaling",
        action="store_true",
        help="record that elevation must be min-max scaled per glacier before the global scaling",
    )


def run(args: argparse.Namespace) -> int:
    options = {
        "bands": args.bands,
        "statistics": DatasetStatistics.load(args.stats) if args.stats else None,
        "per_glacier_elevation_scaling": args.per_glacier_elevation_scaling,
    }
    if args.source.is_dir():
        outputs = convert_folder(args.source, args.out_dir, **options)
    else:
        convert_keras_weights(args.source, args.out_dir, **options)
        outputs = [args.out_dir]
    for out in outputs:
        print(out)
    return 0
