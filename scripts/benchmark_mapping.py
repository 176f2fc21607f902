#!/usr/bin/env python
"""Benchmark whole-scene mapping: every figure measured side by side in one run.

    python scripts/benchmark_mapping.py [--workdir DIR] [--synthetic DIR] [--dataset DIR] [--trained MODEL]
        [--weights H5] [--sample 300] [--speed-sample 400] [--exact-sample 4096] [--large 10980] [--threads N]

1. Speed on a small glacier (a compact 5,600 px part of the smallest glacier), the smallest glacier (a valley
   glacier in the default benchmark) and the largest (an ice cap), per model, repeats interleaved: dense mode over each glacier, exact mode over a compact blob of up to 4,096 of its
   pixels, per-patch over 400: pixels/s and the ratios, exact's largest difference from per-patch; the dense
   mode's achieved GFLOP/s (the convolutions it executes, halos included) next to a bare 64->64 3x3 convolution's.
2. Agreement and accuracy over all synthetic scenes, per model (``--trained`` and the converted published
   weights with the dataset's statistics): on a random sample of glacier pixels at least 16 px inside the
   scene's data, the share of equal labels dense vs per-patch, their mean |p_dense - p_patch|, the exact
   mode's largest difference from per-patch, and the macro-F1 of each mode against the truth maps.
3. Memory: ``map_scene`` on a fake Sentinel-2 L2A tile of ``--large`` px with a 30 m DEM, in fresh processes:
   small glaciers near its corners (the grid spans the tile) and one 10 km wide glacier (~3 M pixels
   classified): peak resident memory and time.

Without ``--synthetic``/``--dataset`` the default synthetic benchmark is generated and built in the workdir.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import shapely
import torch
import torch.nn.functional as F
from pyogrio.raw import write
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window
from scipy import ndimage

from dataset_builder.outlines import read_outlines
from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, OPTICAL_BANDS, PATCH_SIZE
from dataset_builder.statistics import DatasetStatistics
from dataset_builder.synthetic import SyntheticConfig, generate
from hub_cards.dataset_folder import build_dataset
from modeling.evaluation import confusion_matrix, metrics_from_confusion, paired_bootstrap
from modeling.mapping import (
    PatchGeometry,
    PreparedScene,
    conv_macs,
    fitted_windows,
    open_scene,
    predict_array,
    prepare_scene,
    tile_windows,
    window_slices,
)
from modeling.network import FaciesCNN, load_keras_weights

WEIGHTS = (
    Path(__file__).resolve().parents[2] / "shared" / "upstream" / "weights" / "0_cnn_afterconfidentlearning_weights.h5"
)
#: Maps a scene in a fresh interpreter and prints its peak resident memory: VmHWM of its own address space
#: (ru_maxrss would also count the parent's memory at fork time).
LARGE_RUN = """
import json, re, sys, time
from pathlib import Path
from modeling.network import FaciesCNN
from modeling.mapping import MappingOptions, map_scene
model = FaciesCNN.from_pretrained(sys.argv[1])
start = time.perf_counter()
result = map_scene(sys.argv[2], model, sys.argv[3], outlines=sys.argv[4], dem=[sys.argv[5]], options=MappingOptions(tile_size=int(sys.argv[6])))
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1])
print(json.dumps({"peak_mb": peak_kb / 1024, "seconds": result.seconds, "classified": result.classified_pixels,
                  "glaciers": len(result.glaciers), "wall": time.perf_counter() - start}))
"""


def scene_inputs(prepared: PreparedScene) -> np.ndarray:
    """The prepared scene's 11 raw bands (11, H, W)."""
    return prepared.read(Window(0, 0, prepared.grid.width, prepared.grid.height), BAND_NAMES)


def truth_on_grid(truth_path: Path, prepared: PreparedScene) -> np.ndarray:
    """Band 1 (label class) of a truth map on the prepared grid (nearest; 255 = none)."""
    out = np.full(prepared.grid.shape, 255, np.uint8)
    with rasterio.open(truth_path) as src:
        reproject(
            rasterio.band(src, 1),
            out,
            dst_transform=prepared.grid.transform,
            dst_crs=prepared.grid.crs,
            resampling=Resampling.nearest,
        )
    return out


def sample_mask(prepared: PreparedScene, raw: np.ndarray, n: int, rng: np.random.Generator | None) -> np.ndarray:
    """n classified pixels whose whole patch lies inside the scene's data (>= 16 px from its edge): random ones,
    or without ``rng`` a compact blob (the n nearest to the eligible pixels' centroid)."""
    inside = ndimage.minimum_filter(
        np.isfinite(raw[: len(OPTICAL_BANDS)]).all(axis=0), size=PATCH_SIZE, mode="constant", cval=0
    )
    rows, cols = np.nonzero(prepared.classify & inside)
    if rng is None:
        pick = np.argsort(np.hypot(rows - rows.mean(), cols - cols.mean()), kind="stable")[:n]
    else:
        pick = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
    mask = np.zeros(prepared.grid.shape, bool)
    mask[rows[pick], cols[pick]] = True
    return mask


def nearest(mask: np.ndarray, n: int) -> np.ndarray:
    """The n pixels of a mask nearest to its centroid (a compact blob; nested for growing n)."""
    rows, cols = np.nonzero(mask)
    pick = np.argsort(np.hypot(rows - rows.mean(), cols - cols.mean()), kind="stable")[:n]
    out = np.zeros(mask.shape, bool)
    out[rows[pick], cols[pick]] = True
    return out


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bare_conv_gflops(side: int, channels: int = 64, repeats: int = 3) -> float:
    """GFLOP/s of one 3x3 convolution channels -> channels on a (1, channels, side, side) tile (channels-last)."""
    x = torch.randn(1, channels, side, side).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(channels, channels, 3, 3)
    with torch.inference_mode():
        F.conv2d(x, weight, padding=1)
        start = time.perf_counter()
        for _ in range(repeats):
            F.conv2d(x, weight, padding=1)
        seconds = (time.perf_counter() - start) / repeats
    return 2 * 9 * channels * channels * side * side / seconds / 1e9


def dense_executed_flops(model: FaciesCNN, mask: np.ndarray, tile_size: int) -> float:
    """FLOPs the dense mode executes on a scene: on each fitted tile (:func:`modeling.mapping.tiles.fitted_windows`)
    the unpadded stages over the box of its pixels and its halo, each block's map two lines (scale 1) or ``2 pool``
    (scale 2) smaller than the one before, and the head on the classified pixels."""
    config, geo = model.config, PatchGeometry.from_config(model.config)
    f1, f2 = config.filters
    blocks = [(1, 9 * config.num_bands * f1)] + [(1, 9 * f1 * f1)] * (geo.depth1 - 1)
    blocks += [(geo.pool, 9 * f1 * f2)] + [(geo.pool, 9 * f2 * f2)] * (geo.depth2 - 1)
    halo = geo.halo("dense")
    macs = mask.sum() * conv_macs(config)[2]
    for window in fitted_windows(mask, tile_size, halo):
        r, c = np.nonzero(mask[window_slices(window)])
        if r.size:
            height, width = r.max() - r.min() + 1 + 2 * halo, c.max() - c.min() + 1 + 2 * halo
            for k, (shrink, block) in enumerate(blocks):
                height, width = height - 2 * shrink, width - 2 * shrink
                if k == geo.depth1:  # the stride-1 pool before scale 2
                    height, width = height - 2 * (geo.pool // 2), width - 2 * (geo.pool // 2)
                macs += height * width * block
    return 2.0 * macs


#: Pixels of the small glacier of the speed benchmark: a compact part of the smallest glacier's mask.
SMALL_GLACIER = 5600


def bench_speed(
    model: FaciesCNN,
    cases: list[tuple[str, np.ndarray, np.ndarray]],
    exact_n: int,
    patch_n: int,
    tile_size: int,
    repeats: int = 2,
) -> None:
    """Per case (name, raw bands, glacier mask): dense over the whole glacier, exact over a compact blob of
    ``exact_n`` of its pixels (all of a smaller glacier), per-patch over the ``patch_n`` most central ones; repeats
    interleaved, medians."""
    masks = {name: {"dense": m, "exact": nearest(m, exact_n), "patch": nearest(m, patch_n)} for name, _, m in cases}
    seconds: dict[tuple[str, str], list[float]] = {}
    outputs: dict[tuple[str, str], np.ndarray] = {}
    for _ in range(repeats):
        for name, raw, _ in cases:
            for mode, mask in masks[name].items():
                outputs[name, mode], t = timed(predict_array, model, raw, mask, mode=mode, tile_size=tile_size)
                seconds.setdefault((name, mode), []).append(t)
    print(
        f"\n[1] speed ({torch.get_num_threads()} torch threads, median of {repeats} interleaved runs; dense over each "
        f"glacier, exact over a compact blob of <= {exact_n} of its pixels, per-patch over {patch_n})"
    )
    for name, raw, glacier in cases:
        rate = {mode: masks[name][mode].sum() / np.median(seconds[name, mode]) for mode in masks[name]}
        sample = masks[name]["patch"]
        dp = np.abs(outputs[name, "exact"] - outputs[name, "patch"])[:, sample].max()
        agree = (outputs[name, "dense"][:, sample].argmax(0) == outputs[name, "patch"][:, sample].argmax(0)).mean()
        achieved = dense_executed_flops(model, glacier, tile_size) / np.median(seconds[name, "dense"]) / 1e9
        print(
            f"    {name} ({int(glacier.sum())} px): dense {rate['dense']:.0f} px/s, exact {rate['exact']:.0f} px/s "
            f"({int(masks[name]['exact'].sum())} px), per-patch {rate['patch']:.1f} px/s: dense / per-patch "
            f"{rate['dense'] / rate['patch']:.0f}x, exact / per-patch {rate['exact'] / rate['patch']:.1f}x; exact vs "
            f"per-patch max |dp| {dp:.1e}, dense labels agree {agree:.3f}; dense achieved {achieved:.1f} GFLOP/s"
        )
    side = min(tile_size, max(m.shape[0] for _, _, m in cases)) + 2 * PatchGeometry.from_config(model.config).halo(
        "dense"
    )
    print(f"    (a bare 64->64 3x3 convolution on a {side} px tile: {bare_conv_gflops(side):.1f} GFLOP/s)")


class FoldModels:
    """The models of a cross-validation run (``RUN/fold_{t}/model``): each synthetic scene is mapped by the model
    whose test fold holds its glacier, so the accuracy figures are out of fold."""

    def __init__(self, run: Path, synthetic: Path):
        meta = json.loads((synthetic / "metadata.json").read_text())
        fold_of = {g["glacier"]: g["fold"] for g in meta["glaciers"]}
        self.fold_of_scene = {s["scene"]: fold_of[s["glacier"]] for s in meta["scenes"]}
        self.models = {f: FaciesCNN.from_pretrained(run / f"fold_{f}" / "model") for f in sorted(set(fold_of.values()))}

    def for_scene(self, scene: str) -> FaciesCNN:
        return self.models[self.fold_of_scene[scene]]


def _model_for(model: FaciesCNN | FoldModels, scene: str) -> FaciesCNN:
    return model.for_scene(scene) if isinstance(model, FoldModels) else model


def bench_agreement(
    models: dict[str, FaciesCNN | FoldModels], synthetic: Path, work: Path, n: int, tile_size: int, seed: int
) -> None:
    outlines = read_outlines(synthetic / "outlines.gpkg")
    rng = np.random.default_rng(seed)
    keys = ("truth", "dense", "patch", "dp", "dmax", "exact", "all_truth", "all_dense")
    stats: dict[str, dict[str, list]] = {name: {k: [] for k in keys} for name in models}
    scenes = sorted((synthetic / "scenes").glob("*.tif"))
    started = time.perf_counter()
    for i, path in enumerate(scenes):
        prepared = prepare_scene(open_scene(path), outlines, [synthetic / "dems"], BAND_NAMES, work / path.stem)
        raw = scene_inputs(prepared)
        truth = truth_on_grid(synthetic / "truth" / "maps" / path.name, prepared)
        sample = sample_mask(prepared, raw, n, rng) & (truth < len(CLASS_NAMES))
        exact_sample = sample & (rng.random(sample.shape) < 0.25)
        every = prepared.classify & (truth < len(CLASS_NAMES))
        for name, chosen in models.items():
            model = _model_for(chosen, path.stem)
            dense = predict_array(model, raw, prepared.classify, mode="dense", tile_size=tile_size)
            patch = predict_array(model, raw, sample, mode="patch", tile_size=tile_size)
            exact = predict_array(model, raw, exact_sample, mode="exact", tile_size=tile_size)
            s = stats[name]
            dp = np.abs(dense[:, sample] - patch[:, sample])
            s["truth"].append(truth[sample])
            s["dense"].append(dense[:, sample].argmax(0))
            s["patch"].append(patch[:, sample].argmax(0))
            s["dp"].append(dp.mean(0))
            s["dmax"].append(dp.max(0))
            s["exact"].append(np.abs(exact[:, exact_sample] - patch[:, exact_sample]).max(initial=0.0))
            s["all_truth"].append(truth[every])
            s["all_dense"].append(dense[:, every].argmax(0))
        print(
            f"    scene {i + 1}/{len(scenes)} {path.stem}: {int(sample.sum())} sampled px ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    print(
        f"\n[2] agreement and accuracy on {len(scenes)} synthetic scenes ({n} sampled glacier px per scene, >= 16 px inside the data)"
    )
    for name, s in stats.items():
        truth, dense, patch, dp, dmax, all_truth, all_dense = (np.concatenate(s[k]) for k in keys if k != "exact")
        f1 = paired_bootstrap(truth, dense, patch)
        every = metrics_from_confusion(confusion_matrix(all_truth, all_dense))["macro_f1"]
        lo, hi = (100 * v for v in f1["interval"])
        print(
            f"    {name}: {truth.size} px; labels agree {(dense == patch).mean():.4f}; mean |dp| {dp.mean():.4f} "
            f"(mean of the largest class difference {dmax.mean():.4f}); exact vs per-patch max |dp| {max(s['exact']):.1e}"
        )
        print(
            f"      macro-F1 vs truth (sample): dense {100 * f1['a']['macro_f1']:.1f}, per-patch {100 * f1['b']['macro_f1']:.1f} "
            f"(difference {100 * f1['difference']:+.1f} points, 95 % interval [{lo:+.1f}, {hi:+.1f}]); "
            f"dense on every glacier pixel {100 * every:.1f}"
        )
        print(
            "      per-class F1 dense / per-patch: "
            + ", ".join(
                f"{c} {100 * a:.0f}/{100 * b:.0f}" for c, a, b in zip(CLASS_NAMES, f1["a"]["f1"], f1["b"]["f1"])
            )
        )


def fake_sentinel2_tile(root: Path, size: int, glaciers: list[tuple[float, float, float]]) -> tuple[Path, Path, Path]:
    """A fake Sentinel-2 L2A SAFE tile of ``size`` px (GeoTIFF bands, 20 m SWIR), a 30 m DEM, and round glacier
    outlines given as (column, row, radius in m) with column and row as fractions of the tile."""
    safe = root / "S2A_MSIL2A_20200815T102031_N0400_R065_T32TMS_20200815T130528.SAFE"
    granule = safe / "GRANULE" / "L2A_T32TMS_A000001_20200815T102031"
    x0, y0, crs = 300000.0, 5200020.0, "EPSG:32632"
    for band, res in (("B02", 10), ("B03", 10), ("B04", 10), ("B08", 10), ("B11", 20), ("B12", 20)):
        path = granule / "IMG_DATA" / f"R{res}m" / f"T32TMS_20200815T102031_{band}_{res}m.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = size * 10 // res
        profile = dict(
            driver="GTiff",
            width=n,
            height=n,
            count=1,
            dtype="uint16",
            crs=crs,
            transform=from_origin(x0, y0, res, res),
            tiled=True,
            blockxsize=512,
            blockysize=512,
        )
        with rasterio.open(path, "w", **profile) as dst:
            for w in tile_windows((n, n), 2048):
                r, c = np.mgrid[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
                dst.write((4000 + 3000 * np.sin(r / 97.0) * np.cos(c / 131.0)).astype(np.uint16)[None], window=w)
    offsets = "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
    (safe / "MTD_MSIL2A.xml").write_text(
        "<Level-2A_User_Product><PRODUCT_START_TIME>2020-08-15T10:20:31Z</PRODUCT_START_TIME><PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>"
        f"<BOA_QUANTIFICATION_VALUE>10000</BOA_QUANTIFICATION_VALUE><BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST></Level-2A_User_Product>"
    )
    (granule / "MTD_TL.xml").write_text(
        "<Tile><Mean_Sun_Angle><ZENITH_ANGLE>50.0</ZENITH_ANGLE><AZIMUTH_ANGLE>160.0</AZIMUTH_ANGLE></Mean_Sun_Angle></Tile>"
    )
    n = size // 3
    r, c = np.mgrid[0:n, 0:n]
    dem = (1500 + 600 * np.sin(r / 40.0) * np.cos(c / 55.0)).astype(np.float32)
    with rasterio.open(
        root / "dem30.tif",
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(x0, y0, 30, 30),
        tiled=True,
    ) as dst:
        dst.write(dem[None])
    shapes = [shapely.Point(x0 + u * size * 10, y0 - v * size * 10).buffer(radius) for u, v, radius in glaciers]
    write(
        root / "outlines.gpkg",
        shapely.to_wkb(np.asarray(shapes, dtype=object)),
        [np.array([f"g{i}" for i in range(len(shapes))], dtype=object)],
        ["glacier"],
        driver="GPKG",
        geometry_type="Polygon",
        crs=crs,
    )
    return safe, root / "dem30.tif", root / "outlines.gpkg"


def bench_large(model_dir: Path, work: Path, size: int, tile_size: int) -> None:
    """Two fresh-process runs on a fake tile: small glaciers near its corners (the grid spans the tile), and one
    large glacier (every pixel of a ~2000 px disc classified)."""
    cases = {
        "4 small glaciers near the corners": [(u, v, 400.0) for u in (0.04, 0.96) for v in (0.04, 0.96)],
        "one 10 km wide glacier": [(0.5, 0.5, 10000.0)],
    }
    print(
        f"\n[3] memory: map_scene on a fake {size} x {size} px Sentinel-2 L2A tile, 30 m DEM, dense, tile {tile_size} px, fresh processes"
    )
    for k, (name, glaciers) in enumerate(cases.items()):
        root, out = work / f"large{k}", work / f"large{k}_out"
        safe, dem, outlines = fake_sentinel2_tile(root, size, glaciers)
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                LARGE_RUN,
                str(model_dir),
                str(safe),
                str(out),
                str(outlines),
                str(dem),
                str(tile_size),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        grid = json.loads(next(out.glob("*_mapping.json")).read_text())["grid"]
        s = figures["seconds"]
        print(
            f"    {name}: grid {grid['height']} x {grid['width']} px, {figures['classified']} px classified; peak resident memory "
            f"{figures['peak_mb']:.0f} MB; prepare {s['prepare']:.0f} s, classify {s['classify']:.0f} s "
            f"({figures['classified'] / s['classify']:.0f} px/s), write {s['write']:.0f} s"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--synthetic", type=Path, help="a synthetic benchmark folder (default: generate one)")
    parser.add_argument(
        "--dataset", type=Path, help="the dataset built from it (its statistics normalise the published weights)"
    )
    parser.add_argument(
        "--trained",
        type=Path,
        help="a model trained on the synthetic benchmark (from_pretrained folder), or a "
        "cross-validation run folder (fold_{t}/model): each scene is then mapped by its glacier's fold model",
    )
    parser.add_argument(
        "--weights", type=Path, default=WEIGHTS, help="published Keras weights (default: fold 0 after pruning)"
    )
    parser.add_argument("--sample", type=int, default=300, help="sampled glacier pixels per scene for the agreement")
    parser.add_argument("--speed-sample", type=int, default=400, help="pixels timed in the per-patch mode")
    parser.add_argument(
        "--exact-sample", type=int, default=4096, help="most pixels of a glacier timed in the exact mode"
    )
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--large", type=int, default=10980, help="side of the fake Sentinel-2 tile (0: skip)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: speed, agreement, large")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="benchmark-mapping-") as tmp:
        work = args.workdir or Path(tmp)
        synthetic = args.synthetic or work / "synthetic"
        if not args.synthetic:
            print("generating the default synthetic benchmark ...", flush=True)
            generate(synthetic, SyntheticConfig(), progress=False)
        dataset = args.dataset or work / "dataset"
        if not args.dataset:
            print("building its dataset ...", flush=True)
            build_dataset(synthetic, dataset, progress=False)
        models = {}
        if args.trained and (args.trained / "fold_0" / "model").is_dir():
            models["trained on the synthetic benchmark (each scene by its glacier's fold model)"] = FoldModels(
                args.trained, synthetic
            )
        elif args.trained:
            models["trained on the synthetic benchmark"] = FaciesCNN.from_pretrained(args.trained)
        models["published weights (converted, synthetic statistics)"] = load_keras_weights(
            args.weights, statistics=DatasetStatistics.load(dataset)
        )
        if "speed" not in skip:
            outlines = read_outlines(synthetic / "outlines.gpkg")
            prepared = [
                prepare_scene(open_scene(p), outlines, [synthetic / "dems"], BAND_NAMES, work / "speed" / p.stem)
                for p in sorted((synthetic / "scenes").glob("*.tif"))
            ]
            smallest, largest = (f(prepared, key=lambda p: int(p.classify.sum())) for f in (min, max))
            small_raw, large_raw = scene_inputs(smallest), scene_inputs(largest)
            cases = [
                (
                    f"small glacier, {smallest.scene.scene}",
                    small_raw,
                    sample_mask(smallest, small_raw, SMALL_GLACIER, None),
                ),
                (f"smallest glacier, {smallest.scene.scene}", small_raw, smallest.classify),
                (f"largest glacier, {largest.scene.scene}", large_raw, largest.classify),
            ]
            for name, chosen in models.items():
                model = _model_for(chosen, smallest.scene.scene)
                print(f"\nmodel: {name} ({model.config.patch_size} px patches)")
                bench_speed(model, cases, args.exact_sample, args.speed_sample, args.tile_size)
        if "agreement" not in skip:
            bench_agreement(models, synthetic, work / "agreement", args.sample, args.tile_size, args.seed)
        if args.large and "large" not in skip:
            model_dir = work / "published-model"
            models["published weights (converted, synthetic statistics)"].save_pretrained(model_dir)
            bench_large(model_dir, work, args.large, args.tile_size)
    print(
        f"\n(peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )


if __name__ == "__main__":
    main()
