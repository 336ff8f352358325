"""HTNet's region tiling: the published quirks reproduced exactly, and the corrected variant."""

import numpy as np
import pytest

from mebench.features.regions import PUBLISHED_FALLBACK_LANDMARKS, five_points_from_68, tile_regions
from mebench.representations import REPRESENTATIONS


def region_features(name, flow, points):
    """A region representation derived from a flow image and the landmarks it is cut around."""
    return REPRESENTATIONS[name].derive({"flow-image": flow, "landmarks:htnet": points, "landmarks:dlib": points}.__getitem__)


@pytest.fixture
def flow():
    # every pixel holds its own (row, column): windows can be located exactly
    rows, cols = np.mgrid[0:28, 0:28]
    return np.stack([rows, cols, rows * 28 + cols]).astype(np.float32)[None]


def window_origin(tile, r0, c0):
    return int(tile[0, 0, r0, c0]), int(tile[0, 1, r0, c0])  # (row, column) of the window's top-left pixel


def test_published_tiling_uses_x_as_row(flow):
    # left eye, right eye, nose, left mouth corner, right mouth corner as (x, y)
    points = np.array([[[9.9, 11.2], [19.5, 10.7], [14, 16], [10.2, 20.6], [18.8, 21.9]]])
    tile = tile_regions(flow, points, published_quirks=True)
    # clipped to [7, 21] and truncated, then rows from x and columns from y; eyes on top, mouth below
    assert window_origin(tile, 0, 0) == (9 - 7, 11 - 7)  # left eye
    assert window_origin(tile, 0, 14) == (19 - 7, 10 - 7)  # right eye
    assert window_origin(tile, 14, 0) == (10 - 7, 20 - 7)  # left mouth corner
    assert window_origin(tile, 14, 14) == (18 - 7, 21 - 7)  # right mouth corner
    assert np.array_equal(tile[0, :, :14, :14], flow[0, :, 2:16, 4:18])


def test_corrected_tiling_centres_windows_on_the_landmarks(flow):
    points = np.array([[[9.9, 11.2], [19.5, 10.7], [14, 16], [10.2, 20.6], [18.8, 21.9]]])
    tile = region_features("htnet-regions-corrected", flow, points)
    assert window_origin(tile, 0, 0) == (11 - 7, 9 - 7)
    assert window_origin(tile, 0, 14) == (10 - 7, 19 - 7)
    assert window_origin(tile, 14, 0) == (20 - 7, 10 - 7)
    assert window_origin(tile, 14, 14) == (21 - 7, 18 - 7)
    assert np.array_equal(region_features("htnet-regions", flow, points), tile_regions(flow, points))


def test_coordinates_are_clipped_into_the_image(flow):
    points = np.array([[[-3, 40], [2.5, 6.9], [14, 14], [27.9, 0], [21.7, 21.7]]])
    tile = tile_regions(flow, points)
    assert window_origin(tile, 0, 0) == (0, 14)
    assert window_origin(tile, 0, 14) == (0, 0)
    assert window_origin(tile, 14, 0) == (14, 0)
    assert window_origin(tile, 14, 14) == (14, 14)


def test_five_points_from_dlib_68():
    lm = np.zeros((1, 68, 2))
    lm[0, 36:42] = [10, 12]
    lm[0, 42:48] = [20, 12]
    lm[0, 30] = [15, 16]
    lm[0, 48] = [11, 21]
    lm[0, 54] = [19, 21]
    assert five_points_from_68(lm).tolist() == [[[10, 12], [20, 12], [15, 16], [11, 21], [19, 21]]]
    assert PUBLISHED_FALLBACK_LANDMARKS.shape == (5, 2)


@pytest.mark.parametrize("spec", ["synthetic", "htnet-release"])
def test_datasets_provide_both_region_variants(spec):
    from mebench.plan import load_dataset
    from tests.conftest import RELEASE

    if spec == "htnet-release":
        if not RELEASE.is_dir():
            pytest.skip(f"real HTNet release data not found at {RELEASE} (../shared absent)")
        spec = f"htnet-release:{RELEASE}"
    ds = load_dataset(spec)
    quirky, corrected = ds.features("htnet-regions"), ds.features("htnet-regions-corrected")
    assert quirky.shape == corrected.shape == (len(ds), 3, 28, 28)
    assert not np.array_equal(quirky, corrected)
