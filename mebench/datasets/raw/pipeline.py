"""The preprocessing pipeline of every raw dataset, one cached stage at a time, per clip.

    landmarks  dlib 68 points on the onset frame (+ how: detected / whole-image fallback)
    apex       only for clips without an annotated apex and `apex="max-flow"`
    flow       onset and apex frames aligned and cropped by the landmarks' transform, then
               TV-L1 (default) or Farneback flow at face_size x face_size, (u, v) in crop px
    image      optical strain, resize to `size`, min-max 0-255 per map: (strain, v, u), the
               `flow` representation
    regions    HTNet's four 14x14 windows of `image` around the eyes and mouth corners: the
               `htnet-regions` representation

Each stage's output is one entry per clip in the ArrayCache under namespace `raw/<stage>`,
keyed by the fingerprint of everything it depends on: the files it reads (path, size, mtime),
the parameters of its own and of every upstream stage, and a version string. Changing the
TV-L1 `tau` therefore recomputes flow, image and regions but not the landmarks; a second run
computes nothing; an interrupted run keeps every clip finished before the interruption.
Clips are computed in parallel (a process per core) when many are missing from the cache.

Apex of clips whose metadata gives none (SMIC; CASME II's "/"): `apex="midpoint"` (default)
takes the frame nearest to (onset + offset) // 2; `apex="max-flow"` the frame (of at most
`apex_candidates` evenly spaced ones after the onset) whose Farneback flow from the onset,
on a 64 px crop, has the largest mean magnitude.
"""

from __future__ import annotations

import os
import time
import warnings
from collections import Counter, defaultdict
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from mebench.cache import ArrayCache
from mebench.errors import ConfigError, DataError
from mebench.features.flow import DEFAULT_FLOW_PARAMS, FlowParams
from mebench.features.landmarks import HOW_CODES, LANDMARKS_VERSION, WHOLE_IMAGE, detect_landmarks68
from mebench.features.regions import GRID
from mebench.datasets.raw import stages
from mebench.datasets.raw.records import ClipRecord, file_fingerprint

PIPELINE_VERSION = "raw-pipeline-v1"
STAGES = ("landmarks", "apex", "flow", "image", "regions")
STAGE_OF = {"flow": "image", "htnet-regions": "regions"}  # representation -> stage that makes it
APEX_SPOT_SIZE = 64
PARALLEL_MIN = 8  # clips missing from the cache before the work is spread over processes

ProgressCallback = Callable[[int, int, str], None]  # (done, total, sample)


@dataclass(frozen=True)
class PipelineConfig:
    face_size: int = 128  # side of the aligned face crop in px; the flow is computed at this size
    margin: float = 0.1  # the landmarks' box grows by this fraction of its side on every side
    align: bool = True  # rotate so that the eyes are level
    flow: str = "tvl1"  # or "farneback"
    tvl1: FlowParams = DEFAULT_FLOW_PARAMS  # its `size` is not used: `size` below is the output size
    farneback: stages.FarnebackParams = stages.FarnebackParams()
    apex: str = "midpoint"  # for clips without an annotated apex: "midpoint" or "max-flow"
    apex_candidates: int = 32
    size: int = GRID  # output image size (the methods' input size)
    published_quirks: bool = True  # HTNet regions exactly as the published code cuts them

    def __post_init__(self) -> None:
        if self.flow not in ("tvl1", "farneback"):
            raise ConfigError(f"pipeline flow {self.flow!r}: tvl1 or farneback")
        if self.apex not in ("midpoint", "max-flow"):
            raise ConfigError(f"pipeline apex {self.apex!r}: midpoint or max-flow")
        if self.face_size < 16 or self.size < 4:
            raise ConfigError(f"pipeline face_size {self.face_size} / size {self.size} too small")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_text(cls, text: str | None) -> "PipelineConfig":
        """"flow=farneback,apex=max-flow,face_size=160,tvl1.tau=0.2" -> a config (empty: defaults)."""
        config = cls()
        for item in [t.strip() for t in (text or "").split(",") if t.strip()]:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep:
                raise ConfigError(f"pipeline option {item!r}: expected NAME=VALUE")
            target, _, sub = name.partition(".")
            owner = config
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
            try:
                parsed = (value.strip().lower() in ("1", "true", "yes")) if isinstance(current, bool) else type(current)(value.strip())
            except ValueError:
                raise ConfigError(f"pipeline option {name}={value!r}: expected a {type(current).__name__}") from None
            if sub:
                config = replace(config, **{target: replace(owner, **{key: parsed})})
            else:
                config = replace(config, **{key: parsed})
        return config


def config_from_env() -> PipelineConfig:
    """$MEBENCH_PIPELINE (e.g. "flow=farneback,apex=max-flow"), else the defaults."""
    return PipelineConfig.from_text(os.environ.get("MEBENCH_PIPELINE"))


def resolve_workers(workers: int | None) -> int:
    if workers is None:
        env = os.environ.get("MEBENCH_WORKERS")
        workers = int(env) if env else (os.cpu_count() or 1)
    return max(1, int(workers))


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
        return {"face_size": c.face_size, "margin": c.margin, "align": c.align, "pipeline": PIPELINE_VERSION}

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
        return {"stage": "flow", "landmarks": self.landmarks_key(rec), "face": self.face_key(),
                "onset": file_fingerprint(self.frame(rec, self.onset_number(rec), "onset")),
                "apex": self.apex_spec(rec), "method": c.flow, "params": params}

    def image_key(self, rec: ClipRecord) -> dict:
        return {"stage": "image", "flow": self.flow_key(rec), "size": self.config.size, "channels": "strain,v,u/0-255"}

    def regions_key(self, rec: ClipRecord) -> dict:
        return {"stage": "regions", "image": self.image_key(rec), "published_quirks": self.config.published_quirks}

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
                "flow": dict(shape=(c.face_size, c.face_size, 2), dtype=np.float32),
                "image": dict(shape=(3, c.size, c.size), dtype=np.float32),
                "regions": dict(shape=(3, GRID, GRID), dtype=np.float32)}[stage]

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

    def flow(self, rec: ClipRecord) -> np.ndarray:
        """(face_size, face_size, 2) float32 flow (u, v) from onset to apex, px of the face crop."""

        def compute() -> np.ndarray:
            c = self.config
            m = self.transform(rec)
            apex, _ = self.apex(rec)
            onset = self.crop(rec, self.onset_number(rec), "onset", m, c.face_size)
            apex_img = self.crop(rec, apex, "apex", m, c.face_size)
            return stages.compute_flow(onset, apex_img, c.flow, c.tvl1, c.farneback).astype(np.float32)

        return self._cached("flow", rec, compute)

    def image(self, rec: ClipRecord) -> np.ndarray:
        return self._cached("image", rec, lambda: stages.flow_to_image(self.flow(rec), self.config.size))

    def regions(self, rec: ClipRecord) -> np.ndarray:
        if self.config.size != GRID:
            raise ConfigError(f"htnet-regions need size {GRID}; the pipeline's size is {self.config.size}")

        def compute() -> np.ndarray:
            points, _, _ = self.landmarks(rec)
            five = stages.grid_landmarks(points, self.transform(rec), self.config.face_size)
            return stages.regions(self.image(rec), five, self.config.published_quirks)

        return self._cached("regions", rec, compute)

    def get(self, stage: str, rec: ClipRecord) -> np.ndarray:
        return getattr(self, stage)(rec)


# -- many clips --------------------------------------------------------------------------------
def _init_worker() -> None:
    cv2.setNumThreads(1)


def _work(rec: ClipRecord, config: PipelineConfig, cache_root: str, stage: str):
    cache = ArrayCache(cache_root)
    pipe = Pipeline(config, cache)
    pipe.get(stage, rec)
    return cache.computed, dict(pipe.timings), dict(pipe.counts)


def compute_all(records: Sequence[ClipRecord], config: PipelineConfig, cache: ArrayCache, stage: str = "regions", *,
                workers: int | None = None, progress: ProgressCallback | None = None,
                pipeline: Pipeline | None = None) -> Pipeline:
    """Make sure `stage` (and so every stage before it) is cached for every record.

    Records already cached are skipped. With more than one worker and at least PARALLEL_MIN
    missing, clips are spread over `workers` processes (default: $MEBENCH_WORKERS or every
    core), each writing its clip's outputs to the cache as it finishes. A DataError in any clip
    stops the work and is raised; what was cached before stays. Returns the Pipeline whose
    timings/counts hold what was computed (workers' included)."""
    pipe = pipeline or Pipeline(config, cache)
    todo = [r for r in records if not pipe.is_cached(stage, r)]
    total, done = len(todo), 0
    n_workers = min(resolve_workers(workers), max(1, total))
    if n_workers <= 1 or total < PARALLEL_MIN:
        for rec in todo:
            pipe.get(stage, rec)
            done += 1
            if progress:
                progress(done, total, rec.sample)
        return pipe
    import multiprocessing

    with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker) as pool:
        pending = {pool.submit(_work, rec, config, str(cache.root), stage): rec for rec in todo}
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
    """The feature function of a raw Dataset: `flow` and `htnet-regions` from the pipeline."""

    def __init__(self, records: Sequence[ClipRecord], config: PipelineConfig, cache: ArrayCache,
                 workers: int | None = None):
        self.records = list(records)
        self.config = config
        self.cache = cache
        self.workers = workers
        self.pipeline = Pipeline(config, cache)
        self._warned = False

    def __call__(self, representation: str) -> np.ndarray:
        stage = STAGE_OF.get(representation)
        if stage is None:
            raise DataError(f"raw datasets provide {', '.join(STAGE_OF)}, not {representation!r}")
        compute_all(self.records, self.config, self.cache, stage, workers=self.workers, pipeline=self.pipeline)
        self.warn_fallbacks()
        return np.stack([self.pipeline.get(stage, r) for r in self.records]).astype(np.float32)

    def select(self, rows: Sequence[int]) -> "RawFeatures":
        """The same features for a subset of the clips (only those are computed)."""
        return RawFeatures([self.records[int(i)] for i in rows], self.config, self.cache, self.workers)

    def face_methods(self) -> list[str]:
        """"detected" or "whole-image" per clip (runs dlib on the clips not cached yet)."""
        return [self.pipeline.landmarks(r)[1] for r in self.records]

    def warn_fallbacks(self) -> None:
        if self._warned:
            return
        self._warned = True
        fallback = [r.sample for r, how in zip(self.records, self.face_methods()) if how == WHOLE_IMAGE]
        if fallback:
            shown = ", ".join(fallback[:5]) + (" ..." if len(fallback) > 5 else "")
            warnings.warn(f"{len(fallback)} of {len(self.records)} clips: no face found on the onset frame ({shown}); "
                          "their crop is the centred square of the frame (see mebench/datasets/raw/stages.py)",
                          stacklevel=3)
