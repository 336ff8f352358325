"""The optical-flow pipeline: TV-L1 direction and size, optical strain, the 28x28 flow image."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from mebench.features import flow as flowmod
from mebench.features.flow import FlowParams, flow_image, normalise_0_255, optical_strain, tvl1_flow


def textured_pair(dx: float, dy: float, size: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture and the same texture moved by (dx, dy) px (content moves right/down)."""
    rng = np.random.default_rng(seed)
    big = size + 32
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (big, big)).astype(np.float32), (0, 0), 2.0)
    tex = (tex - tex.min()) / (tex.max() - tex.min()) * 255
    moved = cv2.warpAffine(tex, np.float32([[1, 0, dx], [0, 1, dy]]), (big, big), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT101)
    crop = lambda im: np.clip(np.rint(im[16:-16, 16:-16]), 0, 255).astype(np.uint8)  # noqa: E731
    return crop(tex), crop(moved)


@pytest.mark.parametrize("dx, dy", [(1.5, 0.0), (0.0, -1.0)])
def test_tvl1_recovers_a_translation(dx, dy):
    onset, apex = textured_pair(dx, dy)
    flow = tvl1_flow(onset, apex, FlowParams())
    assert flow.shape == (96, 96, 2) and flow.dtype == np.float32
    inner = flow[8:-8, 8:-8]
    assert inner[..., 0].mean() == pytest.approx(dx, abs=0.1)
    assert inner[..., 1].mean() == pytest.approx(dy, abs=0.1)


def test_strain_of_a_translation_is_near_zero():
    u, v = np.full((20, 30), 1.5), np.full((20, 30), -0.7)
    assert np.array_equal(optical_strain(u, v), np.zeros((20, 30)))
    onset, apex = textured_pair(1.5, 0.0)
    flow = tvl1_flow(onset, apex)
    assert np.median(optical_strain(flow[..., 0], flow[..., 1])[8:-8, 8:-8]) < 0.05


def test_strain_formula():
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float64)
    assert np.allclose(optical_strain(0.1 * xx, np.zeros_like(xx)), 0.1)  # u_x only
    assert np.allclose(optical_strain(np.zeros_like(xx), 0.2 * yy), 0.2)  # v_y only
    assert np.allclose(optical_strain(0.2 * yy, np.zeros_like(xx)), np.sqrt(0.5) * 0.2)  # shear u_y


def test_params_have_opencv_defaults_and_are_recordable():
    p = FlowParams()
    d = p.as_dict()
    assert d["tau"] == 0.25 and d["lambda_"] == 0.15 and d["theta"] == 0.3 and d["nscales"] == 5
    assert d["warps"] == 5 and d["epsilon"] == 0.01 and d["size"] == 28
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.size = 32  # type: ignore[misc]


def test_normalise_per_image_and_constant_maps():
    out = normalise_0_255(np.array([[1.0, 2.0], [3.0, 5.0]]))
    assert out.dtype == np.float32 and out.min() == 0 and out.max() == 255 and out[0, 1] == pytest.approx(255 / 4)
    assert np.array_equal(normalise_0_255(np.full((4, 4), 7.0)), np.zeros((4, 4), np.float32))


def test_flow_image_shape_range_and_channel_order(monkeypatch):
    yy, xx = np.mgrid[0:56, 0:56].astype(np.float32)
    u = np.sin(xx / 9.0)  # varies along x
    v = 0.01 * (yy - 20.0) ** 2  # varies along y
    monkeypatch.setattr(flowmod, "tvl1_flow", lambda onset, apex, params: np.dstack([u, v]))
    frame = np.zeros((56, 56), np.uint8)
    img = flow_image(frame, frame, FlowParams(size=28))
    assert img.shape == (3, 28, 28) and img.dtype == np.float32
    assert np.allclose(img.min(axis=(1, 2)), 0) and np.allclose(img.max(axis=(1, 2)), 255)
    area = lambda m: cv2.resize(np.asarray(m, np.float32), (28, 28), interpolation=cv2.INTER_AREA)  # noqa: E731
    assert np.allclose(img[0], normalise_0_255(area(optical_strain(u, v))), atol=1e-3)  # strain
    assert np.allclose(img[1], normalise_0_255(area(v)), atol=1e-3)  # v
    assert np.allclose(img[2], normalise_0_255(area(u)), atol=1e-3)  # u


def test_flow_image_of_real_motion_and_colour_frames():
    onset, apex = textured_pair(0.0, 0.0)
    # a local downward bump in the middle of the frame
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    bump = 1.5 * np.exp(-((xx - 48) ** 2 + (yy - 48) ** 2) / (2 * 6.0**2))
    apex = cv2.remap(onset.astype(np.float32), xx, yy - bump, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    apex = np.clip(np.rint(apex), 0, 255).astype(np.uint8)
    img = flow_image(onset, apex)
    assert img.shape == (3, 28, 28)
    row, col = np.unravel_index(img[1].argmax(), img[1].shape)
    assert abs(row - 13.5) <= 2 and abs(col - 13.5) <= 2  # v (downward motion) peaks at the bump
    assert img[1, 12:16, 12:16].mean() > 150 and img[1, :4, :4].mean() < 100
    assert img[0, :4, :4].mean() < 100 and img[0, 12:16, 12:16].max() > 100  # strain lives around the bump
    bgr = lambda g: cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)  # noqa: E731
    assert np.array_equal(flow_image(bgr(onset), bgr(apex)), img)
