"""Sentinel-2 Level-2A products in every common form (ESA product specification, PSD-14, and the STAC forms of
cloud catalogues).

Layouts (:func:`detect`):

- a ``.SAFE`` folder: ``MTD_MSIL2A.xml`` (BOA_QUANTIFICATION_VALUE, PROCESSING_BASELINE, BOA_ADD_OFFSET per
  band_id - present from baseline 04.00 on, -1000), ``GRANULE/*/MTD_TL.xml`` (Mean_Sun_Angle: zenith and
  azimuth; elevation = 90 - zenith) and ``GRANULE/*/IMG_DATA/R{10,20,60}m/T.._B02_10m.jp2`` ...;
- the same zipped (``.SAFE.zip`` / ``.zip`` as downloaded; read inside the archive, not unpacked);
- the ``MTD_MSIL2A.xml`` path of a SAFE, or any folder inside it (``GRANULE``, a granule, its ``IMG_DATA``);
- a granule folder alone (``MTD_TL.xml`` and ``IMG_DATA``): baseline from its TILE_ID (``_N04.00``);
- a plain folder of band files (``T32TNS_20200815T102031_B02_10m.jp2`` ..., ``.jp2`` or ``.tif``), with
  ``MTD_MSIL2A.xml``/``MTD_TL.xml`` beside them when present;
- a STAC-style COG folder: ``B02.tif`` ... ``SCL.tif`` or ``blue.tif``, ``green.tif``, ``red.tif``, ``nir.tif``,
  ``swir16.tif``, ``swir22.tif``, ``scl.tif``, with the item JSON where present (``datetime``,
  ``view:sun_azimuth``/``view:sun_elevation`` or ``s2:mean_solar_azimuth``/``s2:mean_solar_zenith``,
  ``s2:processing_baseline`` or ``processing:version``, ``earthsearch:boa_offset_applied``, per-asset
  ``raster:bands`` scale/offset).

Bands B02, B03, B04, B08 (10 m), B11, B12 (20 m) are blue ... swir2; reflectance = (DN + offset) /
quantification; DN 0 = no data, DN 65535 = saturated (unobserved). The offset is the product's (MTD_MSIL2A.xml,
STAC ``raster:bands``), else -1000 from baseline 04.00 on and 0 before (ESA's constant for every band), else
unknown: then ``boa_offset`` must be given (it also overrides the product's). Quality: the scene classification
``SCL`` (20 m): 0 no data; 1 saturated or defective (always unobserved); 3 cloud shadows, 8 cloud medium
probability, 9 cloud high probability, 10 thin cirrus (clouds).
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from modeling.errors import SceneInputError
from modeling.mapping.sources import (
    BandSource,
    OpticalScene,
    QualityRaster,
    date_in,
    find_all,
    find_text,
    local_name,
    number,
    parse_xml,
    scene_date,
)

#: Sentinel-2 band of each optical band, and other names the band files go by (STAC asset keys).
SENTINEL2_BANDS: dict[str, tuple[str, ...]] = {
    "blue": ("B02", "blue"),
    "green": ("B03", "green"),
    "red": ("B04", "red"),
    "nir": ("B08", "nir"),
    "swir1": ("B11", "swir16", "swir1"),
    "swir2": ("B12", "swir22", "swir2"),
}
SCL_NAMES: tuple[str, ...] = ("SCL", "scl")
#: band_id order of MTD_MSIL2A.xml's BOA_ADD_OFFSET list.
SENTINEL2_BAND_IDS: tuple[str, ...] = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
)
#: L2A quantification, and the BOA offset of every band from processing baseline 04.00 on (DN).
QUANTIFICATION = 10000.0
BASELINE_4_OFFSET = -1000.0
NODATA_DN = 0.0
SATURATED_DN = 65535.0
#: SCL classes: no data; saturated or defective; cloud shadows, cloud medium and high probability, thin cirrus.
SCL_FILL: tuple[int, ...] = (0,)
SCL_DEFECTIVE: tuple[int, ...] = (1,)
SCL_CLOUDS: tuple[int, ...] = (3, 8, 9, 10)
#: Layouts, in words (they head the errors).
SAFE = "Sentinel-2 L2A SAFE product"
SAFE_ZIP = "Sentinel-2 L2A SAFE archive (.zip)"
GRANULE = "Sentinel-2 L2A granule folder"
BANDS = "folder of Sentinel-2 band files"
STAC = "STAC-style Sentinel-2 COG folder"
_RESOLUTION = re.compile(r"_(\d\d)m\.", re.IGNORECASE)
_BASELINE = re.compile(r"_N(\d\d)\.?(\d\d)(?:_|$)")


def _band_pattern(names: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(re.escape(n) for n in names)
    return re.compile(rf"(?:^|_)(?:{alternatives})(?:_\d\dm)?\.(?:jp2|tif|tiff)$", re.IGNORECASE)


def _pick(names: list[str], aliases: tuple[str, ...]) -> str | None:
    """The finest-resolution file among ``names`` (posix paths) whose base name is one of the band's."""
    pattern = _band_pattern(aliases)
    found = [n for n in names if pattern.search(PurePosixPath(n).name)]

    def resolution(name: str) -> int:  # metres in the name (``_20m``); 0 when the name gives none
        match = _RESOLUTION.search(PurePosixPath(name).name)
        return int(match[1]) if match else 0

    return min(found, key=lambda n: (resolution(n), n)) if found else None


def baseline_number(text: str | None) -> float | None:
    """Processing baseline as a number from ``04.00``, ``5.09``, ``N0400`` or ``..._N04.00``; None if absent."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d{1,2})\.(\d\d)\s*", text) or _BASELINE.search(text)
    return int(match[1]) + int(match[2]) / 100 if match else None


@dataclass(frozen=True)
class _Files:
    """A product's files, in a folder or a zip archive: posix names relative to ``root``, read and GDAL-addressed."""

    root: Path  # the folder, or the zip file
    prefix: str = ""  # inside a zip: the product's folder
    names: tuple[str, ...] = ()

    @classmethod
    def folder(cls, root: Path, recursive: bool = True) -> _Files:
        files = root.rglob("*") if recursive else root.iterdir()
        return cls(root, "", tuple(sorted(p.relative_to(root).as_posix() for p in files if p.is_file())))

    @classmethod
    def archive(cls, path: Path, prefix: str) -> _Files:
        with zipfile.ZipFile(path) as zf:
            names = [n[len(prefix) :] for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")]
        return cls(path, prefix, tuple(sorted(names)))

    def where(self, name: str) -> str:
        return f"{self.root}/{self.prefix}{name}" if self.root.is_file() else str(self.root / name)

    def read(self, name: str) -> bytes:
        try:
            if self.root.is_file():
                with zipfile.ZipFile(self.root) as zf:
                    return zf.read(self.prefix + name)
            return (self.root / name).read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile) as err:
            raise SceneInputError(self.where(name), f"unreadable ({err})") from None

    def gdal(self, name: str) -> str:
        if self.root.is_file():
            return f"/vsizip/{self.root.absolute()}/{self.prefix}{name}"
        return str(self.root / name)

    def under(self, folder: str) -> list[str]:
        return [n for n in self.names if n.startswith(folder.rstrip("/") + "/")] if folder else list(self.names)


@dataclass(frozen=True)
class _Meta:
    """What a layout's metadata tells: identity, date, sun, radiometry (band id -> reflectance scale, offset)."""

    product: str
    date: str | None
    sun_azimuth: float | None = None
    sun_elevation: float | None = None
    radiometry: dict[str, tuple[float, float]] | None = None
    baseline: str = ""
    spacecraft: str = ""
    source: str = ""  # where the radiometry came from


def _radiometry(offset_dn: float) -> dict[str, tuple[float, float]]:
    """Every band's (scale, offset) in reflectance for an L2A BOA offset in DN."""
    return {b: (1 / QUANTIFICATION, offset_dn / QUANTIFICATION) for b in SENTINEL2_BAND_IDS}


def _from_baseline(baseline: float | None) -> dict[str, tuple[float, float]] | None:
    """The radiometry a processing baseline implies (offset -1000 from 04.00 on), or None when it is unknown."""
    return None if baseline is None else _radiometry(BASELINE_4_OFFSET if baseline >= 4.0 else 0.0)


def _tile_metadata(files: _Files, name: str) -> dict:
    """Sun angles, sensing date and baseline (from TILE_ID) of an ``MTD_TL.xml``."""
    tile = parse_xml(files.read(name), files.where(name))
    mean_sun = find_all(tile, "Mean_Sun_Angle")
    angles = {local_name(e): e.text for e in mean_sun[0]} if mean_sun else {}
    if "ZENITH_ANGLE" not in angles or "AZIMUTH_ANGLE" not in angles:
        raise SceneInputError(files.where(name), "no Mean_Sun_Angle ZENITH_ANGLE and AZIMUTH_ANGLE")
    sensing = find_text(tile, "SENSING_TIME")
    return {
        "sun_azimuth": number(angles["AZIMUTH_ANGLE"], files.where(name), "AZIMUTH_ANGLE"),
        "sun_elevation": 90.0 - number(angles["ZENITH_ANGLE"], files.where(name), "ZENITH_ANGLE"),
        "date": scene_date(sensing, files.where(name)) if sensing else None,
        "baseline": baseline_number(find_text(tile, "TILE_ID")),
    }


def _product_metadata(files: _Files, name: str) -> dict:
    """Date, baseline, spacecraft and radiometry of an ``MTD_MSIL2A.xml``."""
    where = files.where(name)
    root = parse_xml(files.read(name), where)
    text = find_text(root, "BOA_QUANTIFICATION_VALUE")
    if text is None:
        raise SceneInputError(where, "missing BOA_QUANTIFICATION_VALUE")
    quantification = number(text, where, "BOA_QUANTIFICATION_VALUE")
    if quantification <= 0:
        raise SceneInputError(where, f"BOA_QUANTIFICATION_VALUE must be positive, got {quantification}")
    baseline = find_text(root, "PROCESSING_BASELINE") or ""
    offsets = {
        int(e.get("band_id", -1)): number(e.text, where, "BOA_ADD_OFFSET") for e in find_all(root, "BOA_ADD_OFFSET")
    }
    if not offsets and (baseline_number(baseline) or 0) >= 4.0:
        raise SceneInputError(where, f"processing baseline {baseline} (>= 04.00) but no BOA_ADD_OFFSET values")
    start = find_text(root, "PRODUCT_START_TIME")
    return {
        "date": scene_date(start, where) if start else None,
        "baseline": baseline,
        "spacecraft": find_text(root, "SPACECRAFT_NAME") or "",
        "radiometry": {
            b: (1 / quantification, offsets.get(i, 0.0) / quantification) for i, b in enumerate(SENTINEL2_BAND_IDS)
        },
    }


def _scene(
    layout: str, where: Path, files: _Files, images: list[str], meta: _Meta, boa_offset: float | None
) -> OpticalScene:
    """The scene of a layout: its band files among ``images``, radiometry, SCL; errors name the layout."""
    radiometry, source = meta.radiometry, meta.source
    if boa_offset is not None:
        radiometry, source = _radiometry(boa_offset), f"BOA offset {boa_offset:g} given"
    if radiometry is None:
        raise SceneInputError(
            where,
            f"{layout}: the BOA offset is unknown (no MTD_MSIL2A.xml, processing baseline or STAC scale/offset): "
            "give it (boa_offset=, --boa-offset): -1000 for processing baseline 04.00 and later (from 25 January "
            "2022, and archive products reprocessed since), 0 before",
        )
    bands = {}
    for name, aliases in SENTINEL2_BANDS.items():
        found = _pick(images, aliases)
        if found is None:
            raise SceneInputError(where, f"{layout}: missing the {name} band ({' or '.join(aliases)}, .jp2 or .tif)")
        scale, offset = radiometry[aliases[0]]
        bands[name] = BandSource(files.gdal(found), 1, scale, offset, NODATA_DN, SATURATED_DN)
    scl = _pick(images, SCL_NAMES)
    quality = (QualityRaster(files.gdal(scl), "SCL", "classes", SCL_FILL, SCL_DEFECTIVE, SCL_CLOUDS),) if scl else ()
    if not quality:
        warnings.warn(f"{where}: {layout} without SCL: its clouds and shadows cannot be masked", stacklevel=3)
    return OpticalScene(
        path=where,
        scene=meta.product,
        kind="sentinel2",
        sensor="S2",
        date=meta.date,
        sun_azimuth=meta.sun_azimuth,
        sun_elevation=meta.sun_elevation,
        bands=bands,
        metadata={
            "layout": layout,
            "product": meta.product,
            "spacecraft": meta.spacecraft,
            "processing_baseline": meta.baseline,
            "radiometry": source,
            "quality": "SCL" if quality else "none",
        },
        quality=quality,
        layout=layout,
    )


def _safe(
    files: _Files, where: Path, layout: str, product: str, granule: str | None, boa: float | None
) -> OpticalScene:
    product_meta = _product_metadata(files, "MTD_MSIL2A.xml")
    tiles = [n for n in files.names if re.fullmatch(r"GRANULE/[^/]+/MTD_TL\.xml", n)]
    if granule:
        tiles = [n for n in tiles if n.split("/")[1] == granule]
    if len(tiles) != 1:
        raise SceneInputError(where, f"{layout}: expected one GRANULE/*/MTD_TL.xml, found {len(tiles)}")
    tile = _tile_metadata(files, tiles[0])
    meta = _Meta(
        product=product,
        date=product_meta["date"] or tile["date"],
        sun_azimuth=tile["sun_azimuth"],
        sun_elevation=tile["sun_elevation"],
        radiometry=product_meta["radiometry"],
        baseline=product_meta["baseline"],
        spacecraft=product_meta["spacecraft"],
        source="MTD_MSIL2A.xml",
    )
    return _scene(layout, where, files, files.under(tiles[0].rsplit("/", 1)[0] + "/IMG_DATA"), meta, boa)


def read_safe(path: str | Path, granule: str | None = None, boa_offset: float | None = None) -> OpticalScene:
    """A SAFE folder or SAFE zip archive (``granule``: the granule folder name, when the product has several)."""
    path = Path(path)
    if path.is_dir():
        return _safe(_Files.folder(path), path, SAFE, path.name.removesuffix(".SAFE"), granule, boa_offset)
    try:
        with zipfile.ZipFile(path) as zf:
            tops = [n for n in zf.namelist() if n.count("/") <= 1]
    except (OSError, zipfile.BadZipFile) as err:
        raise SceneInputError(path, f"{SAFE_ZIP}: not a readable zip archive ({err})") from None
    members = [n for n in tops if PurePosixPath(n).name == "MTD_MSIL2A.xml"]
    if not members and any(PurePosixPath(n).name == "MTD_MSIL1C.xml" for n in tops):
        raise SceneInputError(path, "a Sentinel-2 Level-1C archive (top of atmosphere): map its Level-2A product")
    if len(members) != 1:
        raise SceneInputError(path, f"{SAFE_ZIP}: expected one MTD_MSIL2A.xml at its top, found {len(members)}")
    prefix = members[0][: -len("MTD_MSIL2A.xml")]
    product = PurePosixPath(prefix).name.removesuffix(".SAFE") or path.name.removesuffix(".zip").removesuffix(".SAFE")
    return _safe(_Files.archive(path, prefix), path, SAFE_ZIP, product, granule, boa_offset)


def read_granule(folder: str | Path, boa_offset: float | None = None) -> OpticalScene:
    """A granule folder outside its SAFE (``MTD_TL.xml``, ``IMG_DATA``)."""
    folder = Path(folder)
    files = _Files.folder(folder)
    tile = _tile_metadata(files, "MTD_TL.xml")
    meta = _Meta(
        product=folder.name,
        date=tile["date"] or date_in(folder.name),
        sun_azimuth=tile["sun_azimuth"],
        sun_elevation=tile["sun_elevation"],
        radiometry=_from_baseline(tile["baseline"]),
        baseline=f"{tile['baseline']:05.2f}" if tile["baseline"] is not None else "",
        source="processing baseline of MTD_TL.xml TILE_ID",
    )
    return _scene(GRANULE, folder, files, files.under("IMG_DATA"), meta, boa_offset)


def read_band_folder(folder: str | Path, boa_offset: float | None = None) -> OpticalScene:
    """A plain folder of band files, with ``MTD_MSIL2A.xml``/``MTD_TL.xml`` beside them when present."""
    folder = Path(folder)
    files = _Files.folder(folder, recursive=False)
    product_meta = _product_metadata(files, "MTD_MSIL2A.xml") if "MTD_MSIL2A.xml" in files.names else {}
    tile = _tile_metadata(files, "MTD_TL.xml") if "MTD_TL.xml" in files.names else {}
    baseline = baseline_number(folder.name) or tile.get("baseline")
    blue = _pick(list(files.names), SENTINEL2_BANDS["blue"])
    meta = _Meta(
        product=folder.name,
        date=product_meta.get("date") or tile.get("date") or date_in(blue or "") or date_in(folder.name),
        sun_azimuth=tile.get("sun_azimuth"),
        sun_elevation=tile.get("sun_elevation"),
        radiometry=product_meta.get("radiometry") or _from_baseline(baseline),
        baseline=product_meta.get("baseline") or (f"{baseline:05.2f}" if baseline is not None else ""),
        source="MTD_MSIL2A.xml" if product_meta else "processing baseline of the folder name or MTD_TL.xml",
    )
    return _scene(BANDS, folder, files, list(files.names), meta, boa_offset)


def _stac_item(folder: Path, given: Path | None) -> tuple[Path | None, dict]:
    candidates = [given] if given else sorted(folder.glob("*.json"))
    for path in candidates:
        try:
            item = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            if given:
                raise SceneInputError(path, f"{STAC}: unreadable item JSON ({err})") from None
            continue
        if isinstance(item, dict) and item.get("type") == "Feature" and isinstance(item.get("assets"), dict):
            return path, item
    if given:
        raise SceneInputError(given, f"{STAC}: not a STAC item (type Feature with assets)")
    return None, {}


def read_stac_folder(
    folder: str | Path, item: str | Path | None = None, boa_offset: float | None = None
) -> OpticalScene:
    """A STAC-style COG folder (band files named as the assets, the item JSON where present)."""
    folder = Path(folder)
    item_path, item = _stac_item(folder, Path(item) if item else None)
    files = _Files.folder(folder, recursive=False)
    props = item.get("properties", {})
    where = item_path or folder
    radiometry, source = None, ""
    assets = {
        key: asset
        for key, asset in item.get("assets", {}).items()
        if isinstance(asset, dict) and (folder / PurePosixPath(str(asset.get("href", ""))).name).is_file()
    }
    scaled = {}
    for name, aliases in SENTINEL2_BANDS.items():
        for key, asset in assets.items():
            local = PurePosixPath(str(asset["href"])).name
            if key in aliases or _band_pattern(aliases).search(local):
                bands = asset.get("raster:bands") or [{}]
                if "scale" in bands[0] or "offset" in bands[0]:
                    scaled[aliases[0]] = (
                        number(bands[0].get("scale", 1.0), where, f"{key} raster:bands scale"),
                        number(bands[0].get("offset", 0.0), where, f"{key} raster:bands offset"),
                    )
    baseline = baseline_number(str(props.get("s2:processing_baseline") or props.get("processing:version") or ""))
    if len(scaled) == len(SENTINEL2_BANDS):
        radiometry, source = {**_radiometry(0.0), **scaled}, "STAC raster:bands scale and offset"
    elif baseline is not None:
        applied = bool(props.get("earthsearch:boa_offset_applied", False))
        radiometry = _radiometry(0.0) if applied else _from_baseline(baseline)
        source = "STAC processing baseline" + (" (earthsearch:boa_offset_applied)" if applied else "")
    sun_elevation = props.get("view:sun_elevation")
    if sun_elevation is None and props.get("s2:mean_solar_zenith") is not None:
        sun_elevation = 90.0 - number(props["s2:mean_solar_zenith"], where, "s2:mean_solar_zenith")
    sun_azimuth = props.get("view:sun_azimuth", props.get("s2:mean_solar_azimuth"))
    local_names = sorted({PurePosixPath(str(a["href"])).name for a in assets.values()} | set(files.names))
    when = props.get("datetime") or props.get("start_datetime")
    meta = _Meta(
        product=str(item.get("id") or folder.name),
        date=scene_date(when, where) if when else date_in(folder.name),
        sun_azimuth=None if sun_azimuth is None else number(sun_azimuth, where, "sun azimuth"),
        sun_elevation=None if sun_elevation is None else number(sun_elevation, where, "sun elevation"),
        radiometry=radiometry,
        baseline=f"{baseline:05.2f}" if baseline is not None else "",
        spacecraft=str(props.get("platform", "")),
        source=source,
    )
    return _scene(STAC, folder, files, local_names, meta, boa_offset)


def _inside_safe(path: Path) -> tuple[Path, str | None] | None:
    """(SAFE folder, granule name) of a folder inside a SAFE (GRANULE, a granule, its IMG_DATA ...), else None."""
    for depth, parent in enumerate(path.parents):
        if depth > 3:
            return None
        if (parent / "MTD_MSIL2A.xml").is_file():
            parts = path.relative_to(parent).parts
            return parent, parts[1] if len(parts) > 1 and parts[0] == "GRANULE" else None
    return None


def detect(path: Path, boa_offset: float | None = None) -> Callable[[], OpticalScene] | None:
    """The reader of a Sentinel-2 layout at ``path`` (see the module docstring), or None when it is none of them."""
    if path.is_file():
        name = path.name.lower()
        if name == "mtd_msil2a.xml":
            return lambda: read_safe(path.parent, boa_offset=boa_offset)
        if name.endswith(".zip"):
            return lambda: read_safe(path, boa_offset=boa_offset)
        if name.endswith(".json"):
            return lambda: read_stac_folder(path.parent, path, boa_offset)
        return None
    if (path / "MTD_MSIL2A.xml").is_file():
        return lambda: read_safe(path, boa_offset=boa_offset)
    inside = _inside_safe(path)
    if inside:
        return lambda: read_safe(inside[0], inside[1], boa_offset)
    if (path / "MTD_TL.xml").is_file() and (path / "IMG_DATA").is_dir():
        return lambda: read_granule(path, boa_offset)
    granules = [p for p in sorted(path.iterdir()) if (p / "MTD_TL.xml").is_file()] if path.is_dir() else []
    if len(granules) == 1:  # a GRANULE folder alone
        return lambda: read_granule(granules[0], boa_offset)
    names = [p.name for p in path.iterdir() if p.is_file()]
    if _stac_item(path, None)[0] or any(re.fullmatch(r"(B\d[\dA]|blue|scl)\.tiff?", n, re.I) for n in names):
        return lambda: read_stac_folder(path, None, boa_offset)
    if any(re.search(r"_B\d[\dA](_\d\dm)?\.(jp2|tiff?)$", n, re.I) for n in names):
        return lambda: read_band_folder(path, boa_offset)
    return None
