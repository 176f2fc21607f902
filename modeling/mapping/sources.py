"""What an optical product is made of: its bands, its quality rasters and its identity; metadata parsing helpers.

Every reader (:mod:`~modeling.mapping.readers`, :mod:`~modeling.mapping.landsat`,
:mod:`~modeling.mapping.sentinel2`) returns an :class:`OpticalScene`; paths are GDAL paths (a file, or
``/vsizip/...`` inside an archive), so products are read where they lie, unpacked or not.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping, Sequence

import numpy as np

from dataset_builder.errors import InvalidSourceError
from dataset_builder.records import parse_date
from modeling.errors import SceneInputError

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")


@dataclass(frozen=True)
class BandSource:
    """Where one optical band lives and how its values become reflectance (value x scale + offset).

    Attributes:
        path: GDAL path of the raster.
        index: 1-based band of the file.
        scale, offset: reflectance = value x scale + offset.
        nodata: value marking no data, besides the file's own nodata.
        saturated: value the product gives saturated pixels (Sentinel-2 L2A: 65535); they are unobserved.
    """

    path: str
    index: int = 1
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    saturated: float | None = None


@dataclass(frozen=True)
class QualityRaster:
    """A quality raster shipped with the product, and which of its values hide the surface.

    Attributes:
        path: GDAL path of the raster (read nearest onto the model grid).
        name: the product's name for it (``QA_PIXEL``, ``QA_RADSAT``, ``SCL``).
        encoding: ``"bits"`` (values are bit numbers of a bit field) or ``"classes"`` (values are class values).
        fill: bits/classes meaning no data.
        defective: bits/classes that always hide the surface (saturated, defective, dropped, terrain-occluded).
        clouds: bits/classes of cloud, cloud shadow and cirrus (not applied when the model's own cloud and
            shadow classes are kept: ``MappingOptions(cloud_mask="model")``).
    """

    path: str
    name: str
    encoding: Literal["bits", "classes"]
    fill: tuple[int, ...] = ()
    defective: tuple[int, ...] = ()
    clouds: tuple[int, ...] = ()

    def _hit(self, values: np.ndarray, which: Sequence[int]) -> np.ndarray:
        if not which:
            return np.zeros(values.shape, dtype=bool)
        if self.encoding == "bits":
            return (values & sum(1 << b for b in which)) != 0
        return np.isin(values, which)

    def flags(self, values: np.ndarray, *, clouds: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(no data, hidden) masks, (h, w) bool each, of (h, w) raster values (NaN where the raster has none).

        ``hidden``: defective (and, with ``clouds``, cloud/shadow/cirrus) pixels that are not fill.
        """
        covered = np.isfinite(values)
        ints = np.where(covered, values, 0).astype(np.int64)
        fill = self._hit(ints, self.fill) & covered
        hidden = self._hit(ints, self.defective + (self.clouds if clouds else ())) & covered & ~fill
        return fill, hidden


@dataclass(frozen=True)
class OpticalScene:
    """One acquisition: identity, sun geometry, its optical bands (published names -> sources), its quality rasters."""

    path: Path
    scene: str  # output name stem
    kind: str  # "geotiff", "landsat" or "sentinel2"
    sensor: str
    date: str | None  # YYYY-MM-DD
    sun_azimuth: float | None  # degrees clockwise from north
    sun_elevation: float | None  # degrees above the horizon
    bands: Mapping[str, BandSource]
    glacier: str | None = None  # GLACIER tag of a scene GeoTIFF
    metadata: Mapping[str, str] = field(default_factory=dict)  # provenance (layout, product id, baseline, ...)
    quality: tuple[QualityRaster, ...] = ()
    layout: str = ""  # the layout detected, in words


def number(value: object, where: str | Path, what: str) -> float:
    """A finite float from metadata text, or a :class:`SceneInputError` naming ``where`` and ``what``."""
    try:
        out = float(str(value).strip().strip('"'))
    except ValueError:
        raise SceneInputError(where, f"{what} is not a number: {value!r}") from None
    if not math.isfinite(out):
        raise SceneInputError(where, f"{what} is not finite: {value!r}")
    return out


def date_in(text: str) -> str | None:
    """The first YYYY-MM-DD or YYYYMMDD date in a name (YYYY-MM-DD), or None."""
    match = re.search(r"(?<!\d)(\d{4}-\d{2}-\d{2}|\d{8})(?!\d)", text)
    if not match:
        return None
    try:
        return parse_date(match[1], text)
    except InvalidSourceError:
        return None


def scene_date(text: str, where: str | Path) -> str:
    """YYYY-MM-DD of an ISO date or date-time from metadata (``2020-08-15T10:20:31Z``, ``20200815``)."""
    try:
        return parse_date(text, where)
    except InvalidSourceError as err:
        raise SceneInputError(err.where, err.reason) from None


def parse_xml(data: bytes, where: str | Path) -> ET.Element:
    """The root element of an XML document, or a :class:`SceneInputError` naming ``where``."""
    try:
        return ET.fromstring(data)
    except ET.ParseError as err:
        raise SceneInputError(where, f"unreadable XML ({err})") from None


def local_name(element: ET.Element) -> str:
    """The tag without its namespace."""
    return element.tag.rsplit("}", 1)[-1]


def find_all(root: ET.Element, name: str) -> list[ET.Element]:
    """Elements of ``root``'s tree whose tag (namespace aside) is ``name``."""
    return [e for e in root.iter() if local_name(e) == name]


def find_text(root: ET.Element, name: str) -> str | None:
    """Stripped text of the first element named ``name``, or None (absent or empty)."""
    found = find_all(root, name)
    text = (found[0].text or "").strip() if found else ""
    return text or None
