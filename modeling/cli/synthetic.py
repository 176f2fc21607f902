"""Generate the synthetic glacier facies benchmark and print its summary.

    glacier-facies synthetic OUT [--scale default|quick|release] [--seed N] [--glaciers N] [--labels N]
                             [--quicklooks DIR] [--overwrite]

``--scale release`` is the size of the released dataset: 31 glaciers, 93 scenes and 137,592 labels with the
published fold sizes exactly (``SyntheticConfig.release``); ``--quick`` is ``--scale quick``. OUT is replaced only
when it is a synthetic benchmark generated before (or empty, or missing); anything else needs --overwrite.

Exits with 1 when a plausibility check fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from dataset_builder.quicklook import write_quicklooks
from dataset_builder.synthetic import generate
from dataset_builder.synthetic.config import SCALES
from modeling.cli.options import UsageError, int_in


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output folder (replaced atomically when complete)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT even when it is not a synthetic benchmark generated before",
    )
    parser.add_argument("--seed", type=int_in(0, 2**32 - 1), help="random seed (default: the embedded default's)")
    parser.add_argument(
        "--glaciers", type=int_in(6, 1000), help="number of glaciers (at least 6; default: the scale's)"
    )
    parser.add_argument(
        "--labels", type=int_in(1, 10_000_000), help="target number of point labels (default: the scale's)"
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="default",
        help="size profile: default (12 glaciers, ~2,400 labels), quick (6 glaciers, 192 px scenes) or release "
        "(31 glaciers, 93 scenes, 137,592 labels in the published fold sizes)",
    )
    size.add_argument("--quick", dest="scale", action="store_const", const="quick", help="the same as --scale quick")
    parser.add_argument(
        "--quicklooks", metavar="DIR", type=Path, help="also write per-scene quick-look PNGs and a class histogram"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    config = SCALES[args.scale]()
    overrides = {"seed": args.seed, "n_glaciers": args.glaciers, "n_labels": args.labels}
    try:
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as error:
        raise UsageError(str(error)) from None
    summary = generate(args.out, config, progress=not args.no_progress, overwrite=args.overwrite)
    print(summary.format())
    if args.quicklooks:
        written = write_quicklooks(args.out, args.quicklooks, summary.counts)
        print(f"quick-looks: {len(written)} PNGs in {args.quicklooks}")
    if not summary.plausibility.passed:
        print("WARNING: some plausibility checks failed", file=sys.stderr)
        return 1
    return 0
