"""Whole-scene mapping: optical products and DEMs on the model grid, tiled inference, the facies products.

Modules, bottom up (each imports only those above it in this list):

- :mod:`~modeling.mapping.tiles`: window arithmetic (tiling, halos, clipping, padded reads);
- :mod:`~modeling.mapping.tile_inputs`: a tile's network inputs, normalised per group;
- :mod:`~modeling.mapping.readers`: the GeoTIFF, Landsat C2 L2 and Sentinel-2 L2A readers (:func:`open_scene`);
- :mod:`~modeling.mapping.grid`: the model grid, DEM files, warping rasters onto the grid;
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
from modeling.mapping.grid import make_grid
from modeling.mapping.options import MappingOptions
from modeling.mapping.per_patch import exact_features, patch_features
from modeling.mapping.prepare import PreparedScene, prepare_scene
from modeling.mapping.products import AREA_COLUMNS, OUTPUTS, is_complete
from modeling.mapping.readers import LANDSAT_BANDS, OpticalScene, open_scene
from modeling.mapping.scene import MappingResult, map_scene
from modeling.mapping.stages import MODES, FoldedNetwork, Mode, PatchGeometry, window_max
from modeling.mapping.tiles import DEFAULT_TILE, fitted_windows, tile_windows, window_slices

__all__ = [
    "AREA_COLUMNS",
    "BatchReport",
    "DEFAULT_TILE",
    "FoldedNetwork",
    "LANDSAT_BANDS",
    "MODES",
    "MappingOptions",
    "MappingResult",
    "Mode",
    "ModelSpec",
    "OUTPUTS",
    "OpticalScene",
    "PatchGeometry",
    "PreparedScene",
    "SceneJob",
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
