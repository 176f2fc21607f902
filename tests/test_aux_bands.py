"""The auxiliary bands on analytic cases (planes, ridges, squares), in the schema's conventions."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dataset_builder.aux_bands import (
    AUX_BAND_NAMES,
    auxiliary_bands,
    cast_shadow_mask,
    glacier_scaled_elevation,
    hillshade,
    in_cast_shadow,
    incidence_cosine,
    proximity_m,
    scaled_proximity,
    slope_degrees,
)
from dataset_builder.schema import BAND_NAMES, CAST_SHADOW, SUNLIT

PX = 10.0


def plane(rise_east: float, rise_north: float, n: int = 50) -> np.ndarray:
    """Elevation of a plane rising ``rise_east`` m per m eastwards and ``rise_north`` northwards."""
    rows, cols = np.mgrid[0:n, 0:n].astype(float)
    return 1000.0 + rise_east * cols * PX - rise_north * rows * PX


def ridge(n: int = 120, height: float = 200.0, half_width: int = 10) -> np.ndarray:
    """A north-south triangular ridge in the middle column on flat ground."""
    cols = np.arange(n)
    profile = np.clip(height * (1 - np.abs(cols - n // 2) / half_width), 0, None)
    return np.tile(profile, (n, 1))


@pytest.mark.parametrize("rise_east, rise_north", [(0.0, 0.0), (0.5, 0.0), (0.0, -1.0), (0.3, 0.4)])
def test_slope_of_a_plane(rise_east, rise_north):
    slope = slope_degrees(plane(rise_east, rise_north), PX)
    assert slope.dtype == np.float32
    np.testing.assert_allclose(slope, np.degrees(np.arctan(np.hypot(rise_east, rise_north))), atol=1e-4)


def test_flat_ground_incidence_is_sin_of_sun_elevation_and_its_hillshade_one():
    np.testing.assert_allclose(incidence_cosine(np.zeros((20, 20)), PX, 135.0, 30.0), 0.5, atol=1e-12)
    np.testing.assert_array_equal(hillshade(np.zeros((20, 20)), PX, sun_azimuth=135.0, sun_elevation=30.0), 1.0)


@pytest.mark.parametrize("sun_azimuth", [0.0, 90.0, 200.0, 300.0])
def test_incidence_and_hillshade_of_a_plane(sun_azimuth):
    # rising to the east at 30 degrees: the slope faces west (aspect 270)
    rise = np.tan(np.radians(30.0))
    elevation = 40.0
    expected = np.cos(np.radians(30.0)) * np.sin(np.radians(elevation)) + np.sin(np.radians(30.0)) * np.cos(
        np.radians(elevation)
    ) * np.cos(np.radians(sun_azimuth - 270.0))
    np.testing.assert_allclose(incidence_cosine(plane(rise, 0.0), PX, sun_azimuth, elevation), expected, atol=1e-9)
    combined = 1 - np.arccos(expected) * np.radians(30.0) / (np.pi / 2) ** 2  # gdaldem hillshade -combined, 0-1
    np.testing.assert_allclose(hillshade(plane(rise, 0.0), PX, sun_azimuth, elevation), combined, atol=1e-5)


def test_hillshade_is_darkest_on_steep_slopes_turned_from_the_sun():
    facing = plane(np.tan(np.radians(50.0)), 0.0)  # faces west; sun in the west at 40 degrees: squarely lit
    np.testing.assert_allclose(incidence_cosine(facing, PX, 270.0, 40.0), 1.0, atol=1e-9)
    np.testing.assert_allclose(hillshade(facing, PX, 270.0, 40.0), 1.0, atol=1e-6)
    assert np.all(incidence_cosine(facing, PX, 90.0, 40.0) < 0)
    # normal 50 degrees from the zenith to the west, sun 50 degrees from it to the east: incidence 100 degrees
    combined = 1 - np.radians(100.0) * np.radians(50.0) / (np.pi / 2) ** 2
    np.testing.assert_allclose(hillshade(facing, PX, 90.0, 40.0), combined, atol=1e-5)
    steeper = plane(np.tan(np.radians(80.0)), 0.0)
    assert np.all(hillshade(steeper, PX, 90.0, 10.0) == 0.0)


def test_shadow_mask_is_one_where_sunlit():
    mask = cast_shadow_mask(ridge(), PX, 90.0, 30.0)
    assert mask.dtype == np.uint8 and (SUNLIT, CAST_SHADOW) == (1, 0)
    np.testing.assert_array_equal(mask, np.where(in_cast_shadow(ridge(), PX, 90.0, 30.0), CAST_SHADOW, SUNLIT))
    assert (mask == CAST_SHADOW).any() and (mask == SUNLIT).mean() > 0.5


@pytest.mark.parametrize("sun_azimuth, shadow_side", [(90.0, "west"), (270.0, "east")])
def test_ridge_casts_its_shadow_away_from_the_sun(sun_azimuth, shadow_side):
    n, height, elevation = 120, 200.0, 30.0
    mask = in_cast_shadow(ridge(n, height), PX, sun_azimuth, elevation)
    assert mask.dtype == bool
    row = mask[n // 2]
    centre = n // 2
    length_px = height / np.tan(np.radians(elevation)) / PX  # 34.6 px from the crest
    lee = row[:centre][::-1] if shadow_side == "west" else row[centre + 1 :]
    sunny = row[centre + 1 :] if shadow_side == "west" else row[:centre][::-1]
    # lee: shaded from the crest out to the shadow length, then sunlit again
    assert lee[: int(length_px) - 1].all()
    assert not lee[int(np.ceil(length_px)) + 1 :].any()
    assert not sunny.any()
    # every row alike (the ridge runs the full length)
    assert (mask == mask[n // 2]).all()


def test_no_shadow_on_flat_ground_or_under_a_high_sun():
    assert not in_cast_shadow(np.zeros((64, 64)), PX, 150.0, 20.0).any()
    assert not in_cast_shadow(ridge(), PX, 90.0, 89.0).any()


def test_diagonal_sun_shadow_length():
    n, height, elevation = 120, 200.0, 30.0
    mask = in_cast_shadow(ridge(n, height), PX, 45.0, elevation)  # sun in the north-east
    # a point x px west of the crest sees it at x * sqrt(2) px towards the sun
    x = np.arange(1, n // 2)
    expected = height - x * np.sqrt(2) * PX * np.tan(np.radians(elevation)) > np.clip(height * (1 - x / 10), 0, None)
    got = mask[n // 2, n // 2 - x].astype(bool)
    clear = (
        np.abs(height - x * np.sqrt(2) * PX * np.tan(np.radians(elevation)) - np.clip(height * (1 - x / 10), 0, None))
        > 15
    )
    assert np.array_equal(got[clear], expected[clear])


def test_nan_elevations_are_never_shadowed_and_cast_nothing():
    dem = ridge()
    dem[:, 55:66] = np.nan  # the crest is missing
    mask = in_cast_shadow(dem, PX, 90.0, 30.0)
    assert not mask[:, 55:66].any()
    assert not mask[:, :40].any()


def test_cast_shadow_is_fast_on_a_1000_px_dem():
    rng = np.random.default_rng(0)
    dem = np.cumsum(np.cumsum(rng.normal(size=(1000, 1000)), axis=0), axis=1)
    start = time.perf_counter()
    mask = in_cast_shadow(dem, PX, 150.0, 25.0)
    assert time.perf_counter() - start < 3.0
    assert 0 < mask.mean() < 1


def test_cast_shadow_rejects_a_sun_below_the_horizon():
    with pytest.raises(ValueError):
        in_cast_shadow(np.zeros((8, 8)), PX, 150.0, 0.0)


def test_proximity_of_a_square():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    prox = proximity_m(mask, PX)
    assert prox.dtype == np.float32
    outline = mask.copy()
    outline[11:29, 11:29] = False
    assert (prox[outline] == 0).all()
    # inside: distance to the nearest edge row/column of the square
    r, c = np.mgrid[10:30, 10:30]
    inside = np.minimum.reduce([r - 10, 29 - r, c - 10, 29 - c]) * PX
    np.testing.assert_allclose(prox[10:30, 10:30], inside)
    # outside, straight out from an edge, and diagonally off a corner
    assert prox[20, 5] == pytest.approx(5 * PX)
    assert prox[35, 20] == pytest.approx(6 * PX)
    assert prox[5, 5] == pytest.approx(np.hypot(5, 5) * PX)


def test_proximity_without_an_outline_is_nan():
    assert np.isnan(proximity_m(np.zeros((5, 5), bool), PX)).all()
    assert np.isnan(proximity_m(np.ones((5, 5), bool), PX)).all()


def test_scaled_proximity_is_one_at_the_farthest_pixel():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    metres = proximity_m(mask, PX)
    scaled = scaled_proximity(metres)
    assert scaled.dtype == np.float32 and np.nanmax(scaled) == pytest.approx(1.0)
    np.testing.assert_allclose(scaled, metres / np.hypot(10, 10) / PX, rtol=1e-6)
    assert np.isnan(scaled_proximity(proximity_m(np.zeros((5, 5), bool), PX))).all()


def test_elevation_is_scaled_per_glacier_and_beyond_by_the_nearest_glacier():
    dem = np.tile(np.arange(12, dtype=float) * 100.0, (6, 1))  # rising 100 m a column eastwards
    ids = np.zeros(dem.shape, int)
    ids[:, 1:4], ids[:, 7:10] = 1, 2  # glacier 1: 100-300 m, glacier 2: 700-900 m
    scaled = glacier_scaled_elevation(dem, ids)
    np.testing.assert_allclose(scaled[0], [-0.5, 0, 0.5, 1, 1.5, 2, -0.5, 0, 0.5, 1, 1.5, 2], atol=1e-6)
    np.testing.assert_allclose(glacier_scaled_elevation(dem, ids == 1)[0, :4], [-0.5, 0, 0.5, 1], atol=1e-6)
    assert np.isnan(glacier_scaled_elevation(dem, np.zeros(dem.shape, bool))).all()
    # a block of a larger grid: the glaciers' ranges over their whole outlines
    np.testing.assert_allclose(
        glacier_scaled_elevation(dem[:, :6], ids[:, :6], {1: (100.0, 500.0)})[0, :3], [-0.25, 0, 0.25]
    )


def test_auxiliary_bands_in_schema_order_and_conventions():
    dem = ridge(64)
    mask = dem > 50
    bands = auxiliary_bands(dem, mask, PX, 120.0, 35.0)
    assert tuple(bands) == AUX_BAND_NAMES == BAND_NAMES[6:]
    for name, values in bands.items():
        assert values.shape == dem.shape and values.dtype == np.float32, name
    np.testing.assert_array_equal(bands["elevation"], glacier_scaled_elevation(dem, mask))
    assert bands["elevation"][mask].min() == 0 and bands["elevation"][mask].max() == 1
    np.testing.assert_array_equal(bands["slope"], slope_degrees(dem, PX))
    np.testing.assert_array_equal(bands["shadow_mask"], cast_shadow_mask(dem, PX, 120.0, 35.0))
    np.testing.assert_array_equal(bands["hillshade"], hillshade(dem, PX, 120.0, 35.0))
    np.testing.assert_array_equal(bands["proximity"], scaled_proximity(proximity_m(mask, PX)))
