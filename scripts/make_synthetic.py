#!/usr/bin/env python
"""Generate the synthetic glacier facies benchmark and print its summary.

    python scripts/make_synthetic.py OUT [--seed N] [--glaciers N] [--labels N] [--quick] [--quicklooks DIR]

Exits with 1 when a plausibility check fails (with few labels the class ordering may not hold).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from dataset_builder.quicklook import write_quicklooks
from dataset_builder.synthetic import SyntheticConfig, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output folder (replaced atomically when complete)")
    parser.add_argument("--seed", type=int, help="random seed (default: the embedded default data's)")
    parser.add_argument("--glaciers", type=int, help="number of glaciers (at least 6; default 12)")
    parser.add_argument("--labels", type=int, help="target number of point labels (default 2400)")
    parser.add_argument("--quick", action="store_true", help="small benchmark: 6 glaciers, 192 px scenes")
    parser.add_argument(
        "--quicklooks", metavar="DIR", help="also write per-scene quick-look PNGs and a class histogram"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    config = SyntheticConfig.quick() if args.quick else SyntheticConfig()
    overrides = {"seed": args.seed, "n_glaciers": args.glaciers, "n_labels": args.labels}
    try:
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as error:
        parser.error(str(error))
    summary = generate(args.out, config, progress=not args.no_progress)
    print(summary.format())
    if args.quicklooks:
        written = write_quicklooks(args.out, args.quicklooks, summary.counts)
        print(f"quick-looks: {len(written)} PNGs in {args.quicklooks}")
    if not summary.plausibility.passed:
        print("WARNING: some plausibility checks failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
