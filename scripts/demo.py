#!/usr/bin/env python
"""The main job: the end-to-end demo on the embedded synthetic default data.

python scripts/demo.py [--quick] [--outputs DIR] [--dataset DIR] [--seed N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modeling.demo import DemoPaths, DemoProfile, run_demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller, faster profile (smoke tests)")
    parser.add_argument("--outputs", type=Path, default=Path("outputs"), help="where sources, figures and reports go")
    parser.add_argument("--dataset", type=Path, default=Path("glacier-facies"), help="the built dataset folder")
    parser.add_argument("--seed", type=int, help="synthetic benchmark seed (default: the embedded default's)")
    args = parser.parse_args(argv)
    profile = DemoProfile.quick() if args.quick else DemoProfile.default()
    run_demo(DemoPaths(outputs=args.outputs, dataset=args.dataset), profile, seed=args.seed)


if __name__ == "__main__":
    main()
