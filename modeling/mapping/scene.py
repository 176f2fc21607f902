"""Classify a whole scene end to end and write the facies products.

Outputs in ``out_dir`` for a scene named ``{scene}`` (:data:`OUTPUTS`):

- ``{scene}_facies.tif``: uint8 class codes (``schema.CLASS_NAMES`` order), nodata 255 outside the
  glaciers (and on glacier pixels without data), an embedded colour table (``quicklook.FACIES_COLOURS``),
  class names in the tags (``CLASS_NAMES``, ``CLASS_CODES``, band tags ``CLASS_k``), tags GLACIER (or
  GLACIERS, comma-separated: the glaciers with data in the scene), COVERAGE (JSON: each one's share of
  pixels with data), DATE (YYYY-MM-DD), SENSOR, SCENE, MODE, SMOOTHING; a Cloud-Optimised GeoTIFF
  (deflate, 512 px tiles, mode overviews);
- ``{scene}_facies.qml``: QGIS layer style (paletted: class names and colours), loaded with the map;
- ``{scene}_confidence.tif``: float32 calibrated probability (temperature of the model's config) of
  the written class, 0-1, NaN where there is no class; a COG;
- ``{scene}_quicklook.png``: true colour beside the facies map, with a legend;
- ``{scene}_areas.csv``: per glacier (those of the tags) and class: glacier, class, pixels, area_km2,
  share (of the glacier's classified pixels);
- ``{scene}_mapping.json``: what was done (inputs, grid, model, mode, coverage, timings) and the list
  of outputs with their sizes; written last, so a scene counts as finished (:func:`is_complete`)
  only when everything is there.

Everything is written in a temporary folder beside the outputs and renamed into place at the end:
an error leaves no partial file behind (and an older complete set intact).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import quoteattr

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
import rasterio.shutil  # noqa: E402
from rasterio.windows import Window  # noqa: E402

from dataset_builder.atomic import atomic_write_text  # noqa: E402
from dataset_builder.outlines import Outlines, read_outlines
from dataset_builder.quicklook import FACIES_COLOURS, colour_class_map, facies_colours, legend_handles, true_colour  # noqa: E402
from dataset_builder.schema import CLASS_NAMES, PATCH_SIZE, PIXEL_SIZE_M  # noqa: E402
from modeling.errors import SceneInputError
from modeling.mapping.dense import (  # noqa: E402
    DEFAULT_TILE,
    Mode,
    PatchGeometry,
    check_mode,
    dense_fits,
    predict_tiled,
    tile_windows,
    window_slices,
)
from modeling.mapping.scene_inputs import GRID_MARGIN_PX, OpticalScene, PreparedScene, open_scene, prepare_scene
from modeling.network.facies_cnn import FaciesCNN  # noqa: E402

NODATA = 255
#: Output kinds and their file name suffixes (``{scene}{suffix}``); the manifest is written last.
OUTPUTS: dict[str, str] = {
    "facies": "_facies.tif",
    "style": "_facies.qml",
    "confidence": "_confidence.tif",
    "quicklook": "_quicklook.png",
    "areas": "_areas.csv",
    "manifest": "_mapping.json",
}
AREA_COLUMNS = ("glacier", "class", "pixels", "area_km2", "share")


@dataclass(frozen=True)
class MappingOptions:
    """How to map a scene.

    Attributes:
        mode: ``dense`` (default), ``exact`` or ``patch`` (see :mod:`modeling.mapping.dense`).
        tile_size: core tile side in pixels of the inference (memory ~ its square).
        smooth: 3 x 3 mode filter of the class map, as published.
        glaciers: map only these glacier ids (default: every outline the scene touches).
        pixel_size: grid pixel in metres (the model's: 10 m).
        block_size: grid block of the input preparation.
        shadow_reach_m: DEM read around each block for cast shadows.
        batch_size: pixels per forward pass in the exact and patch modes.
        quicklook_px: largest side of the quick-look's maps in pixels.
        gdal_cache_mb: GDAL's raster block cache while mapping (its default, 5 % of the machine's
            memory, would count against the memory bound).
    """

    mode: Mode = "dense"
    tile_size: int = DEFAULT_TILE
    smooth: bool = False
    glaciers: tuple[str, ...] | None = None
    pixel_size: float = PIXEL_SIZE_M
    block_size: int = 1024
    shadow_reach_m: float = 5000.0
    batch_size: int = 1024
    quicklook_px: int = 1200
    gdal_cache_mb: int = 256

    def __post_init__(self) -> None:
        check_mode(self.mode)
        for name in ("tile_size", "block_size", "batch_size", "quicklook_px", "gdal_cache_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass
class MappingResult:
    """What :func:`map_scene` did: the scene, its outputs, the glaciers, and the time it took."""

    scene: str
    outputs: dict[str, Path]
    glaciers: tuple[str, ...]
    classified_pixels: int
    seconds: dict[str, float] = field(default_factory=dict)


def output_paths(out_dir: str | Path, scene: str) -> dict[str, Path]:
    """The output files of a scene, by kind (:data:`OUTPUTS`)."""
    return {kind: Path(out_dir) / f"{scene}{suffix}" for kind, suffix in OUTPUTS.items()}


def is_complete(out_dir: str | Path, scene: str) -> bool:
    """Whether a scene's outputs are all there and complete: the manifest (written last) exists and every
    file it lists has the size it recorded."""
    manifest = output_paths(out_dir, scene)["manifest"]
    try:
        listed = json.loads(manifest.read_text())["outputs"]
        return set(listed) == set(OUTPUTS) - {"manifest"} and all(
            (Path(out_dir) / entry["file"]).stat().st_size == entry["bytes"] for entry in listed.values()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def mode_filter(codes: np.ndarray, num_classes: int = len(CLASS_NAMES), nodata: int = NODATA) -> np.ndarray:
    """3 x 3 mode filter of a class map (h, w) uint8: each classified pixel takes the most frequent class of
    the classified pixels around it (itself included; nodata and the outside do not vote); on a tie it keeps
    its class if tied, else takes the lowest code. Nodata stays nodata."""
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
    return np.where(codes == nodata, np.uint8(nodata), out)


def qgis_style() -> str:
    """A QGIS layer style (``.qml``): a paletted renderer of band 1 with the class names and colours."""
    entries = "\n".join(
        f'        <paletteEntry value="{code}" label={quoteattr(name)} alpha="255" color="#{"".join(f"{v:02x}" for v in FACIES_COLOURS[name])}"/>'
        for code, name in enumerate(CLASS_NAMES)
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.28.0" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper><stdDevFactor>2</stdDevFactor></minMaxOrigin>
      <colorPalette>
{entries}
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def area_table(counts: np.ndarray, glacier_ids: Sequence[str], pixel_size: float) -> str:
    """CSV text of :data:`AREA_COLUMNS`: one row per glacier and class from counts (glaciers, classes) in
    ``schema.CLASS_NAMES`` order; pixel_size in metres.

    ``share`` is the class's share of the glacier's classified pixels (empty when none is classified)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(AREA_COLUMNS)
    for glacier, row in zip(glacier_ids, counts):
        total = int(row.sum())
        for name, n in zip(CLASS_NAMES, row):
            share = f"{n / total:.6f}" if total else ""
            writer.writerow([glacier, name, int(n), f"{n * pixel_size**2 / 1e6:.6f}", share])
    return buffer.getvalue()


def observed(prepared: PreparedScene) -> list[str]:
    """The glaciers of a prepared scene with at least one pixel that can be classified, in outline order."""
    return [g for g in prepared.glacier_ids if prepared.coverage[g] > 0]


def _facies_tags(prepared: PreparedScene, options: MappingOptions) -> dict[str, str]:
    ids = observed(prepared)
    tags = {"GLACIER": ids[0]} if len(ids) == 1 else {"GLACIERS": ",".join(ids)}
    return tags | {
        "COVERAGE": json.dumps({g: round(prepared.coverage[g], 4) for g in ids}),
        "DATE": prepared.scene.date,
        "SENSOR": prepared.scene.sensor,
        "SCENE": prepared.scene.scene,
        "MODE": options.mode,
        "SMOOTHING": "mode 3x3" if options.smooth else "none",
        "CLASS_NAMES": ",".join(CLASS_NAMES),
        "CLASS_CODES": json.dumps({name: i for i, name in enumerate(CLASS_NAMES)}),
        "NODATA": str(NODATA),
    }


def _write_cog(source: Path, target: Path, resampling: str) -> None:
    rasterio.shutil.copy(
        source, target, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512, OVERVIEWS="AUTO", RESAMPLING=resampling
    )


def _quicklook(prepared: PreparedScene, facies_path: Path, out_png: Path, options: MappingOptions) -> None:
    rgb = prepared.quicklook_bands(options.quicklook_px)
    with rasterio.open(facies_path) as src:
        step = max(1, math.ceil(max(src.shape) / options.quicklook_px))
        codes = src.read(1, out_shape=(math.ceil(src.height / step), math.ceil(src.width / step)))
    panels = 1 if rgb is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 5.2), constrained_layout=True, squeeze=False)
    axes = axes[0]
    if rgb is not None:
        axes[0].imshow(true_colour(rgb), interpolation="nearest")
        axes[0].set_title("true colour (2-98 % stretch)")
    axes[-1].imshow(colour_class_map(codes), interpolation="nearest")
    axes[-1].set_title(f"facies ({options.mode}{', mode filter' if options.smooth else ''})")
    for ax in axes:
        ax.set_axis_off()
    present = [CLASS_NAMES[c] for c in np.unique(codes) if c < len(CLASS_NAMES)]
    axes[-1].legend(handles=legend_handles(present), loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    scene = prepared.scene
    ids = observed(prepared)
    fig.suptitle(f"{scene.scene}  {scene.date}  {scene.sensor}  ({', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''})")
    try:
        fig.savefig(out_png, format="png", dpi=100)
    finally:
        plt.close(fig)


def _grow(window: Window, pixels: int, shape: tuple[int, int]) -> Window:
    """``window`` grown by ``pixels`` on each side, clipped to a (rows, cols) grid."""
    r0, c0 = max(0, window.row_off - pixels), max(0, window.col_off - pixels)
    r1 = min(shape[0], window.row_off + window.height + pixels)
    c1 = min(shape[1], window.col_off + window.width + pixels)
    return Window(c0, r0, c1 - c0, r1 - r0)


def classify_prepared(
    model: FaciesCNN, prepared: PreparedScene, facies_path: Path, confidence_path: Path, options: MappingOptions
) -> np.ndarray:
    """Classify a prepared scene tile by tile into two tiled GeoTIFFs (uint8 codes, float32 confidence).

    Codes are ``schema.CLASS_NAMES`` indices whatever the order of the model's classes.

    Returns:
        (glaciers, len(CLASS_NAMES)) int64 pixel counts per glacier and class code.
    """
    grid, num_codes = prepared.grid, len(CLASS_NAMES)
    to_code = np.array([CLASS_NAMES.index(name) for name in model.config.class_names], dtype=np.uint8)
    to_index = np.zeros(NODATA + 1, dtype=np.intp)  # class code -> model output index
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
    cores = tile_windows(grid.shape, options.tile_size)
    grow = 1 if options.smooth else 0  # the mode filter needs one pixel of context
    windows = [_grow(w, grow, grid.shape) for w in cores]
    with (
        rasterio.open(facies_path, "w", dtype="uint8", nodata=NODATA, **profile) as facies,
        rasterio.open(confidence_path, "w", dtype="float32", nodata=np.nan, **profile) as confidence,
    ):
        predictions = predict_tiled(
            model,
            prepared.reader(model.config),
            grid.shape,
            mode=options.mode,
            windows=windows,
            batch_size=options.batch_size,
        )
        for core, (window, proba) in zip(cores, predictions):
            labelled = np.isfinite(proba[0])
            codes = np.where(labelled, to_code[np.nan_to_num(proba).argmax(axis=0)], NODATA).astype(np.uint8)
            if options.smooth:
                codes = mode_filter(codes, num_codes)
            r0, c0 = core.row_off - window.row_off, core.col_off - window.col_off
            codes = codes[r0 : r0 + core.height, c0 : c0 + core.width]
            proba = proba[:, r0 : r0 + core.height, c0 : c0 + core.width]
            conf = np.take_along_axis(proba, to_index[codes][None], axis=0)[0]
            conf[codes == NODATA] = np.nan
            facies.write(codes, 1, window=core)
            confidence.write(conf.astype(np.float32), 1, window=core)
            rows, cols = window_slices(core)
            index = prepared.glacier_index[rows, cols]
            done = codes != NODATA
            counts += np.bincount(
                index[done].astype(np.int64) * num_codes + codes[done], minlength=counts.size
            ).reshape(counts.shape)
        facies.write_colormap(1, {code: (*rgb, 255) for code, rgb in enumerate(facies_colours())})
        facies.set_band_description(1, "facies")
        tags = _facies_tags(prepared, options)
        facies.update_tags(**tags)
        facies.update_tags(1, **{f"CLASS_{code}": name for code, name in enumerate(CLASS_NAMES)})
        confidence.set_band_description(1, "confidence")
        identity = {k: v for k, v in tags.items() if k not in ("CLASS_NAMES", "CLASS_CODES", "NODATA", "COVERAGE")}
        confidence.update_tags(**identity, CALIBRATION=json.dumps(model.config.calibration))
    return counts[1:]


def map_scene(
    scene: str | Path | OpticalScene,
    model: FaciesCNN,
    out_dir: str | Path,
    *,
    outlines: str | Path | Outlines,
    dem: Sequence[str | Path] = (),
    options: MappingOptions = MappingOptions(),
    id_column: str | None = None,
) -> MappingResult:
    """Classify every glacier pixel of a scene and write the products listed in the module docstring.

    Args:
        scene: a scene path (GeoTIFF, Landsat C2 L2 or Sentinel-2 L2A folder) or an opened scene
            (:func:`modeling.mapping.scene_inputs.open_scene`, which also takes date/sensor/sun overrides).
        model: the network, with normalisation in its config (``with_statistics`` for converted weights).
        out_dir: output folder.
        outlines: glacier outlines (file or :class:`Outlines`).
        dem: DEM files or folders (needed by models with DEM bands).
        options: see :class:`MappingOptions`.
        id_column: the outlines' glacier id column (default: the first of ``scene_inputs.ID_COLUMNS``).

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
        tempfile.TemporaryDirectory(prefix=f".{scene.scene}.", suffix=".building", dir=out_dir) as tmp,
    ):
        work = Path(tmp)
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
        )
        seconds["prepare"] = time.perf_counter() - started
        staged = {kind: work / path.name for kind, path in final.items()}
        tiles = {kind: work / f"tiles{OUTPUTS[kind]}" for kind in ("facies", "confidence")}
        tick = time.perf_counter()
        counts = classify_prepared(model, prepared, tiles["facies"], tiles["confidence"], options)
        seconds["classify"] = time.perf_counter() - tick
        tick = time.perf_counter()
        _write_cog(tiles["facies"], staged["facies"], "MODE")
        _write_cog(tiles["confidence"], staged["confidence"], "AVERAGE")
        staged["style"].write_text(qgis_style())
        seen = [prepared.glacier_ids.index(g) for g in observed(prepared)]
        staged["areas"].write_text(area_table(counts[seen], observed(prepared), options.pixel_size))
        _quicklook(prepared, tiles["facies"], staged["quicklook"], options)
        seconds["write"] = time.perf_counter() - tick
        seconds["total"] = time.perf_counter() - started
        manifest = _manifest(prepared, model, options, counts, staged, seconds)
        final["manifest"].unlink(missing_ok=True)  # an older set is incomplete from here on
        for kind, path in staged.items():
            if kind != "manifest":
                os.replace(path, final[kind])
        atomic_write_text(final["manifest"], json.dumps(manifest, indent=1) + "\n")
    return MappingResult(scene.scene, final, tuple(observed(prepared)), int(counts.sum()), seconds)


def _manifest(
    prepared: PreparedScene,
    model: FaciesCNN,
    options: MappingOptions,
    counts: np.ndarray,
    staged: dict[str, Path],
    seconds: dict[str, float],
) -> dict:
    scene, grid = prepared.scene, prepared.grid
    return {
        "scene": scene.scene,
        "source": str(scene.path),
        "kind": scene.kind,
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
        },
        "glaciers": {
            g: {
                "pixels": int((prepared.glacier_index == i + 1).sum()),
                "classified": int(counts[i].sum()),
                "coverage": round(prepared.coverage[g], 6),
            }
            for i, g in enumerate(prepared.glacier_ids)
        },
        "model": {
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
