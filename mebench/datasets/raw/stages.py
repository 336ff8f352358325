"""The pipeline's computations, without caching: read a frame, find the face, align and crop,
flow, strain image, regions. `pipeline.py` chains them and caches each stage's output.

Face alignment
--------------
dlib's 68 landmarks on the onset frame (`mebench.features.landmarks.detect_landmarks68`) give
one similarity transform for the whole clip: rotate about the face so that the two eye centres
are level (`align`), then crop the square around the landmarks' bounding box grown by
`margin` of its side on every side, resized to `face_size` x `face_size`. Every frame of the
clip gets the same transform, so head motion between onset and apex stays in the flow.

Fallback when no face is found (landmarks "whole-image"): no rotation; the crop is the largest
centred square of the frame; the 68 points are those dlib's predictor gives on the whole frame.
Such clips are counted by `mebench datasets check` and warned about when features are computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from mebench.errors import DataError
from mebench.features.flow import FlowParams, normalise_0_255, optical_strain, tvl1_flow
from mebench.features.landmarks import WHOLE_IMAGE
from mebench.features.regions import GRID, five_points_from_68


@dataclass(frozen=True)
class FarnebackParams:
    """cv2.calcOpticalFlowFarneback parameters (a faster, less accurate alternative to TV-L1)."""

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def as_dict(self) -> dict:
        return asdict(self)


# -- reading -------------------------------------------------------------------------------------
def truncation(data: bytes, suffix: str) -> str | None:
    """Why the bytes of an image file look cut short or are not of their format (None if fine).

    OpenCV decodes a truncated JPEG without error (grey bottom rows), so truncation is checked
    from the file structure: a JPEG's end-of-image marker must follow its last scan, a PNG must
    end with IEND, a BMP must be as long as its header says."""
    suffix = suffix.lower()
    if not data:
        return "empty file"
    if suffix in (".jpg", ".jpeg"):
        if not data.startswith(b"\xff\xd8"):
            return "not a JPEG file (no start-of-image marker)"
        if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
            return "truncated JPEG (no end-of-image marker after the last scan)"
    elif suffix == ".png":
        if not data.startswith(b"\x89PNG"):
            return "not a PNG file"
        if b"IEND" not in data[-16:]:
            return "truncated PNG (no IEND chunk)"
    elif suffix == ".bmp":
        if not data.startswith(b"BM") or len(data) < 6:
            return "not a BMP file"
        if int.from_bytes(data[2:6], "little") > len(data):
            return f"truncated BMP ({len(data)} bytes of {int.from_bytes(data[2:6], 'little')})"
    return None


def decode_gray(path: Path) -> tuple[np.ndarray | None, str]:
    """(uint8 gray (H, W) image, "") or (None, why it cannot be read)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror or exc}"
    why = truncation(data, Path(path).suffix)
    if why is not None:
        return None, why
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None or img.size == 0:
        return None, "not a decodable image"
    return img, ""


def read_color(path: Path, sample: str | None = None) -> np.ndarray:
    """A frame as uint8 BGR (H, W, 3), as cv2.imread gives it (gray frames are expanded); DataError
    naming the file and sample when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"unreadable image {path}{f' (sample {sample})' if sample else ''}: "
                        f"{exc.strerror or exc}") from None
    why = truncation(data, Path(path).suffix)
    img = None if why else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise DataError(f"unreadable image {path}{f' (sample {sample})' if sample else ''}: {why or 'not decodable'}")
    return img


def read_gray(path: Path, sample: str | None = None) -> np.ndarray:
    """A frame as uint8 gray (H, W); DataError naming the file and sample when it cannot be read."""
    img, why = decode_gray(path)
    if img is None:
        raise DataError(f"unreadable image {path}{f' (sample {sample})' if sample else ''}: {why}")
    return img


# -- face ----------------------------------------------------------------------------------------
def face_transform(points68: np.ndarray, how: str, frame_shape: tuple[int, int], size: int, margin: float,
                   align: bool) -> np.ndarray:
    """2x3 affine matrix mapping frame pixels to the size x size face crop (see the module docstring)."""
    h, w = frame_shape[:2]
    if how == WHOLE_IMAGE:
        side: float = min(h, w)
        s = size / side
        return np.array([[s, 0.0, -s * (w - side) / 2], [0.0, s, -s * (h - side) / 2]])
    pts = np.asarray(points68, dtype=np.float64)
    angle = 0.0
    if align:
        left, right = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
        angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    rot = cv2.getRotationMatrix2D((0.0, 0.0), angle, 1.0)
    turned = pts @ rot[:, :2].T
    lo, hi = turned.min(axis=0), turned.max(axis=0)
    centre = (lo + hi) / 2
    side = float(max(hi - lo)) * (1.0 + 2.0 * margin)
    if side < 2:
        raise DataError("face landmarks span less than 2 px")
    s = size / side
    m = s * rot
    m[:, 2] = size / 2 - s * centre
    return m


def mtcnn_box(frame_bgr: np.ndarray) -> np.ndarray:
    """(5,): MTCNN's largest face box (x1, y1, x2, y2) on a frame and 1.0, or the frame's centred square
    and 0.0 where no face is found. As HTNet's CAS(ME)^3 code, the frame goes to MTCNN as an RGB image."""
    from PIL import Image

    from mebench.features.mtcnn import detector

    rgb = Image.fromarray(np.ascontiguousarray(frame_bgr[:, :, ::-1]))
    boxes, _ = detector().detect(rgb)
    if boxes is not None and len(boxes):
        return np.array([*boxes[0][:4], 1.0], dtype=np.float64)
    h, w = frame_bgr.shape[:2]
    side = min(h, w)
    x0, y0 = (w - side) / 2, (h - side) / 2
    return np.array([x0, y0, x0 + side, y0 + side, 0.0], dtype=np.float64)


def mtcnn_crop(frame_bgr: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The face in `box` resized to size x size as facenet-pytorch crops it for MTCNN's output (integer
    box clipped to the frame, PIL bilinear resize): (size, size, 3) RGB uint8."""
    from PIL import Image

    h, w = frame_bgr.shape[:2]
    x1, y1 = int(max(box[0], 0)), int(max(box[1], 0))
    x2, y2 = int(min(box[2], w)), int(min(box[3], h))
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise DataError(f"face box {box.tolist()} is empty on a {w}x{h} frame")
    rgb = Image.fromarray(np.ascontiguousarray(frame_bgr[:, :, ::-1]))
    face = rgb.crop((x1, y1, x2, y2)).resize((size, size), Image.Resampling.BILINEAR)  # == 2, Image.BILINEAR
    return np.asarray(face, dtype=np.uint8)


def published_gray(face_rgb: np.ndarray) -> np.ndarray:
    """Gray as HTNet's CAS(ME)^3 code makes it: OpenCV's BGR weights applied to the RGB crop (the red and
    blue weights swapped: the published quirk)."""
    return cv2.cvtColor(np.ascontiguousarray(face_rgb), cv2.COLOR_BGR2GRAY)


def warp(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(frame, np.asarray(matrix, dtype=np.float64), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def map_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    return pts @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def grid_landmarks(points68: np.ndarray, matrix: np.ndarray, face_size: int) -> np.ndarray:
    """The five HTNet points (eyes, nose, mouth corners) on the 28x28 grid of the face crop."""
    five = five_points_from_68(map_points(points68, matrix)[None])[0]
    return five * (GRID / face_size)


# -- flow ----------------------------------------------------------------------------------------
def farneback_flow(onset: np.ndarray, apex: np.ndarray, params: FarnebackParams) -> np.ndarray:
    flow = cv2.calcOpticalFlowFarneback(onset, apex, None, params.pyr_scale, params.levels, params.winsize,
                                        params.iterations, params.poly_n, params.poly_sigma, 0)
    return np.asarray(flow, dtype=np.float32)


def compute_flow(onset: np.ndarray, apex: np.ndarray, method: str, tvl1: FlowParams,
                 farneback: FarnebackParams) -> np.ndarray:
    """(H, W, 2) float32 (u, v) = (dx, dy) px from onset to apex."""
    if method == "tvl1":
        return tvl1_flow(onset, apex, tvl1)
    if method == "farneback":
        return farneback_flow(onset, apex, farneback)
    raise DataError(f"unknown flow method {method!r} (tvl1 or farneback)")


def flow_to_image(flow: np.ndarray, size: int, channels: str = "strain-v-u") -> np.ndarray:
    """(H, W, 2) flow -> (3, size, size) float32, each map resized (area) and min-max normalised to 0-255
    per image: the `flow-image` primitive. Channels (strain, v, u), as mebench.features.flow.flow_image,
    or (u, v, magnitude) as HTNet's CAS(ME)^3 code (`cv2.cartToPolar` magnitude)."""
    u, v = flow[:, :, 0], flow[:, :, 1]
    if channels == "u-v-magnitude":
        magnitude = cv2.cartToPolar(np.ascontiguousarray(u), np.ascontiguousarray(v))[0]
        planes = (u, v, magnitude)
    else:
        planes = (optical_strain(u, v), v, u)
    maps = [cv2.resize(np.asarray(m, dtype=np.float32), (size, size), interpolation=cv2.INTER_AREA)
            for m in planes]
    return np.stack([normalise_0_255(m) for m in maps]).astype(np.float32)


def motion_energy(onset: np.ndarray, frame: np.ndarray) -> float:
    """Mean Farneback flow magnitude between two small crops (apex spotting)."""
    flow = cv2.calcOpticalFlowFarneback(onset, frame, None, 0.5, 2, 9, 3, 5, 1.1, 0)
    return float(np.hypot(flow[:, :, 0], flow[:, :, 1]).mean())
