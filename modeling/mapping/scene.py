"""Classify a whole scene end to end and write the facies products (:mod:`modeling.mapping.products`).

:func:`map_scene` opens the scene, prepares its inputs on the model grid (:func:`modeling.mapping.prepare.prepare_scene`),
classifies them tile by tile (:func:`modeling.mapping.classify.classify_prepared`) and writes the products.
Everything is written in a temporary folder beside the outputs (:func:`dataset_builder.atomic.staging_directory`:
one job per scene and output folder, leftovers of killed runs removed on the next) and renamed into place at the
end: an error or a SIGTERM leaves no partial file behind (and an older complete set intact). Files get the usual modes (0644
with the default umask), as the folder is meant to be shared.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio

from dataset_builder.atomic import atomic_write_text, staging_directory
from dataset_builder.outlines import Outlines, read_outlines
from dataset_builder.quicklook import save_figure
from dataset_builder.schema import PATCH_SIZE
from modeling.errors import SceneInputError
from modeling.mapping.classify import classify_prepared
from modeling.mapping.dense import PatchGeometry, dense_fits
from modeling.mapping.grid import GRID_MARGIN_PX
from modeling.mapping.options import MappingOptions
from modeling.mapping.prepare import PreparedScene, prepare_scene
from modeling.mapping.products import OUTPUTS, area_table, output_paths, qgis_style, quicklook_figure, write_cog
from modeling.mapping.readers import open_scene
from modeling.mapping.sources import OpticalScene
from modeling.network import FaciesCNN


@dataclass
class MappingResult:
    """What :func:`map_scene` did: the scene, its outputs, the glaciers, and the time it took."""

    scene: str
    outputs: dict[str, Path]
    glaciers: tuple[str, ...]
    classified_pixels: int
    seconds: dict[str, float] = field(default_factory=dict)


def map_scene(
    scene: str | Path | OpticalScene,
    model: FaciesCNN,
    out_dir: str | Path,
    *,
    outlines: str | Path | Outlines,
    dem: Sequence[str | Path] = (),
    options: MappingOptions = MappingOptions(),
    id_column: str | None = None,
    model_name: str | None = None,
) -> MappingResult:
    """Classify every glacier pixel of a scene and write the products (:data:`modeling.mapping.products.OUTPUTS`).

    Args:
        scene: a scene path (any layout of :mod:`modeling.mapping.readers`) or an opened scene
            (:func:`modeling.mapping.readers.open_scene`, which also takes date/sensor/sun/BOA-offset overrides).
        model: the network, with normalisation in its config (``with_statistics`` for converted weights).
        out_dir: output folder.
        outlines: glacier outlines (file or :class:`Outlines`).
        dem: DEM files or folders (needed by models with DEM bands).
        options: see :class:`MappingOptions`.
        id_column: the outlines' glacier id column (default: the first of ``dataset_builder.outlines.ID_COLUMNS``).
        model_name: the model's name in the area table and manifest (default: its provenance's source file, or
            ``FaciesCNN``).

    Raises:
        SceneInputError: for bad inputs (the message names the file); nothing is written then.
    """
    started = time.perf_counter()
    if options.mode == "dense" and not dense_fits(model.config):
        warnings.warn(
            f"dense mode approximates per-patch inference for {PATCH_SIZE} px models; this model takes "
            f"{model.config.patch_size} px patches, whose own zero padding reaches most of the patch, so dense labels "
            "differ more (see modeling.mapping.dense.dense_fits); mode 'patch' is exact and cheap for small patches",
            stacklevel=2,
        )
    scene = scene if isinstance(scene, OpticalScene) else open_scene(scene)
    outlines = outlines if isinstance(outlines, Outlines) else read_outlines(outlines, id_column)
    if model.config.normalization is None:
        raise SceneInputError(
            "model",
            "carries no normalisation statistics: use FaciesCNN.with_statistics(DatasetStatistics.load(dataset_folder))",
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = output_paths(out_dir, scene.scene)
    seconds: dict[str, float] = {}
    with (
        rasterio.Env(GDAL_CACHEMAX=options.gdal_cache_mb * 2**20),
        staging_directory(out_dir / scene.scene) as work,
    ):
        prepared = prepare_scene(
            scene,
            outlines,
            dem,
            model.config.bands,
            work,
            glaciers=options.glaciers,
            pixel_size=options.pixel_size,
            block_size=options.block_size,
            shadow_reach_m=options.shadow_reach_m,
            margin_px=max(GRID_MARGIN_PX, PatchGeometry.from_config(model.config).halo(options.mode)),
            clouds=options.cloud_mask == "product",
        )
        seconds["prepare"] = time.perf_counter() - started
        staged = {kind: work / path.name for kind, path in final.items()}
        tiles = {kind: work / f"tiles{OUTPUTS[kind]}" for kind in ("facies", "confidence")}
        tick = time.perf_counter()
        counts = classify_prepared(model, prepared, tiles["facies"], tiles["confidence"], options)
        seconds["classify"] = time.perf_counter() - tick
        tick = time.perf_counter()
        write_cog(tiles["facies"], staged["facies"], "MODE")
        write_cog(tiles["confidence"], staged["confidence"], "AVERAGE")
        staged["style"].write_text(qgis_style())
        seen = [prepared.glacier_ids.index(g) for g in prepared.seen()]
        pixels = {k: v[seen] for k, v in prepared.pixel_counts().items()}
        name = model_name or (model.config.provenance or {}).get("source_file") or "FaciesCNN"
        identity = {"scene": scene.scene, "date": scene.date, "sensor": scene.sensor, "model": name}
        staged["areas"].write_text(area_table(counts[seen], pixels, prepared.seen(), options.pixel_size, identity))
        save_figure(quicklook_figure(prepared, tiles["facies"], options), staged["quicklook"])
        seconds["write"] = time.perf_counter() - tick
        seconds["total"] = time.perf_counter() - started
        manifest = _manifest(prepared, model, name, options, counts, staged, seconds)
        final["manifest"].unlink(missing_ok=True)  # an older set is incomplete from here on
        for kind, path in staged.items():
            if kind != "manifest":
                os.replace(path, final[kind])
        atomic_write_text(final["manifest"], json.dumps(manifest, indent=1) + "\n")
    return MappingResult(scene.scene, final, tuple(prepared.seen()), int(counts.sum()), seconds)


def _manifest(
    prepared: PreparedScene,
    model: FaciesCNN,
    model_name: str,
    options: MappingOptions,
    counts: np.ndarray,
    staged: dict[str, Path],
    seconds: dict[str, float],
) -> dict:
    scene, grid = prepared.scene, prepared.grid
    pixels = prepared.pixel_counts()
    return {
        "scene": scene.scene,
        "source": str(scene.path),
        "kind": scene.kind,
        "layout": scene.layout,
        "sensor": scene.sensor,
        "date": scene.date,
        "sun": {"azimuth": scene.sun_azimuth, "elevation": scene.sun_elevation},
        "product": dict(scene.metadata),
        "dem": [str(p) for p in prepared.dem],
        "grid": {
            "crs": grid.crs.to_string(),
            "transform": list(grid.transform)[:6],
            "height": grid.height,
            "width": grid.width,
            "crs_choice": prepared.grid_reason,
        },
        "quality": [q.name for q in scene.quality],
        "glaciers": {
            g: {
                "pixels": int(pixels["pixels"][i]),
                "classified": int(counts[i].sum()),
                "unobserved": int(pixels["unobserved"][i]),
                "no_data": int(pixels["no_data"][i]),
                "coverage": round(prepared.coverage[g], 6),
            }
            for i, g in enumerate(prepared.glacier_ids)
        },
        "model": {
            "name": model_name,
            "bands": list(model.config.bands),
            "patch_size": model.config.patch_size,
            "per_glacier_elevation_scaling": model.config.per_glacier_elevation_scaling,
            "calibration": model.config.calibration,
            "provenance": model.config.provenance,
        },
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options).items()},
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "outputs": {
            kind: {"file": path.name, "bytes": path.stat().st_size}
            for kind, path in staged.items()
            if kind != "manifest"
        },
    }
