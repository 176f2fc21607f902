"""PatchCutter: patches cut in chunks through a channels-last strided view equal a naive band-first cut."""

from __future__ import annotations

import numpy as np

from dataset_builder.scenes import PatchCutter


def naive(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int, fill: float) -> np.ndarray:
    half = size // 2
    framed = np.pad(image, ((0, 0), (half, half), (half, half)), constant_values=fill)
    return np.stack([framed[:, r : r + size, c : c + size] for r, c in zip(rows, cols)])


def test_many_chunks_of_an_integer_image_are_band_first_and_contiguous():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 60000, (4, 30, 37), dtype=np.uint16)
    cutter = PatchCutter(image, patch_size=7, fill=9)
    rows, cols = rng.integers(0, 30, 3001), rng.integers(0, 37, 3001)  # > 2 chunks of 1337 patches, a ragged tail
    patches, padded = cutter(rows, cols)
    assert patches.dtype == np.uint16 and patches.flags.c_contiguous and patches.shape == (3001, 4, 7, 7)
    np.testing.assert_array_equal(patches, naive(image, rows, cols, 7, 9))
    assert (padded == ((rows < 3) | (rows > 26) | (cols < 3) | (cols > 33))).all()
    empty, flags = cutter(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert empty.shape == (0, 4, 7, 7) and flags.shape == (0,)


def test_one_pixel_patches_and_full_size_patches_of_a_small_image():
    rng = np.random.default_rng(4)
    image = rng.random((2, 5, 6), dtype=np.float32)
    rows, cols = np.array([0, 4, 2]), np.array([5, 0, 3])
    for size in (1, 33):
        patches, padded = PatchCutter(image, patch_size=size)(rows, cols)
        np.testing.assert_array_equal(patches, naive(image, rows, cols, size, 0.0))
        assert padded.tolist() == [size > 1] * 3
