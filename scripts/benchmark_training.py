#!/usr/bin/env python
"""Benchmark training and inference speed on the CPU (or GPU), every figure next to its reference, in one run.

    python scripts/benchmark_training.py DATASET [--fold 0] [--crop 15] [--batch-size 256] [--steps 12] [--rounds 3] [--model DIR]

1. Training: samples/s of the real training loop (data pipeline: reading, normalising, augmenting, plus the
   optimiser step) next to the bare step (focal loss, forward, backward, Adam) on one batch already in memory.
   Both are measured in alternating rounds (the machine is shared); the median round counts. The data
   pipeline may cost at most 15 %. Measured for the in-memory cache and for per-batch Arrow reads.
2. Inference: patches/s of the trained-architecture forward pass at the crop and at 33 x 33, for fp32,
   channels-last, bf16 autocast (where the CPU supports it) and torch.compile, each with its largest
   probability difference to fp32 and its label agreement.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np
import torch

from dataset_builder.schema import PATCH_SIZE
from modeling import FaciesCNN
from modeling.training import TrainConfig, Trainer, centre_crop, init_runtime, load_fold, model_config, model_inputs

#: A trick is kept when it is this much faster and its probabilities stay within ``TOLERANCE`` of fp32.
MIN_GAIN = 1.05
TOLERANCE = 1e-4


def rounds(measures: dict[str, Callable[[], float]], n: int) -> dict[str, float]:
    """Median of ``n`` alternating rounds of each measure (each returns a rate)."""
    results: dict[str, list[float]] = {k: [] for k in measures}
    for _ in range(n):
        for name, measure in measures.items():
            results[name].append(measure())
    return {k: statistics.median(v) for k, v in results.items()}


def bench_training(args: argparse.Namespace) -> None:
    runtime = init_runtime(args.threads)
    data = load_fold(args.dataset, args.fold)
    print(
        f"[1] training step, fold {args.fold}: {len(data.train)} training rows, crop {args.crop}, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, {runtime.device}"
    )
    for cache_gb, label in ((4.0, "in-memory cache"), (0.0, "Arrow reads per batch")):
        config = TrainConfig.demo(
            crop=args.crop,
            batch_size=args.batch_size,
            samples_per_epoch=args.batch_size * args.steps,
            cache_gb=cache_gb,
        )
        trainer = Trainer(data, config, runtime)
        x, y, w, n = next(trainer.batches(1))
        trainer.step(x, y, w, n)  # warm-up (allocator, oneDNN primitives)
        epoch = iter(range(2, 10**6))

        def pipeline() -> float:
            started, seen = time.perf_counter(), 0
            for bx, by, bw, bn in trainer.batches(next(epoch)):
                trainer.step(bx, by, bw, bn)
                seen += len(bx)
            return seen / (time.perf_counter() - started)

        def bare() -> float:
            started = time.perf_counter()
            for _ in range(args.steps):
                trainer.step(x, y, w, n)
            return args.steps * len(x) / (time.perf_counter() - started)

        def batches_only() -> float:
            started, seen = time.perf_counter(), 0
            for bx, _, _, _ in trainer.batches(next(epoch)):
                seen += len(bx)
            return seen / (time.perf_counter() - started)

        r = rounds({"pipeline": pipeline, "bare": bare, "batches": batches_only}, args.rounds)
        print(
            f"    {label:22s} training {r['pipeline']:7.0f} samples/s | bare forward+backward+Adam {r['bare']:7.0f} samples/s "
            f"| ratio {r['pipeline'] / r['bare']:.3f} (pipeline cost {100 * (1 - r['pipeline'] / r['bare']):4.1f} %, limit 15 %) "
            f"| batches alone {r['batches']:8.0f} samples/s"
        )


def bench_inference(args: argparse.Namespace) -> None:
    data = load_fold(args.dataset, args.fold)
    model = FaciesCNN.from_pretrained(args.model) if args.model else FaciesCNN(model_config(data, TrainConfig()))
    model.eval()
    rows = np.arange(min(args.inference_rows, len(data.validation)))
    inputs = model_inputs(data.validation, rows, model.config.replace(patch_size=PATCH_SIZE))
    bf16 = torch.cpu._is_avx512_bf16_supported() if hasattr(torch.cpu, "_is_avx512_bf16_supported") else False
    print(
        f"\n[2] inference, {len(inputs)} validation patches, batch {args.eval_batch}, bf16 support: {bf16}, "
        f"{'trained model ' + args.model if args.model else 'freshly initialised model'}"
    )
    for size in sorted({args.crop, PATCH_SIZE}):
        x = torch.from_numpy(np.ascontiguousarray(centre_crop(inputs, size)))
        variants: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"fp32": model}
        last = model.to(memory_format=torch.channels_last)
        variants["channels-last"] = lambda t: last(t.contiguous(memory_format=torch.channels_last))
        if bf16:

            def autocast(t: torch.Tensor) -> torch.Tensor:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return last(t.contiguous(memory_format=torch.channels_last)).float()

            variants["bf16 autocast + channels-last"] = autocast
        try:
            compiled = torch.compile(model)
            with torch.no_grad():
                compiled(x[: args.eval_batch])
            variants["torch.compile"] = compiled
        except Exception as err:  # noqa: BLE001 - report why the trick is unavailable and go on
            print(f"    torch.compile unavailable: {type(err).__name__}: {str(err)[:120]}")

        @torch.no_grad()
        def run(fn: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
            return np.concatenate(
                [torch.softmax(fn(x[i : i + args.eval_batch]), 1).numpy() for i in range(0, len(x), args.eval_batch)]
            )

        reference = run(model)

        def timer(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], float]:
            def measure() -> float:
                started = time.perf_counter()
                run(fn)
                return len(x) / (time.perf_counter() - started)

            return measure

        for fn in variants.values():
            run(fn)  # warm-up
        rates = rounds({k: timer(v) for k, v in variants.items()}, args.rounds)
        print(f"    {size} x {size}:")
        for name, fn in variants.items():
            proba = run(fn)
            diff = float(np.abs(proba - reference).max())
            agree = float((proba.argmax(1) == reference.argmax(1)).mean())
            gain = rates[name] / rates["fp32"]
            keep = "reference" if name == "fp32" else ("keep" if gain >= MIN_GAIN and diff <= TOLERANCE else "drop")
            print(
                f"      {name:30s} {rates[name]:8.0f} patches/s  x{gain:4.2f}  max |dp| {diff:.1e}  labels agree {agree:.4f}  -> {keep}"
            )
        model.to(memory_format=torch.contiguous_format)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="built dataset folder")
    parser.add_argument("--fold", type=int, default=0, help="test fold whose training folds are read")
    parser.add_argument("--crop", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=12, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eval-batch", type=int, default=1024)
    parser.add_argument("--inference-rows", type=int, default=4096)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--model", help="a trained model folder for the inference benchmark (default: fresh weights)")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_training:
        bench_training(args)
    bench_inference(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
