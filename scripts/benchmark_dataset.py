#!/usr/bin/env python
"""Benchmark building, loading and re-publishing the dataset, each figure next to its limit, measured in one run.

    python scripts/benchmark_dataset.py [--files 4000] [--workdir DIR] [--scenes-only]

1. Released layout: build patches/s vs a bare sequential rasterio read of the same files, and the
   peak memory of builds of N and 2N files (each in a fresh process): flat memory means the
   build streams.
2. Scenes plus points: patches/s cut from a scene already in memory, next to plain copies of the same bytes.
3. Loading: float32 torch patches/s from the built dataset, per sample, through a plain DataLoader and through the
   batched path (torch_loader), vs reading the GeoTIFF patches directly.
4. Re-publishing after pruning: the bytes a push must send after a prune and after a re-prune, with the previous
   Parquet settings, with content-defined chunking as ``datasets`` sizes it and with the current settings: whole
   files that changed (what a file-level upload sends) and new ~64 KiB content-defined chunks (what the hub's
   chunk-deduplicating storage receives; estimated here with a gear-hash chunker like the hub's).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import torch
from datasets import concatenate_datasets
from torch.utils.data import DataLoader

from dataset_builder import writer
from dataset_builder.loading import TorchPatches, load_facies, torch_loader
from dataset_builder.predictions import write_predictions
from dataset_builder.released import scan_released
from dataset_builder.scenes import PatchCutter
from dataset_builder.schema import CLASS_NAMES, FACIES_CLASSES
from dataset_builder.testing import write_fake_released
from hub_cards.dataset_folder import build_dataset, prune_dataset

PEAK_RSS = """
import resource, sys
from hub_cards.dataset_folder import build_dataset
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


class PerSample(torch.utils.data.Dataset):
    """A view read one sample at a time (no ``__getitems__``): what a naive map-style dataset costs."""

    def __init__(self, view: TorchPatches):
        self.view = view

    def __len__(self) -> int:
        return len(self.view)

    def __getitem__(self, index: int) -> dict:
        return self.view[index]


def patches_per_second(batches) -> float:
    t = time.perf_counter()
    n = sum(len(batch["label"]) for batch in batches)
    return n / (time.perf_counter() - t)


def bench_loading(work: Path, batch_size: int = 512) -> None:
    view = TorchPatches(concatenate_datasets(list(load_facies(work / "built", "full").values())))
    rates = {
        "one sample at a time (no __getitems__)": patches_per_second(
            DataLoader(PerSample(view), batch_size=batch_size, shuffle=True)
        ),
        "plain DataLoader(TorchPatches)": patches_per_second(DataLoader(view, batch_size=batch_size, shuffle=True)),
        "batched path, torch_loader": patches_per_second(torch_loader(view, batch_size=batch_size, shuffle=True)),
    }
    files = scan_released(work / "large")
    t = time.perf_counter()
    for start in range(0, len(files), batch_size):
        batch = []
        for f in files[start : start + batch_size]:
            with rasterio.open(f.path) as src:
                batch.append(src.read())
        np.stack(batch).astype(np.float32)
    direct = len(files) / (time.perf_counter() - t)
    print(f"\n[3] loading float32 batches of {batch_size}, shuffled, {len(view)} patches, 0 workers")
    for name, rate in rates.items():
        print(f"    {name:40s}: {rate:9.0f} patches/s   ratio {rate / direct:5.1f}x the GeoTIFF read")
    print(f"    {'reading the GeoTIFF patches directly':40s}: {direct:9.0f} patches/s")


#: Parquet settings compared in section 4: before content-defined chunking, CDC sized as ``datasets`` sizes it, now.
PARQUET_SETTINGS = {
    "previous (no CDC, no page index)": {
        k: v for k, v in writer.PARQUET_OPTIONS.items() if k in ("compression", "use_dictionary")
    },
    "CDC 256 KiB-1 MiB (datasets' size)": {
        **writer.PARQUET_OPTIONS,
        "use_content_defined_chunking": {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0},
    },
    "CDC 16-64 KiB (current)": dict(writer.PARQUET_OPTIONS),
}
#: Content-defined chunks of the upload estimate: gear hash over the last 16 bytes, ~64 KiB mean, 8-128 KiB.
GEAR = np.random.default_rng(0).integers(0, 2**16, 256, dtype=np.uint16)
CHUNK_BITS, MIN_CHUNK, MAX_CHUNK, BLOCK = 16, 8 * 1024, 128 * 1024, 16 * 1024 * 1024


@contextlib.contextmanager
def parquet_options(options: dict):
    """Write shards with ``options`` instead of ``writer.PARQUET_OPTIONS`` inside the block."""
    saved = dict(writer.PARQUET_OPTIONS)
    writer.PARQUET_OPTIONS.clear()
    writer.PARQUET_OPTIONS.update(options)
    try:
        yield
    finally:
        writer.PARQUET_OPTIONS.clear()
        writer.PARQUET_OPTIONS.update(saved)


def chunk_ends(data: np.ndarray) -> list[int]:
    """End offsets of the content-defined chunks of ``data`` (uint8): a cut where the 16-bit gear hash of the last
    16 bytes is 0, none closer than MIN_CHUNK to the previous cut, one forced every MAX_CHUNK."""
    found = []
    for start in range(0, len(data), BLOCK):
        lo = max(start - CHUNK_BITS + 1, 0)
        gear = GEAR[data[lo : start + BLOCK]]
        hashed = gear.copy()
        for shift in range(1, CHUNK_BITS):
            hashed[shift:] += gear[:-shift] << np.uint16(shift)
        found.append(np.flatnonzero(hashed[start - lo :] == 0) + start + 1)
    ends, last = [], 0
    for end in [*np.concatenate(found).tolist(), len(data)]:
        while end - last > MAX_CHUNK:
            last += MAX_CHUNK
            ends.append(last)
        if end - last >= MIN_CHUNK or (end == len(data) and end > last):
            ends.append(end)
            last = end
    return ends


def upload_content(folder: Path) -> tuple[dict[bytes, int], dict[bytes, int]]:
    """The files a push uploads, as {sha256: bytes} of whole files and {digest: bytes} of their chunks."""
    files, chunks = {}, {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts):
        data = np.frombuffer(path.read_bytes(), np.uint8)
        files[hashlib.sha256(data).digest()] = len(data)
        last = 0
        for end in chunk_ends(data):
            chunks[hashlib.blake2b(data[last:end], digest_size=16).digest()] = end - last
            last = end
    return files, chunks


def prune_flagging(folder: Path, wrong_ids: np.ndarray) -> int:
    """Prune with confident out-of-fold probabilities that disagree with the labels of samples ``wrong_ids``."""
    rows = pd.concat(t.to_pandas() for t in writer.iter_rows(folder, columns=["sample_id", "label", "fold"]))
    labels = rows["label"].to_numpy()
    wrong = np.flatnonzero(rows["sample_id"].isin(wrong_ids))
    target = labels.copy()
    target[wrong] = (labels[wrong] + 1) % 4
    proba = np.full((len(rows), len(CLASS_NAMES)), 0.02 / (len(CLASS_NAMES) - 1))
    proba[np.arange(len(rows)), target] = 0.98
    write_predictions(folder.parent / "oof.parquet", rows["sample_id"], rows["fold"], proba)
    result, _ = prune_dataset(folder, [folder.parent / "oof.parquet"], progress=False)
    return result.num_flagged


def bench_reprune_upload(work: Path, share: float = 0.16, changed: float = 0.2, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    rows = pd.concat(t.to_pandas() for t in writer.iter_rows(work / "built", columns=["sample_id", "label"]))
    labels = rows["label"].to_numpy()
    facies = rows["sample_id"].to_numpy()[np.isin(labels, [CLASS_NAMES.index(c) for c in FACIES_CLASSES])]
    first = rng.choice(facies, int(share * len(facies)), replace=False)
    kept = rng.choice(first, int((1 - changed) * len(first)), replace=False)
    second = np.union1d(kept, rng.choice(np.setdiff1d(facies, first), len(first) - len(kept), replace=False))
    print(
        f"\n[4] bytes a push sends after pruning {len(labels)} rows (prune: {share:.0%} of the facies labels flagged; "
        f"re-prune: {changed:.0%} of those flags moved to other rows)"
    )
    print(f"    {'Parquet settings':36s} {'step':20s} {'total MB':>9s} {'changed files':>18s} {'new chunks':>18s}")
    for name, options in PARQUET_SETTINGS.items():
        folder = work / "upload" / "ds"
        shutil.rmtree(folder.parent, ignore_errors=True)
        shutil.copytree(work / "built", folder, ignore=shutil.ignore_patterns(".*"))
        with parquet_options(options):
            prune_flagging(folder, np.array([], dtype=object))  # the unpruned build, written with these settings
            states, flagged = [upload_content(folder)], []
            for wrong in (first, second):
                flagged.append(prune_flagging(folder, wrong))
                states.append(upload_content(folder))
        steps = (f"prune ({flagged[0]} flagged)", *states[:2]), (f"re-prune ({flagged[1]})", *states[1:])
        for step, before, after in steps:
            total = sum(after[0].values())
            new_files = sum(size for digest, size in after[0].items() if digest not in before[0])
            new_chunks = sum(size for digest, size in after[1].items() if digest not in before[1])
            print(
                f"    {name:36s} {step:20s} {total / 1e6:9.1f} {new_files / 1e6:10.1f} ({new_files / total:4.0%})"
                f" {new_chunks / 1e6:10.1f} ({new_chunks / total:4.0%})"
            )
    shutil.rmtree(work / "upload")


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
        bench_reprune_upload(work)


if __name__ == "__main__":
    main()
