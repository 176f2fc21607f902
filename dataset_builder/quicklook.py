"""Quick-look figures: true-colour composites, facies maps with a legend, class histograms.

``FACIES_COLOURS`` is the one home of the class colours; map outputs, QGIS styles and plots take
them from here. Figures are :class:`matplotlib.figure.Figure` objects (no pyplot, no backend switching);
:func:`save_figure` writes any figure as PNG atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

import matplotlib
import numpy as np
import rasterio
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from dataset_builder.atomic import atomic_path
from dataset_builder.schema import BAND_NAMES, CLASS_NAMES

#: RGB (0-255) per class, in class index order.
FACIES_COLOURS: dict[str, tuple[int, int, int]] = {
    "ice": (86, 180, 233),
    "snow": (245, 245, 245),
    "debris": (140, 98, 57),
    "firn": (204, 153, 255),
    "shadow": (60, 60, 60),
    "refrozen-like": (0, 158, 115),
    "water": (0, 64, 160),
    "cloud": (240, 228, 66),
}
#: Colour of pixels without a class (outside the glacier, nodata).
NODATA_COLOUR: tuple[int, int, int] = (0, 0, 0)


def facies_colours() -> np.ndarray:
    """``(8, 3)`` uint8 RGB table, row = class code (``schema.CLASS_NAMES`` order)."""
    return np.array([FACIES_COLOURS[name] for name in CLASS_NAMES], dtype=np.uint8)


def colour_class_map(codes: np.ndarray) -> np.ndarray:
    """``(rows, cols)`` class codes (0-7; anything else is no class) -> ``(rows, cols, 3)`` uint8 RGB."""
    table = np.vstack([facies_colours(), np.tile(np.array(NODATA_COLOUR, dtype=np.uint8), (256 - len(CLASS_NAMES), 1))])
    return table[np.asarray(codes, dtype=np.uint8)]


def true_colour(scene_bands: np.ndarray, lower: float = 2.0, upper: float = 98.0) -> np.ndarray:
    """True-colour composite with a robust linear stretch.

    Args:
        scene_bands: ``(bands, rows, cols)`` with blue, green, red as the first three bands
            (schema order), reflectance 0-1; NaN allowed.
        lower, upper: percentiles of the three bands together mapped to 0 and 255 (one stretch
            for all three keeps the colour balance).

    Returns:
        ``(rows, cols, 3)`` uint8 RGB; pixels with a NaN band black.
    """
    rgb = np.moveaxis(np.asarray(scene_bands, dtype=np.float64)[[2, 1, 0]], 0, -1)
    finite = np.isfinite(rgb).all(axis=-1)
    if not finite.any():
        return np.zeros(rgb.shape, dtype=np.uint8)
    lo, hi = np.percentile(rgb[finite], [lower, upper])
    scaled = np.clip((rgb - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return np.where(finite[..., None], np.round(scaled * 255), 0).astype(np.uint8)


def legend_handles(classes: list[str]) -> list[Patch]:
    """Legend entries (a patch of the class colour) for class names, in the given order."""
    return [Patch(facecolor=np.array(FACIES_COLOURS[c]) / 255, edgecolor="0.3", label=c) for c in classes]


def scene_quicklook(scene_path: str | Path, truth_path: str | Path) -> Figure:
    """Side by side: the scene's true-colour composite and its facies truth map with a legend.

    Args:
        scene_path: 11-band scene GeoTIFF (band descriptions = band names; tags GLACIER, DATE, SENSOR).
        truth_path: truth map GeoTIFF, band 1 = class codes (255 = no class).
    """
    with rasterio.open(scene_path) as src:
        by_name = {d: i + 1 for i, d in enumerate(src.descriptions)}
        bands = src.read([by_name[b] for b in BAND_NAMES[:3]])
        tags = src.tags()
    with rasterio.open(truth_path) as src:
        codes = src.read(1)
    fig = Figure(figsize=(11, 5.2), layout="constrained")
    axes = fig.subplots(1, 2)
    axes[0].imshow(true_colour(bands), interpolation="nearest")
    axes[0].set_title("true colour (2-98 % stretch)")
    axes[1].imshow(colour_class_map(codes), interpolation="nearest")
    axes[1].set_title("facies truth")
    for ax in axes:
        ax.set_axis_off()
    present = [CLASS_NAMES[c] for c in np.unique(codes) if c < len(CLASS_NAMES)]
    axes[1].legend(handles=legend_handles(present), loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.suptitle(" ".join(tags.get(k, "") for k in ("GLACIER", "DATE", "SENSOR")).strip() or Path(scene_path).stem)
    return fig


def plot_scene_quicklook(scene_path: str | Path, truth_path: str | Path, out_png: str | Path) -> Path:
    """Write :func:`scene_quicklook` to ``out_png``."""
    return save_figure(scene_quicklook(scene_path, truth_path), out_png)


def class_histogram(counts: Mapping[str | int, Mapping[str, int]]) -> Figure:
    """Grouped bars of label counts per class, one bar per fold (log scale).

    Args:
        counts: fold (``0``-``5`` or a split name such as ``"fold_0"``) -> class name -> count.
    """
    folds = list(counts)
    x = np.arange(len(CLASS_NAMES))
    width = 0.8 / max(len(folds), 1)
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.subplots()
    shades = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.9, max(len(folds), 1)))
    for i, fold in enumerate(folds):
        values = [counts[fold].get(name, 0) for name in CLASS_NAMES]
        name = fold if isinstance(fold, str) else f"fold_{fold}"
        ax.bar(x + (i - (len(folds) - 1) / 2) * width, values, width, label=name, color=shades[i])
    ax.set_xticks(x, CLASS_NAMES)
    for tick, name in zip(ax.get_xticklabels(), CLASS_NAMES):
        tick.set_color(np.array(FACIES_COLOURS[name]) / 255 * 0.7)
    ax.set_yscale("log")
    ax.set_ylabel("labels")
    total = sum(sum(c.values()) for c in counts.values())
    ax.set_title(f"labels per class and fold ({total} in all)")
    ax.legend(ncols=min(len(folds), 6), fontsize="small")
    return fig


def plot_class_histogram(counts: Mapping[str | int, Mapping[str, int]], out_png: str | Path) -> Path:
    """Write :func:`class_histogram` to ``out_png``."""
    return save_figure(class_histogram(counts), out_png)


def write_quicklooks(
    benchmark_dir: str | Path, out_dir: str | Path, counts: Mapping[str | int, Mapping[str, int]]
) -> list[Path]:
    """Quick-looks of a synthetic benchmark: one PNG per scene and ``class_histogram.png``.

    Args:
        benchmark_dir: a folder written by :func:`dataset_builder.synthetic.generate`
            (``scenes/*.tif`` and ``truth/maps/*.tif`` of the same names).
        out_dir: where the PNGs go (``{scene}.png``).
        counts: label counts for the histogram (fold -> class -> count).
    """
    benchmark_dir, out_dir = Path(benchmark_dir), Path(out_dir)
    written = [
        plot_scene_quicklook(scene, benchmark_dir / "truth" / "maps" / scene.name, out_dir / f"{scene.stem}.png")
        for scene in sorted((benchmark_dir / "scenes").glob("*.tif"))
    ]
    written.append(plot_class_histogram(counts, out_dir / "class_histogram.png"))
    return written


def save_figure(fig: Figure, out_png: str | Path, dpi: int = 100) -> Path:
    """Write a figure as PNG atomically (temporary file, then rename); returns ``out_png``.

    A figure made with pyplot (when a caller has imported it) is closed there after writing; one built with
    :class:`matplotlib.figure.Figure` needs no closing.
    """
    out_png = Path(out_png)
    try:
        with atomic_path(out_png) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(fig)
    return out_png
