"""Dataset primitives: what a dataset supplies, per sample, for method inputs to be derived from.

Every primitive's name, per-sample shape and dtype are declared here, once (`PrimitiveSpec`); the
built-ins are entry points of the group `mebench.primitives` (pyproject.toml), and a plugin adds its
own the same way. A dataset declares which it provides (`Dataset.provides`); `Dataset.primitive`
checks what its loader returns against the declaration.

    flow-image        (N, 3, 28, 28) float32: the onset-to-apex flow image, each channel min-max
                      normalised to 0-255, with the channel layout `Dataset.flow_channels`
    landmarks:htnet   (N, 5, 2) float64, (x, y) = (column, row) on the 28x28 grid: left eye, right
                      eye, nose, left and right mouth corner, as HTNet's input finds them on this data
    landmarks:dlib    the same five points from dlib's 68-point model
    face:apex         (N, 3, 112, 112) float32: the apex frame's face crop, RGB, 0-255
    face:onset        the onset frame's face crop, alike (datasets with frames: synthetic, raw kinds)
    flow-image:apex-offset, direction-map:onset-apex, direction-map:apex-offset
                      (N, 3, 28, 28) float32: CausalNet's three further maps (causalnet-release only)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mebench.errors import ConfigError
from mebench.features.regions import GRID  # side of the flow image and of the landmarks' grid

FACE_SIZE = 112  # side of the face crops (face:apex, face:onset)

FLOW_IMAGE = "flow-image"
LANDMARKS_HTNET = "landmarks:htnet"
LANDMARKS_DLIB = "landmarks:dlib"
APEX_FACE = "face:apex"
ONSET_FACE = "face:onset"
APEX_OFFSET_FLOW = "flow-image:apex-offset"
ONSET_APEX_DIRECTION = "direction-map:onset-apex"
APEX_OFFSET_DIRECTION = "direction-map:apex-offset"

CAUSALNET_MAPS_SOURCE = ("only the CausalNet release (--data causalnet-release:PATH) has them: the CausalNet repository "
                         "distributes the maps but not the code that computed them, so mebench cannot compute them "
                         "from raw frames, and the other datasets (synthetic, htnet-release, the raw kinds) lack them")


@dataclass(frozen=True)
class PrimitiveSpec:
    """One primitive: its name, the shape and dtype of one sample's array, what it is, and which data have it
    (`availability`, said when a dataset lacks it)."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "float32" or "float64"
    description: str
    availability: str = ""

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"primitive {self.name!r}: dtype {self.dtype!r}, expected float32 or float64")

    def explain(self, *, availability: bool = True) -> str:
        shape = "x".join(map(str, self.shape))
        return f"{self.name} ({shape} {self.dtype}): {self.description}" + (
            f"; {self.availability}" if availability and self.availability else "")


FLOW_IMAGE_SPEC = PrimitiveSpec(FLOW_IMAGE, (3, GRID, GRID), "float32",
                                "the onset-to-apex flow image, each channel min-max normalised to 0-255, channel layout "
                                "Dataset.flow_channels")
_LANDMARKS = ("five points (x, y) = (column, row) on the 28x28 grid: left eye, right eye, nose, left and right mouth "
              "corner")
LANDMARKS_HTNET_SPEC = PrimitiveSpec(LANDMARKS_HTNET, (5, 2), "float64",
                                     f"{_LANDMARKS}, as HTNet's input finds them on this dataset",
                                     "datasets with faces (synthetic, htnet-release, the raw kinds); causalnet-release "
                                     "ships no faces, so no landmarks")
LANDMARKS_DLIB_SPEC = PrimitiveSpec(LANDMARKS_DLIB, (5, 2), "float64", f"{_LANDMARKS}, from dlib's 68-point model",
                                    "htnet-release, synthetic and the raw kinds with the dlib face crop (causalnet-release "
                                    "ships no faces, so no landmarks)")
_FACE = f"face crop, RGB, 0-255, resized to {FACE_SIZE}x{FACE_SIZE}"
APEX_FACE_SPEC = PrimitiveSpec(APEX_FACE, (3, FACE_SIZE, FACE_SIZE), "float32", f"the apex frame's {_FACE}",
                               "synthetic, htnet-release (its apex faces) and the raw kinds (from their frames)")
ONSET_FACE_SPEC = PrimitiveSpec(ONSET_FACE, (3, FACE_SIZE, FACE_SIZE), "float32", f"the onset frame's {_FACE}",
                                "synthetic and the raw kinds (the releases ship no onset frame)")
APEX_OFFSET_FLOW_SPEC = PrimitiveSpec(APEX_OFFSET_FLOW, (3, GRID, GRID), "float32",
                                      "the apex-to-offset optical flow image", CAUSALNET_MAPS_SOURCE)
ONSET_APEX_DIRECTION_SPEC = PrimitiveSpec(ONSET_APEX_DIRECTION, (3, GRID, GRID), "float32",
                                          "the onset-to-apex direction map", CAUSALNET_MAPS_SOURCE)
APEX_OFFSET_DIRECTION_SPEC = PrimitiveSpec(APEX_OFFSET_DIRECTION, (3, GRID, GRID), "float32",
                                           "the apex-to-offset direction map", CAUSALNET_MAPS_SOURCE)

# CausalNet's maps besides the onset-to-apex flow image, in its published order.
CAUSALNET_MAPS = (APEX_OFFSET_FLOW, ONSET_APEX_DIRECTION, APEX_OFFSET_DIRECTION)


def face_array(faces_rgb: list[np.ndarray]) -> np.ndarray:
    """Face crops (H, W, 3) uint8 RGB, any size -> (N, 3, FACE_SIZE, FACE_SIZE) float32 (area resize)."""
    out = np.empty((len(faces_rgb), 3, FACE_SIZE, FACE_SIZE), dtype=np.float32)
    for i, face in enumerate(faces_rgb):
        interpolation = cv2.INTER_AREA if min(face.shape[:2]) >= FACE_SIZE else cv2.INTER_LINEAR
        out[i] = cv2.resize(face, (FACE_SIZE, FACE_SIZE), interpolation=interpolation).transpose(2, 0, 1)
    return out
