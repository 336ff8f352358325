"""HTNet's published landmark step: MTCNN's five points on the apex face shrunk to 28x28.

Wang et al.'s `main_HTNet.py` (`whole_face_block_coordinates`,
https://github.com/wangzhifengharrison/HTNet) reads each apex face with `cv2.imread` (BGR, given to
MTCNN as it is), resizes it to 28x28 with `cv2.INTER_AREA`, and runs facenet-pytorch's
`MTCNN(margin=0, image_size=28, select_largest=True, post_process=False).detect(face, landmarks=True)`
(Zhang et al., "Joint Face Detection and Alignment Using Multitask Cascaded Convolutional
Networks", IEEE SPL 2016; facenet-pytorch, https://github.com/timesler/facenet-pytorch, 2.5.2 as
the HTNet repository pins it; its weights ship inside the package). The points of the largest face
are (x, y) = (column, row): left eye, right eye, nose, left and right mouth corner. Where MTCNN
finds no face, the published code uses fixed mean points (`PUBLISHED_FALLBACK_LANDMARKS`). The
clipping to [7, 21] and the truncation happen later, in `mebench.features.regions.tile_regions`.

The published script ran MTCNN on CUDA; mebench runs it on the CPU, as the reference landmarks in
`../shared/reference/htnet_release_published_landmarks.csv` were computed.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from mebench.errors import DataError
from mebench.features.regions import GRID, PUBLISHED_FALLBACK_LANDMARKS

# Part of every cache key built from these landmarks: bump it when the procedure changes.
MTCNN_LANDMARKS_VERSION = "facenet-pytorch-mtcnn/bgr-inter_area-28/largest/published-fallback/v1"
FACENET_VERSION = "2.5.2"

_lock = threading.Lock()
_detector: dict[str, Any] = {}


def detector() -> Any:
    """The detector, built once per process on the CPU."""
    with _lock:
        if "mtcnn" not in _detector:
            try:
                from facenet_pytorch import MTCNN
            except ImportError as exc:
                raise DataError(f"facenet-pytorch is not installed (pip install facenet-pytorch=={FACENET_VERSION}): "
                                f"{exc}") from None
            _detector["mtcnn"] = MTCNN(margin=0, image_size=GRID, select_largest=True, post_process=False,
                                       device="cpu")
        return _detector["mtcnn"]


def published_face28(image_bgr: np.ndarray) -> np.ndarray:
    """The apex face as the published code hands it to MTCNN: BGR uint8 resized to 28x28 (INTER_AREA)."""
    img = np.asarray(image_bgr)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 image (H, W, 3), got {img.shape} {img.dtype}")
    return cv2.resize(img, (GRID, GRID), interpolation=cv2.INTER_AREA)


def published_landmarks28(image_bgr: np.ndarray) -> tuple[np.ndarray, bool]:
    """((5, 2) float64 points (x, y) on the 28x28 grid, whether a face was detected), exactly as the
    published pipeline computes them before clipping (see the module docstring)."""
    import torch

    face = published_face28(image_bgr)
    with torch.random.fork_rng(devices=[]):  # MTCNN draws nothing at random; keep the caller's RNG untouched anyway
        _, _, points = detector().detect(face, landmarks=True)
    if points is None:
        return PUBLISHED_FALLBACK_LANDMARKS.copy(), False
    return np.asarray(points[0], dtype=np.float64), True
