"""Tiny seeded fake sources in both raw layouts, for tests and benchmarks.

Values are random but typed and georeferenced like the real data; they make no physical sense
(the synthetic generator, ``dataset_builder.synthetic``, is the physically plausible source).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from dataset_builder.records import PatchBatch
from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, NUM_FOLDS, PATCH_SIZE

FAKE_CRS = "EPSG:32632"


def fake_patch(
    rng: np.random.Generator, label: int, bands: int = len(BAND_NAMES), size: int = PATCH_SIZE
) -> np.ndarray:
    """A float32 patch (bands, size, size) whose mean depends on the label, so classes are learnable; values in 0-1,
    which every band can take (``Band.plausible``)."""
    base = 0.1 + 0.1 * label
    return np.clip(base + 0.05 * rng.standard_normal((bands, size, size)), 0.0, 1.0).astype(np.float32)


def write_patch_tif(path: Path, data: np.ndarray, x0: float, y0: float, crs: str | None = FAKE_CRS) -> None:
    """Write a (bands, H, W) array as a GeoTIFF with 10 m pixels and upper-left corner (x0, y0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype,
        crs=crs,
        transform=from_origin(x0, y0, 10.0, 10.0),
    ) as dst:
        dst.write(data)


def write_fake_released(
    root: str | Path, *, per_fold: int = 8, seed: int = 0, glaciers_per_fold: int = 1
) -> list[Path]:
    """Write ``per_fold`` label GeoTIFFs per fold in the released layout; every class appears."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    paths = []
    for fold in range(NUM_FOLDS):
        for i in range(per_fold):
            label = (i + fold) % len(CLASS_NAMES)
            glacier = f"glacier{fold}{i % glaciers_per_fold}"
            date = f"20{10 + fold:02d}0{8 + i % 2}1{i % 9}"
            name = f"{fold}_{glacier}_{date}_S2_{i:04d}_{CLASS_NAMES[label]}.tif"
            path = root / f"fold_{fold}" / name
            write_patch_tif(path, fake_patch(rng, label), 400000.0 + 1000 * i, 5100000.0 + 1000 * fold)
            paths.append(path)
    return paths


def write_fake_scenes(
    root: str | Path,
    *,
    n_scenes: int = 3,
    points_per_scene: int = 20,
    size: int = 80,
    seed: int = 0,
    bands: tuple[str, ...] = BAND_NAMES,
    table: str = "gpkg",
) -> Path:
    """Write a scenes-plus-points source: ``scenes/{glacier}_{date}.tif`` and a point table.

    Points lie inside each scene; a few are within 16 px of the edge (their patches get padded).

    Returns:
        The point table path.
    """
    import pandas as pd

    root = Path(root)
    rng = np.random.default_rng(seed)
    records = []
    for s in range(n_scenes):
        glacier, date = f"glacier{s}", f"2020-08-{10 + s:02d}"
        x0, y0 = 400000.0 + 5000 * s, 5100000.0
        data = np.clip(0.2 + 0.05 * rng.standard_normal((len(bands), size, size)), 0.0, 1.0).astype(np.float32)
        path = root / "scenes" / f"{glacier}_{date.replace('-', '')}.tif"
        write_patch_tif(path, data, x0, y0)
        with rasterio.open(path, "r+") as dst:
            dst.descriptions = bands
            dst.update_tags(GLACIER=glacier, DATE=date, SENSOR="S2")
        rows = rng.integers(0, size, points_per_scene)
        cols = rng.integers(0, size, points_per_scene)
        for k, (r, c) in enumerate(zip(rows, cols)):
            records.append(
                {
                    "sample_id": f"{glacier}_{date}_{k:04d}",
                    "class": CLASS_NAMES[k % len(CLASS_NAMES)],
                    "glacier": glacier,
                    "date": date,
                    "fold": s % NUM_FOLDS,
                    "x": x0 + 10.0 * (c + 0.5),
                    "y": y0 - 10.0 * (r + 0.5),
                }
            )
    frame = pd.DataFrame(records)
    if table == "csv":
        frame["crs"] = FAKE_CRS
        out = root / "points.csv"
        frame.to_csv(out, index=False)
        return out
    import pyogrio
    import shapely

    geometry = shapely.to_wkb(shapely.points(frame["x"], frame["y"]))
    out = root / f"points.{table}"
    pyogrio.raw.write(
        out,
        geometry,
        field_data=[frame[c].to_numpy() for c in ("sample_id", "class", "glacier", "date", "fold")],
        fields=["sample_id", "class", "glacier", "date", "fold"],
        geometry_type="Point",
        crs=FAKE_CRS,
        driver="GPKG" if table == "gpkg" else "GeoJSON",
    )
    return out


def fake_batch(n: int, *, seed: int = 0, bands: int = len(BAND_NAMES), size: int = PATCH_SIZE) -> PatchBatch:
    """``n`` fake rows (patches from :func:`fake_patch`), classes and folds in turn, ids ``fake000000`` ...,
    not georeferenced and not pruned: a PatchBatch for writing a dataset without source files."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % len(CLASS_NAMES)
    text = np.array([f"glacier{k % 3}" for k in range(n)], dtype=object)
    return PatchBatch(
        sample_id=np.array([f"fake{k:06d}" for k in range(n)], dtype=object),
        patches=np.stack([fake_patch(rng, int(c), bands, size) for c in label])
        if n
        else np.zeros((0, bands, size, size), np.float32),
        label=label,
        fold=(np.arange(n) % NUM_FOLDS).astype(np.int8),
        glacier=text,
        date=np.full(n, "2020-08-15", dtype=object),
        scene=np.array([f"{g}_2020-08-15" for g in text], dtype=object),
        sensor=np.full(n, "S2", dtype=object),
        x=np.full(n, np.nan),
        y=np.full(n, np.nan),
        crs=np.full(n, None, dtype=object),
        padded=np.zeros(n, bool),
        label_issue=np.zeros(n, bool),
        label_quality=np.full(n, np.nan, np.float32),
    )
