"""The preprocessing pipeline of every raw dataset, one cached stage at a time, per clip.

    landmarks  dlib 68 points on the onset frame (+ how: detected / whole-image fallback)
    apex       only for clips without an annotated apex and `apex="max-flow"`
    faces      only with `face="mtcnn"`: MTCNN's largest face box on the onset and on the apex frame
    flow       onset and apex frames cropped to face_size x face_size (one dlib-aligned crop for the
               clip, or with `face="mtcnn"` each frame's MTCNN crop), then TV-L1 (default) or
               Farneback flow, (u, v) in crop px
    image      the flow image: (strain, v, u) by default, or (u, v, magnitude) with
               `channels="u-v-magnitude"`; resized to `size`, each map min-max normalised to 0-255:
               the `flow-image` primitive
    points     the five HTNet landmarks on the 28x28 grid (the `landmarks:htnet` primitive): dlib's,
               mapped through the face crop, or with `face="mtcnn"` the published MTCNN landmark step
               on the 28x28 apex face crop

Method inputs are derived from the flow image and the points by mebench.representations.

Each stage's output is one entry per clip in the ArrayCache under namespace `raw/<stage>`,
keyed by the fingerprint of everything it depends on: the files it reads (path, size, mtime),
the parameters of its own and of every upstream stage, and a version string. Changing the
TV-L1 `tau` therefore recomputes flow and image but not the landmarks; a second run computes
nothing; an interrupted run keeps every clip finished before the interruption. Clips are
computed in parallel (a process per core) when many are missing from the cache.

Apex of clips whose metadata gives none (SMIC; CASME II's "/"): `apex="midpoint"` (default)
takes the frame nearest to (onset + offset) // 2; `apex="max-flow"` the frame (of at most
`apex_candidates` evenly spaced ones after the onset) whose Farneback flow from the onset,
on a 64 px crop, has the largest mean magnitude.

Named settings (`PRESETS`), usable in `--pipeline` like an option: `htnet-casme3` is HTNet's
CAS(ME)^3 input as its repository computes it (`HTNet_for_three_datasets_confusion_matrix.py`,
`get_whole_u_v_os`): MTCNN face crops of the onset and apex frames at 28x28, Farneback flow on
them (pyr_scale 0.5, levels 3, winsize 15, iterations 3, poly_n 5, poly_sigma 1.2), channels
(u, v, magnitude).
"""

from __future__ import annotations

import os
import time
import warnings
from collections import Counter, defaultdict
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence, cast

import cv2
import numpy as np

from mebench.cache import ArrayCache
from mebench.errors import ConfigError, DataError
from mebench.features.flow import DEFAULT_FLOW_PARAMS, FlowParams
from mebench.features.landmarks import DETECTED, HOW_CODES, LANDMARKS_VERSION, WHOLE_IMAGE, detect_landmarks68
from mebench.features.mtcnn import MTCNN_LANDMARKS_VERSION
from mebench.features.regions import GRID
from mebench.datasets.raw import stages
from mebench.datasets.raw.records import ClipRecord, file_fingerprint
from mebench.primitives import (APEX_FACE, FACE_SIZE, FLOW_IMAGE, LANDMARKS_DLIB, LANDMARKS_HTNET, ONSET_FACE,
                                face_array)
from mebench.representations import FLOW_CHANNELS

MTCNN_FACES_VERSION = "facenet-pytorch-mtcnn-2.5.2/largest-box/centred-square-fallback/v1"

PIPELINE_VERSION = "raw-pipeline-v2"
APEX_SPOT_SIZE = 64
_Pair = tuple[np.ndarray, np.ndarray]  # onset and apex
PRESETS: dict[str, dict[str, Any]] = {
    "htnet-casme3": dict(face="mtcnn", face_size=GRID, flow="farneback", farneback=stages.FarnebackParams(),
                         channels="u-v-magnitude"),
}
PARALLEL_MIN = 8  # clips missing from the cache before the work is spread over processes

ProgressCallback = Callable[[int, int, str], None]  # (done, total, sample)


@dataclass(frozen=True)
class PipelineConfig:
    face: str = "dlib"  # "dlib": one aligned crop from the onset's landmarks; "mtcnn": MTCNN's box per frame
    face_size: int = 128  # side of the face crop in px; the flow is computed at this size
    margin: float = 0.1  # the landmarks' box grows by this fraction of its side on every side
    align: bool = True  # rotate so that the eyes are level
    flow: str = "tvl1"  # or "farneback"
    tvl1: FlowParams = DEFAULT_FLOW_PARAMS  # its `size` is not used: `size` below is the output size
    farneback: stages.FarnebackParams = stages.FarnebackParams()
    apex: str = "midpoint"  # for clips without an annotated apex: "midpoint" or "max-flow"
    apex_candidates: int = 32
    size: int = GRID  # output image size (the methods' input size)
    channels: str = "strain-v-u"  # or "u-v-magnitude" (mebench.representations.FLOW_CHANNELS)

    def __post_init__(self) -> None:
        if self.face not in ("dlib", "mtcnn"):
            raise ConfigError(f"pipeline face {self.face!r}: dlib or mtcnn")
        if self.channels not in FLOW_CHANNELS:
            raise ConfigError(f"pipeline channels {self.channels!r}: {' or '.join(FLOW_CHANNELS)}")
        if self.flow not in ("tvl1", "farneback"):
            raise ConfigError(f"pipeline flow {self.flow!r}: tvl1 or farneback")
        if self.apex not in ("midpoint", "max-flow"):
            raise ConfigError(f"pipeline apex {self.apex!r}: midpoint or max-flow")
        if self.face_size < 16 or self.size < 4 or (self.face == "dlib" and self.face_size < 28):
            raise ConfigError(f"pipeline face_size {self.face_size} / size {self.size} too small")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        """The options that differ from the defaults, as `from_text` reads them ("" for the defaults)."""
        default = type(self)()
        parts = []
        for f in fields(self):
            value, base = getattr(self, f.name), getattr(default, f.name)
            if f.name in ("tvl1", "farneback"):
                parts += [f"{f.name}.{g.name}={getattr(value, g.name)}" for g in fields(value)
                          if getattr(value, g.name) != getattr(base, g.name)]
            elif value != base:
                parts.append(f"{f.name}={str(value).lower() if isinstance(value, bool) else value}")
        return ",".join(parts)

    @classmethod
    def from_text(cls, text: str | None) -> "PipelineConfig":
        """"flow=farneback,apex=max-flow,face_size=160,tvl1.tau=0.2" -> a config (empty: defaults). A
        preset name (PRESETS, e.g. "htnet-casme3") sets its options; later options override them."""
        config = cls()
        for item in [t.strip() for t in (text or "").split(",") if t.strip()]:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep and name in PRESETS:
                config = replace(config, **PRESETS[name])
                continue
            if not sep:
                raise ConfigError(f"pipeline option {item!r}: expected NAME=VALUE or a preset "
                                  f"({', '.join(PRESETS)})")
            target, _, sub = name.partition(".")
            owner: Any = config  # or its tvl1 / farneback parameters
            if sub:
                if target not in ("tvl1", "farneback"):
                    raise ConfigError(f"pipeline option {name!r}: only tvl1.* and farneback.* have sub-options")
                owner = getattr(config, target)
            key = sub or name
            types = {f.name: f.type for f in fields(owner)}
            if key not in types or key in ("tvl1", "farneback"):
                raise ConfigError(f"unknown pipeline option {name!r}; options: "
                                  + ", ".join([f.name for f in fields(cls) if f.name not in ("tvl1", "farneback")]
                                              + ["tvl1.*", "farneback.*"]))
            current = getattr(owner, key)
            parsed: Any  # of the option's type
            try:
                parsed = (value.strip().lower() in ("1", "true", "yes")) if isinstance(current, bool) else type(current)(value.strip())
            except ValueError:
                raise ConfigError(f"pipeline option {name}={value!r}: expected a {type(current).__name__}") from None
            if sub:
                config = replace(config, **{target: replace(owner, **{key: parsed})})
            else:
                config = replace(config, **{key: parsed})
        return config


def resolve_workers(workers: int | None) -> int:
    """Processes for preprocessing: as asked, else every core."""
    return max(1, int(workers if workers is not None else (os.cpu_count() or 1)))


class Pipeline:
    """The stages of one config over one cache; `timings`/`counts` record what it computed."""

    def __init__(self, config: PipelineConfig, cache: ArrayCache):
        self.config = config
        self.cache = cache
        self.timings: dict[str, float] = defaultdict(float)
        self.counts: Counter = Counter()
        self._inner = 0.0

    # -- keys ------------------------------------------------------------------------------------
    def frame(self, rec: ClipRecord, number: int | None, what: str) -> Path:
        if number is None:
            raise DataError(f"sample {rec.sample}: no {what} frame (metadata {rec.source or rec.clip_dir})")
        path = rec.frame_path(number)
        if path is None:
            raise DataError(f"sample {rec.sample}: {what} frame {number} not found in {rec.clip_dir}")
        return path

    def onset_number(self, rec: ClipRecord) -> int:
        if rec.onset is not None:
            return rec.onset
        if not rec.frames:
            raise DataError(f"sample {rec.sample}: no frames in {rec.clip_dir}")
        return rec.frames[0][0]

    def landmarks_key(self, rec: ClipRecord) -> dict:
        onset = self.frame(rec, self.onset_number(rec), "onset")
        return {"stage": "landmarks", "version": LANDMARKS_VERSION, "frame": file_fingerprint(onset)}

    def face_key(self) -> dict:
        c = self.config
        if c.face == "mtcnn":
            return {"face": "mtcnn", "face_size": c.face_size, "pipeline": PIPELINE_VERSION}
        return {"face_size": c.face_size, "margin": c.margin, "align": c.align, "pipeline": PIPELINE_VERSION}

    def faces_key(self, rec: ClipRecord) -> dict:
        return {"stage": "faces", "version": MTCNN_FACES_VERSION,
                "onset": file_fingerprint(self.frame(rec, self.onset_number(rec), "onset")), "apex": self.apex_spec(rec)}

    def apex_candidates(self, rec: ClipRecord) -> list[int]:
        onset = self.onset_number(rec)
        offset = rec.offset if rec.offset is not None else rec.frames[-1][0]
        numbers = [n for n in rec.numbers() if onset < n <= offset]
        if len(numbers) > self.config.apex_candidates:
            idx = np.linspace(0, len(numbers) - 1, self.config.apex_candidates).round().astype(int)
            numbers = [numbers[i] for i in sorted(set(idx))]
        return numbers

    def apex_key(self, rec: ClipRecord) -> dict:
        return {"stage": "apex", "landmarks": self.landmarks_key(rec), "face": self.face_key(),
                "frames": [file_fingerprint(self.frame(rec, n, "candidate apex")) for n in self.apex_candidates(rec)],
                "method": f"farneback-mean-magnitude-{APEX_SPOT_SIZE}px"}

    def apex_spec(self, rec: ClipRecord) -> dict:
        if rec.apex is not None:
            return {"annotated": rec.apex, "frame": file_fingerprint(self.frame(rec, rec.apex, "apex"))}
        if self.config.apex == "midpoint":
            n = self.midpoint(rec)
            return {"midpoint": n, "frame": file_fingerprint(self.frame(rec, n, "apex"))}
        return {"max-flow": self.apex_key(rec)}

    def flow_key(self, rec: ClipRecord) -> dict:
        c = self.config
        params = {k: v for k, v in c.tvl1.as_dict().items() if k != "size"} if c.flow == "tvl1" else c.farneback.as_dict()
        crop = self.faces_key(rec) if c.face == "mtcnn" else self.landmarks_key(rec)
        return {"stage": "flow", "landmarks": crop, "face": self.face_key(),
                "onset": file_fingerprint(self.frame(rec, self.onset_number(rec), "onset")),
                "apex": self.apex_spec(rec), "method": c.flow, "params": params}

    def image_key(self, rec: ClipRecord) -> dict:
        return {"stage": "image", "flow": self.flow_key(rec), "size": self.config.size, "channels": self.config.channels}

    def points_key(self, rec: ClipRecord) -> dict:
        if self.config.face == "mtcnn":
            return {"stage": "points", "faces": self.faces_key(rec), "face": self.face_key(),
                    "version": MTCNN_LANDMARKS_VERSION}
        return {"stage": "points", "landmarks": self.landmarks_key(rec), "face": self.face_key()}

    def key(self, stage: str, rec: ClipRecord) -> dict:
        return getattr(self, f"{stage}_key")(rec)

    def is_cached(self, stage: str, rec: ClipRecord) -> bool:
        return self.cache.path(f"raw/{stage}", self.key(stage, rec)).exists()

    # -- stages ----------------------------------------------------------------------------------
    def _cached(self, stage: str, rec: ClipRecord, compute: Callable[[], np.ndarray]) -> np.ndarray:
        def timed() -> np.ndarray:
            start, before = time.perf_counter(), self._inner
            try:
                out = compute()
            except DataError:
                raise
            except (cv2.error, ValueError, RuntimeError) as exc:
                raise DataError(f"{stage} of sample {rec.sample} ({rec.clip_dir}) failed: {exc}") from None
            elapsed = time.perf_counter() - start
            self.timings[stage] += elapsed - (self._inner - before)
            self._inner = before + elapsed
            self.counts[stage] += 1
            return out

        return self.cache.get_or_compute(f"raw/{stage}", self.key(stage, rec), timed, **self.entry_format(stage))

    def entry_format(self, stage: str) -> dict:
        """The shape and dtype every cached output of `stage` has."""
        c = self.config
        return {"landmarks": dict(shape=(70, 2), dtype=np.float64), "apex": dict(shape=(1,), dtype=np.int64),
                "faces": dict(shape=(2, 5), dtype=np.float64),
                "flow": dict(shape=(c.face_size, c.face_size, 2), dtype=np.float32),
                "image": dict(shape=(3, c.size, c.size), dtype=np.float32),
                "points": dict(shape=(6, 2), dtype=np.float64)}[stage]

    def landmarks(self, rec: ClipRecord) -> tuple[np.ndarray, str, tuple[int, int]]:
        """(68 points (x, y) in onset-frame px, how, onset frame (height, width))."""

        def compute() -> np.ndarray:
            frame = stages.read_gray(self.frame(rec, self.onset_number(rec), "onset"), rec.sample)
            points, how = detect_landmarks68(frame)
            return np.vstack([points, [[HOW_CODES.index(how), 0.0], [frame.shape[0], frame.shape[1]]]])

        packed = self._cached("landmarks", rec, compute)
        return packed[:68], HOW_CODES[int(packed[68, 0])], (int(packed[69, 0]), int(packed[69, 1]))

    def transform(self, rec: ClipRecord, size: int | None = None) -> np.ndarray:
        points, how, shape = self.landmarks(rec)
        c = self.config
        return stages.face_transform(points, how, shape, size or c.face_size, c.margin, c.align)

    def crop(self, rec: ClipRecord, number: int, what: str, matrix: np.ndarray, size: int) -> np.ndarray:
        return stages.warp(stages.read_gray(self.frame(rec, number, what), rec.sample), matrix, size)

    def midpoint(self, rec: ClipRecord) -> int:
        onset = self.onset_number(rec)
        offset = rec.offset if rec.offset is not None else rec.frames[-1][0]
        target = (onset + offset) // 2
        numbers = [n for n in rec.numbers() if onset <= n <= offset] or rec.numbers()
        return min(numbers, key=lambda n: (abs(n - target), n))

    def apex(self, rec: ClipRecord) -> tuple[int, str]:
        """(apex frame number, how it was chosen: annotated, midpoint or max-flow)."""
        if rec.apex is not None:
            return rec.apex, "annotated"
        if self.config.apex == "midpoint":
            return self.midpoint(rec), "midpoint"

        def compute() -> np.ndarray:
            candidates = self.apex_candidates(rec)
            if not candidates:
                return np.array([self.onset_number(rec)], dtype=np.int64)
            m = self.transform(rec, APEX_SPOT_SIZE)
            onset = self.crop(rec, self.onset_number(rec), "onset", m, APEX_SPOT_SIZE)
            energy = [stages.motion_energy(onset, self.crop(rec, n, "candidate apex", m, APEX_SPOT_SIZE))
                      for n in candidates]
            return np.array([candidates[int(np.argmax(energy))]], dtype=np.int64)

        return int(self._cached("apex", rec, compute)[0]), "max-flow"

    def faces(self, rec: ClipRecord) -> np.ndarray:
        """(2, 5): MTCNN's largest face box (x1, y1, x2, y2) on the onset and on the apex frame, then 1 if a
        face was found, else 0 (the box is then the frame's centred square)."""

        def compute() -> np.ndarray:
            apex, _ = self.apex(rec)
            return np.stack([stages.mtcnn_box(stages.read_color(self.frame(rec, n, what), rec.sample))
                             for n, what in ((self.onset_number(rec), "onset"), (apex, "apex"))])

        return self._cached("faces", rec, compute)

    def face_crops(self, rec: ClipRecord) -> tuple[np.ndarray, np.ndarray]:
        """The onset and apex frames' MTCNN face crops, (face_size, face_size, 3) RGB uint8 each."""
        apex, _ = self.apex(rec)
        boxes = self.faces(rec)
        return cast(_Pair, tuple(stages.mtcnn_crop(stages.read_color(self.frame(rec, n, what), rec.sample), box[:4],
                                                   self.config.face_size)
                                 for (n, what), box in zip(((self.onset_number(rec), "onset"), (apex, "apex")), boxes)))

    def face_pair(self, rec: ClipRecord) -> tuple[np.ndarray, np.ndarray]:
        """The onset and apex frames' face crops, (FACE_SIZE, FACE_SIZE, 3) RGB uint8 each, cut as the flow's
        crops are (the clip's dlib-aligned crop, or each frame's MTCNN box)."""
        if self.config.face == "mtcnn":
            return cast(_Pair, tuple(cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_LINEAR)
                                     for crop in self.face_crops(rec)))
        m = self.transform(rec, FACE_SIZE)
        apex, _ = self.apex(rec)
        return cast(_Pair, tuple(cv2.cvtColor(stages.warp(stages.read_color(self.frame(rec, n, what), rec.sample), m,
                                                          FACE_SIZE), cv2.COLOR_BGR2RGB)
                                 for n, what in ((self.onset_number(rec), "onset"), (apex, "apex"))))

    def flow(self, rec: ClipRecord) -> np.ndarray:
        """(face_size, face_size, 2) float32 flow (u, v) from onset to apex, px of the face crop."""

        def compute() -> np.ndarray:
            c = self.config
            if c.face == "mtcnn":
                onset, apex_img = (stages.published_gray(crop) for crop in self.face_crops(rec))
            else:
                m = self.transform(rec)
                apex, _ = self.apex(rec)
                onset = self.crop(rec, self.onset_number(rec), "onset", m, c.face_size)
                apex_img = self.crop(rec, apex, "apex", m, c.face_size)
            return stages.compute_flow(onset, apex_img, c.flow, c.tvl1, c.farneback).astype(np.float32)

        return self._cached("flow", rec, compute)

    def image(self, rec: ClipRecord) -> np.ndarray:
        return self._cached("image", rec, lambda: stages.flow_to_image(self.flow(rec), self.config.size,
                                                                       self.config.channels))

    def points(self, rec: ClipRecord) -> np.ndarray:
        """(6, 2): the five HTNet landmarks (x, y) on the 28x28 grid, then (1 if found else 0, 0)."""
        c = self.config

        def compute() -> np.ndarray:
            if c.face == "mtcnn":
                from mebench.features.mtcnn import published_landmarks28

                five, found = published_landmarks28(self.face_crops(rec)[1][:, :, ::-1])  # BGR, as cv2.imread gives
            else:
                points, how, _ = self.landmarks(rec)
                five, found = stages.grid_landmarks(points, self.transform(rec), c.face_size), how != WHOLE_IMAGE
            return np.vstack([five, [[float(found), 0.0]]])

        return self._cached("points", rec, compute)

    def get(self, stage: str, rec: ClipRecord) -> np.ndarray:
        return getattr(self, stage)(rec)


# -- many clips --------------------------------------------------------------------------------
def _init_worker() -> None:
    cv2.setNumThreads(1)


def _work(rec: ClipRecord, config: PipelineConfig, cache_root: str, stages: tuple[str, ...]):
    cache = ArrayCache(cache_root)
    pipe = Pipeline(config, cache)
    for stage in stages:
        pipe.get(stage, rec)
    return cache.computed, dict(pipe.timings), dict(pipe.counts)


def compute_all(records: Sequence[ClipRecord], config: PipelineConfig, cache: ArrayCache,
                stage: str | tuple[str, ...] = "image", *,
                workers: int | None = None, progress: ProgressCallback | None = None,
                pipeline: Pipeline | None = None) -> Pipeline:
    """Make sure `stage` (or each of several, clip by clip; and so every stage before it) is cached for
    every record.

    Records already cached are skipped. With more than one worker and at least PARALLEL_MIN
    missing, clips are spread over `workers` processes (default: every
    core), each writing its clip's outputs to the cache as it finishes. A DataError in any clip
    stops the work and is raised; what was cached before stays. Returns the Pipeline whose
    timings/counts hold what was computed (workers' included)."""
    pipe = pipeline or Pipeline(config, cache)
    wanted = (stage,) if isinstance(stage, str) else tuple(stage)
    todo = [r for r in records if not all(pipe.is_cached(s, r) for s in wanted)]
    total, done = len(todo), 0
    n_workers = min(resolve_workers(workers), max(1, total))
    if n_workers <= 1 or total < PARALLEL_MIN:
        for rec in todo:
            for s in wanted:
                pipe.get(s, rec)
            done += 1
            if progress:
                progress(done, total, rec.sample)
        return pipe
    import multiprocessing

    with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker) as pool:
        pending = {pool.submit(_work, rec, config, str(cache.root), wanted): rec for rec in todo}
        try:
            while pending:
                finished, _ = wait(list(pending), return_when=FIRST_EXCEPTION)
                for fut in finished:
                    rec = pending.pop(fut)
                    computed, timings, counts = fut.result()  # re-raises a worker's DataError
                    cache.computed.extend(computed)
                    for k, v in timings.items():
                        pipe.timings[k] += v
                    pipe.counts.update(counts)
                    done += 1
                    if progress:
                        progress(done, total, rec.sample)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return pipe


class RawFeatures:
    """The feature function of a raw Dataset: its primitives (mebench.representations) from the pipeline."""

    def __init__(self, records: Sequence[ClipRecord], config: PipelineConfig, cache: ArrayCache,
                 workers: int | None = None):
        self.records = list(records)
        self.config = config
        self.cache = cache
        self.workers = workers
        self.pipeline = Pipeline(config, cache)
        self._warned = False

    def provides(self) -> tuple[str, ...]:
        """The primitives this pipeline makes: landmarks only on the 28x28 grid, dlib's only with its face crop."""
        landmarks = () if self.config.size != GRID else (
            (LANDMARKS_HTNET,) if self.config.face == "mtcnn" else (LANDMARKS_HTNET, LANDMARKS_DLIB))
        return (FLOW_IMAGE, *landmarks, APEX_FACE, ONSET_FACE)

    def __call__(self, name: str) -> np.ndarray:
        if name not in self.provides():
            raise DataError(f"raw datasets with this pipeline ({self.config.text() or 'the defaults'}) have no "
                            f"primitive {name!r} (they have {', '.join(self.provides())})")
        if name in (APEX_FACE, ONSET_FACE):  # two frames per clip, read again: cheap next to the flow
            stage = "faces" if self.config.face == "mtcnn" else "apex"  # what the crops are cut from, cached
            compute_all(self.records, self.config, self.cache, stage, workers=self.workers, pipeline=self.pipeline)
            which = 0 if name == ONSET_FACE else 1
            return face_array([self.pipeline.face_pair(r)[which] for r in self.records])
        stage = "image" if name == FLOW_IMAGE else "points"
        compute_all(self.records, self.config, self.cache, stage, workers=self.workers, pipeline=self.pipeline)
        self.warn_fallbacks()
        out = np.stack([self.pipeline.get(stage, r) for r in self.records])
        return out[:, :5] if stage == "points" else out.astype(np.float32)

    def select(self, rows: Sequence[int]) -> "RawFeatures":
        """The same features for a subset of the clips (only those are computed)."""
        return RawFeatures([self.records[int(i)] for i in rows], self.config, self.cache, self.workers)

    def face_methods(self) -> list[str]:
        """"detected" or "whole-image" per clip (runs the face step on the clips not cached yet)."""
        if self.config.face == "mtcnn":
            return [DETECTED if self.pipeline.faces(r)[:, 4].all() else WHOLE_IMAGE for r in self.records]
        return [self.pipeline.landmarks(r)[1] for r in self.records]

    def warn_fallbacks(self) -> None:
        if self._warned:
            return
        self._warned = True
        fallback = [r.sample for r, how in zip(self.records, self.face_methods()) if how == WHOLE_IMAGE]
        if fallback:
            step = "MTCNN on the onset or apex frame" if self.config.face == "mtcnn" else "dlib on the onset frame"
            warnings.warn(f"{len(fallback)} of {len(self.records)} clips: no face found by {step} "
                          f"({', '.join(fallback)}); their crop is the centred square of the frame "
                          "(see mebench/datasets/raw/stages.py)", stacklevel=3)
