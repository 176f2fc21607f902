#!/usr/bin/env python
"""Convert the authors' Keras HDF5 weights to FaciesCNN ``from_pretrained`` folders (h5py only, no TensorFlow).

    python scripts/convert_keras_weights.py WEIGHTS.h5 OUT_DIR [--bands B ...] [--stats DATASET_FOLDER]
    python scripts/convert_keras_weights.py WEIGHTS_FOLDER OUT_ROOT [--stats DATASET_FOLDER]

A folder converts every ``*.h5`` under it to ``OUT_ROOT/<relative folder>/<file stem>``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dataset_builder.statistics import DatasetStatistics
from modeling.network import convert_folder, convert_keras_weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a Keras .h5 weight file, or a folder of them")
    parser.add_argument("out_dir", type=Path, help="output folder (for a source folder: the root of the outputs)")
    parser.add_argument("--bands", nargs="+", help="input band names, in order (default: by the file's channel count)")
    parser.add_argument("--stats", type=Path, help="built dataset folder (or statistics.json) for the normalisation")
    parser.add_argument(
        "--per-glacier-elevation-scaling",
        action="store_true",
        help="record that elevation must be min-max scaled per glacier before the global scaling",
    )
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
