"""`mebench datasets prepare KIND:PATH`: compute and cache every clip's features ahead of a run.

Every clip the loader accepts goes through the whole pipeline (landmarks or MTCNN faces, apex,
flow, the flow image and, at the 28 px output size, the HTNet landmarks), spread over `workers`
processes (default: every core). Each clip's outputs are written to the cache as soon as it is done, so an interrupted
prepare resumes where it stopped; a second prepare computes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import cast

from mebench.cache import ArrayCache
from mebench.datasets.raw import scanner
from mebench.datasets.raw.build import dataset_from_scan
from mebench.datasets.raw.pipeline import (PipelineConfig, ProgressCallback, RawFeatures, compute_all,
                                           resolve_workers)
from mebench.features.landmarks import WHOLE_IMAGE
from mebench.features.regions import GRID


@dataclass
class PrepareReport:
    kind: str
    clips: int
    computed: int  # clips computed by this call (the others were cached)
    workers: int
    seconds: float
    face_fallbacks: int
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"{self.kind}: {self.clips} clips, {self.computed} computed, {self.clips - self.computed} already cached; "
               f"{self.seconds:.1f}s with {self.workers} worker(s)"]
        if self.stage_counts:
            out.append("  " + ", ".join(f"{s} {self.stage_counts[s]} in {self.stage_seconds.get(s, 0):.1f}s cpu"
                                        for s in self.stage_counts))
        out.append(f"  faces not found (whole-frame fallback crop): {self.face_fallbacks}")
        return out


def prepare_dataset(kind: str, path: str | None, *, cache_dir=None, config: PipelineConfig | None = None,
                    workers: int | None = None, progress: ProgressCallback | None = None,
                    start: ProgressCallback | None = None) -> PrepareReport:
    config = config or PipelineConfig()
    dataset = dataset_from_scan(scanner(kind)(path), cache_dir=cache_dir, config=config, workers=workers)
    features = cast(RawFeatures, dataset.feature_function)  # what dataset_from_scan gives
    records = features.records
    cache: ArrayCache = features.cache
    stages = ("image", "points") if config.size == GRID else ("image",)
    todo = sum(1 for r in records if not all(features.pipeline.is_cached(s, r) for s in stages))
    if start:
        start(0, todo, "")
    began = time.perf_counter()
    n_workers = resolve_workers(workers)
    pipe = compute_all(records, config, cache, stages, workers=n_workers, progress=progress, pipeline=features.pipeline)
    seconds = time.perf_counter() - began
    fallbacks = sum(1 for how in features.face_methods() if how == WHOLE_IMAGE)
    return PrepareReport(kind, len(records), todo, n_workers, seconds, fallbacks, dict(pipe.timings), dict(pipe.counts))
