"""Whole-scene mapping: optical products and DEMs on the model grid, tiled inference, the facies products.

Modules, bottom up (each imports only those above it in this list):

- :mod:`~modeling.mapping.tiles`: window arithmetic (tiling, halos, clipping, padded reads);
- :mod:`~modeling.mapping.tile_inputs`: a tile's network inputs, normalised per group;
- :mod:`~modeling.mapping.sources`: what a product is made of (bands, quality rasters, identity);
- :mod:`~modeling.mapping.landsat`: Landsat Collection 2 Level-2 products (MTL, SR bands, QA_PIXEL, QA_RADSAT);
- :mod:`~modeling.mapping.sentinel2`: Sentinel-2 L2A in every common layout (SAFE, zip, granule, band files, STAC);
- :mod:`~modeling.mapping.readers`: the layout at a path and its reader, the GeoTIFF reader (:func:`open_scene`);
- :mod:`~modeling.mapping.grid`: the model grid (CRS in ground metres, aligned to the scene), DEM files, warping;
- :mod:`~modeling.mapping.prepare`: the prepared scene, the classifier's inputs on the grid (:func:`prepare_scene`);
- :mod:`~modeling.mapping.stages`: the patch model's geometry and its folded conv stages on tiles;
- :mod:`~modeling.mapping.per_patch`: per-patch features, one patch per pixel or exact and shared;
- :mod:`~modeling.mapping.dense`: dense inference and all modes tile by tile (:func:`predict_tiled`);
- :mod:`~modeling.mapping.options`: :class:`MappingOptions`;
- :mod:`~modeling.mapping.products`: the output files, their formats and contract (:func:`is_complete`);
- :mod:`~modeling.mapping.classify`: a prepared scene classified into facies and confidence rasters;
- :mod:`~modeling.mapping.scene`: :func:`map_scene`, end to end;
- :mod:`~modeling.mapping.batch`: :func:`map_many`, many scenes on a Dask cluster.
"""

from modeling.mapping.batch import BatchReport, ModelSpec, SceneJob, load_model, map_many, run_job
from modeling.mapping.classify import mode_filter
from modeling.mapping.dense import (
    conv_macs,
    dense_features,
    dense_fits,
    flops_per_pixel,
    predict_array,
    predict_tiled,
    tile_logits,
)
from modeling.mapping.grid import choose_grid, make_grid
from modeling.mapping.landsat import LANDSAT_BANDS
from modeling.mapping.options import CLOUD_MASKS, MappingOptions
from modeling.mapping.per_patch import exact_features, patch_features
from modeling.mapping.prepare import PreparedScene, prepare_scene
from modeling.mapping.products import AREA_COLUMNS, COMBINED_AREAS, OUTPUTS, combine_area_tables, is_complete
from modeling.mapping.readers import LAYOUTS, open_scene
from modeling.mapping.scene import MappingResult, map_scene
from modeling.mapping.sentinel2 import SENTINEL2_BANDS
from modeling.mapping.sources import BandSource, OpticalScene, QualityRaster
from modeling.mapping.stages import MODES, FoldedNetwork, Mode, PatchGeometry, window_max
from modeling.mapping.tiles import DEFAULT_TILE, fitted_windows, tile_windows, window_slices

__all__ = [
    "AREA_COLUMNS",
    "BandSource",
    "BatchReport",
    "CLOUD_MASKS",
    "COMBINED_AREAS",
    "DEFAULT_TILE",
    "FoldedNetwork",
    "LANDSAT_BANDS",
    "LAYOUTS",
    "MODES",
    "MappingOptions",
    "MappingResult",
    "Mode",
    "ModelSpec",
    "OUTPUTS",
    "OpticalScene",
    "PatchGeometry",
    "PreparedScene",
    "QualityRaster",
    "SENTINEL2_BANDS",
    "SceneJob",
    "choose_grid",
    "combine_area_tables",
    "conv_macs",
    "dense_features",
    "dense_fits",
    "exact_features",
    "fitted_windows",
    "flops_per_pixel",
    "is_complete",
    "load_model",
    "make_grid",
    "map_many",
    "map_scene",
    "mode_filter",
    "open_scene",
    "patch_features",
    "predict_array",
    "predict_tiled",
    "prepare_scene",
    "run_job",
    "tile_logits",
    "tile_windows",
    "window_max",
    "window_slices",
]
