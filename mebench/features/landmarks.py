"""Facial landmarks with dlib: HOG face detection and the 68-point shape predictor.

The shape predictor's model file comes from the `face_recognition_models` package. It is located
through `importlib.util.find_spec` without importing the package (its `__init__` needs
`pkg_resources`, which recent setuptools no longer ship). dlib, the detector and the predictor are
loaded lazily, once per process, on first use.

Detection and fallback
----------------------
`detect_landmarks68` runs dlib's HOG frontal face detector on the image, then once more with the
image upsampled x2 if nothing was found, and keeps the largest face; the landmarks are then
reported as ``"detected"``. When no face is found at all, the shape predictor is run on the
rectangle of the *whole image* and the landmarks are reported as ``"whole-image"``. This suits
inputs that are already tight face crops (as the HTNet release's apex faces are): the face fills
the frame, so the whole image is a fair face box. It differs from the published HTNet code, which
in that case uses fixed mean positions (`mebench.features.regions.PUBLISHED_FALLBACK_LANDMARKS`);
callers that want that behaviour can check `how` and substitute them.

Coordinates are (x, y) = (column, row) in pixels of the input image.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from mebench.errors import DataError
from mebench.features.regions import GRID, five_points_from_68

# Part of every cache key built from these landmarks: bump it when the detection procedure changes.
LANDMARKS_VERSION = "dlib-hog-68pt/upsample1/largest/whole-image-fallback/v1"

DETECTED = "detected"
WHOLE_IMAGE = "whole-image"
HOW_CODES = (DETECTED, WHOLE_IMAGE)  # index = integer code used when storing `how` in arrays

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"

_lock = threading.Lock()
_models: dict[str, Any] = {}


def shape_predictor_path() -> Path:
    """Path of dlib's 68-point model in the installed `face_recognition_models` package."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DataError(
            "dlib landmark model not found: the package face_recognition_models is not installed "
            "(pip install face-recognition-models)"
        )
    path = Path(locations[0]) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise DataError(f"dlib landmark model {path} is missing (reinstall face-recognition-models)")
    return path


def _load() -> tuple[Any, Any, Any]:
    """(dlib, detector, predictor), loaded on first call and kept for the process."""
    with _lock:
        if not _models:
            path = shape_predictor_path()
            try:
                import dlib
            except ImportError as exc:
                raise DataError(f"dlib is not installed (pip install dlib-bin): {exc}") from None
            try:
                predictor = dlib.shape_predictor(str(path))
            except RuntimeError as exc:
                raise DataError(f"cannot load dlib landmark model {path}: {exc}") from None
            _models.update(dlib=dlib, detector=dlib.get_frontal_face_detector(), predictor=predictor)
        return _models["dlib"], _models["detector"], _models["predictor"]


def _as_dlib_image(image: np.ndarray) -> np.ndarray:
    """BGR (H, W, 3) or gray (H, W) uint8 -> a contiguous uint8 array dlib accepts (RGB or gray)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[:, :, 2::-1]  # BGR(A) -> RGB, dlib's channel order
    elif img.ndim != 2:
        raise ValueError(f"expected a gray (H, W) or BGR (H, W, 3) image, got shape {img.shape}")
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise ValueError(f"image of shape {img.shape} is too small for landmark detection")
    return np.ascontiguousarray(img)


def detect_landmarks68(image: np.ndarray) -> tuple[np.ndarray, str]:
    """68 dlib landmarks of the largest face -> ((68, 2) float64 (x, y), how).

    `image` is BGR (as cv2.imread returns it) or grayscale, uint8. `how` is "detected" when the
    HOG detector found a face (at the original size or upsampled once), "whole-image" when it
    found none and the predictor ran on the whole-image rectangle (see the module docstring).
    """
    img = _as_dlib_image(image)
    dlib, detector, predictor = _load()
    faces = list(detector(img, 0))
    if not faces:
        faces = list(detector(img, 1))
    if faces:
        box = max(faces, key=lambda r: r.width() * r.height())
        how = DETECTED
    else:
        h, w = img.shape[:2]
        box = dlib.rectangle(0, 0, w - 1, h - 1)
        how = WHOLE_IMAGE
    shape = predictor(img, box)
    points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float64)
    return points, how


def apex_landmarks28(image: np.ndarray) -> tuple[np.ndarray, str]:
    """Five points (left eye, right eye, nose, left/right mouth corner) on the 28x28 grid -> ((5, 2), how).

    The 68 points of `detect_landmarks68` are reduced with `five_points_from_68` and scaled from the
    image size to 28x28: x * 28 / width, y * 28 / height. No clipping here (`tile_regions` clips).
    """
    img = np.asarray(image)
    points68, how = detect_landmarks68(img)
    height, width = img.shape[:2]
    five = five_points_from_68(points68[None])[0]
    return five * np.array([GRID / width, GRID / height]), how
