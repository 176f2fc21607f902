"""Spec-shaped fake optical products for the tests, built from the public product specifications.

- Landsat Collection 2 Level-2 (USGS LSDS-1619/LSDS-1618): ``{product}_SR_B{n}.TIF`` (uint16, DN 0 = fill), the
  MTL as JSON, text and XML (the same content), ``_QA_PIXEL.TIF`` (bit 0 fill, 1 dilated cloud, 2 cirrus, 3
  cloud, 4 cloud shadow, 5 snow, 6 clear, 7 water) and ``_QA_RADSAT.TIF`` (bit n-1: band n saturated, 9 dropped
  pixel, 11 terrain occlusion); 30 m pixels with corners at odd multiples of 15 m; optionally a Level-1 MTL beside.
- Sentinel-2 L2A SAFE (ESA PSD-14): ``MTD_MSIL2A.xml`` (BOA_QUANTIFICATION_VALUE, PROCESSING_BASELINE,
  BOA_ADD_OFFSET per band_id from 04.00 on), ``GRANULE/L2A_.../MTD_TL.xml`` (TILE_ID, SENSING_TIME,
  Mean_Sun_Angle), ``IMG_DATA/R10m|R20m|R60m/T.._{band}_{res}.jp2`` (R20m and R60m also hold B02-B04), SCL at 20 m
  (0 no data, 1 saturated or defective, 2 dark area, 3 cloud shadows, 8/9 cloud medium/high probability,
  10 thin cirrus, 11 snow), DN 65535 = saturated; and its other forms (zip, band folder, STAC folders).

The pixel patterns are placed on the glacier by :func:`glacier_cells`, so every flag lands on glacier pixels. The
tests compute what they expect from these arrays and the specs, not from the readers' constants.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine
from scipy import ndimage

from dataset_builder.schema import BAND_NAMES, CLASS_NAMES, MAP_NODATA

MULT, ADD = 2.75e-05, -0.2
LANDSAT_NUMBERS = {
    "OLI": {"blue": 2, "green": 3, "red": 4, "nir": 5, "swir1": 6, "swir2": 7},
    "TM": {"blue": 1, "green": 2, "red": 3, "nir": 4, "swir1": 5, "swir2": 7},
}
S2_FILES = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir1": "B11", "swir2": "B12"}
STAC_KEYS = {"blue": "blue", "green": "green", "red": "red", "nir": "nir", "swir1": "swir16", "swir2": "swir22"}


def read_scene(path: Path) -> tuple[np.ndarray, dict, Affine, rasterio.crs.CRS]:
    with rasterio.open(path) as src:
        return src.read(), src.tags(), src.transform, src.crs


def write_raster(path: Path, array: np.ndarray, transform: Affine, crs, **extra) -> Path:
    """Write (bands, rows, cols) or (rows, cols) as a raster (GeoTIFF unless ``driver`` is given)."""
    array = array[None] if array.ndim == 2 else array
    descriptions, tags = extra.pop("descriptions", None), extra.pop("tags", {})
    profile = dict(
        driver="GTiff",
        width=array.shape[2],
        height=array.shape[1],
        count=array.shape[0],
        dtype=array.dtype.name,
        crs=crs,
        transform=transform,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **(profile | extra)) as dst:
        dst.write(array)
        if descriptions:
            dst.descriptions = descriptions
        dst.update_tags(**tags)
    return path


def sample_at_grid(path: Path | str, grid, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values of a raster's pixels under grid pixel centres (nearest), found by coordinates."""
    x, y = grid.transform * (cols + 0.5, rows + 0.5)
    with rasterio.open(path) as src:
        c, r = ~src.transform * (x, y)
        return src.read(1)[np.floor(r).astype(int), np.floor(c).astype(int)]


def bilinear_at_grid(
    path: Path | str, grid, rows: np.ndarray, cols: np.ndarray, bad: tuple[float, ...] = (0, 65535)
) -> tuple[np.ndarray, np.ndarray]:
    """A raster's values interpolated bilinearly between its pixel centres at grid pixel centres (float64), and
    where that interpolation used only valid pixels (its four neighbours inside the raster, none of ``bad``)."""
    x, y = grid.transform * (cols + 0.5, rows + 0.5)
    with rasterio.open(path) as src:
        data = src.read(1).astype(np.float64)
        c, r = ~src.transform * (x, y)
    r, c = np.asarray(r) - 0.5, np.asarray(c) - 0.5
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    inside = (r0 >= 0) & (c0 >= 0) & (r0 + 1 < data.shape[0]) & (c0 + 1 < data.shape[1])
    r0, c0 = np.clip(r0, 0, data.shape[0] - 2), np.clip(c0, 0, data.shape[1] - 2)
    a, b, d, e = (data[r0 + i, c0 + j] for i in (0, 1) for j in (0, 1))
    clean = inside & ~np.any([np.isin(v, bad) for v in (a, b, d, e)], axis=0)
    fr, fc = r - r0, c - c0
    return a * (1 - fr) * (1 - fc) + b * (1 - fr) * fc + d * fr * (1 - fc) + e * fr * fc, clean


def glacier_cells(glacier: np.ndarray, count: int, seed: int) -> list[tuple[int, int]]:
    """``count`` distinct (row, col) cells where ``glacier`` (bool, any grid) is True, seeded."""
    rows, cols = np.nonzero(glacier)
    pick = np.random.default_rng(seed).choice(len(rows), size=count, replace=False)
    return [(int(rows[i]), int(cols[i])) for i in pick]


@dataclass
class Landsat:
    """A fake Landsat product: its folder, grid, DN arrays by band number and QA arrays."""

    folder: Path
    transform: Affine
    dn: dict[int, np.ndarray]
    qa_pixel: np.ndarray
    qa_radsat: np.ndarray
    flagged: dict[str, tuple[int, int]]  # what was written where: name -> 30 m cell


#: QA_PIXEL values written (bits per the product guide), and QA_RADSAT values.
QA_CLEAR = 1 << 6
QA_PIXEL_CASES = {
    "fill": 1 << 0,
    "dilated_cloud": (1 << 1) | QA_CLEAR,
    "cirrus": 1 << 2,
    "cloud": (1 << 3) | (3 << 8),  # cloud, high cloud confidence
    "cloud_shadow": 1 << 4,
    "snow": (1 << 5) | (3 << 12),  # snow, high snow confidence: observed
    "water": (1 << 7) | QA_CLEAR,  # observed
}


def landsat_c2l2(
    root: Path,
    scene: Path,
    truth: np.ndarray,
    family: str = "OLI",
    mtl: tuple[str, ...] = ("json", "txt", "xml"),
    level1: bool = False,
    qa: bool = True,
) -> Landsat:
    """A Landsat Collection 2 Level-2 product of a synthetic scene: 30 m SR bands sampled from the 10 m
    reflectance, corners at odd multiples of 15 m, QA rasters with one cell of each case, MTL files."""
    data, tags, transform, crs = read_scene(scene)
    # upper-left corner: the odd multiple of 15 m at or left/up of the scene's corner
    x0 = 15 * (2 * np.floor((transform.c / 15 - 1) / 2) + 1)
    y0 = 15 * (2 * np.ceil((transform.f / 15 - 1) / 2) + 1)
    step = 3
    height, width = data.shape[1] // step + 1, data.shape[2] // step + 1
    lt = Affine(30.0, 0.0, x0, 0.0, -30.0, y0)
    # each 30 m pixel takes the 10 m scene pixel under its centre
    centres_x = x0 + 30 * (np.arange(width) + 0.5)
    centres_y = y0 - 30 * (np.arange(height) + 0.5)
    cols = np.clip(np.floor((centres_x - transform.c) / 10).astype(int), 0, data.shape[2] - 1)
    rows = np.clip(np.floor((transform.f - centres_y) / 10).astype(int), 0, data.shape[1] - 1)
    stamp = tags["DATE"].replace("-", "")
    prefix = "LC08" if family == "OLI" else "LT05"
    product = f"{prefix}_L2SP_195028_{stamp}_20200101_02_T1"
    folder = root / product
    # 30 m cells wholly on the glacier (the truth maps also cover its lakes and fjord, which are no glacier)
    ice = ndimage.binary_erosion((truth != MAP_NODATA) & (truth != CLASS_NAMES.index("water")), np.ones((5, 5)))
    cells = glacier_cells(ice[rows][:, cols], 10, seed=3)
    qa_pixel = np.full((height, width), QA_CLEAR, np.uint16)
    qa_radsat = np.zeros((height, width), np.uint16)
    flagged = {}
    for (name, value), cell in zip(QA_PIXEL_CASES.items(), cells):
        qa_pixel[cell] = value
        flagged[name] = cell
    numbers = LANDSAT_NUMBERS[family]
    unused = 0 if family == "OLI" else 5  # OLI band 1 (coastal) or TM band 6 (thermal): not read
    radsat = {
        "saturated_blue": 1 << (numbers["blue"] - 1),
        "saturated_unused_band": 1 << unused,
        ("terrain_occlusion" if family == "OLI" else "dropped_pixel"): 1 << (11 if family == "OLI" else 9),
    }
    for (name, value), cell in zip(radsat.items(), cells[len(QA_PIXEL_CASES) :]):
        qa_radsat[cell] = value
        flagged[name] = cell
    dn = {}
    files = {}
    for name, n in numbers.items():
        refl = data[BAND_NAMES.index(name)][rows][:, cols]
        dn[n] = np.clip(np.round((refl - ADD) / MULT), 1, 65535).astype(np.uint16)
        dn[n][qa_pixel == 1] = 0  # fill: DN 0
        files[n] = f"{product}_SR_B{n}.TIF"
        write_raster(folder / files[n], dn[n], lt, crs, nodata=0)
    quality = {}
    if qa:
        quality = {
            "FILE_NAME_QUALITY_L1_PIXEL": f"{product}_QA_PIXEL.TIF",
            "FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION": f"{product}_QA_RADSAT.TIF",
        }
        write_raster(folder / quality["FILE_NAME_QUALITY_L1_PIXEL"], qa_pixel, lt, crs, nodata=1)
        write_raster(folder / quality["FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION"], qa_radsat, lt, crs)
    meta = {
        "PRODUCT_CONTENTS": {
            "LANDSAT_PRODUCT_ID": product,
            "PROCESSING_LEVEL": "L2SP",
            **{f"FILE_NAME_BAND_{n}": f for n, f in files.items()},
            **quality,
        },
        "IMAGE_ATTRIBUTES": {
            "SPACECRAFT_ID": "LANDSAT_8" if family == "OLI" else "LANDSAT_5",
            "SENSOR_ID": "OLI_TIRS" if family == "OLI" else "TM",
            "DATE_ACQUIRED": tags["DATE"],
            "SUN_AZIMUTH": tags["SUN_AZIMUTH"],
            "SUN_ELEVATION": tags["SUN_ELEVATION"],
        },
        # Level-1 TOA factors also exist in a real Level-2 MTL: they must not be used
        "LEVEL1_RADIOMETRIC_RESCALING": {
            **{f"REFLECTANCE_MULT_BAND_{n}": "2.0000E-05" for n in files},
            **{f"REFLECTANCE_ADD_BAND_{n}": "-0.100000" for n in files},
        },
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
            **{f"REFLECTANCE_MULT_BAND_{n}": "2.75E-05" for n in files},
            **{f"REFLECTANCE_ADD_BAND_{n}": "-0.200000" for n in files},
        },
    }
    for kind in mtl:
        write_mtl(folder / f"{product}_MTL.{kind}", meta)
    if level1:  # the Level-1 product of the same acquisition, beside it
        l1 = product.replace("L2SP", "L1TP")
        l1_meta = {
            "PRODUCT_CONTENTS": {"LANDSAT_PRODUCT_ID": l1, "PROCESSING_LEVEL": "L1TP"},
            "IMAGE_ATTRIBUTES": meta["IMAGE_ATTRIBUTES"],
            "LEVEL1_RADIOMETRIC_RESCALING": meta["LEVEL1_RADIOMETRIC_RESCALING"],
        }
        write_mtl(folder / f"{l1}_MTL.txt", l1_meta)
        for n in files:
            write_raster(folder / f"{l1}_B{n}.TIF", dn[n] // 2, lt, crs)
    return Landsat(folder, lt, dn, qa_pixel, qa_radsat, flagged)


def write_mtl(path: Path, meta: dict) -> None:
    """An MTL in the USGS JSON, ODL text or XML form."""
    if path.suffix == ".json":
        path.write_text(json.dumps({"LANDSAT_METADATA_FILE": meta}, indent=2))
    elif path.suffix == ".xml":
        groups = "".join(
            f"<{g}>" + "".join(f"<{k}>{v}</{k}>" for k, v in values.items()) + f"</{g}>" for g, values in meta.items()
        )
        path.write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<LANDSAT_METADATA_FILE>{groups}</LANDSAT_METADATA_FILE>\n'
        )
    else:
        lines = ["GROUP = LANDSAT_METADATA_FILE"]
        for group, values in meta.items():
            lines += [f"  GROUP = {group}"]
            lines += [f'    {k} = "{v}"' if "FILE" in k or "ID" in k else f"    {k} = {v}" for k, v in values.items()]
            lines.append(f"  END_GROUP = {group}")
        path.write_text("\n".join(lines + ["END_GROUP = LANDSAT_METADATA_FILE", "END"]) + "\n")


S2_MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{date}T10:20:31.024Z</PRODUCT_START_TIME>
      <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>
      <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Datatake datatakeIdentifier="GS2A_{stamp}T102031_027150_N{baseline}">
        <SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME>
      </Datatake>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
        <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
        <WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>
      {offsets}
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-2A_User_Product>
"""
S2_TL = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">S2A_OPER_MSI_L2A_TL_VGS4_{stamp}T130528_A027150_T32TNS_N{baseline}</TILE_ID>
    <SENSING_TIME metadataLevel="Standard">{date}T10:26:35.123Z</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Angles>
      <Sun_Angles_Grid><Zenith><COL_STEP unit="m">5000</COL_STEP></Zenith></Sun_Angles_Grid>
      <Mean_Sun_Angle><ZENITH_ANGLE unit="deg">{zenith}</ZENITH_ANGLE><AZIMUTH_ANGLE unit="deg">{azimuth}</AZIMUTH_ANGLE></Mean_Sun_Angle>
    </Tile_Angles>
  </n1:Geometric_Info>
</n1:Level-2A_Tile_ID>
"""
#: SCL classes written (ESA's scene classification), one 20 m cell each.
SCL_CASES = {
    "defective": 1,
    "dark_area": 2,  # observed
    "cloud_shadow": 3,
    "unclassified": 7,  # observed
    "cloud_medium": 8,
    "cloud_high": 9,
    "thin_cirrus": 10,
    "snow": 11,  # observed
    "no_data": 0,
}


@dataclass
class Sentinel2:
    """A fake SAFE: its folder, 10 m grid, DN arrays by band (each at its resolution), SCL and where cases lie."""

    safe: Path
    transform: Affine  # 10 m
    dn: dict[str, np.ndarray]
    scl: np.ndarray  # 20 m
    offset: float  # BOA_ADD_OFFSET written (DN)
    flagged: dict[str, tuple[int, int]]  # name -> 20 m cell (SCL) or 10 m cell (saturated_*)
    stamp: str
    granule: str


def sentinel2_safe(root: Path, scene: Path, truth: np.ndarray, baseline: str = "05.09", ext: str = ".jp2") -> Sentinel2:
    """A Sentinel-2 L2A SAFE of a synthetic scene (see the module docstring)."""
    data, tags, transform, crs = read_scene(scene)
    stamp = tags["DATE"].replace("-", "")
    n = baseline.replace(".", "")
    safe = root / f"S2A_MSIL2A_{stamp}T102031_N{n}_R065_T32TNS_{stamp}T130528.SAFE"
    granule = f"L2A_T32TNS_A027150_{stamp}T102030"
    offset = -1000.0 if float(baseline) >= 4 else 0.0
    # the tile's corner on the 60 m grid at or up-left of the scene's: 10 m bands are the scene shifted
    x0, y0 = np.floor(transform.c / 60) * 60, np.ceil(transform.f / 60) * 60
    dc, dr = round((transform.c - x0) / 10), round((y0 - transform.f) / 10)
    shape10 = (data.shape[1] + dr + 12, data.shape[2] + dc + 12)
    shape10 = (shape10[0] + (-shape10[0]) % 6, shape10[1] + (-shape10[1]) % 6)
    t10 = Affine(10.0, 0.0, x0, 0.0, -10.0, y0)
    glacier = np.zeros(shape10, bool)
    glacier[dr : dr + truth.shape[0], dc : dc + truth.shape[1]] = truth != 255
    cells20 = glacier_cells(glacier[::2, ::2], len(SCL_CASES) + 2, seed=5)
    scl = np.full((shape10[0] // 2, shape10[1] // 2), 5, np.uint8)  # 5: not vegetated
    flagged = {}
    for (name, value), cell in zip(SCL_CASES.items(), cells20):
        scl[cell] = value
        flagged[name] = cell
    flagged["saturated_green"] = (cells20[-1][0] * 2, cells20[-1][1] * 2)  # a 10 m cell
    flagged["saturated_swir1"] = cells20[-2]  # a 20 m cell
    no_data20 = scl == 0
    dn = {}
    images = safe / "GRANULE" / granule / "IMG_DATA"
    for name, band in S2_FILES.items():
        refl = np.full(shape10, np.nan, np.float32)
        refl[dr : dr + data.shape[1], dc : dc + data.shape[2]] = data[BAND_NAMES.index(name)]
        full = np.where(np.isfinite(refl), np.clip(np.round(refl * 10000 - offset), 1, 65534), 0).astype(np.uint16)
        full[np.kron(no_data20, np.ones((2, 2), bool))] = 0
        resolutions = {"10m": full, "20m": full[::2, ::2], "60m": full[::6, ::6]}
        if band == "B08":  # B08 is 10 m only; B11, B12 20 m and 60 m
            resolutions = {"10m": full}
        elif band in ("B11", "B12"):
            resolutions = {"20m": full[::2, ::2], "60m": full[::6, ::6]}
        for res, array in resolutions.items():
            array = array.copy()
            if res == "10m" and band == "B03":
                array[flagged["saturated_green"]] = 65535
            if res == "20m" and band == "B11":
                array[flagged["saturated_swir1"]] = 65535
            step = int(res[:2]) // 10
            write_s2(
                images / f"R{res}" / f"T32TNS_{stamp}T102031_{band}_{res}{ext}", array, t10 * Affine.scale(step), crs
            )
            if res == ("20m" if band in ("B11", "B12") else "10m"):
                dn[name] = array
    write_s2(images / "R20m" / f"T32TNS_{stamp}T102031_SCL_20m{ext}", scl, t10 * Affine.scale(2), crs)
    write_s2(images / "R60m" / f"T32TNS_{stamp}T102031_SCL_60m{ext}", scl[::3, ::3], t10 * Affine.scale(6), crs)
    offsets = (
        "<BOA_ADD_OFFSET_VALUES_LIST>"
        + "".join(f'<BOA_ADD_OFFSET band_id="{i}">{offset:.0f}</BOA_ADD_OFFSET>' for i in range(13))
        + "</BOA_ADD_OFFSET_VALUES_LIST>"
        if float(baseline) >= 4
        else ""
    )
    (safe / "MTD_MSIL2A.xml").write_text(
        S2_MTD.format(date=tags["DATE"], baseline=baseline, stamp=stamp, offsets=offsets)
    )
    (images.parent / "MTD_TL.xml").write_text(
        S2_TL.format(
            date=tags["DATE"],
            stamp=stamp,
            baseline=baseline,
            zenith=90 - float(tags["SUN_ELEVATION"]),
            azimuth=tags["SUN_AZIMUTH"],
        )
    )
    for name in ("manifest.safe", "INSPIRE.xml"):
        (safe / name).write_text("<xml/>")
    return Sentinel2(safe, t10, dn, scl, offset, flagged, stamp, granule)


def write_s2(path: Path, array: np.ndarray, transform: Affine, crs) -> None:
    """A band as ESA ships it (lossless JPEG 2000) or as a GeoTIFF."""
    extra = dict(driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES") if path.suffix == ".jp2" else {}
    write_raster(path, array, transform, crs, **extra)


def safe_zip(s2: Sentinel2, root: Path) -> Path:
    """The SAFE as downloaded: ``{product}.SAFE.zip`` holding the ``.SAFE`` folder."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{s2.safe.name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for file in sorted(s2.safe.rglob("*")):
            zf.write(file, file.relative_to(s2.safe.parent).as_posix())
    return path


def band_folder(s2: Sentinel2, root: Path) -> Path:
    """The band files of the SAFE (10 m and 20 m, SCL) copied flat into a folder named by the tile and date."""
    folder = root / f"T32TNS_{s2.stamp}"
    folder.mkdir(parents=True)
    for res in ("R10m", "R20m"):
        for file in (s2.safe / "GRANULE" / s2.granule / "IMG_DATA" / res).iterdir():
            shutil.copy(file, folder / file.name)
    return folder


def stac_folder(s2: Sentinel2, root: Path, keys: str = "bands", item: dict | None = None) -> Path:
    """A STAC-style COG folder: ``B02.tif`` ... ``SCL.tif`` (``keys="bands"``) or ``blue.tif`` ... ``scl.tif``
    (``keys="assets"``), with ``item`` written as ``{id}.json`` when given."""
    folder = root / f"S2A_32TNS_{s2.stamp}_0_L2A_{keys}"
    with rasterio.open(next((s2.safe / "GRANULE" / s2.granule / "IMG_DATA" / "R10m").glob("*_B02_10m.*"))) as src:
        crs = src.crs
    for name, band in S2_FILES.items():
        file = band if keys == "bands" else STAC_KEYS[name]
        scale = 2 if band in ("B11", "B12") else 1
        write_raster(folder / f"{file}.tif", s2.dn[name], s2.transform * Affine.scale(scale), crs, nodata=0)
    write_raster(folder / ("SCL.tif" if keys == "bands" else "scl.tif"), s2.scl, s2.transform * Affine.scale(2), crs)
    if item is not None:
        (folder / f"{item['id']}.json").write_text(json.dumps(item))
    return folder


def stac_item(s2: Sentinel2, tags: dict, keys: str = "assets", raster_bands: bool = True, **properties) -> dict:
    """An Earth-Search-like STAC item of the SAFE's acquisition; asset hrefs are remote, their base names local."""
    assets = {}
    for name, band in S2_FILES.items():
        key = STAC_KEYS[name] if keys == "assets" else band
        asset = {"href": f"https://example.invalid/sentinel-cogs/32/T/NS/{key}.tif", "type": "image/tiff"}
        if raster_bands:
            asset["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": s2.offset / 10000}]
        assets[key] = asset
    assets["scl" if keys == "assets" else "SCL"] = {
        "href": f"https://example.invalid/{'scl' if keys == 'assets' else 'SCL'}.tif"
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"S2A_32TNS_{s2.stamp}_0_L2A",
        "properties": {
            "datetime": f"{tags['DATE']}T10:26:35.123000Z",
            "platform": "sentinel-2a",
            "view:sun_azimuth": float(tags["SUN_AZIMUTH"]),
            "view:sun_elevation": float(tags["SUN_ELEVATION"]),
            **properties,
        },
        "assets": assets,
    }
