"""PatchCutter: patches gathered as runs of a band-first padded copy equal a naive band-first cut."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_builder.scenes import PatchCutter


def naive(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int, fill: float) -> np.ndarray:
    half = size // 2
    framed = np.pad(image, ((0, 0), (half, half), (half, half)), constant_values=fill)
    return np.stack([framed[:, r : r + size, c : c + size] for r, c in zip(rows, cols)])


def test_many_chunks_of_an_integer_image_are_band_first_and_contiguous():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 60000, (4, 30, 37), dtype=np.uint16)
    cutter = PatchCutter(image, patch_size=7, fill=9)
    rows, cols = rng.integers(0, 30, 3001), rng.integers(0, 37, 3001)  # many patches, edges included
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


def test_nodata_pixels_are_filled_in_every_band_and_flag_their_patches():
    rng = np.random.default_rng(5)
    image = rng.random((3, 20, 24)).astype(np.float64)
    image[1, 10, 12] = np.nan
    image[:, 2, 5] = np.inf
    cutter = PatchCutter(image, patch_size=5, fill=-1.0)
    rows, cols = rng.integers(0, 20, 500), rng.integers(0, 24, 500)
    patches, padded = cutter(rows, cols)
    expected = image.copy()
    expected[:, 10, 12] = expected[:, 2, 5] = -1.0
    np.testing.assert_array_equal(patches, naive(expected, rows, cols, 5, -1.0))

    def near(r: int, c: int) -> np.ndarray:
        return (abs(rows - r) <= 2) & (abs(cols - c) <= 2)

    edge = (rows < 2) | (rows > 17) | (cols < 2) | (cols > 21)
    assert (padded == (edge | near(10, 12) | near(2, 5))).all()


def test_pixels_outside_the_image_are_refused():
    cutter = PatchCutter(np.zeros((2, 6, 8), np.float32), patch_size=3)
    for rows, cols in (([6], [0]), ([0], [8]), ([-1], [0]), ([0, 2], [3, -1])):
        with pytest.raises(IndexError, match="outside the 6 x 8 image"):
            cutter(np.array(rows), np.array(cols))
