"""Method inputs ("representations"), each derived in one place from what a dataset supplies.

A dataset supplies only primitives (`Dataset.primitive(name)`), aligned with its sample table:

    flow-image        (N, 3, 28, 28) float32: the onset-to-apex flow image, each channel min-max
                      normalised to 0-255, with the channel layout `Dataset.flow_channels`
    landmarks:htnet   (N, 5, 2) float64, (x, y) = (column, row) on the 28x28 grid: left eye, right
                      eye, nose, left and right mouth corner, as HTNet's input finds them on this data
    landmarks:dlib    the same five points from dlib's 68-point model
    flow-image:apex-offset, direction-map:onset-apex, direction-map:apex-offset
                      (N, 3, 28, 28) float32: CausalNet's three further maps (only the causalnet-release
                      dataset has them; `CAUSALNET_MAPS`)

Every representation a method can ask for (`MethodInfo.input`) is listed in `REPRESENTATIONS`
with the primitives it needs and how it is made from them; datasets never dispatch on
representation names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from mebench.errors import DataError
from mebench.features.regions import GRID, PUBLISHED_FALLBACK_LANDMARKS, tile_regions

FLOW_IMAGE = "flow-image"
LANDMARK_KINDS = {
    "htnet": "the landmarks HTNet's input is cut around on this dataset: on htnet-release, exactly the published "
             "procedure (main_HTNet.py, whole_face_block_coordinates: facenet-pytorch MTCNN on the apex face resized "
             "to 28x28, fixed mean landmarks where no face is found); on raw datasets, the pipeline's (dlib's, or "
             "with --pipeline face=mtcnn MTCNN's on the 28x28 apex face crop); on synthetic, the generator's",
    "dlib": "dlib's 68-point model reduced to five points (eye centres, nose tip, mouth corners)",
}
# CausalNet's maps besides the onset-to-apex flow image (Zhang et al., ICCV 2025; the names of its
# main_train_for_parameter_tuning.py), each 28x28x3 as cv2.imread reads it (BGR, raw 0-255).
APEX_OFFSET_FLOW = "flow-image:apex-offset"
ONSET_APEX_DIRECTION = "direction-map:onset-apex"
APEX_OFFSET_DIRECTION = "direction-map:apex-offset"
CAUSALNET_MAPS = {
    APEX_OFFSET_FLOW: "the apex-to-offset optical flow image",
    ONSET_APEX_DIRECTION: "the onset-to-apex direction map",
    APEX_OFFSET_DIRECTION: "the apex-to-offset direction map",
}
CAUSALNET_MAPS_SOURCE = ("only the CausalNet release (--data causalnet-release:PATH) has them: the CausalNet repository "
                         "distributes the maps but not the code that computed them, so mebench cannot compute them "
                         "from raw frames, and the other datasets (synthetic, htnet-release, the raw kinds) lack them")
PRIMITIVES = (FLOW_IMAGE, *(f"landmarks:{k}" for k in LANDMARK_KINDS), *CAUSALNET_MAPS)
PRIMITIVE_SHAPES = {FLOW_IMAGE: (3, GRID, GRID), **{f"landmarks:{k}": (5, 2) for k in LANDMARK_KINDS},
                    **{name: (3, GRID, GRID) for name in CAUSALNET_MAPS}}

# Channel layouts of the flow image (`Dataset.flow_channels`).
FLOW_CHANNELS = {
    "strain-v-u": "(optical strain, v, u): the published STSTNet/HTNet composite input (the release's PNGs as "
                  "cv2.imread returns them)",
    "u-v-magnitude": "(u, v, flow magnitude): HTNet's CAS(ME)^3 input (`--pipeline htnet-casme3`)",
}

Primitive = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class Representation:
    """One method input: the flow image as it is, or its four HTNet windows around landmarks; with `maps`,
    the flow image and further maps (CAUSALNET_MAPS) cut alike and stacked, (N, 1 + len(maps), 3, 28, 28)."""

    name: str
    description: str
    channels: str  # the flow image layout it is made from (FLOW_CHANNELS)
    landmarks: str | None = None  # landmark kind the windows are cut around (None: the whole image)
    published_quirks: bool = True  # the published tiling (landmark x picks the rows)
    template: bool = False  # windows around one fixed template for every clip (PUBLISHED_FALLBACK_LANDMARKS)
    maps: tuple[str, ...] = ()  # further primitives, cut like the flow image and stacked after it

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample's input."""
        return (1 + len(self.maps), 3, GRID, GRID) if self.maps else (3, GRID, GRID)

    def needs(self) -> tuple[str, ...]:
        return (FLOW_IMAGE,) + self.maps + ((f"landmarks:{self.landmarks}",) if self.landmarks else ())

    def _map(self, primitive: Primitive, name: str) -> np.ndarray:
        try:
            return primitive(name)
        except DataError as exc:
            needed = "; ".join(f"{CAUSALNET_MAPS.get(m, m)} ({m})" for m in self.maps)
            why = CAUSALNET_MAPS_SOURCE if set(self.maps) <= set(CAUSALNET_MAPS) else "the dataset lacks them"
            raise DataError(f"{self.name} needs {needed}; {why} ({exc})") from None

    def derive(self, primitive: Primitive) -> np.ndarray:
        maps = [self._map(primitive, name) for name in self.maps]  # first: a dataset without them refuses at once
        image = primitive(FLOW_IMAGE)
        if self.template:
            points = np.broadcast_to(PUBLISHED_FALLBACK_LANDMARKS, (len(image), 5, 2))
        elif self.landmarks is not None:
            points = primitive(f"landmarks:{self.landmarks}")
        else:
            return np.stack([image, *maps], axis=1) if maps else image
        tiles = [tile_regions(m, points, published_quirks=self.published_quirks) for m in (image, *maps)]
        return np.stack(tiles, axis=1) if maps else tiles[0]

    def explain(self) -> str:
        """The description with the definition of its flow image, further maps and landmarks."""
        text = f"{self.description}. Flow image: {FLOW_CHANNELS[self.channels]}"
        if self.maps:
            text += ". Further maps: " + "; ".join(f"{CAUSALNET_MAPS[m]} ({m})" for m in self.maps)
            text += f" ({CAUSALNET_MAPS_SOURCE})"
        if self.template:
            text += (". Windows: around one fixed template for every clip, the published mean landmarks (x, y) "
                     f"{PUBLISHED_FALLBACK_LANDMARKS.round(6).tolist()} (HTNet's fallback constants)")
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
    Representation("htnet-regions-template", f"HTNet's input cut around one fixed template instead of landmarks: {_TILING}, "
                   "published tiling, around the published mean landmarks for every clip (as CausalNet's main_train.py "
                   "cuts its maps; for data without faces, e.g. causalnet-release)", "strain-v-u", template=True),
    Representation("causalnet-regions", "CausalNet's input (Zhang et al., ICCV 2025, main_train.py): the onset-to-apex "
                   "flow image and the three further maps, each cut into HTNet's four 14x14 windows around the same "
                   "fixed 5-point template (clipped to [7, 21] and truncated; the point's x used as the row, as HTNet's "
                   "code does), tiled [point 0 | point 1] over [point 3 | point 4], and stacked in the published order "
                   "(onset-apex flow, apex-offset flow, onset-apex direction, apex-offset direction): float32 "
                   "(4, 3, 28, 28), raw 0-255 values as cv2.imread reads the release's PNGs (BGR)", "strain-v-u",
                   template=True, maps=tuple(CAUSALNET_MAPS)),
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
