#!/usr/bin/env python
"""Rehearse the release scale: the whole chain on a synthetic benchmark the size of the released dataset.

    python scripts/benchmark_scale.py [--scale release] [--reference default|none] [--workdir DIR] [--keep]
        [--bare-read-files N] [--train-samples N] [--val-samples N] [--fold 0] [--device auto] [--n-bootstrap 1000]

Stages, each in a fresh process: generation (``SyntheticConfig.release``: 31 glaciers, 93 scenes, 137,592 labels
in the published fold sizes); a bare rasterio read of the label GeoTIFFs and the build from them (released layout);
the build from the scenes plus points; ``load_dataset`` of both configs, first (writing the Arrow cache) and
cached, with random ``TorchPatches`` batches from the cache; one training epoch (train and validate) at 33 px with
the published recipe and at the demo profile's crop, each next to a bare forward+backward+Adam step on one batch
already in memory (timed before and after the epoch); evaluation of out-of-fold probabilities on both label
configs with bootstrap intervals; pruning every row with cleanlab.

Every stage reports wall time, throughput and peak memory: the process's resident high-water mark (VmHWM, which
counts the pages of memory-mapped Arrow files it has read) and the anonymous memory of the process and its worker
processes (sampled every 50 ms: what they hold), and the cores other processes kept busy meanwhile (a shared machine
slows torch's training threads many-fold, so training rates are flagged when they were measured beside other jobs).
The chain first runs at the reference scale (the 2,400-label default), and its anonymous peaks stand beside the
release's: a ratio near 1 at 57 times the labels means memory stays flat.

``--bare-read-files`` reads an even subset of the label files in the bare read; ``--train-samples`` and
``--val-samples`` measure an epoch on that many samples and extrapolate it to the whole epoch (marked so). The
evaluation and pruning stages score simulated out-of-fold probabilities (the true class favoured, so some labels
are flagged): their cost depends on the rows, not on the model. Linux (peak RSS in kB from ``getrusage``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import psutil
import rasterio

from dataset_builder.loading import CACHE_DIR, TorchPatches, load_facies
from dataset_builder.predictions import read_predictions, write_predictions
from dataset_builder.schema import CLASS_NAMES
from dataset_builder.synthetic import generate
from dataset_builder.synthetic.config import SCALES
from dataset_builder.writer import iter_rows
from hub_cards.dataset_folder import build_dataset, prune_dataset
from modeling.evaluation import evaluate_predictions
from modeling.training import TrainConfig, Trainer, init_runtime, load_fold
from modeling.training.data import SplitInputs

#: The published recipe's cost on a GPU (Maslov et al.): 1000 epochs of 7-21 s on one 48 GB GPU.
PUBLISHED_EPOCHS, PUBLISHED_GPU_EPOCH_S = 1000, (7.0, 21.0)
BARE_SECONDS = 5.0  # the bare step is repeated this long (at least twice) before and after the epoch
READ_BATCHES, READ_BATCH = 8, 512  # random TorchPatches batches read from the cached dataset
BUSY_CORES = 0.25  # other jobs' mean cores above which the training rates are flagged


@dataclasses.dataclass
class Measure:
    """One figure of a stage: ``items`` processed in ``seconds`` (``extrapolated`` to the whole when measured on a
    part)."""

    what: str
    seconds: float
    items: float
    unit: str
    extrapolated: bool = False

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("nan")


def pss_anon(pid: int) -> int:
    """Bytes of anonymous memory proportionally attributed to ``pid`` (``Pss_Anon`` of ``/proc/PID/smaps_rollup``);
    ValueError where the kernel does not report it."""
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss_Anon:"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"no Pss_Anon for process {pid}")


class PeakMemory:
    """Peak memory of this process and its worker processes: anonymous pages, each counted once however many
    processes share it (the kernel's proportional ``Pss_Anon``; where it is not reported, resident minus file-backed
    and shared pages, which counts the pages a forked worker still shares with its parent once per process), not
    the memory-mapped files they read; sampled every ``interval`` s by a daemon thread (the workers are looked up
    every ``refresh`` samples), and this process's resident high-water mark (VmHWM)."""

    def __init__(self, interval: float = 0.05, refresh: int = 10) -> None:
        self.process = psutil.Process()
        self.peak_anon = 0
        threading.Thread(target=self._sample, args=(interval, refresh), daemon=True).start()

    def _anon(self, processes: list[psutil.Process]) -> int:
        total = 0
        for process in processes:
            # a worker that has just ended counts nothing
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, psutil.NoSuchProcess):
                try:
                    total += pss_anon(process.pid)
                except (PermissionError, ValueError):
                    memory = process.memory_info()
                    total += memory.rss - memory.shared
        return total

    def _sample(self, interval: float, refresh: int) -> None:
        processes = [self.process]
        for tick in itertools.count():
            if tick % refresh == 0:
                processes = [self.process, *self.process.children(recursive=True)]
            self.peak_anon = max(self.peak_anon, self._anon(processes))
            time.sleep(interval)

    def report(self) -> dict[str, float]:
        """MB: ``rss`` (this process's VmHWM) and ``anon`` (the sampled peak of the process and its workers)."""
        return {
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "anon": max(self.peak_anon, self._anon([self.process])) / 2**20,
        }


class OtherJobs:
    """CPU cores that other processes kept busy while a stage ran: the machine's busy CPU time minus this process's
    and its reaped workers', over the wall time. On a shared machine torch's threads wait for each other and a
    training step can run many times slower than on a quiet one, so a stage's rates are read next to this."""

    def __init__(self) -> None:
        self.started, self.busy, self.own = time.perf_counter(), self._busy(), self._own()

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    @staticmethod
    def _own() -> float:
        times = psutil.Process().cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    def cores(self) -> float:
        """Mean cores used by other processes since this object was made."""
        wall = time.perf_counter() - self.started
        return max(0.0, (self._busy() - self.busy) - (self._own() - self.own)) / wall if wall > 0 else 0.0


def timed(what: str, unit: str, run: Callable[[], float]) -> Measure:
    """Time ``run`` (which returns the number of items it processed)."""
    started = time.perf_counter()
    items = run()
    return Measure(what, time.perf_counter() - started, items, unit)


# -- the stages: each runs in its own process on one scale's folder -----------------------------------------------


def stage_generate(root: Path, args: argparse.Namespace) -> list[Measure]:
    config = SCALES[args.current_scale]()
    summary = generate(root / "synthetic", config, progress=False)
    folds = " / ".join(f"{sum(counts.values()):,}" for counts in summary.counts.values())
    checks = "passed" if summary.plausibility.passed else "FAILED"
    what = (
        f"{summary.n_glaciers} glaciers, {summary.n_scenes} scenes, {summary.n_labels:,} labels (folds {folds}), "
        f"{summary.sizes['total'] / 1e9:.1f} GB, plausibility checks {checks}"
    )
    return [Measure(what, summary.seconds, summary.n_labels, "labels")]


def stage_bare_read(root: Path, args: argparse.Namespace) -> list[Measure]:
    files = sorted((root / "synthetic" / "patches").rglob("*.tif"))
    subset = files
    if args.bare_read_files and args.bare_read_files < len(files):
        subset = [files[i] for i in np.linspace(0, len(files) - 1, args.bare_read_files).astype(int)]

    def read() -> int:
        for path in subset:
            with rasterio.open(path) as src:
                src.read()
        return len(subset)

    what = f"rasterio read, 1 process, {len(subset):,} of {len(files):,} files"
    return [timed(what, "patches", read)]


def stage_build_released(root: Path, args: argparse.Namespace) -> list[Measure]:
    def build() -> int:
        return build_dataset(root / "synthetic" / "patches", root / "dataset", progress=False, workers=2).num_rows

    return [timed("build_dataset, released layout, 2 workers", "patches", build)]


def stage_build_scenes(root: Path, args: argparse.Namespace) -> list[Measure]:
    def build() -> int:
        return build_dataset(root / "synthetic", root / "dataset-scenes", progress=False).num_rows

    return [timed("build_dataset, scenes + points", "patches", build)]


def loading(config: str, first: bool) -> Callable[[Path, argparse.Namespace], list[Measure]]:
    """``load_dataset`` of ``config``, writing the Arrow cache or from it; from the cache, also random batches of
    the largest split through ``TorchPatches`` (the way training reads them)."""

    def stage(root: Path, args: argparse.Namespace) -> list[Measure]:
        cache = any((root / "dataset" / CACHE_DIR).glob(f"*/{config}"))  # datasets' layout: {name}/{config}/...
        if first == cache:
            raise RuntimeError(f"load {config}: the Arrow cache is {'already' if cache else 'not yet'} there")
        loaded = {}

        def load() -> int:
            loaded.update(load_facies(root / "dataset", config))
            return sum(map(len, loaded.values()))

        what = f"load_dataset {config}, {'first (writes the Arrow cache)' if first else 'cached'}"
        measures = [timed(what, "rows", load)]
        if not first:
            name, split = max(loaded.items(), key=lambda item: len(item[1]))
            view, rng = TorchPatches(split), np.random.default_rng(0)

            def read() -> int:
                for _ in range(READ_BATCHES):
                    view.patches(np.sort(rng.integers(0, len(view), READ_BATCH)))
                return READ_BATCHES * READ_BATCH

            what = f"TorchPatches, {READ_BATCHES} random batches of {READ_BATCH} from {name} ({len(view):,} rows)"
            measures.append(timed(what, "patches", read))
        return measures

    return stage


def training(demo_crop: bool) -> Callable[[Path, argparse.Namespace], list[Measure]]:
    def stage(root: Path, args: argparse.Namespace) -> list[Measure]:
        runtime = init_runtime(device=args.device)
        started = time.perf_counter()
        data = load_fold(root / "dataset", args.fold)
        base = TrainConfig.demo(epochs=1, samples_per_epoch=None) if demo_crop else TrainConfig(epochs=1)
        n_train, n_val = len(data.train), len(data.validation)
        part, val_part = min(args.train_samples or n_train, n_train), min(args.val_samples or n_val, n_val)
        trainer = Trainer(data, dataclasses.replace(base, samples_per_epoch=part), runtime)
        if val_part < n_val:
            rows = np.arange(val_part)
            trainer.val_inputs = SplitInputs(data.validation, trainer.model_config, rows, trainer.val_inputs.in_memory)
        setup = time.perf_counter() - started
        head = f"{trainer.model_config.patch_size} px, batch {base.batch_size}, {runtime.device.type}"
        held = "inputs held in memory" if trainer.train_inputs.in_memory else "inputs read per batch"

        def train() -> int:
            return trainer.train_epoch(1)[1]

        def validate() -> int:
            trainer.validate()
            return val_part

        def recalibrate() -> int:
            trainer.recalibrate_batchnorm(1)
            return base.bn_recalibration

        def bare() -> int:
            steps, begun = 0, time.perf_counter()
            while steps < 2 or time.perf_counter() - begun < BARE_SECONDS:
                trainer.step(x, y, w, n)  # returns the loss as a float: waits for the device
                steps += 1
            return steps * len(x)

        x, y, w, n = next(trainer.batches(2))
        trainer.step(x, y, w, n)  # warm-up (allocator, kernels) before any timing
        before = timed(f"{head}: bare forward+backward+Adam, one batch in memory", "samples", bare)
        epoch = timed(f"{head}: train {n_train:,} samples", "samples", train)
        after = timed(before.what, "samples", bare)  # on each side of the epoch: a shared machine drifts
        measures = [
            Measure(f"{head}: load fold {args.fold} + set up ({held})", setup, n_train + n_val, "rows"),
            extrapolate(epoch, n_train),
            Measure(before.what, before.seconds + after.seconds, before.items + after.items, "samples"),
            extrapolate(timed(f"{head}: validate {n_val:,} patches", "patches", validate), n_val),
        ]
        if base.bn_recalibration:
            measures.append(timed(f"{head}: re-estimate BatchNorm statistics", "samples", recalibrate))
        return measures

    return stage


def extrapolate(measure: Measure, items: int) -> Measure:
    """``measure`` scaled to ``items`` at its rate, marked as extrapolated when it measured fewer."""
    if measure.items >= items:
        return measure
    return Measure(measure.what, measure.seconds * items / measure.items, items, measure.unit, extrapolated=True)


def simulated_probabilities(root: Path, seed: int = 0) -> Path:
    """Out-of-fold-like probabilities of every row: the true class (from the generator's truth) favoured by a
    noisy logit, so that wrong labels tend to be flagged. Written to ``root/oof.parquet``."""
    path = root / "oof.parquet"
    if path.is_file():
        return path
    rows = pd.concat(t.to_pandas() for t in iter_rows(root / "dataset", columns=["sample_id", "fold"]))
    truth = pd.read_parquet(root / "synthetic" / "truth" / "labels.parquet", columns=["sample_id", "true_class"])
    true = pd.Categorical(rows.merge(truth, on="sample_id", how="left")["true_class"], categories=CLASS_NAMES)
    logits = np.random.default_rng(seed).normal(0.0, 1.5, (len(rows), len(CLASS_NAMES)))
    logits[np.arange(len(rows)), true.codes] += 3.0
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    write_predictions(path, rows["sample_id"].to_numpy(), rows["fold"].to_numpy(), proba / proba.sum(1, keepdims=True))
    return path


def stage_evaluate(root: Path, args: argparse.Namespace) -> list[Measure]:
    predictions = read_predictions(simulated_probabilities(root))

    def evaluate() -> int:
        evaluate_predictions(root / "dataset", predictions, n_bootstrap=args.n_bootstrap)
        return len(predictions.sample_id)

    return [
        timed(f"evaluate_predictions, pruned + full labels, {args.n_bootstrap} bootstrap resamples", "rows", evaluate)
    ]


def stage_prune(root: Path, args: argparse.Namespace) -> list[Measure]:
    path = simulated_probabilities(root)
    outcome: dict = {}

    def prune() -> int:
        outcome["result"], _ = prune_dataset(root / "dataset", [path], progress=False)
        return outcome["result"].num_rows

    measure = timed("prune_dataset (cleanlab) + rewrite", "rows", prune)
    measure.what += f": {outcome['result'].num_flagged:,} flagged"
    return [measure]


#: The chain, in order: stage key -> (title, function).
STAGES: dict[str, tuple[str, Callable[[Path, argparse.Namespace], list[Measure]]]] = {
    "generate": ("generate", stage_generate),
    "bare-read": ("bare read of the label files", stage_bare_read),
    "build-released": ("build, released layout", stage_build_released),
    "build-scenes": ("build, scenes + points", stage_build_scenes),
    "load-full-first": ("load full, first", loading("full", first=True)),
    "load-full-cached": ("load full, cached", loading("full", first=False)),
    "load-pruned-first": ("load pruned, first", loading("pruned", first=True)),
    "load-pruned-cached": ("load pruned, cached", loading("pruned", first=False)),
    "train-33": ("training epoch, 33 px", training(demo_crop=False)),
    "train-demo": ("training epoch, demo crop", training(demo_crop=True)),
    "evaluate": ("evaluation", stage_evaluate),
    "prune": ("pruning", stage_prune),
}


def run_stage(args: argparse.Namespace) -> None:
    """In the stage's own process: run it and print one JSON line of measures and memory."""
    memory, others = PeakMemory(), OtherJobs()
    measures = STAGES[args.stage][1](args.root, args)
    measured = [dataclasses.asdict(m) for m in measures]
    print(json.dumps({"measures": measured, "memory": memory.report(), "other_cores": others.cores()}))


# -- the driver ---------------------------------------------------------------------------------------------------


def after_stage(root: Path, stage: str, keep: bool) -> None:
    """Free the disk of what later stages no longer read (unless ``keep``)."""
    if stage == "build-scenes" and not keep:
        for folder in ("dataset-scenes", "synthetic/patches", "synthetic/scenes", "synthetic/truth/maps"):
            shutil.rmtree(root / folder, ignore_errors=True)


def run_chain(root: Path, scale: str, argv: list[str], keep: bool) -> dict[str, dict]:
    """Every stage at ``scale`` in a fresh process; returns stage -> its JSON report."""
    results = {}
    for stage, (title, _) in STAGES.items():
        print(f"[{scale}] {title} ...", end=" ", flush=True)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, *argv, "--stage", stage, "--root", str(root), "--current-scale", scale],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(f"stage {stage} at scale {scale} failed:\n{done.stderr[-4000:]}")
        results[stage] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{time.perf_counter() - started:.1f} s (the process, imports included)", flush=True)
        after_stage(root, stage, keep)
    return results


def print_table(scale: str, reference: str | None, results: dict, ref_results: dict | None) -> None:
    ref_head = f" | {reference} anon MB | x {reference}" if reference else ""
    print(
        f"\n| stage | what ({scale}) | wall s | throughput | other jobs, cores | peak RSS MB | peak anon MB{ref_head} |"
    )
    print("|---|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if reference else ""))
    for stage, (title, _) in STAGES.items():
        memory = results[stage]["memory"]
        for k, m in enumerate(Measure(**m) for m in results[stage]["measures"]):
            mark = " (extrapolated)" if m.extrapolated else ""
            cells = [title if k == 0 else "", m.what, f"{m.seconds:,.1f}{mark}", f"{m.rate:,.0f} {m.unit}/s"]
            if k == 0:
                cells += [f"{results[stage]['other_cores']:.2f}", f"{memory['rss']:,.0f}", f"{memory['anon']:,.0f}"]
                if ref_results:
                    ref = ref_results[stage]["memory"]["anon"]
                    cells += [f"{ref:,.0f}", f"{memory['anon'] / ref:.2f}"]
            else:
                cells += [""] * (5 if reference else 3)
            print("| " + " | ".join(cells) + " |")


def side_by_side(results: dict) -> None:
    """The ratios measured in the same run, and what the published recipe would take here."""

    def get(stage: str, k: int) -> Measure:
        return Measure(**results[stage]["measures"][k])

    bare, build = get("bare-read", 0), get("build-released", 0)
    print("\nside by side, same run:")
    print(f"  build, released layout: {build.rate:,.0f} patches/s, bare rasterio read {bare.rate:,.0f}/s, ", end="")
    print(f"ratio {build.rate / bare.rate:.2f}")
    for stage in ("train-33", "train-demo"):
        train, step = get(stage, 1), get(stage, 2)
        print(f"  {STAGES[stage][0]}: {train.rate:,.0f} samples/s, bare step {step.rate:,.0f}/s, ", end="")
        print(f"ratio {train.rate / step.rate:.2f}")
        if results[stage]["other_cores"] > BUSY_CORES:
            print(
                f"    (other jobs kept {results[stage]['other_cores']:.1f} cores busy: torch's threads slow down "
                "many-fold on a shared machine; time training on a quiet one)"
            )
    epoch = get("train-33", 1).seconds + get("train-33", 3).seconds
    low, high = PUBLISHED_GPU_EPOCH_S
    print(
        f"  the published recipe here: {PUBLISHED_EPOCHS} epochs x {epoch:,.0f} s = "
        f"{PUBLISHED_EPOCHS * epoch / 86400:.1f} days per fold (paper: {low:.0f}-{high:.0f} s per epoch on one 48 GB "
        f"GPU = {PUBLISHED_EPOCHS * low / 3600:.1f}-{PUBLISHED_EPOCHS * high / 3600:.1f} h)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="release", help="the scale rehearsed")
    parser.add_argument("--reference", choices=[*sorted(SCALES), "none"], default="default", help="memory reference")
    parser.add_argument("--workdir", type=Path, help="where to write (default: a temporary folder, removed)")
    parser.add_argument("--keep", action="store_true", help="keep every file (default: free the disk as stages end)")
    parser.add_argument("--bare-read-files", type=int, help="label files of the bare read (default: all)")
    parser.add_argument("--train-samples", type=int, help="training samples measured per epoch (default: all)")
    parser.add_argument("--val-samples", type=int, help="validation patches measured per epoch (default: all)")
    parser.add_argument("--fold", type=int, default=0, help="test fold of the training epochs")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="training device")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples of the evaluation")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--current-scale", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        run_stage(args)
        return 0
    passed = list(sys.argv[1:] if argv is None else argv)
    scales = ([] if args.reference in ("none", args.scale) else [args.reference]) + [args.scale]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="benchmark-scale-"))
    results, started = {}, time.perf_counter()
    try:
        for scale in scales:
            results[scale] = run_chain(work / scale, scale, passed, args.keep)
            if not args.keep:
                shutil.rmtree(work / scale)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    reference = scales[0] if len(scales) > 1 else None
    print(
        f"\n{' '.join(['python scripts/benchmark_scale.py', *passed])}: {(time.perf_counter() - started) / 60:.1f} min"
    )
    print_table(args.scale, reference, results[args.scale], results.get(reference))
    side_by_side(results[args.scale])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
