"""How to map a scene: the options of :func:`modeling.mapping.scene.map_scene` and the steps it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dataset_builder.schema import PIXEL_SIZE_M
from modeling.mapping.dense import Mode, check_mode
from modeling.mapping.tiles import DEFAULT_TILE

#: What becomes of the pixels a product flags as cloud, cloud shadow or cirrus: ``product`` - left out of the map
#: as unobserved (``schema.MAP_UNOBSERVED``); ``model`` - classified, the model's own cloud/shadow classes kept.
#: Saturated and defective pixels are unobserved either way.
CLOUD_MASKS: tuple[str, ...] = ("product", "model")


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
        cloud_mask: ``product`` (default) or ``model`` (see :data:`CLOUD_MASKS`).
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
    cloud_mask: Literal["product", "model"] = "product"

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if self.cloud_mask not in CLOUD_MASKS:
            raise ValueError(f"cloud_mask must be one of {', '.join(CLOUD_MASKS)}, got {self.cloud_mask!r}")
        for name in ("tile_size", "block_size", "batch_size", "quicklook_px", "gdal_cache_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
