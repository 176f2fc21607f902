"""Whole-scene inference: per-patch reference, dense and exact modes, tiling, normalisation groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rasterio.windows import Window

from dataset_builder.schema import BAND_NAMES
from modeling.errors import DenseInferenceError
from modeling.mapping import (
    PatchGeometry,
    dense_features,
    exact_features,
    flops_per_pixel,
    patch_features,
    predict_array,
    predict_tiled,
    tile_logits,
    tile_windows,
    window_max,
    window_slices,
)
from modeling.mapping.per_patch import EXACT_BATCH, EXACT_BLOCK, shares_borders
from modeling.mapping.tile_inputs import group_reader
from modeling.mapping.tiles import fitted_windows, padded_window
from modeling.network import FaciesCNN, FaciesCNNConfig

BANDS = len(BAND_NAMES)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one torch thread avoids thread hand-offs that dominate on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(seed: int = 0, **config) -> FaciesCNN:
    """A small random FaciesCNN with random batch-norm statistics (so that no layer is an identity)."""
    torch.manual_seed(seed)
    fields = dict(filters=(8, 8), dense_units=(8,), normalization={"min": [0.0] * BANDS, "max": [1.0] * BANDS})
    model = FaciesCNN(FaciesCNNConfig(**(fields | config))).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model


def scene(shape=(50, 46), seed: int = 1) -> np.ndarray:
    """Raw bands (11, H, W) in 0-1 with some spatial structure."""
    rng = np.random.default_rng(seed)
    raw = rng.random((BANDS, *shape)).astype(np.float32)
    return (raw + np.roll(raw, 3, axis=2)) / 2


def reference_proba(model: FaciesCNN, raw: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The published way, independently: normalise, zero-pad the scene, one patch per pixel, model forward."""
    half = model.config.patch_size // 2
    lo = np.asarray(model.config.normalization["min"])[:, None, None]
    hi = np.asarray(model.config.normalization["max"])[:, None, None]
    x = np.pad(((raw - lo) / (hi - lo)).astype(np.float32), ((0, 0), (half, half), (half, half)))
    patches = np.stack([x[:, r : r + 2 * half + 1, c : c + 2 * half + 1] for r, c in zip(rows, cols)])
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(patches)), dim=1).numpy()


def test_patch_mode_is_the_published_per_patch_inference():
    model, raw = make_model(), scene()
    mask = np.zeros(raw.shape[1:], bool)
    mask[::5, ::4] = True  # interior and edge pixels alike
    proba = predict_array(model, raw, mask, mode="patch", tile_size=20)
    rows, cols = np.nonzero(mask)
    np.testing.assert_allclose(proba[:, rows, cols].T, reference_proba(model, raw, rows, cols), atol=1e-5)
    inner = (rows >= 16) & (rows < raw.shape[1] - 16) & (cols >= 16) & (cols < raw.shape[2] - 16)
    patches = np.stack([raw[:, r - 16 : r + 17, c - 16 : c + 17] for r, c in zip(rows[inner], cols[inner])])
    np.testing.assert_allclose(proba[:, rows[inner], cols[inner]].T, model.predict_proba(patches), atol=1e-5)
    assert np.isnan(proba[:, ~mask]).all()


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"patch_size": 15},
        {"depths": (2, 3)},
        {"patch_size": 21, "depths": (1, 2)},
        {"depths": (4, 3)},  # the scale-1 padding reaches two rings of pooled cells
        {"depths": (3, 4)},
        {"patch_size": 25, "pool_size": 5, "depths": (3, 1)},
        {"pool_size": 1},
        {"patch_size": 3, "pool_size": 3},
    ],
)
def test_exact_mode_equals_per_patch(config):
    model, raw = make_model(**config), scene((36, 34))
    mask = np.random.default_rng(2).random(raw.shape[1:]) < 0.3  # interior and edge pixels
    exact = predict_array(model, raw, mask, mode="exact", tile_size=16)
    patch = predict_array(model, raw, mask, mode="patch", tile_size=16)
    assert np.nanmax(np.abs(exact - patch)) < 1e-5
    assert (np.isnan(exact) == ~mask).all() and (np.nan_to_num(exact).argmax(0) == np.nan_to_num(patch).argmax(0)).all()


def test_exact_mode_shares_strips_within_blocks_and_batches_corners():
    """Several blocks of a tile (EXACT_BLOCK), several batches of corner cells (EXACT_BATCH), random weights."""
    for seed in (5, 6):
        model, raw = make_model(seed), scene((100, 90), seed=seed)
        mask = np.random.default_rng(seed).random(raw.shape[1:]) < 0.45
        assert mask[:EXACT_BLOCK, :EXACT_BLOCK].sum() > 2 * EXACT_BATCH  # the first block takes three batches
        exact = predict_array(model, raw, mask, mode="exact", tile_size=128)
        patch = predict_array(model, raw, mask, mode="patch", tile_size=128)
        np.testing.assert_allclose(exact, patch, atol=1e-5)


def test_exact_mode_shares_work_only_where_the_corners_do_not_meet():
    assert shares_borders(PatchGeometry.from_config(FaciesCNNConfig()))
    assert shares_borders(PatchGeometry.from_config(FaciesCNNConfig(depths=(4, 3))))
    for small in ({"patch_size": 15}, {"patch_size": 9}, {"patch_size": 21}):
        assert not shares_borders(PatchGeometry.from_config(FaciesCNNConfig(**small)))
    model = make_model(patch_size=9)
    x = torch.from_numpy(scene((30, 30)))[None]
    rows, cols = torch.arange(4, 26), torch.arange(4, 26).flip(0)
    with torch.inference_mode():  # computed per patch: the same numbers, bit for bit
        assert torch.equal(exact_features(model, x, rows, cols), patch_features(model, x, rows, cols))


def test_dense_centre_features_equal_per_patch_and_only_the_global_max_differs():
    model = make_model()
    x = torch.from_numpy(scene((70, 70)))[None]
    rows, cols = torch.meshgrid(torch.arange(28, 42), torch.arange(28, 42), indexing="ij")
    rows, cols = rows.reshape(-1), cols.reshape(-1)
    f1, f2 = model.config.filters
    with torch.inference_mode():
        dense, patch = dense_features(model, x, rows, cols), patch_features(model, x, rows, cols)
    centre = slice(0, f1 + f2)
    assert torch.allclose(dense[:, centre], patch[:, centre], atol=1e-5)
    # per patch, the zero padding at the patch border changes the outer ring of the pooled grid
    assert (dense[:, f1 + f2 :] - patch[:, f1 + f2 :]).abs().max() > 1e-3


def test_dense_global_max_is_the_max_over_each_pixels_pooled_grid():
    """The dense global max of pixel p = max of the dense scale-2 centre features at p + 3 (i, j), i, j in -5..5."""
    model = make_model()
    x = torch.from_numpy(scene((100, 100)))[None]
    rows, cols = torch.meshgrid(torch.arange(28, 72), torch.arange(28, 72), indexing="ij")
    f1, f2 = model.config.filters
    with torch.inference_mode():
        features = dense_features(model, x, rows.reshape(-1), cols.reshape(-1)).reshape(44, 44, -1).numpy()
    centre2, glob = features[..., f1 : f1 + f2], features[..., f1 + f2 :]
    for r, c in ((15, 15), (15, 28), (22, 17)):  # positions in the 44 x 44 block whose window lies inside it
        window = centre2[r - 15 : r + 16 : 3, c - 15 : c + 16 : 3]
        assert window.shape[:2] == (11, 11)
        np.testing.assert_allclose(glob[r, c], window.max(axis=(0, 1)), atol=1e-6)


@pytest.mark.parametrize("mode", ["dense", "exact", "patch"])
def test_tiled_equals_untiled(mode):
    model, raw = make_model(), scene((30, 34))
    mask = np.random.default_rng(3).random(raw.shape[1:]) < 0.3
    whole = predict_array(model, raw, mask, mode=mode, tile_size=64)
    tiny = predict_array(model, raw, mask, mode=mode, tile_size=9)
    np.testing.assert_allclose(tiny, whole, atol=1e-5)
    assert (np.nan_to_num(tiny).argmax(0) == np.nan_to_num(whole).argmax(0)).all()


def test_calibration_temperature_is_applied():
    model, raw = make_model(), scene((20, 20))
    sharp = predict_array(model, raw, mode="dense")
    soft_model = FaciesCNN(model.config.replace(calibration={"temperature": 3.0}))
    soft_model.load_weights(model.state_dict())
    soft = predict_array(soft_model.eval(), raw, mode="dense")
    logits = np.log(sharp)
    expected = np.exp(logits / 3.0) / np.exp(logits / 3.0).sum(0)
    np.testing.assert_allclose(soft, expected, atol=1e-5)


def test_per_glacier_elevation_scaling_uses_each_pixels_glacier():
    model = make_model(per_glacier_elevation_scaling=True)
    raw = scene((40, 40))
    elevation = BAND_NAMES.index("elevation")
    raw[elevation] = 1000 + 800 * raw[elevation]
    index = np.zeros((40, 40), np.uint8)
    index[:, :20], index[:, 20:] = 1, 2
    ranges = {1: (1000.0, 1500.0), 2: (1300.0, 1800.0)}
    mask = np.random.default_rng(4).random(index.shape) < 0.15
    patch = predict_array(model, raw, mask, mode="patch", glacier_index=index, elevation_ranges=ranges)
    exact = predict_array(model, raw, mask, mode="exact", glacier_index=index, elevation_ranges=ranges, tile_size=11)
    np.testing.assert_allclose(exact, patch, atol=1e-5)
    for g, (lo, hi) in ranges.items():
        scaled = raw.copy()
        scaled[elevation] = (raw[elevation] - lo) / (hi - lo)
        rows, cols = np.nonzero(mask & (index == g))
        plain = FaciesCNN(model.config.replace(per_glacier_elevation_scaling=False))
        plain.load_weights(model.state_dict())
        expected = reference_proba(plain.eval(), scaled, rows, cols)
        np.testing.assert_allclose(patch[:, rows, cols].T, expected, atol=1e-5)
    with pytest.raises(DenseInferenceError, match="glacier_index"):
        predict_array(model, raw, mask, mode="dense")


def test_missing_values_become_zero_like_patch_padding():
    model, raw = make_model(), scene((24, 24))
    holed = raw.copy()
    holed[:, :, :5] = np.nan
    lo = np.asarray(model.config.normalization["min"], np.float32)
    filled = raw.copy()
    filled[:, :, :5] = lo[:, None, None]  # normalises to 0
    for mode in ("dense", "patch"):
        np.testing.assert_allclose(
            predict_array(model, holed, mode=mode), predict_array(model, filled, mode=mode), atol=1e-6
        )


def test_geometry_and_halos():
    geo = PatchGeometry.from_config(FaciesCNNConfig())
    assert (geo.grid, geo.half) == (11, 16)
    assert geo.offsets.tolist() == list(range(-15, 16, 3))
    assert geo.halo("dense") == 3 + 1 + 9 + 15 and geo.halo("patch") == geo.halo("exact") == 16
    for bad in ({"patch_size": 32}, {"patch_size": 35}, {"pool_size": 2, "patch_size": 33}):
        with pytest.raises(DenseInferenceError):
            PatchGeometry.from_config(FaciesCNNConfig(**bad))
    with pytest.raises(DenseInferenceError, match="mode"):
        geo.halo("sparse")


def test_pixels_inside_the_halo_are_refused():
    model = make_model()
    x = torch.zeros((1, BANDS, 64, 64))
    with pytest.raises(DenseInferenceError, match="halo"):
        tile_logits(model, x, torch.tensor([10]), torch.tensor([32]), "dense")


def test_flops_per_pixel_of_the_published_model():
    config = FaciesCNNConfig()
    patch, dense, exact = (flops_per_pixel(config, m) for m in ("patch", "dense", "exact"))
    assert 0.15e9 < patch < 0.25e9  # "about 0.2 GFLOP per pixel"
    assert 400 < patch / dense < 600  # "about 1/500 of the cost"
    assert 10 < patch / exact < 15 and dense < exact
    small = FaciesCNNConfig(patch_size=15)  # computed per patch
    assert flops_per_pixel(small, "exact") == flops_per_pixel(small, "patch")


def test_window_max_equals_a_dilated_max_pool():
    x = torch.randn(2, 3, 40, 37)
    for taps, step in ((3, 1), (11, 3), (5, 3), (4, 2)):
        np.testing.assert_array_equal(window_max(x, taps, step), F.max_pool2d(x, taps, stride=1, dilation=step))


def test_tile_windows_cover_the_grid_once():
    cover = np.zeros((23, 31), int)
    for w in tile_windows((23, 31), 8):
        cover[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (cover == 1).all()
    with pytest.raises(DenseInferenceError):
        tile_windows((5, 5), 0)


def test_fitted_windows_cover_each_pixel_once_and_group_close_pixels():
    mask = np.zeros((300, 400), bool)
    mask[10:40, 20:45] = True  # a small glacier
    mask[42:60, 47:52] = True  # a neighbour 2 px away: same window
    mask[200:290, 100:390] = True  # a wide one: split into tiles of <= 128 px
    mask[150, 300] = True  # a lone pixel 50 px from the others
    windows = fitted_windows(mask, tile_size=128, gap=8)
    cover = np.zeros(mask.shape, int)
    for w in windows:
        assert w.width <= 128 and w.height <= 128
        cover[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] += 1
    assert (cover[mask] == 1).all() and cover.max() == 1
    assert windows[0] == Window(20, 10, 32, 50)
    assert Window(300, 150, 1, 1) in windows
    assert len(windows) == 2 + 3  # 90 x 290 px in 1 x 3 tiles of 97 px
    assert fitted_windows(np.zeros((5, 5), bool)) == []


def test_fitted_tiles_map_as_a_tile_grid():
    model, raw = make_model(), scene((70, 90))
    mask = np.zeros(raw.shape[1:], bool)
    mask[5:20, 5:30], mask[40:68, 50:88] = True, True
    for mode in ("dense", "exact"):
        fitted = predict_array(model, raw, mask, mode=mode, tile_size=24)
        grid = np.full_like(fitted, np.nan)
        read = group_reader(lambda window: padded_window(raw, window), model.config, mask)
        for window, proba in predict_tiled(model, read, mask.shape, mode=mode, tile_size=24):
            grid[(slice(None), *window_slices(window))] = proba
        np.testing.assert_allclose(fitted, grid, atol=1e-5)
