"""Method inputs ("representations"), each derived in one place from what a dataset supplies.

A dataset supplies only primitives (`Dataset.primitive(name)`), aligned with its sample table:

    flow-image        (N, 3, 28, 28) float32: the onset-to-apex flow image, each channel min-max
                      normalised to 0-255, with the channel layout `Dataset.flow_channels`
    landmarks:htnet   (N, 5, 2) float64, (x, y) = (column, row) on the 28x28 grid: left eye, right
                      eye, nose, left and right mouth corner, as HTNet's input finds them on this data
    landmarks:dlib    the same five points from dlib's 68-point model

Every representation a method can ask for (`MethodInfo.input`) is listed in `REPRESENTATIONS`
with the primitives it needs and how it is made from them; datasets never dispatch on
representation names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from mebench.errors import DataError
from mebench.features.regions import GRID, tile_regions

FLOW_IMAGE = "flow-image"
LANDMARK_KINDS = {
    "htnet": "the landmarks HTNet's input is cut around on this dataset: on htnet-release, exactly the published "
             "procedure (main_HTNet.py, whole_face_block_coordinates: facenet-pytorch MTCNN on the apex face resized "
             "to 28x28, fixed mean landmarks where no face is found); on raw datasets, the pipeline's (dlib's, or "
             "with --pipeline face=mtcnn MTCNN's on the 28x28 apex face crop); on synthetic, the generator's",
    "dlib": "dlib's 68-point model reduced to five points (eye centres, nose tip, mouth corners)",
}
PRIMITIVES = (FLOW_IMAGE, *(f"landmarks:{k}" for k in LANDMARK_KINDS))
PRIMITIVE_SHAPES = {FLOW_IMAGE: (3, GRID, GRID), **{f"landmarks:{k}": (5, 2) for k in LANDMARK_KINDS}}

# Channel layouts of the flow image (`Dataset.flow_channels`).
FLOW_CHANNELS = {
    "strain-v-u": "(optical strain, v, u): the published STSTNet/HTNet composite input (the release's PNGs as "
                  "cv2.imread returns them)",
    "u-v-magnitude": "(u, v, flow magnitude): HTNet's CAS(ME)^3 input (`--pipeline htnet-casme3`)",
}

Primitive = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class Representation:
    """One method input: the flow image as it is, or its four HTNet windows around landmarks."""

    name: str
    description: str
    channels: str  # the flow image layout it is made from (FLOW_CHANNELS)
    landmarks: str | None = None  # landmark kind the windows are cut around (None: the whole image)
    published_quirks: bool = True  # the published tiling (landmark x picks the rows)

    def needs(self) -> tuple[str, ...]:
        return (FLOW_IMAGE,) + ((f"landmarks:{self.landmarks}",) if self.landmarks else ())

    def derive(self, primitive: Primitive) -> np.ndarray:
        image = primitive(FLOW_IMAGE)
        if self.landmarks is None:
            return image
        return tile_regions(image, primitive(f"landmarks:{self.landmarks}"), published_quirks=self.published_quirks)

    def explain(self) -> str:
        """The description with the definition of its flow image and landmarks."""
        text = f"{self.description}. Flow image: {FLOW_CHANNELS[self.channels]}"
        return text + (f". Landmarks: {LANDMARK_KINDS[self.landmarks]}" if self.landmarks else "")


_TILING = ("the flow image cut into four 14x14 windows around the two eyes and the two mouth corners, tiled "
           "[left eye | right eye] over [left mouth corner | right mouth corner], float32 (3, 28, 28)")

REPRESENTATIONS: dict[str, Representation] = {r.name: r for r in (
    Representation("flow", "the onset-to-apex flow image at 28x28, float32 (3, 28, 28), each channel min-max "
                   "normalised to 0-255", "strain-v-u"),
    Representation("htnet-regions", f"HTNet's input: {_TILING}, cut as the published code cuts them (the landmark's "
                   "x used as the row)", "strain-v-u", "htnet"),
    Representation("htnet-regions-corrected", f"as htnet-regions, with each window centred on its landmark's row (y) "
                   "and column (x); the published code swaps them", "strain-v-u", "htnet", published_quirks=False),
    Representation("htnet-regions-dlib", "as htnet-regions, cut around dlib's landmarks instead of the published "
                   "MTCNN step (they differ on htnet-release; raw datasets' htnet landmarks are dlib's already)",
                   "strain-v-u", "dlib"),
    Representation("htnet-casme3", f"HTNet's CAS(ME)^3 input: {_TILING}, published tiling, from the (u, v, magnitude) "
                   "flow image of `--pipeline htnet-casme3` (MTCNN face crops at 28x28, Farneback flow). The "
                   "published repository tiles its composite input; whether its CAS(ME)^3 results used the tiles "
                   "or the whole image, its code does not settle", "u-v-magnitude", "htnet"),
)}


def representation(name: str) -> Representation:
    if name not in REPRESENTATIONS:
        raise DataError(f"unknown representation {name!r}; known: {', '.join(REPRESENTATIONS)}")
    return REPRESENTATIONS[name]


def check_channels(rep: Representation, channels: str, dataset: str) -> None:
    """DataError unless the dataset's flow image has the layout the representation is made from."""
    if rep.channels != channels:
        hint = (" (raw datasets: --pipeline htnet-casme3)" if rep.channels == "u-v-magnitude"
                else " (the default pipeline)")
        raise DataError(f"{rep.name} is made from the {FLOW_CHANNELS[rep.channels].split(':')[0]} flow image; dataset "
                        f"{dataset!r} has the {FLOW_CHANNELS[channels].split(':')[0]} one{hint}")
