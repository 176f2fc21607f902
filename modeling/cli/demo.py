"""The main job: the end-to-end demo on the embedded synthetic default data.

glacier-facies demo [--quick] [--outputs DIR] [--dataset DIR] [--seed N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modeling.cli.options import int_in
from modeling.demo import DemoPaths, DemoProfile, run_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a smaller, faster profile (smoke tests)")
    parser.add_argument("--outputs", type=Path, default=Path("outputs"), help="where sources, figures and reports go")
    parser.add_argument("--dataset", type=Path, default=Path("glacier-facies"), help="the built dataset folder")
    parser.add_argument(
        "--seed", type=int_in(0, 2**32 - 1), help="synthetic benchmark seed (default: the embedded default's)"
    )


def run(args: argparse.Namespace) -> int:
    profile = DemoProfile.quick() if args.quick else DemoProfile.default()
    run_demo(DemoPaths(outputs=args.outputs, dataset=args.dataset), profile, seed=args.seed)
    return 0
