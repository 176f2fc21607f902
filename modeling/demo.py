"""The end-to-end demo on the embedded synthetic default data: every job, one command.

Stages run in order, each timed; outputs go under one folder (default ``./outputs``), the built
dataset to ``./glacier-facies`` so that ``load_dataset("glacier-facies", "pruned")`` works from
the working directory.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from dataset_builder.builder import build_dataset
from dataset_builder.quicklook import write_quicklooks
from dataset_builder.synthetic import SyntheticConfig, generate


@dataclass
class DemoPaths:
    """Where the demo writes."""

    outputs: Path = Path("outputs")
    dataset: Path = Path("glacier-facies")

    @property
    def synthetic(self) -> Path:
        return self.outputs / "synthetic"

    @property
    def quicklooks(self) -> Path:
        return self.outputs / "quicklooks"


@dataclass
class StageTimer:
    """Prints each stage as it starts and ends, and keeps the seconds each took."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        print(f"== {name}: {self.seconds[name]:.1f} s", flush=True)

    def format(self) -> str:
        total = sum(self.seconds.values())
        lines = [f"  {name:32s} {s:7.1f} s" for name, s in self.seconds.items()]
        return "\n".join(["stage timings:", *lines, f"  {'total':32s} {total:7.1f} s"])


def run_demo(paths: DemoPaths = DemoPaths(), *, quick: bool = False, seed: int | None = None) -> StageTimer:
    """Generate the synthetic benchmark, build the dataset and write the quick-looks."""
    timer = StageTimer()
    config = SyntheticConfig.quick() if quick else SyntheticConfig()
    if seed is not None:
        config = SyntheticConfig(**{**config.__dict__, "seed": seed})
    with timer.stage("generate synthetic benchmark"):
        summary = generate(paths.synthetic, config)
        print(summary.format())
    with timer.stage("build the dataset"):
        report = build_dataset(paths.synthetic / "patches", paths.dataset)
        print(f"{paths.dataset}: {report.num_rows} rows in {report.seconds:.1f} s")
    with timer.stage("quick-looks"):
        written = write_quicklooks(paths.synthetic, paths.quicklooks, summary.counts)
        print(f"{len(written)} PNGs in {paths.quicklooks}")
    print()
    print(timer.format())
    print(
        "\nwhere everything is:\n"
        f"  synthetic sources and truth : {paths.synthetic}\n"
        f"  built dataset               : {paths.dataset}   (load_dataset('{paths.dataset}', 'pruned'))\n"
        f"  quick-looks and histogram   : {paths.quicklooks}"
    )
    return timer
