"""Method inputs ("representations"): each derived in one place from the primitives a dataset supplies.

A dataset supplies only primitives (`Dataset.primitive(name)`, declared in mebench.primitives), aligned
with its sample table. An input (`Input`) names the primitives it needs (`needs()`), the shape of one
sample (`shape`) and how it is made from them (`derive`); a method asks for one by name
(`MethodInfo.input`). Inputs are plugins: the built-ins below are entry points of the group
`mebench.inputs` (pyproject.toml), a package adds its own the same way, and `check_inputs` refuses a
method whose input needs a primitive the dataset does not provide before anything trains. Datasets
never dispatch on input names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from mebench.errors import DataError, PluginLoadError, UnknownNameError
from mebench.features.regions import GRID, PUBLISHED_FALLBACK_LANDMARKS, tile_regions
from mebench.primitives import (APEX_FACE, APEX_OFFSET_DIRECTION, APEX_OFFSET_FLOW, CAUSALNET_MAPS_SOURCE, FLOW_IMAGE,
                                ONSET_APEX_DIRECTION)

LANDMARK_KINDS = {
    "htnet": "the landmarks HTNet's input is cut around on this dataset: on htnet-release, exactly the published "
             "procedure (main_HTNet.py, whole_face_block_coordinates: facenet-pytorch MTCNN on the apex face resized "
             "to 28x28, fixed mean landmarks where no face is found); on raw datasets, the pipeline's (dlib's, or "
             "with --pipeline face=mtcnn MTCNN's on the 28x28 apex face crop); on synthetic, the generator's",
    "dlib": "dlib's 68-point model reduced to five points (eye centres, nose tip, mouth corners)",
}
# CausalNet's maps besides the onset-to-apex flow image (Zhang et al., ICCV 2025; the names of its
# main_train_for_parameter_tuning.py), each 28x28x3 as cv2.imread reads it (BGR, raw 0-255).
CAUSALNET_MAPS = {
    APEX_OFFSET_FLOW: "the apex-to-offset optical flow image",
    ONSET_APEX_DIRECTION: "the onset-to-apex direction map",
    APEX_OFFSET_DIRECTION: "the apex-to-offset direction map",
}

# Channel layouts of the flow image (`Dataset.flow_channels`).
FLOW_CHANNELS = {
    "strain-v-u": "(optical strain, v, u): the published STSTNet/HTNet composite input (the release's PNGs as "
                  "cv2.imread returns them)",
    "u-v-magnitude": "(u, v, flow magnitude): HTNet's CAS(ME)^3 input (`--pipeline htnet-casme3`)",
}

Primitive = Callable[[str], np.ndarray]


class Input:
    """A method input. Subclasses set `name` and `description` and define `needs`, `shape` and `derive`;
    register an instance as an entry point of the group `mebench.inputs` (or `mebench.register_input`)."""

    name: str
    description: str

    def needs(self) -> tuple[str, ...]:
        """The primitives (mebench.primitives names) `derive` reads."""
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample's input."""
        raise NotImplementedError

    def derive(self, primitive: Primitive) -> np.ndarray:
        """The input of every sample, (N, *shape), from `primitive(name)` -> (N, ...) arrays."""
        raise NotImplementedError

    def check_layout(self, flow_channels: str, dataset: str) -> None:
        """DataError when the dataset's flow image layout is not the one this input is made from (default: any)."""

    def explain(self) -> str:
        """What the input is, in full (shown by `mebench methods show`)."""
        return self.description


@dataclass(frozen=True)
class PrimitiveInput(Input):
    """One primitive as it is, e.g. the apex face crop."""

    name: str
    description: str
    primitive: str

    def needs(self) -> tuple[str, ...]:
        return (self.primitive,)

    @property
    def shape(self) -> tuple[int, ...]:
        from mebench.plugins import primitives

        return primitives.get(self.primitive).shape

    def derive(self, primitive: Primitive) -> np.ndarray:
        return primitive(self.primitive)

    def explain(self) -> str:
        from mebench.plugins import primitives

        return f"{self.description}. Primitive: {primitives.get(self.primitive).explain()}"


@dataclass(frozen=True)
class Representation(Input):
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

    def derive(self, primitive: Primitive) -> np.ndarray:
        maps = [primitive(name) for name in self.maps]
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

    def check_layout(self, flow_channels: str, dataset: str) -> None:
        if self.channels != flow_channels:
            hint = (" (raw datasets: --pipeline htnet-casme3)" if self.channels == "u-v-magnitude"
                    else " (the default pipeline)")
            raise DataError(f"{self.name} is made from the {FLOW_CHANNELS[self.channels].split(':')[0]} flow image; "
                            f"dataset {dataset!r} has the {FLOW_CHANNELS[flow_channels].split(':')[0]} one{hint}")


_TILING = ("the flow image cut into four 14x14 windows around the two eyes and the two mouth corners, tiled "
           "[left eye | right eye] over [left mouth corner | right mouth corner], float32 (3, 28, 28)")

# The built-in inputs, each an entry point of the group mebench.inputs (pyproject.toml).
FLOW = Representation(
    "flow", "the onset-to-apex flow image at 28x28, float32 (3, 28, 28), each channel min-max normalised to 0-255",
    "strain-v-u")
HTNET_REGIONS = Representation(
    "htnet-regions", f"HTNet's input: {_TILING}, cut as the published code cuts them (the landmark's x used as the "
    "row)", "strain-v-u", "htnet")
HTNET_REGIONS_CORRECTED = Representation(
    "htnet-regions-corrected", "as htnet-regions, with each window centred on its landmark's row (y) and column (x); "
    "the published code swaps them", "strain-v-u", "htnet", published_quirks=False)
HTNET_REGIONS_DLIB = Representation(
    "htnet-regions-dlib", "as htnet-regions, cut around dlib's landmarks instead of the published MTCNN step (they "
    "differ on htnet-release; raw datasets' htnet landmarks are dlib's already)", "strain-v-u", "dlib")
HTNET_CASME3 = Representation(
    "htnet-casme3", f"HTNet's CAS(ME)^3 input: {_TILING}, published tiling, from the (u, v, magnitude) flow image of "
    "`--pipeline htnet-casme3` (MTCNN face crops at 28x28, Farneback flow). The published repository tiles its "
    "composite input; whether its CAS(ME)^3 results used the tiles or the whole image, its code does not settle",
    "u-v-magnitude", "htnet")
HTNET_REGIONS_TEMPLATE = Representation(
    "htnet-regions-template", f"HTNet's input cut around one fixed template instead of landmarks: {_TILING}, "
    "published tiling, around the published mean landmarks for every clip (as CausalNet's main_train.py cuts its "
    "maps; for data without faces, e.g. causalnet-release)", "strain-v-u", template=True)
CAUSALNET_REGIONS = Representation(
    "causalnet-regions", "CausalNet's input (Zhang et al., ICCV 2025, main_train.py): the onset-to-apex flow image "
    "and the three further maps, each cut into HTNet's four 14x14 windows around the same fixed 5-point template "
    "(clipped to [7, 21] and truncated; the point's x used as the row, as HTNet's code does), tiled [point 0 | "
    "point 1] over [point 3 | point 4], and stacked in the published order (onset-apex flow, apex-offset flow, "
    "onset-apex direction, apex-offset direction): float32 (4, 3, 28, 28), raw 0-255 values as cv2.imread reads "
    "the release's PNGs (BGR)", "strain-v-u", template=True, maps=tuple(CAUSALNET_MAPS))
APEX_FACE_INPUT = PrimitiveInput("apex-face", "the apex frame's face crop as it is, float32 (3, 112, 112), RGB, 0-255",
                                 APEX_FACE)

# The built-ins by name (lookups go through the registry, `input_of`, which also holds plugins' inputs).
REPRESENTATIONS: dict[str, Input] = {r.name: r for r in (
    FLOW, HTNET_REGIONS, HTNET_REGIONS_CORRECTED, HTNET_REGIONS_DLIB, HTNET_CASME3, HTNET_REGIONS_TEMPLATE,
    CAUSALNET_REGIONS, APEX_FACE_INPUT)}


def input_of(name: str) -> Input:
    """The input registered as `name` (built-in or plugin); UnknownNameError suggests close names."""
    from mebench.plugins import inputs

    return inputs.get(name)


def refusal(inp: Input, dataset: str, provides: tuple[str, ...], method: str | None = None) -> str | None:
    """Why `inp` cannot be made on a dataset providing `provides` (None: it can)."""
    from mebench.plugins import primitives

    missing = [p for p in inp.needs() if p not in provides]
    if not missing:
        return None
    lines, where = [], []  # where: which data have them, once for primitives that share it (CausalNet's maps)
    for name in missing:
        try:
            spec = primitives.get(name)
        except (UnknownNameError, PluginLoadError) as exc:
            lines.append(f"{name} ({exc})")
            continue
        lines.append(spec.explain(availability=False))
        if spec.availability and spec.availability not in where:
            where.append(spec.availability)
    who = f"method {method!r} takes input {inp.name!r}" if method else f"input {inp.name!r}"
    return (f"{who}, which needs the primitive(s) {', '.join(missing)}; dataset {dataset!r} provides "
            f"{', '.join(provides) or 'none'}. Missing: " + "; ".join(lines)
            + "".join(f". Available: {w}" for w in where))


def check_inputs(dataset, method_inputs: Mapping[str, str]) -> None:
    """Before anything trains: DataError naming each method, its input, the dataset and every primitive the
    input needs that the dataset does not provide (`Dataset.provides`); the dataset's flow layout alike."""
    problems = []
    for method, name in method_inputs.items():
        inp = input_of(name)
        why = refusal(inp, dataset.name, dataset.provides, method)
        if why is None:
            try:
                inp.check_layout(dataset.flow_channels, dataset.name)
            except DataError as exc:
                why = f"method {method!r}: {exc}"
        if why:
            problems.append(why)
    if problems:
        raise DataError("\n".join(problems))
