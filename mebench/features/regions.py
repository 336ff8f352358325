"""HTNet's region input: four 14x14 flow windows around facial landmarks, tiled 2x2 into 28x28.

Landmarks are five points on the 28x28 grid, (x, y) = (column, row), in the order
left eye, right eye, nose, left mouth corner, right mouth corner (image left/right, as
MTCNN and the published pipeline order them).

The published pipeline (HTNet release, `crop_optical_flow_block`) clips every coordinate to
[7, 21], truncates it to an integer and then slices `flow[x-7:x+7, y-7:y+7]`: it uses the
landmark's x as the *row*. `published_quirks=True` reproduces exactly that; False uses the
point's row and column as one would expect.
"""

from __future__ import annotations

import numpy as np

WINDOW = 14
HALF = WINDOW // 2
GRID = 28

# When no face is found the published code uses these mean landmark positions (x, y) on 28x28.
PUBLISHED_FALLBACK_LANDMARKS = np.array(
    [[9.528073, 11.062551], [21.396168, 10.919773], [15.380184, 17.380562], [10.255435, 22.121233], [20.583706, 22.25584]],
    dtype=np.float64,
)


def clip_landmarks(points: np.ndarray) -> np.ndarray:
    """Clip to [7, 21] then truncate to int, as the published code does (every window stays inside 28x28)."""
    return np.clip(np.asarray(points, dtype=np.float64), HALF, GRID - HALF).astype(np.int64)


def tile_regions(flow: np.ndarray, landmarks: np.ndarray, *, published_quirks: bool = True) -> np.ndarray:
    """flow (N, C, 28, 28), landmarks (N, 5, 2) as (x, y) -> (N, C, 28, 28) region tiles."""
    flow = np.asarray(flow)
    landmarks = np.asarray(landmarks)
    if flow.ndim != 4 or flow.shape[-2:] != (GRID, GRID):
        raise ValueError(f"flow must be (N, C, {GRID}, {GRID}), got {flow.shape}")
    if landmarks.shape != (flow.shape[0], 5, 2):
        raise ValueError(f"landmarks must be ({flow.shape[0]}, 5, 2), got {landmarks.shape}")
    pts = clip_landmarks(landmarks)
    out = np.empty_like(flow)
    # (point index, output row offset, output column offset): eyes on top, mouth corners below
    layout = ((0, 0, 0), (1, 0, WINDOW), (3, WINDOW, 0), (4, WINDOW, WINDOW))
    for n in range(flow.shape[0]):
        for point, r0, c0 in layout:
            x, y = pts[n, point]
            row, col = (x, y) if published_quirks else (y, x)
            out[n, :, r0 : r0 + WINDOW, c0 : c0 + WINDOW] = flow[n, :, row - HALF : row + HALF, col - HALF : col + HALF]
    return out


def five_points_from_68(landmarks68: np.ndarray) -> np.ndarray:
    """dlib's 68-point layout (N, 68, 2) -> the five points above: eye centres (36-41, 42-47),
    nose tip (30), mouth corners (48, 54)."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    return np.stack(
        [lm[:, 36:42].mean(axis=1), lm[:, 42:48].mean(axis=1), lm[:, 30], lm[:, 48], lm[:, 54]], axis=1
    )
