"""The facies products of a mapped scene: their files, formats and contract.

Outputs in ``out_dir`` for a scene named ``{scene}`` (:data:`OUTPUTS`):

- ``{scene}_facies.tif``: uint8 class codes (``schema.CLASS_NAMES`` order), nodata ``schema.MAP_NODATA``
  (255) outside the glaciers (and on glacier pixels without data), an embedded colour table
  (``quicklook.FACIES_COLOURS``), class names in the tags (``CLASS_NAMES``, ``CLASS_CODES``, band tags
  ``CLASS_k``), tags GLACIER (or GLACIERS, comma-separated: the glaciers with data in the scene), COVERAGE
  (JSON: each one's share of pixels with data), DATE (YYYY-MM-DD), SENSOR, SCENE, MODE, SMOOTHING; a
  Cloud-Optimised GeoTIFF (deflate, 512 px tiles, mode overviews);
- ``{scene}_facies.qml``: QGIS layer style (paletted: class names and colours), loaded with the map;
- ``{scene}_confidence.tif``: float32 calibrated probability (temperature of the model's config) of
  the written class, 0-1, NaN where there is no class; a COG;
- ``{scene}_quicklook.png``: true colour beside the facies map, with a legend;
- ``{scene}_areas.csv``: per glacier (those of the tags) and class: glacier, class, pixels, area_km2,
  share (of the glacier's classified pixels);
- ``{scene}_mapping.json``: what was done (inputs, grid, model, mode, coverage, timings) and the list
  of outputs with their sizes; written last, so a scene counts as finished (:func:`is_complete`)
  only when everything is there.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import quoteattr

import numpy as np
import rasterio
import rasterio.shutil
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from dataset_builder.quicklook import FACIES_COLOURS, colour_class_map, true_colour
from dataset_builder.schema import CLASS_NAMES, MAP_NODATA
from modeling.mapping.options import MappingOptions
from modeling.mapping.prepare import PreparedScene
from modeling.mapping.tiles import decimated_shape

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


def facies_tags(prepared: PreparedScene, options: MappingOptions) -> dict[str, str]:
    """The dataset tags of the facies GeoTIFF (see the module docstring)."""
    ids = prepared.observed()
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
        "NODATA": str(MAP_NODATA),
    }


def write_cog(source: Path, target: Path, resampling: str) -> None:
    """Copy a GeoTIFF as a Cloud-Optimised GeoTIFF (deflate, 512 px tiles, overviews by ``resampling``)."""
    rasterio.shutil.copy(
        source, target, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512, OVERVIEWS="AUTO", RESAMPLING=resampling
    )


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


def quicklook_figure(prepared: PreparedScene, facies_path: Path, options: MappingOptions) -> Figure:
    """The quick-look: true colour (when the scene has blue, green and red) beside the facies map of
    ``facies_path``, with a legend of the classes present; both decimated to ``options.quicklook_px``."""
    rgb = prepared.quicklook_bands(options.quicklook_px)
    with rasterio.open(facies_path) as src:
        codes = src.read(1, out_shape=decimated_shape(src.shape, options.quicklook_px))
    panels = 1 if rgb is None else 2
    fig = Figure(figsize=(5.5 * panels, 5.2), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    if rgb is not None:
        axes[0].imshow(true_colour(rgb), interpolation="nearest")
        axes[0].set_title("true colour (2-98 % stretch)")
    axes[-1].imshow(colour_class_map(codes), interpolation="nearest")
    axes[-1].set_title(f"facies ({options.mode}{', mode filter' if options.smooth else ''})")
    for ax in axes:
        ax.set_axis_off()
    present = [CLASS_NAMES[c] for c in np.unique(codes) if c < len(CLASS_NAMES)]
    handles = [Patch(facecolor=np.array(FACIES_COLOURS[c]) / 255, edgecolor="0.3", label=c) for c in present]
    axes[-1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    scene, ids = prepared.scene, prepared.observed()
    fig.suptitle(f"{scene.scene}  {scene.date}  {scene.sensor}  ({', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''})")
    return fig
