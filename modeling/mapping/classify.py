"""Classify a prepared scene tile by tile into the facies codes and their confidence (tiled GeoTIFFs).

Codes are ``schema.CLASS_NAMES`` indices whatever the order of the model's classes, ``schema.MAP_UNOBSERVED``
on glacier pixels the product's quality flags hide, ``schema.MAP_NODATA`` elsewhere where nothing is classified;
:func:`mode_filter` is the optional 3 x 3 smoothing of the published maps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from dataset_builder.schema import CLASS_NAMES, MAP_NODATA, MAP_UNOBSERVED
from modeling.mapping.dense import predict_tiled
from modeling.mapping.options import MappingOptions
from modeling.mapping.prepare import PreparedScene
from modeling.mapping.products import UNOBSERVED_LABEL, facies_colour_table, facies_tags
from modeling.mapping.stages import PatchGeometry
from modeling.mapping.tile_inputs import group_reader
from modeling.mapping.tiles import fitted_windows, grow, relative_slices, window_slices
from modeling.network import FaciesCNN


def mode_filter(codes: np.ndarray, num_classes: int = len(CLASS_NAMES), nodata: int = MAP_NODATA) -> np.ndarray:
    """3 x 3 mode filter of a class map (h, w) uint8: each classified pixel takes the most frequent class of
    the classified pixels around it (itself included; codes from ``num_classes`` on - unobserved, nodata - and the
    outside do not vote); on a tie it keeps its class if tied, else takes the lowest code. Codes from
    ``num_classes`` on stay as they are."""
    h, w = codes.shape
    padded = np.pad(codes, 1, constant_values=nodata)
    votes = np.zeros((num_classes, h, w), dtype=np.uint8)
    for dr in range(3):
        for dc in range(3):
            neighbour = padded[dr : dr + h, dc : dc + w]
            votes += neighbour[None] == np.arange(num_classes, dtype=codes.dtype)[:, None, None]
    best = votes.max(axis=0)
    own = np.take_along_axis(votes, np.minimum(codes, num_classes - 1)[None].astype(np.intp), axis=0)[0]
    out = np.where(own == best, codes, votes.argmax(axis=0)).astype(np.uint8)
    return np.where(codes >= num_classes, codes, out).astype(np.uint8)


def classify_prepared(
    model: FaciesCNN, prepared: PreparedScene, facies_path: Path, confidence_path: Path, options: MappingOptions
) -> np.ndarray:
    """Classify a prepared scene tile by tile into two tiled GeoTIFFs on its grid: uint8 codes (with the colour
    table, class names and :func:`modeling.mapping.products.facies_tags`; ``MAP_UNOBSERVED`` where the product's
    quality flags hide the glacier) and float32 confidence (the calibrated probability of the written class, NaN
    where there is none).

    Returns:
        (glaciers, len(CLASS_NAMES)) int64 pixel counts per glacier and class code.
    """
    grid, num_codes = prepared.grid, len(CLASS_NAMES)
    to_code = np.array([CLASS_NAMES.index(name) for name in model.config.class_names], dtype=np.uint8)
    to_index = np.zeros(MAP_NODATA + 1, dtype=np.intp)  # class code -> model output index
    to_index[to_code] = np.arange(len(to_code))
    profile = dict(
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        crs=grid.crs,
        transform=grid.transform,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        BIGTIFF="IF_SAFER",
    )
    counts = np.zeros((len(prepared.glacier_ids) + 1, num_codes), dtype=np.int64)
    # tiles fitted to the glaciers; GDAL fills the blocks never written with nodata on closing
    halo = PatchGeometry.from_config(model.config).halo(options.mode)
    cores = fitted_windows(prepared.classify, options.tile_size, halo)
    context = 1 if options.smooth else 0  # the mode filter needs one pixel of context
    windows = [grow(w, context, grid.shape) for w in cores]
    with (
        rasterio.open(facies_path, "w", dtype="uint8", nodata=MAP_NODATA, **profile) as facies,
        rasterio.open(confidence_path, "w", dtype="float32", nodata=np.nan, **profile) as confidence,
    ):
        read = group_reader(  # the prepared inputs hold the bands in the released conventions (elevation scaled)
            lambda window: prepared.read(window, model.config.bands),
            model.config.replace(per_glacier_elevation_scaling=False),
            prepared.classify,
        )
        predictions = predict_tiled(
            model,
            read,
            grid.shape,
            mode=options.mode,
            windows=windows,
            batch_size=options.batch_size,
        )
        for core, (window, proba) in zip(cores, predictions):
            labelled = np.isfinite(proba[0])
            codes = np.where(labelled, to_code[np.nan_to_num(proba).argmax(axis=0)], MAP_NODATA).astype(np.uint8)
            codes[prepared.hidden[window_slices(window)] & ~labelled] = MAP_UNOBSERVED
            if options.smooth:
                codes = mode_filter(codes, num_codes)
            in_window = relative_slices(core, window)
            codes, proba = codes[in_window], proba[(slice(None), *in_window)]
            conf = np.take_along_axis(proba, to_index[codes][None], axis=0)[0]
            conf[codes >= num_codes] = np.nan
            facies.write(codes, 1, window=core)
            confidence.write(conf.astype(np.float32), 1, window=core)
            index = prepared.glacier_index[window_slices(core)]
            done = codes < num_codes
            counts += np.bincount(
                index[done].astype(np.int64) * num_codes + codes[done], minlength=counts.size
            ).reshape(counts.shape)
        facies.write_colormap(1, facies_colour_table())
        facies.set_band_description(1, "facies")
        tags = facies_tags(prepared, options)
        facies.update_tags(**tags)
        facies.update_tags(
            1,
            **{f"CLASS_{code}": name for code, name in enumerate(CLASS_NAMES)},
            **{f"CLASS_{MAP_UNOBSERVED}": UNOBSERVED_LABEL},
        )
        confidence.set_band_description(1, "confidence")
        legend = ("CLASS_NAMES", "CLASS_CODES", "NODATA", "UNOBSERVED", "COVERAGE")
        identity = {k: v for k, v in tags.items() if k not in legend}
        confidence.update_tags(**identity, CALIBRATION=json.dumps(model.config.calibration))
    return counts[1:]
