"""Landsat Collection 2 Level-2 products (TM, ETM+, OLI/OLI-2) as USGS ships them.

A product folder holds ``{product}_MTL.json``, ``_MTL.txt`` and/or ``_MTL.xml`` (the same metadata three ways),
``{product}_SR_B{n}.TIF`` and the quality rasters ``{product}_QA_PIXEL.TIF`` and ``{product}_QA_RADSAT.TIF``.
Surface reflectance = DN x REFLECTANCE_MULT_BAND_n + REFLECTANCE_ADD_BAND_n of
LEVEL2_SURFACE_REFLECTANCE_PARAMETERS (2.75e-5 and -0.2), DN 0 = no data; the sun from IMAGE_ATTRIBUTES.
TM/ETM+ B1, B2, B3, B4, B5, B7 and OLI B2-B7 are blue, green, red, nir, swir1, swir2.

A folder holding a Level-1 product beside the Level-2 one (their MTLs side by side) reads the Level-2 one; a
folder of several Level-2 products is refused (give one product's folder or MTL file).

Quality (USGS Landsat Collection 2 Level-2 Science Product Guides, LSDS-1619 for Landsat 8-9 and LSDS-1618 for
Landsat 4-7): QA_PIXEL bit 0 fill (no data); bits 1 dilated cloud, 2 cirrus (OLI), 3 cloud, 4 cloud shadow
(clouds); QA_RADSAT bit n-1 = band n saturated (the six bands read), bit 9 dropped pixel (TM/ETM+), bit 11 terrain
occlusion (OLI) - always unobserved.
"""

from __future__ import annotations

import json
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

from modeling.errors import SceneInputError
from modeling.mapping.sources import (
    BandSource,
    OpticalScene,
    QualityRaster,
    local_name,
    number,
    parse_xml,
    scene_date,
)

#: Landsat band numbers of the six optical bands, per instrument family.
LANDSAT_BANDS: dict[str, dict[str, int]] = {
    "TM": {"blue": 1, "green": 2, "red": 3, "nir": 4, "swir1": 5, "swir2": 7},  # TM and ETM+
    "OLI": {"blue": 2, "green": 3, "red": 4, "nir": 5, "swir1": 6, "swir2": 7},
}
#: QA_PIXEL bits: fill, and dilated cloud, cirrus, cloud, cloud shadow.
QA_PIXEL_FILL: tuple[int, ...] = (0,)
QA_PIXEL_CLOUDS: tuple[int, ...] = (1, 2, 3, 4)
#: QA_RADSAT bits besides band saturation (bit n-1 for band n): dropped pixel (TM/ETM+), terrain occlusion (OLI).
QA_RADSAT_OTHER: dict[str, tuple[int, ...]] = {"TM": (9,), "OLI": (11,)}
LAYOUT = "Landsat Collection 2 Level-2 product folder"
MTL_NAME = re.compile(r"^(?P<product>.+)_MTL\.(?P<ext>json|txt|xml)$", re.IGNORECASE)
_MTL_PREFERENCE = ("json", "xml", "txt")


def parse_mtl_text(text: str) -> dict:
    """A Landsat ``MTL.txt`` (``GROUP = X`` ... ``END_GROUP = X``, ``KEY = value``) as nested dicts."""
    root: dict = {}
    stack = [root]
    for line in text.splitlines():
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            continue
        if key == "GROUP":
            stack[-1][value] = child = {}
            stack.append(child)
        elif key == "END_GROUP":
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1][key] = value.strip('"')
    return root


def _xml_dict(element: ET.Element) -> dict | str:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    return {local_name(c): _xml_dict(c) for c in children}


def read_mtl(path: Path) -> dict:
    """The LANDSAT_METADATA_FILE group of an MTL (``.json``, ``.txt`` or ``.xml``) as nested dicts."""
    try:
        raw = path.read_bytes()
        suffix = path.suffix.lower()
        if suffix == ".json":
            data = json.loads(raw)
        elif suffix == ".xml":
            root = parse_xml(raw, path)
            data = {local_name(root): _xml_dict(root)}
        else:
            data = parse_mtl_text(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SceneInputError(path, f"unreadable metadata ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("LANDSAT_METADATA_FILE"), dict):
        raise SceneInputError(path, "no LANDSAT_METADATA_FILE group: not a Landsat Collection 2 MTL")
    return data["LANDSAT_METADATA_FILE"]


def mtl_files(folder: Path) -> list[Path]:
    """The ``*_MTL.json|txt|xml`` files of a folder."""
    return sorted(p for p in folder.iterdir() if MTL_NAME.match(p.name) and p.is_file())


def _level(meta: dict, product: str) -> str:
    level = str(meta.get("PRODUCT_CONTENTS", {}).get("PROCESSING_LEVEL", ""))
    return level or (product.split("_")[1] if product.count("_") >= 2 else "")


def choose_mtl(folder: Path, given: Path | None = None) -> tuple[Path, dict]:
    """The Level-2 MTL of a folder (or ``given``) and its metadata; Level-1 MTLs beside it are passed over."""
    if given is not None:
        meta = read_mtl(given)
        product = MTL_NAME.match(given.name)["product"]
        if not _level(meta, product).startswith("L2"):
            raise SceneInputError(
                given, f"a Level-1 MTL ({_level(meta, product) or 'level unknown'}): use the Level-2 product's MTL"
            )
        return given, meta
    products: dict[str, list[Path]] = {}
    for path in mtl_files(folder):
        products.setdefault(MTL_NAME.match(path.name)["product"], []).append(path)
    if not products:
        raise SceneInputError(folder, f"{LAYOUT}: no *_MTL.json, *_MTL.txt or *_MTL.xml")
    levels = {}
    for product, paths in products.items():
        paths.sort(key=lambda p: _MTL_PREFERENCE.index(MTL_NAME.match(p.name)["ext"].lower()))
        meta = read_mtl(paths[0])
        levels[product] = (_level(meta, product), paths[0], meta)
    level2 = {p: v for p, v in levels.items() if v[0].startswith("L2")}
    if not level2:
        found = ", ".join(f"{p} ({v[0] or 'level unknown'})" for p, v in levels.items())
        raise SceneInputError(
            folder, f"{LAYOUT}: only Level-1 metadata ({found}); surface reflectance needs the Level-2 product"
        )
    if len(level2) > 1:
        raise SceneInputError(
            folder,
            f"{LAYOUT}: {len(level2)} Level-2 products ({', '.join(sorted(level2))}); give one product's MTL file",
        )
    _, path, meta = next(iter(level2.values()))
    return path, meta


def _listed(folder: Path, contents: dict, key: str, pattern: str) -> Path | None:
    listed = contents.get(key)
    candidates = [folder / listed] if listed else sorted(folder.glob(pattern))
    return candidates[0] if candidates and candidates[0].is_file() else None


def read_landsat_c2l2(folder: str | Path, mtl: str | Path | None = None) -> OpticalScene:
    """A Landsat Collection 2 Level-2 product folder (or one of its MTL files); see the module docstring."""
    folder = Path(folder)
    mtl, meta = choose_mtl(folder, Path(mtl) if mtl else None)

    def get(group: str, key: str) -> str:
        try:
            return str(meta[group][key])
        except (KeyError, TypeError):
            raise SceneInputError(mtl, f"missing {group}.{key}") from None

    contents = meta.get("PRODUCT_CONTENTS", {})
    product = contents.get("LANDSAT_PRODUCT_ID") or MTL_NAME.match(mtl.name)["product"]
    spacecraft = str(meta.get("IMAGE_ATTRIBUTES", {}).get("SPACECRAFT_ID", ""))
    instrument = str(meta.get("IMAGE_ATTRIBUTES", {}).get("SENSOR_ID", ""))
    mission = re.search(r"(\d)$", spacecraft) or re.match(r"L[CEOT]0?(\d)", product)
    if not mission:
        raise SceneInputError(
            mtl, f"cannot tell the Landsat mission from SPACECRAFT_ID {spacecraft!r} or product {product!r}"
        )
    family = "OLI" if "OLI" in instrument or product[:2] in ("LC", "LO") else "TM"
    bands = {}
    for name, n in LANDSAT_BANDS[family].items():
        path = _listed(folder, contents, f"FILE_NAME_BAND_{n}", f"{product}_SR_B{n}.[Tt][Ii][Ff]")
        if path is None:
            raise SceneInputError(folder, f"{LAYOUT} ({product}): missing the {name} band file (SR_B{n})")
        group = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
        bands[name] = BandSource(
            str(path),
            1,
            number(get(group, f"REFLECTANCE_MULT_BAND_{n}"), mtl, f"REFLECTANCE_MULT_BAND_{n}"),
            number(get(group, f"REFLECTANCE_ADD_BAND_{n}"), mtl, f"REFLECTANCE_ADD_BAND_{n}"),
            0.0,
        )
    quality = []
    pixel = _listed(folder, contents, "FILE_NAME_QUALITY_L1_PIXEL", f"{product}_QA_PIXEL.[Tt][Ii][Ff]")
    if pixel:
        quality.append(QualityRaster(str(pixel), "QA_PIXEL", "bits", QA_PIXEL_FILL, (), QA_PIXEL_CLOUDS))
    radsat = _listed(
        folder, contents, "FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION", f"{product}_QA_RADSAT.[Tt][Ii][Ff]"
    )
    if radsat:
        saturation = tuple(n - 1 for n in LANDSAT_BANDS[family].values())
        quality.append(QualityRaster(str(radsat), "QA_RADSAT", "bits", (), saturation + QA_RADSAT_OTHER[family]))
    missing = [q for q, path in (("QA_PIXEL", pixel), ("QA_RADSAT", radsat)) if path is None]
    if missing:
        warnings.warn(
            f"{folder}: no {' or '.join(missing)} file: its clouds, shadows or saturated pixels cannot be masked",
            stacklevel=2,
        )
    return OpticalScene(
        path=folder,
        scene=product,
        kind="landsat",
        sensor=f"L{mission[1]}",
        date=scene_date(get("IMAGE_ATTRIBUTES", "DATE_ACQUIRED"), mtl),
        sun_azimuth=number(get("IMAGE_ATTRIBUTES", "SUN_AZIMUTH"), mtl, "SUN_AZIMUTH"),
        sun_elevation=number(get("IMAGE_ATTRIBUTES", "SUN_ELEVATION"), mtl, "SUN_ELEVATION"),
        bands=bands,
        metadata={
            "product": product,
            "instrument": instrument or family,
            "metadata_file": mtl.name,
            "quality": ", ".join(q.name for q in quality) or "none",
        },
        quality=tuple(quality),
        layout=LAYOUT,
    )
