"""Writing a benchmark folder: the raw layouts (label patches; scenes plus points), DEMs, outlines, truth maps and
tables, metadata and the plausibility report; see :func:`generate`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio.raw
import pyproj
import rasterio
import rasterio.features
import shapely
from rasterio.crs import CRS
from rasterio.transform import Affine, from_origin

from dataset_builder.atomic import OutputKind, atomic_directory
from dataset_builder.schema import BAND_NAMES, BANDS, CLASS_NAMES, MAP_NODATA, PATCH_SIZE, PIXEL_SIZE_M
from dataset_builder.synthetic.config import SyntheticConfig
from dataset_builder.synthetic.facies import CODE
from dataset_builder.synthetic.plan import GlacierPlan
from dataset_builder.synthetic.plausibility import PlausibilityReport
from dataset_builder.synthetic.simulate import SimulatedScene, Simulation
from dataset_builder.synthetic.tables import (
    GENERATOR,
    TRUTH_COLUMNS,
    BenchmarkTables,
    fold_counts,
    noise_rate,
    noisy_rows,
)
from dataset_builder.synthetic.terrain import Terrain


@dataclass
class SyntheticSummary:
    """What :func:`generate` wrote, how long it took, and the plausibility figures."""

    out_dir: Path
    seconds: float
    n_glaciers: int
    n_scenes: int
    counts: dict[int, dict[str, int]]  # fold -> class -> dataset (given) labels
    noise_rate_requested: float
    noise_rate: float  # measured: noisy-class labels whose given class is not the true one
    near_boundary_share: float  # share of noisy-class labels near an ambiguous boundary
    sizes: dict[str, int]  # bytes per top-level entry of the output, and "total"
    plausibility: PlausibilityReport

    @property
    def n_labels(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def format(self) -> str:
        """Human-readable summary: counts per class and fold, noise, timing, sizes, checks."""
        width = max(len(c) for c in CLASS_NAMES)
        lines = [
            f"synthetic benchmark: {self.out_dir}",
            f"  {self.n_glaciers} glaciers, {self.n_scenes} scenes, {self.n_labels} labels, generated in {self.seconds:.1f} s",
            "  labels per class and fold:",
            "    " + " " * width + "".join(f"{f'fold {k}':>9}" for k in self.counts) + f"{'total':>9}",
        ]
        for name in CLASS_NAMES:
            row = [self.counts[k][name] for k in self.counts]
            lines.append(f"    {name:>{width}}" + "".join(f"{v:>9}" for v in row) + f"{sum(row):>9}")
        totals = [sum(c.values()) for c in self.counts.values()]
        lines.append(f"    {'all':>{width}}" + "".join(f"{v:>9}" for v in totals) + f"{sum(totals):>9}")
        lines.append(
            f"  label noise: requested {self.noise_rate_requested:.3f}, measured {self.noise_rate:.4f} "
            f"of ice/snow/debris/firn/refrozen-like labels ({self.near_boundary_share:.2f} of them near a boundary)"
        )
        lines.append("  sizes: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in self.sizes.items()))
        lines.append(self.plausibility.format())
        return "\n".join(lines)


def _write_raster(
    path: Path,
    array: np.ndarray,
    crs: int,
    transform: Affine,
    descriptions: tuple[str, ...],
    units: tuple[str, ...] | None = None,
    tags: dict[str, str] | None = None,
    compress: bool = True,
) -> None:
    """Write ``(bands, rows, cols)`` as a GeoTIFF; float rasters get nodata NaN, uint8 ones 255."""
    profile = dict(
        driver="GTiff",
        width=array.shape[2],
        height=array.shape[1],
        count=array.shape[0],
        dtype=array.dtype.name,
        crs=CRS.from_epsg(crs),
        transform=transform,
        nodata=float("nan") if array.dtype.kind == "f" else MAP_NODATA,
    )
    if compress:
        profile.update(tiled=True, blockxsize=256, blockysize=256, compress="deflate", interleave="band")
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
        dst.descriptions = descriptions
        if units:
            dst.units = units
        if tags:
            dst.update_tags(**tags)


def _outline(mask: np.ndarray, transform: Affine, to_lonlat: pyproj.Transformer) -> shapely.Polygon:
    """The glacier mask (one 4-connected component) as an exact pixel-edge polygon in lon/lat."""
    polygons = [
        shapely.geometry.shape(g)
        for g, _ in rasterio.features.shapes(mask.astype(np.uint8), mask=mask, transform=transform, connectivity=4)
    ]
    if len(polygons) != 1:
        raise AssertionError(f"a glacier mask makes {len(polygons)} polygons, expected 1")
    return shapely.transform(polygons[0], lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))


def _write_vector(path: Path, layer: str, geometries: list, columns: dict[str, np.ndarray], geometry_type: str) -> None:
    pyogrio.raw.write(
        path,
        shapely.to_wkb(np.asarray(geometries, dtype=object)),
        list(columns.values()),
        list(columns),
        layer=layer,
        driver="GPKG",
        geometry_type=geometry_type,
        crs="EPSG:4326",
    )


def _folder_sizes(root: Path) -> dict[str, int]:
    sizes = {
        entry.name: sum(f.stat().st_size for f in ([entry] if entry.is_file() else entry.rglob("*")) if f.is_file())
        for entry in sorted(root.iterdir())
    }
    sizes["total"] = sum(sizes.values())
    return sizes


def is_benchmark_folder(folder: Path) -> bool:
    """True for a folder this generator wrote: its ``metadata.json`` names it."""
    try:
        metadata = json.loads((folder / "metadata.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(metadata, dict) and metadata.get("generator") == GENERATOR


#: What :func:`generate` replaces: only a folder of this kind, unless told to overwrite.
BENCHMARK_FOLDER = OutputKind("a synthetic benchmark (with metadata.json)", is_benchmark_folder)


def generate(
    out_dir: str | Path, config: SyntheticConfig = SyntheticConfig(), progress: bool = True, *, overwrite: bool = False
) -> SyntheticSummary:
    """Generate a synthetic benchmark into ``out_dir`` (replaced atomically when complete).

    Layout (both raw layouts hold the same labels and patch values)::

        patches/fold_{k}/{fold}_{glacier}_{YYYYMMDD}_{sensor}_{nnnnnn}_{class}.tif
            one label: 11 bands x 33 x 33 float32, the label pixel at row 16, col 16, UTM CRS,
            band descriptions = band names; uncompressed. The stem is the sample_id.
        scenes/{glacier}_{YYYYMMDD}.tif
            the 11 bands of a scene, float32, nodata NaN, tags GLACIER, DATE, SENSOR,
            SUN_AZIMUTH, SUN_ELEVATION; tiled, deflate.
        points.gpkg       labels as points (EPSG:4326, pixel centres): sample_id, class, glacier,
                          date, fold, sensor
        dems/{glacier}.tif, outlines.gpkg (glacier, name, region, wgms_id; EPSG:4326)
        truth/labels.parquet   sample_id, given_class, true_class, noisy, near_boundary, scene,
                               row, col, boundary_distance_px
        truth/maps/{scene}.tif band 1 label_class (what an expert labels: shadow and cloud on
                               top), band 2 surface_facies (under shadows and clouds);
                               uint8 class codes, 255 outside the glacier and its water bodies
        mass_balance.csv  WGMS-like: POLITICAL_UNIT, NAME, WGMS_ID, YEAR, LOWER_BOUND,
                          UPPER_BOUND, AREA (km2), ANNUAL_BALANCE, ANNUAL_BALANCE_UNC (mm w.e.)
        metadata.json     config, glaciers, scenes (sun, snowline, AAR, ...), the AAR->balance
                          model, counts, noise rate

    Args:
        out_dir: the benchmark folder.
        config: generator parameters.
        progress: show a progress bar over scenes.
        overwrite: replace ``out_dir`` even when it is a file or a folder that is not a synthetic benchmark (see
            :func:`dataset_builder.atomic.atomic_directory` for what is always refused).
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    simulation = Simulation.plan(config)
    tables = BenchmarkTables()
    with atomic_directory(out_dir, BENCHMARK_FOLDER, overwrite=overwrite) as tmp:
        for g, terrain in zip(simulation.glaciers, simulation.terrains):
            _write_raster(
                tmp / "dems" / f"{g.glacier}.tif", terrain.dem[None], g.epsg, _transform(g), ("elevation",), ("m",)
            )
        for s in simulation.run(progress):
            rows = tables.add(config, s.glacier, s.scene, s.arrays, s.labels, s.balance)
            _write_scene(tmp, s, rows)
        table = tables.labels()
        _write_points(tmp / "points.gpkg", table)
        _write_outlines(tmp / "outlines.gpkg", simulation.glaciers, simulation.terrains)
        (tmp / "truth").mkdir(exist_ok=True)
        table[list(TRUTH_COLUMNS)].to_parquet(tmp / "truth" / "labels.parquet", index=False)
        tables.balance().to_csv(tmp / "mass_balance.csv", index=False)
        metadata = tables.metadata(config, simulation.glaciers, table)
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n")
        sizes = _folder_sizes(tmp)
        plausibility = tables.plausibility(metadata, table)
    return SyntheticSummary(
        out_dir=out_dir,
        seconds=time.perf_counter() - start,
        n_glaciers=len(simulation.glaciers),
        n_scenes=len(simulation.scenes),
        counts=fold_counts(table),
        noise_rate_requested=config.noise_rate,
        noise_rate=noise_rate(table),
        near_boundary_share=float(table.loc[noisy_rows(table), "near_boundary"].mean()),
        sizes=sizes,
        plausibility=plausibility,
    )


def _transform(glacier: GlacierPlan) -> Affine:
    """The glacier's scene grid: 10 m pixels from its upper-left corner."""
    return from_origin(glacier.x0, glacier.y0, PIXEL_SIZE_M, PIXEL_SIZE_M)


def _write_scene(folder: Path, simulated: SimulatedScene, rows: list[dict]) -> None:
    """The scene's bands, its truth maps and one patch file per label row."""
    g, scene, arrays = simulated.glacier, simulated.scene, simulated.arrays
    transform = _transform(g)
    units = tuple(b.unit for b in BANDS)
    tags = dict(
        GLACIER=g.glacier,
        DATE=scene.date,
        SENSOR=scene.sensor,
        SUN_AZIMUTH=str(scene.sun_azimuth),
        SUN_ELEVATION=str(scene.sun_elevation),
    )
    _write_raster(folder / "scenes" / f"{scene.scene}.tif", arrays.bands, g.epsg, transform, BAND_NAMES, units, tags)
    _write_raster(
        folder / "truth" / "maps" / f"{scene.scene}.tif",
        np.stack([arrays.label_map, arrays.surface_map]),
        g.epsg,
        transform,
        ("label_class", "surface_facies"),
        tags={"CLASS_CODES": json.dumps(dict(CODE)), "NODATA": str(MAP_NODATA)},
    )
    half = PATCH_SIZE // 2
    for row in rows:
        r, c = row["row"], row["col"]
        _write_raster(
            folder / "patches" / f"fold_{g.fold}" / f"{row['sample_id']}.tif",
            arrays.bands[:, r - half : r + half + 1, c - half : c + half + 1],
            g.epsg,
            transform * Affine.translation(c - half, r - half),
            BAND_NAMES,
            units,
            compress=False,
        )


def _write_outlines(path: Path, glaciers: list[GlacierPlan], terrains: list[Terrain]) -> None:
    """The glacier outlines (EPSG:4326 polygons) with glacier, name, region and wgms_id."""
    outlines = [
        _outline(t.glacier, _transform(g), pyproj.Transformer.from_crs(g.epsg, 4326, always_xy=True))
        for g, t in zip(glaciers, terrains)
    ]
    _write_vector(
        path,
        "outlines",
        outlines,
        {
            "glacier": np.array([g.glacier for g in glaciers], dtype=object),
            "name": np.array([g.name for g in glaciers], dtype=object),
            "region": np.array([g.region for g in glaciers], dtype=object),
            "wgms_id": np.array([g.wgms_id for g in glaciers], dtype=np.int32),
        },
        "Polygon",
    )


def _write_points(path: Path, table: pd.DataFrame) -> None:
    """The labels as EPSG:4326 points at their pixel centres (the builder reprojects per scene)."""
    lon, lat = np.empty(len(table)), np.empty(len(table))
    for epsg, rows in table.groupby("epsg").indices.items():
        to_lonlat = pyproj.Transformer.from_crs(int(epsg), 4326, always_xy=True)
        lon[rows], lat[rows] = to_lonlat.transform(table["x"].to_numpy()[rows], table["y"].to_numpy()[rows])
    text = lambda name: table[name].to_numpy(dtype=object)  # noqa: E731
    columns = {
        "sample_id": text("sample_id"),
        "class": text("given_class"),
        "glacier": text("glacier"),
        "date": text("date"),
        "fold": table["fold"].to_numpy(dtype=np.int32),
        "sensor": text("sensor"),
    }
    _write_vector(path, "points", list(shapely.points(lon, lat)), columns, "Point")
