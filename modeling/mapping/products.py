"""The facies products of a mapped scene: their files, formats and contract.

Outputs in ``out_dir`` for a scene named ``{scene}`` (:data:`OUTPUTS`):

- ``{scene}_facies.tif``: uint8 class codes (``schema.CLASS_NAMES`` order), ``schema.MAP_UNOBSERVED`` (254) on
  glacier pixels the product's quality flags hide (cloud, cloud shadow, cirrus, saturated or defective; see
  :mod:`~modeling.mapping.readers`), nodata ``schema.MAP_NODATA`` (255) outside the glaciers and on glacier
  pixels without data; an embedded colour table (``quicklook.FACIES_COLOURS``, unobserved
  :data:`UNOBSERVED_COLOUR`), class names in the tags (``CLASS_NAMES``, ``CLASS_CODES``, band tags ``CLASS_k``),
  tags GLACIER (or GLACIERS, comma-separated: the glaciers the scene has data over), COVERAGE (JSON: each one's
  share of classified pixels), DATE (YYYY-MM-DD), SENSOR, SCENE, MODE, SMOOTHING, CLOUD_MASK (``product``: the
  product's cloud flags applied; ``model``: the model's own cloud/shadow classes kept), QUALITY (the quality
  rasters read), UNOBSERVED (254); a Cloud-Optimised GeoTIFF (deflate, 512 px tiles, mode overviews);
- ``{scene}_facies.qml``: QGIS layer style (paletted: class names and colours), loaded with the map;
- ``{scene}_confidence.tif``: float32 calibrated probability (temperature of the model's config) of
  the written class, 0-1, NaN where there is no class; a COG (tags GLACIER/GLACIERS and DATE too: it is not a
  class map);
- ``{scene}_quicklook.png``: true colour beside the facies map, with a legend;
- ``{scene}_areas.csv``: :data:`AREA_COLUMNS`, one row per glacier (those of the tags) and class, then its
  ``unobserved`` and ``no data`` pixels: scene, date, sensor, model, glacier, class, pixels, area_km2, share
  (of the glacier's classified pixels; empty for unobserved and no data), outline_share (of the outline's
  pixels); tables of many scenes concatenate (:func:`combine_area_tables` writes ``areas.csv``);
- ``{scene}_mapping.json``: what was done (inputs, grid, model, mode, coverage, timings) and the list
  of outputs with their sizes; written last, so a scene counts as finished (:func:`is_complete`)
  only when everything is there.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Mapping, Sequence
from xml.sax.saxutils import quoteattr

import numpy as np
import rasterio
import rasterio.shutil
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from dataset_builder.atomic import atomic_write_text
from dataset_builder.quicklook import FACIES_COLOURS, colour_class_map, facies_colours, true_colour
from dataset_builder.schema import CLASS_NAMES, MAP_NODATA, MAP_UNOBSERVED
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
AREA_COLUMNS = (
    "scene",
    "date",
    "sensor",
    "model",
    "glacier",
    "class",
    "pixels",
    "area_km2",
    "share",
    "outline_share",
)
#: Names of the area rows of glacier pixels without a class, and of the unobserved code in the map's legend.
UNOBSERVED_LABEL = "unobserved"
NODATA_LABEL = "no data"
#: Colour of unobserved (masked) pixels in the facies map and quick-look.
UNOBSERVED_COLOUR: tuple[int, int, int] = (255, 0, 255)
#: The combined area table of an output folder (no ``{scene}_areas.csv`` can be named so).
COMBINED_AREAS = "areas.csv"


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
    ids = prepared.seen()
    tags = {"GLACIER": ids[0]} if len(ids) == 1 else {"GLACIERS": ",".join(ids)}
    return tags | {
        "COVERAGE": json.dumps({g: round(prepared.coverage[g], 4) for g in ids}),
        "DATE": prepared.scene.date,
        "SENSOR": prepared.scene.sensor,
        "SCENE": prepared.scene.scene,
        "MODE": options.mode,
        "SMOOTHING": "mode 3x3" if options.smooth else "none",
        "CLOUD_MASK": options.cloud_mask,
        "QUALITY": ", ".join(q.name for q in prepared.scene.quality) or "none",
        "CLASS_NAMES": ",".join(CLASS_NAMES),
        "CLASS_CODES": json.dumps({name: i for i, name in enumerate(CLASS_NAMES)}),
        "UNOBSERVED": str(MAP_UNOBSERVED),
        "NODATA": str(MAP_NODATA),
    }


def facies_colour_table() -> dict[int, tuple[int, int, int, int]]:
    """The facies GeoTIFF's colour table: class code -> RGBA, the unobserved code included."""
    table = {code: (*map(int, rgb), 255) for code, rgb in enumerate(facies_colours())}
    return table | {MAP_UNOBSERVED: (*UNOBSERVED_COLOUR, 255)}


def write_cog(source: Path, target: Path, resampling: str) -> None:
    """Copy a GeoTIFF as a Cloud-Optimised GeoTIFF (deflate, 512 px tiles, overviews by ``resampling``)."""
    rasterio.shutil.copy(
        source, target, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512, OVERVIEWS="AUTO", RESAMPLING=resampling
    )


def qgis_style() -> str:
    """A QGIS layer style (``.qml``): a paletted renderer of band 1 with the class names and colours."""
    legend = [(code, name, FACIES_COLOURS[name]) for code, name in enumerate(CLASS_NAMES)]
    entries = "\n".join(
        f'        <paletteEntry value="{code}" label={quoteattr(name)} alpha="255" color="#{"".join(f"{v:02x}" for v in rgb)}"/>'
        for code, name, rgb in legend + [(MAP_UNOBSERVED, UNOBSERVED_LABEL, UNOBSERVED_COLOUR)]
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


def area_table(
    counts: np.ndarray,
    pixels: Mapping[str, np.ndarray],
    glacier_ids: Sequence[str],
    pixel_size: float,
    identity: Mapping[str, str],
) -> str:
    """CSV text of :data:`AREA_COLUMNS` (see the module docstring).

    Args:
        counts: (glaciers, classes) classified pixels per glacier and class, ``schema.CLASS_NAMES`` order.
        pixels: (glaciers,) ``pixels`` in each outline, ``unobserved`` and ``no_data`` pixels
            (:meth:`~modeling.mapping.prepare.PreparedScene.pixel_counts`, the same glaciers).
        glacier_ids: the glaciers of the rows.
        pixel_size: grid pixel in metres.
        identity: scene, date, sensor and model of every row.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(AREA_COLUMNS)
    ids = [identity[k] for k in AREA_COLUMNS[:4]]
    for g, (glacier, row) in enumerate(zip(glacier_ids, counts)):
        classified, outline = int(row.sum()), int(pixels["pixels"][g])
        named = list(zip(CLASS_NAMES, row)) + [
            (UNOBSERVED_LABEL, pixels["unobserved"][g]),
            (NODATA_LABEL, pixels["no_data"][g]),
        ]
        for k, (name, n) in enumerate(named):
            share = f"{n / classified:.6f}" if classified and k < len(CLASS_NAMES) else ""
            of_outline = f"{n / outline:.6f}" if outline else ""
            writer.writerow([*ids, glacier, name, int(n), f"{n * pixel_size**2 / 1e6:.6f}", share, of_outline])
    return buffer.getvalue()


def combine_area_tables(out_dir: str | Path) -> tuple[Path | None, list[str]]:
    """Concatenate the area tables of the complete scenes of ``out_dir`` into :data:`COMBINED_AREAS` (atomically).

    Returns:
        The combined table (None when no scene is complete) and the scenes left out because their table has
        another layout (mapped by an older version: map them again with ``overwrite``).
    """
    out_dir = Path(out_dir)
    suffix = OUTPUTS["manifest"]
    rows, older = [], []
    for manifest in sorted(out_dir.glob(f"*{suffix}")):
        scene = manifest.name[: -len(suffix)]
        if not is_complete(out_dir, scene):
            continue
        with open(output_paths(out_dir, scene)["areas"], newline="", encoding="utf-8") as fh:
            table = list(csv.reader(fh))
        if not table or tuple(table[0]) != AREA_COLUMNS:
            older.append(scene)
            continue
        rows.extend(table[1:])
    if not rows and not older:
        return None, older
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([AREA_COLUMNS, *rows])
    atomic_write_text(out_dir / COMBINED_AREAS, buffer.getvalue())
    return out_dir / COMBINED_AREAS, older


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
    rgb = colour_class_map(codes)
    rgb[codes == MAP_UNOBSERVED] = UNOBSERVED_COLOUR
    axes[-1].imshow(rgb, interpolation="nearest")
    axes[-1].set_title(f"facies ({options.mode}{', mode filter' if options.smooth else ''})")
    for ax in axes:
        ax.set_axis_off()
    present = [CLASS_NAMES[c] for c in np.unique(codes) if c < len(CLASS_NAMES)]
    colours = [FACIES_COLOURS[c] for c in present]
    if (codes == MAP_UNOBSERVED).any():
        present, colours = present + [UNOBSERVED_LABEL], colours + [UNOBSERVED_COLOUR]
    handles = [Patch(facecolor=np.array(rgb) / 255, edgecolor="0.3", label=c) for c, rgb in zip(present, colours)]
    axes[-1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    scene, ids = prepared.scene, prepared.seen()
    fig.suptitle(f"{scene.scene}  {scene.date}  {scene.sensor}  ({', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''})")
    return fig
