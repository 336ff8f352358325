"""Onset-to-apex optical flow images: TV-L1 flow, optical strain, 28x28 (strain, v, u) at 0-255.

One pipeline for every dataset, real videos and synthetic frames alike, so a method sees the
same kind of input whatever the data. The output matches the `flow` representation
(mebench.representations): the flow is computed at the frames' resolution, each map is
resized to `size` x `size` with area interpolation and min-max normalised to 0-255 per image,
and the channels are ordered (strain, v, u), the BGR order in which cv2.imread returns the
published release's u, v, strain PNGs and hence the order the published checkpoints consume.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import cv2
import numpy as np


@dataclass(frozen=True)
class FlowParams:
    """Dual TV-L1 parameters (OpenCV's defaults) and the output image size."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5
    size: int = 28

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of every parameter, for run records and cache keys."""
        return asdict(self)


DEFAULT_FLOW_PARAMS = FlowParams()


class _DualTVL1(Protocol):
    """What tvl1_flow uses of cv2.optflow.DualTVL1OpticalFlow (opencv-contrib; OpenCV's bundled stubs lack it)."""

    def calc(self, I0: np.ndarray, I1: np.ndarray, flow: np.ndarray | None) -> np.ndarray: ...


class _OptFlowModule(Protocol):
    """cv2.optflow, as far as tvl1_flow uses it."""

    def DualTVL1OpticalFlow_create(self, **params: Any) -> _DualTVL1: ...


def to_gray(frame: np.ndarray) -> np.ndarray:
    """uint8 gray (H, W) from a gray (H, W), (H, W, 1) or BGR (H, W, 3) frame."""
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    elif frame.ndim == 3 and frame.shape[2] == 3:
        frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGR2GRAY)
    elif frame.ndim != 2:
        raise ValueError(f"expected a gray (H, W) or BGR (H, W, 3) frame, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(frame)


def tvl1_flow(onset_gray: np.ndarray, apex_gray: np.ndarray, params: FlowParams = DEFAULT_FLOW_PARAMS) -> np.ndarray:
    """Dense TV-L1 flow from onset to apex: (H, W, 2) float32, channels (u, v) = (dx, dy) in pixels."""
    onset, apex = to_gray(onset_gray), to_gray(apex_gray)
    if onset.shape != apex.shape:
        raise ValueError(f"onset {onset.shape} and apex {apex.shape} frames differ in size")
    optflow: _OptFlowModule = getattr(cv2, "optflow")  # not `cv2.optflow`: OpenCV's stubs lack it
    tvl1 = optflow.DualTVL1OpticalFlow_create(
        tau=params.tau, lambda_=params.lambda_, theta=params.theta, nscales=params.nscales,
        warps=params.warps, epsilon=params.epsilon, innnerIterations=params.inner_iterations,
        outerIterations=params.outer_iterations, scaleStep=params.scale_step, gamma=params.gamma,
        medianFiltering=params.median_filtering, useInitialFlow=False,
    )
    return np.asarray(tvl1.calc(onset, apex, None), dtype=np.float32)


def optical_strain(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Strain magnitude sqrt(u_x^2 + v_y^2 + 0.5 (u_y + v_x)^2), derivatives by np.gradient."""
    u_y, u_x = np.gradient(np.asarray(u, dtype=np.float64))
    v_y, v_x = np.gradient(np.asarray(v, dtype=np.float64))
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2)


def normalise_0_255(channel: np.ndarray) -> np.ndarray:
    """Min-max to 0..255 per image; a constant map becomes all zeros."""
    channel = np.asarray(channel, dtype=np.float64)
    lo, hi = channel.min(), channel.max()
    if hi - lo <= 1e-12:
        return np.zeros(channel.shape, dtype=np.float32)
    return ((channel - lo) * (255.0 / (hi - lo))).astype(np.float32)


def flow_image(onset: np.ndarray, apex: np.ndarray, params: FlowParams = DEFAULT_FLOW_PARAMS) -> np.ndarray:
    """Onset and apex frames (gray or BGR uint8) -> (3, size, size) float32 (strain, v, u), each 0-255."""
    flow = tvl1_flow(onset, apex, params)
    u, v = flow[:, :, 0], flow[:, :, 1]
    strain = optical_strain(u, v)
    size = (params.size, params.size)
    maps = [cv2.resize(np.asarray(m, dtype=np.float32), size, interpolation=cv2.INTER_AREA) for m in (strain, v, u)]
    return np.stack([normalise_0_255(m) for m in maps]).astype(np.float32)
