"""The embedded `synthetic` dataset: rendered onset/apex face frames with class-specific micro-motion.

Why: mebench must run end to end (and its tests must mean something) without the licensed
micro-expression databases. This generator imitates the MEGC2019 composite: three source
datasets ("smic", "casme2", "samm") with their own subjects, the composite's class names and
a similar class imbalance. Each sample is a pair of 96x96 grayscale frames; the apex is the
onset warped by a smooth local displacement (Gaussian bumps around known landmarks):

    surprise  AU1+2  both brows raised (sometimes with a slight jaw drop)
    positive  AU12   lip corners pulled up and outwards (sometimes with a cheek raise)
    negative  AU4    inner brows lowered and drawn together, or
              AU15   lip corners pulled down

with subtle amplitudes (median 0.8 px, about 0.4-1.6 px) that vary per subject and per
sample. Nuisances: per-subject face shape, position, roll, skin texture and illumination;
per-sample sensor noise, a small global onset-to-apex shift (head motion), a flicker of
illumination, eye blinks, unrelated local twitches, compound expressions (a weaker second
action of another class) and a few ambiguous samples whose visible action is another class's,
as in real annotations. The defaults are tuned so that chance (macro F1 ~0.33) and a small CNN
trained with leave-one-subject-out (~0.75) differ clearly without the task being solved.

The `flow` features are computed from the frames by the same code that processes real videos
(mebench.features.flow: TV-L1 flow and optical strain) and cached on disk keyed by the
generator config, the flow parameters and GENERATOR_VERSION, so a second run recomputes nothing.
Every random draw comes from a numpy Generator seeded by (config.seed, purpose, index), so a
sample does not depend on the order in which samples are rendered.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pandas as pd

from mebench.cache import ArrayCache
from mebench.dataset import Dataset, make_sample_table, table_fingerprint
from mebench.errors import ConfigError, DataError
from mebench.features.flow import DEFAULT_FLOW_PARAMS, FlowParams, flow_image
from mebench.primitives import (APEX_FACE, FACE_SIZE, FLOW_IMAGE, LANDMARKS_DLIB, LANDMARKS_HTNET, ONSET_FACE,
                                face_array)

GENERATOR_VERSION = "synthetic-v1"
CLASS_NAMES = ("negative", "positive", "surprise")
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
LANDMARK_COLUMNS = tuple(f"lm_{name}_{axis}" for name in LANDMARK_NAMES for axis in ("x", "y"))
# The visible actions and the class each one signals.
ACTION_CLASS = {"AU4": "negative", "AU15": "negative", "AU12": "positive", "AU1+2": "surprise"}
ALL_ACTIONS = tuple(ACTION_CLASS)


@dataclass(frozen=True)
class SourceSpec:
    """One imitated source dataset: its name, subject ids and (negative, positive, surprise) counts."""

    name: str
    subjects: tuple[str, ...]
    class_counts: tuple[int, int, int]


# The composite's imbalance (SMIC 70/51/43, CASME II 88/32/25, SAMM 92/26/15) scaled to ~40%.
DEFAULT_SOURCES = (
    SourceSpec("smic", tuple(f"s{i:02d}" for i in range(1, 9)), (28, 20, 17)),
    SourceSpec("casme2", tuple(f"sub{i:02d}" for i in range(1, 10)), (35, 13, 10)),
    SourceSpec("samm", tuple(f"{i:03d}" for i in range(6, 15)), (37, 10, 6)),
)


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generator; the default instance is what `load_synthetic` renders."""

    seed: int = 2019
    image_size: int = 96
    sources: tuple[SourceSpec, ...] = field(default=DEFAULT_SOURCES)
    amplitude: float = 0.8  # median peak displacement of the expression, px at image_size
    amplitude_spread: float = 0.35  # sd of log amplitude across samples
    expressiveness_spread: float = 0.2  # sd of a subject's log amplitude multiplier
    noise: float = 4.0  # sensor noise sd in gray levels, independent in each frame
    head_motion: float = 0.4  # sd of the global onset-to-apex shift per axis, px
    flicker: float = 0.01  # sd of the relative illumination change from onset to apex
    blink_rate: float = 0.35  # probability of an eyelid twitch in a sample
    distractor_rate: float = 0.5  # probability of an unrelated local twitch in a sample
    distractor_amplitude: float = 0.8  # its median peak displacement, px
    mixed_rate: float = 0.25  # probability of a weaker second action of another class (compound expression)
    ambiguous_rate: float = 0.08  # probability that the visible action belongs to another class than the label

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_CONFIG = SyntheticConfig()


# -- plan: which sample is which ---------------------------------------------------------------
@dataclass(frozen=True)
class _Planned:
    source_index: int
    subject_index: int
    dataset: str
    subject: str
    clip: str
    label: str
    action: str  # the action the label calls for (negatives: AU4 or AU15)


def _split(total: int, weights: np.ndarray, minimum: int) -> list[int]:
    """Split `total` into len(weights) integer parts roughly proportional to weights, each >= minimum."""
    n = len(weights)
    if total < n * minimum:
        raise ConfigError(f"synthetic: {total} samples cannot give {n} subjects {minimum} samples each")
    extra = (total - n * minimum) * weights / weights.sum()
    sizes = np.floor(extra).astype(int)
    for i in np.argsort(-(extra - sizes))[: total - n * minimum - sizes.sum()]:
        sizes[i] += 1
    return [int(s) + minimum for s in sizes]


@functools.lru_cache(maxsize=8)
def _plan(config: SyntheticConfig) -> tuple[_Planned, ...]:
    rows = []
    for si, src in enumerate(config.sources):
        rng = np.random.default_rng([config.seed, 0, si])
        labels = np.repeat(np.arange(len(CLASS_NAMES)), src.class_counts)
        labels = labels[rng.permutation(len(labels))]
        sizes = _split(len(labels), rng.uniform(0.5, 1.5, len(src.subjects)), minimum=3)
        start = 0
        for j, (subject, size) in enumerate(zip(src.subjects, sizes)):
            for k, label in enumerate(labels[start : start + size]):
                name = CLASS_NAMES[label]
                action = {"positive": "AU12", "surprise": "AU1+2"}.get(name) or ("AU4" if rng.random() < 0.5 else "AU15")
                rows.append(_Planned(si, j, src.name, subject, f"c{k + 1:02d}", name, action))
            start += size
    return tuple(rows)


# -- subjects and samples ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Face:
    """A subject's face geometry in its own frame (origin at the face centre, y down), px."""

    cx: float
    cy: float
    roll: float
    a: float
    b: float
    eye_dx: float
    eye_y: float
    eye_rx: float
    eye_ry: float
    brow_gap: float
    brow_len: float
    brow_thick: float
    brow_arch: float
    brow_dark: float
    nose_y: float
    mouth_y: float
    mouth_w: float
    lip_thick: float
    skin: float
    background: float
    illum: float
    illum_angle: float
    expressiveness: float
    texture: np.ndarray

    def to_local(self, x, y):
        c, s = np.cos(self.roll), np.sin(self.roll)
        dx, dy = np.asarray(x) - self.cx, np.asarray(y) - self.cy
        return c * dx + s * dy, -s * dx + c * dy

    def to_image(self, xl, yl):
        c, s = np.cos(self.roll), np.sin(self.roll)
        return self.cx + c * xl - s * yl, self.cy + s * xl + c * yl

    def rotate(self, ul, vl):
        c, s = np.cos(self.roll), np.sin(self.roll)
        return c * ul - s * vl, s * ul + c * vl

    def landmarks_local(self) -> np.ndarray:
        return np.array([[-self.eye_dx, self.eye_y], [self.eye_dx, self.eye_y], [0.0, self.nose_y],
                         [-self.mouth_w, self.mouth_y], [self.mouth_w, self.mouth_y]])


@functools.lru_cache(maxsize=64)
def _face(config: SyntheticConfig, source_index: int, subject_index: int) -> _Face:
    rng = np.random.default_rng([config.seed, 1, source_index, subject_index])
    size = config.image_size
    k = size / 96.0
    a, b = rng.uniform(28, 34) * k, rng.uniform(36, 42) * k
    tex = cv2.GaussianBlur(rng.standard_normal((size, size)), (0, 0), rng.uniform(1.0, 1.8) * k)
    tex *= rng.uniform(4, 8) / max(tex.std(), 1e-9)
    return _Face(
        cx=size / 2 + rng.uniform(-4, 4) * k, cy=size / 2 + rng.uniform(-3, 5) * k, roll=np.deg2rad(rng.uniform(-5, 5)),
        a=a, b=b, eye_dx=a * rng.uniform(0.36, 0.44), eye_y=-b * rng.uniform(0.16, 0.26),
        eye_rx=rng.uniform(4.5, 6.0) * k, eye_ry=rng.uniform(1.8, 2.6) * k,
        brow_gap=rng.uniform(6.0, 8.0) * k, brow_len=rng.uniform(6.0, 8.0) * k, brow_thick=rng.uniform(1.2, 2.0) * k,
        brow_arch=rng.uniform(0.5, 2.0) * k, brow_dark=rng.uniform(0.35, 0.6),
        nose_y=b * rng.uniform(0.14, 0.22), mouth_y=b * rng.uniform(0.44, 0.52),
        mouth_w=rng.uniform(9.0, 12.0) * k, lip_thick=rng.uniform(1.8, 2.8) * k,
        skin=rng.uniform(130, 190), background=rng.uniform(30, 80),
        illum=rng.uniform(0.0, 0.25), illum_angle=rng.uniform(0, 2 * np.pi),
        expressiveness=float(np.exp(rng.normal(0.0, config.expressiveness_spread))), texture=tex,
    )


# A bump: centre (x, y) and spread (sx, sy) in the face frame, peak displacement (u, v) in the face frame.
_Bump = tuple[float, float, float, float, float, float]


def _action_bumps(action: str, f: _Face, amp: float, rng: np.random.Generator, k: float) -> list[_Bump]:
    """The Gaussian bumps of one action at amplitude `amp`, centres and spreads jittered per sample."""
    brow_y = f.eye_y - f.brow_gap
    bumps: list[_Bump] = []
    for side in (-1.0, 1.0):  # image left (-1), right (+1); "outwards" is `side`
        m = amp * float(rng.uniform(0.8, 1.2))  # left/right asymmetry
        jx, jy = rng.normal(0.0, 1.0 * k, 2)
        js = float(rng.uniform(0.85, 1.2))
        if action == "AU1+2":  # brows raised
            bumps.append((side * f.eye_dx + jx, brow_y + jy, f.brow_len * 0.9 * js, 4.0 * k * js, 0.0, -m))
        elif action == "AU4":  # inner brows lowered and drawn together
            bumps.append((side * (f.eye_dx - 0.45 * f.brow_len) + jx, brow_y + 1.0 * k + jy, 4.5 * k * js, 4.0 * k * js,
                          -side * 0.5 * m, 0.8 * m))
        elif action == "AU12":  # lip corners up and outwards
            bumps.append((side * f.mouth_w + jx, f.mouth_y + jy, 4.5 * k * js, 4.0 * k * js, side * 0.6 * m, -0.8 * m))
        elif action == "AU15":  # lip corners down
            bumps.append((side * f.mouth_w + jx, f.mouth_y + 0.5 * k + jy, 4.5 * k * js, 4.0 * k * js, -side * 0.2 * m, m))
        else:
            raise ValueError(f"unknown action {action!r}")
    if action == "AU1+2" and rng.random() < 0.4:  # with a slight jaw drop
        bumps.append((0.0, f.mouth_y + f.lip_thick + 3.0 * k, 7.0 * k, 4.0 * k, 0.0, 0.6 * amp))
    if action == "AU12" and rng.random() < 0.5:  # with a cheek raise
        for side in (-1.0, 1.0):
            bumps.append((side * f.eye_dx, f.eye_y + 6.0 * k, 5.0 * k, 4.0 * k, 0.0, -0.4 * amp))
    return bumps


@dataclass(frozen=True, eq=False)
class _Sample:
    planned: _Planned
    face: _Face
    actions: tuple[str, ...]  # the visible actions, strongest first
    bumps: tuple[_Bump, ...]
    shift: tuple[float, float]
    gain: float
    noise_seed: int


def _sample(config: SyntheticConfig, index: int) -> _Sample:
    plan = _plan(config)
    if not 0 <= index < len(plan):
        raise DataError(f"synthetic sample index {index} out of range 0..{len(plan) - 1}")
    p = plan[index]
    f = _face(config, p.source_index, p.subject_index)
    rng = np.random.default_rng([config.seed, 2, index])
    amp = config.amplitude * f.expressiveness * float(np.exp(rng.normal(0.0, config.amplitude_spread)))
    amp = float(np.clip(amp, 0.3 * config.amplitude, 3.0 * config.amplitude))
    k = config.image_size / 96.0
    actions = [(p.action, amp)]
    if rng.random() < config.ambiguous_rate:  # the face shows another class's action than its label
        actions = [(str(rng.choice([a for a in ALL_ACTIONS if ACTION_CLASS[a] != p.label])), amp)]
    if rng.random() < config.mixed_rate:  # a weaker second action of another class
        other = str(rng.choice([a for a in ALL_ACTIONS if ACTION_CLASS[a] != ACTION_CLASS[actions[0][0]]]))
        actions.append((other, amp * float(rng.uniform(0.3, 0.8))))
    bumps: list[_Bump] = []
    for action, a in actions:
        bumps.extend(_action_bumps(action, f, a, rng, k))
    if rng.random() < config.blink_rate:  # upper eyelids twitch down
        blink = config.distractor_amplitude * float(np.exp(rng.normal(0.0, 0.3)))
        for side in (-1.0, 1.0):
            bumps.append((side * f.eye_dx, f.eye_y - 1.0 * k, f.eye_rx, 2.5 * k, 0.0, blink))
    if rng.random() < config.distractor_rate:  # an unrelated twitch somewhere on the face
        r, t = np.sqrt(rng.uniform(0, 0.7)), rng.uniform(0, 2 * np.pi)
        d, angle = config.distractor_amplitude * float(np.exp(rng.normal(0.0, 0.3))), rng.uniform(0, 2 * np.pi)
        sigma = rng.uniform(3.0, 6.0) * k
        bumps.append((r * f.a * np.cos(t), r * f.b * np.sin(t), sigma, sigma, d * np.cos(angle), d * np.sin(angle)))
    shift = (float(rng.normal(0.0, config.head_motion)), float(rng.normal(0.0, config.head_motion)))
    gain = float(1.0 + rng.normal(0.0, config.flicker))
    return _Sample(p, f, tuple(a for a, _ in actions), tuple(bumps), shift, gain, int(rng.integers(2**31)))


def _displacement(s: _Sample, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local expression motion (image frame, px) at image points (x, y), without the global shift."""
    xl, yl = s.face.to_local(x, y)
    ul, vl = np.zeros_like(xl, dtype=np.float64), np.zeros_like(yl, dtype=np.float64)
    for bx, by, sx, sy, bu, bv in s.bumps:
        g = np.exp(-0.5 * (((xl - bx) / sx) ** 2 + ((yl - by) / sy) ** 2))
        ul += bu * g
        vl += bv * g
    return s.face.rotate(ul, vl)


def _soft_ellipse(xl, yl, x0, y0, rx, ry, edge=0.8):
    d = np.sqrt(((xl - x0) / rx) ** 2 + ((yl - y0) / ry) ** 2)
    return 1.0 / (1.0 + np.exp(-np.clip((1.0 - d) * min(rx, ry) / edge, -40, 40)))


def _render_face(f: _Face, size: int) -> np.ndarray:
    """The subject's neutral face, float64 gray levels."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    xl, yl = f.to_local(xx, yy)
    face = _soft_ellipse(xl, yl, 0.0, 0.0, f.a, f.b, edge=1.0)
    img = f.background + (f.skin - f.background) * face
    k = size / 96.0
    img *= 1.0 - 0.15 * face * np.clip((xl / f.a) ** 2 + (yl / f.b) ** 2, 0, 1)  # rounded shading
    for side in (-1.0, 1.0):
        bx, by = side * f.eye_dx, f.eye_y - f.brow_gap
        arch = f.brow_arch * ((xl - bx) / f.brow_len) ** 2
        img *= 1.0 - f.brow_dark * _soft_ellipse(xl, yl - arch, bx, by, f.brow_len, f.brow_thick)
        eye = _soft_ellipse(xl, yl, bx, f.eye_y, f.eye_rx, f.eye_ry)
        img *= 1.0 - 0.4 * eye
        img *= 1.0 - 0.6 * eye * _soft_ellipse(xl, yl, bx, f.eye_y, 1.1 * f.eye_ry, 1.1 * f.eye_ry)
        img *= 1.0 - 0.45 * _soft_ellipse(xl, yl, side * 2.6 * k, f.nose_y - 0.5 * k, 1.8 * k, 1.2 * k)  # nostrils
        img *= 1.0 - 0.12 * _soft_ellipse(xl, yl, side * 4.5 * k, (f.eye_y + f.nose_y) / 2, 1.3 * k, (f.nose_y - f.eye_y) / 2)
    img *= 1.0 - 0.3 * _soft_ellipse(xl, yl, 0.0, f.mouth_y, f.mouth_w, f.lip_thick)
    img *= 1.0 - 0.5 * _soft_ellipse(xl, yl, 0.0, f.mouth_y, 0.95 * f.mouth_w, 0.7 * k, edge=0.5)
    img += f.texture
    ramp = ((xx - size / 2) * np.cos(f.illum_angle) + (yy - size / 2) * np.sin(f.illum_angle)) / (size / 2)
    return img * (1.0 + f.illum * ramp)


def _apex_landmarks(s: _Sample) -> np.ndarray:
    """The five landmarks (x, y) of the apex frame, px at image_size."""
    lx, ly = s.face.to_image(*s.face.landmarks_local().T)
    u, v = _displacement(s, lx, ly)
    return np.stack([lx + u + s.shift[0], ly + v + s.shift[1]], axis=1)


def render_sample(config: SyntheticConfig = DEFAULT_CONFIG, index: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample `index` (a row of the sample table) -> (onset, apex, landmarks): two (size, size) uint8
    gray frames and the apex frame's five landmarks (5, 2) as (x, y) px, order LANDMARK_NAMES."""
    s = _sample(config, index)
    size = config.image_size
    neutral = _render_face(s.face, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    u, v = _displacement(s, xx, yy)
    # apex(q) = onset(q - motion(q)): backward warp, accurate for small smooth motion
    map_x = (xx - u - s.shift[0]).astype(np.float32)
    map_y = (yy - v - s.shift[1]).astype(np.float32)
    moved = cv2.remap(neutral.astype(np.float32), map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    rng = np.random.default_rng([config.seed, 3, s.noise_seed])
    onset = neutral + rng.normal(0.0, config.noise, neutral.shape)
    apex = moved * s.gain + rng.normal(0.0, config.noise, neutral.shape)
    to_u8 = lambda im: np.clip(np.rint(im), 0, 255).astype(np.uint8)  # noqa: E731
    return to_u8(onset), to_u8(apex), _apex_landmarks(s)


# -- the dataset -------------------------------------------------------------------------------
def sample_table(config: SyntheticConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    """The sample table (schema of mebench.dataset) plus the visible `actions` and the apex landmarks (LANDMARK_COLUMNS, px)."""
    samples = [_sample(config, i) for i in range(len(_plan(config)))]
    rows = pd.DataFrame([dict(dataset=s.planned.dataset, subject=s.planned.subject, clip=s.planned.clip,
                              label=s.planned.label, actions=",".join(s.actions)) for s in samples])
    lms = np.stack([_apex_landmarks(s) for s in samples]).reshape(len(samples), -1)
    for c, col in enumerate(LANDMARK_COLUMNS):
        rows[col] = lms[:, c]
    return make_sample_table(rows, CLASS_NAMES)


def table_landmarks(table: pd.DataFrame) -> np.ndarray:
    """(N, 5, 2) landmarks (x, y) from the table's LANDMARK_COLUMNS."""
    return table[list(LANDMARK_COLUMNS)].to_numpy(dtype=np.float64).reshape(len(table), 5, 2)


def to_grid(points: np.ndarray, image_size: int, grid: int) -> np.ndarray:
    """Pixel coordinates at image_size -> at grid (pixel centres aligned, as an area resize maps them)."""
    return (np.asarray(points, dtype=np.float64) + 0.5) * (grid / image_size) - 0.5


def compute_flow_features(config: SyntheticConfig = DEFAULT_CONFIG, params: FlowParams = DEFAULT_FLOW_PARAMS) -> np.ndarray:
    """(N, 3, size, size) float32 flow images of every sample, in table order (no cache)."""
    out = np.empty((len(_plan(config)), 3, params.size, params.size), dtype=np.float32)
    for i in range(len(out)):
        onset, apex, _ = render_sample(config, i)
        out[i] = flow_image(onset, apex, params)
    return out


def compute_faces(config: SyntheticConfig = DEFAULT_CONFIG) -> tuple[np.ndarray, np.ndarray]:
    """(onset faces, apex faces), each (N, 3, FACE_SIZE, FACE_SIZE) float32: the rendered gray frames as RGB."""
    frames = [render_sample(config, i)[:2] for i in range(len(_plan(config)))]
    return cast("tuple[np.ndarray, np.ndarray]",
                tuple(face_array([np.repeat(f[i][..., None], 3, axis=2) for f in frames]) for i in (0, 1)))


def synthetic_dataset(config: SyntheticConfig = DEFAULT_CONFIG, *, cache_dir: Path | str | None = None,
                      flow_params: FlowParams = DEFAULT_FLOW_PARAMS) -> Dataset:
    """The synthetic Dataset for any generator config; features are computed on first use and cached."""
    table = sample_table(config)
    cache = ArrayCache(cache_dir)  # None: mebench.cache.default_cache_dir()
    key = {"version": GENERATOR_VERSION, "config": config.as_dict(), "flow": flow_params.as_dict()}
    fingerprint = table_fingerprint(table, GENERATOR_VERSION, repr(config.as_dict()))
    landmarks28 = to_grid(table_landmarks(table), config.image_size, flow_params.size)

    def features(name: str) -> np.ndarray:
        if name == FLOW_IMAGE:
            return cache.get_or_compute("synthetic/flow", key, lambda: compute_flow_features(config, flow_params),
                                        shape=(len(table), 3, flow_params.size, flow_params.size), dtype=np.float32)
        if name in (LANDMARKS_HTNET, LANDMARKS_DLIB):  # the generator knows its faces' landmarks exactly
            return landmarks28
        if name in (ONSET_FACE, APEX_FACE):  # both rendered at once, cached like the flow
            faces = cache.get_or_compute("synthetic/faces", {**key, "faces": FACE_SIZE},
                                         lambda: np.stack(compute_faces(config)),
                                         shape=(2, len(table), 3, FACE_SIZE, FACE_SIZE), dtype=np.float32)
            return faces[0 if name == ONSET_FACE else 1]
        raise DataError(f"the synthetic dataset has no primitive {name!r}")

    counts = ", ".join(f"{s.name} {sum(s.class_counts)} ({len(s.subjects)} subjects)" for s in config.sources)
    ds = Dataset(
        name="synthetic", source="synthetic", class_names=CLASS_NAMES, samples=table, fingerprint=fingerprint,
        feature_function=features, provides=(FLOW_IMAGE, LANDMARKS_HTNET, LANDMARKS_DLIB, APEX_FACE, ONSET_FACE),
        description=f"rendered onset/apex faces with class-specific micro-motion ({GENERATOR_VERSION}, seed {config.seed}): {counts}",
    )
    ds.cache = cache  # type: ignore[attr-defined]  # for tests and logs: cache.computed lists what was computed
    return ds


def load_synthetic(path: str | None = None, *, cache_dir: Path | str | None = None) -> Dataset:
    """Entry point `synthetic`: the default generator config; takes no path."""
    if path is not None:
        raise ConfigError(f"the synthetic dataset takes no path (got {path!r}); use --data synthetic")
    return synthetic_dataset(DEFAULT_CONFIG, cache_dir=cache_dir)
