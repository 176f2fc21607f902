#!/usr/bin/env python
"""Benchmark building and loading the dataset, each figure next to its limit, measured in one run.

    python scripts/benchmark_dataset.py [--files 4000] [--workdir DIR] [--scenes-only]

1. Released layout: build patches/s vs a bare sequential rasterio read of the same files, and the
   peak memory of builds of N and 2N files (each in a fresh process): flat memory means the
   build streams.
2. Scenes plus points: patches/s cut from a scene already in memory, next to plain copies of the same bytes.
3. Loading: float32 torch patches/s from the built dataset vs reading the GeoTIFF patches directly.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

from dataset_builder.builder import build_dataset
from dataset_builder.loading import TorchPatches, load_facies, torch_loader
from dataset_builder.released import scan_released
from dataset_builder.scenes import PatchCutter
from dataset_builder.testing import write_fake_released

PEAK_RSS = """
import resource, sys
from dataset_builder.builder import build_dataset
build_dataset(sys.argv[1], sys.argv[2], progress=False, rows_per_shard=2000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_build_mb(source: Path, out: Path) -> float:
    """Peak resident memory (MB) of a build in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(source), str(out)], check=True, capture_output=True, text=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def bench_released(work: Path, n_files: int) -> None:
    per_fold = n_files // 6
    small, large = work / "small", work / "large"
    print(f"writing {6 * per_fold} + {12 * per_fold} fake label GeoTIFFs ...", flush=True)
    write_fake_released(small, per_fold=per_fold, seed=1, glaciers_per_fold=3)
    write_fake_released(large, per_fold=2 * per_fold, seed=2, glaciers_per_fold=3)
    files = scan_released(large)
    t = time.perf_counter()
    for f in files:
        with rasterio.open(f.path) as src:
            src.read()
    bare = len(files) / (time.perf_counter() - t)
    t = time.perf_counter()
    build_dataset(large, work / "built", progress=False, workers=2)
    built = len(files) / (time.perf_counter() - t)
    print("\n[1] build from the released layout")
    print(f"    bare rasterio read (1 thread): {bare:9.0f} patches/s")
    print(
        f"    build_dataset (2 workers)    : {built:9.0f} patches/s   ratio {built / bare:.2f} of the bare read (aim >= 0.5)"
    )
    mb_small = peak_build_mb(small, work / "built-small")
    mb_large = peak_build_mb(large, work / "built-large")
    print(f"    peak RSS, {6 * per_fold:6d} files: {mb_small:7.0f} MB")
    print(f"    peak RSS, {12 * per_fold:6d} files: {mb_large:7.0f} MB   ratio {mb_large / mb_small:.2f} (flat = ~1.0)")


def bench_scene_cut(n_points: int = 50_000, batch: int = 2048, repeats: int = 3) -> None:
    """Patches/s cut from an 11 x 2000 x 2000 float32 scene in memory, in batches of ``batch`` (as ``iter_scenes``),
    next to plain copies of the same bytes: into a buffer allocated once (the ceiling) and into a new array per
    batch (what any function returning fresh patches pays); repeats interleaved, medians."""
    rng = np.random.default_rng(0)
    image = rng.random((11, 2000, 2000), dtype=np.float32)
    rows, cols = rng.integers(0, 2000, n_points), rng.integers(0, 2000, n_points)
    start = time.perf_counter()
    cutter = PatchCutter(image)
    setup = time.perf_counter() - start
    block, copy = np.ones((batch, 11, 33, 33), np.float32), np.empty((batch, 11, 33, 33), np.float32)
    runs = {
        "cut": lambda s: cutter(rows[s : s + batch], cols[s : s + batch]),
        "copy": lambda s: np.copyto(copy, block),
        "fresh": lambda s: block.copy(),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t = time.perf_counter()
            for s in range(0, n_points, batch):
                run(s)
            seconds[name].append(time.perf_counter() - t)
    rate = {name: n_points / float(np.median(t)) for name, t in seconds.items()}
    print(f"\n[2] scenes plus points ({n_points} random patches in batches of {batch}, median of {repeats})")
    print(
        f"    cut from an 11 x 2000 x 2000 scene in memory: {rate['cut']:9.0f} patches/s (aim > 50000); set-up {setup:.2f} s"
    )
    print(
        f"    plain copy of the same bytes (ceiling)      : {rate['copy']:9.0f} patches/s   ratio {rate['cut'] / rate['copy']:.2f}"
    )
    print(
        f"    copy into a new array per batch             : {rate['fresh']:9.0f} patches/s   ratio {rate['cut'] / rate['fresh']:.2f}"
    )


def bench_loading(work: Path) -> None:
    split = load_facies(work / "built", "full")["fold_0"]
    view = TorchPatches(split)
    t = time.perf_counter()
    n = sum(len(y) for _, y in torch_loader(view, batch_size=512, shuffle=True))
    loaded = n / (time.perf_counter() - t)
    files = [f for f in scan_released(work / "large") if f.fold == 0]
    t = time.perf_counter()
    for start in range(0, len(files), 512):
        batch = []
        for f in files[start : start + 512]:
            with rasterio.open(f.path) as src:
                batch.append(src.read())
        np.stack(batch).astype(np.float32)
    direct = len(files) / (time.perf_counter() - t)
    print("\n[3] loading float32 batches of 512, shuffled")
    print(f"    TorchPatches over the built Parquet dataset: {loaded:9.0f} patches/s ({loaded / 512:.1f} batches/s)")
    print(f"    reading the GeoTIFF patches directly       : {direct:9.0f} patches/s   ratio {loaded / direct:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--files", type=int, default=4000, help="label files in the smaller build (the larger has twice)"
    )
    parser.add_argument("--workdir", type=Path, help="where to write (default: a temporary folder)")
    parser.add_argument(
        "--scenes-only", action="store_true", help="run section 2 only (cutting patches from a scene in memory)"
    )
    args = parser.parse_args()
    if args.scenes_only:
        bench_scene_cut()
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        bench_released(work, args.files)
        bench_scene_cut()
        bench_loading(work)


if __name__ == "__main__":
    main()
