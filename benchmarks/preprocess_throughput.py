"""Preprocessing throughput of the raw pipeline on synthetic frames: samples per second per stage,
and the speedup of the parallel flow stage over one worker, measured in the same run.

    python benchmarks/preprocess_throughput.py [--samples 32] [--frame-size 256] [--face-size 128] [--workers N]

Each synthetic sample (mebench.datasets.synthetic.render_sample at --frame-size px) is written
as a two-frame clip (onset, apex PNG) and goes through the pipeline of mebench.datasets.raw:
landmarks (dlib on the onset frame), flow (TV-L1; Farneback timed too), image (strain, resize,
normalisation) and points (the HTNet landmarks on the 28x28 grid). Stage times are CPU seconds in one process (per-stage self time),
so samples/s is per core; the parallel line is wall-clock time of the flow stage alone over
--workers processes (default: every core) against one, process start-up included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2

from mebench.cache import ArrayCache
from mebench.datasets.raw.pipeline import PipelineConfig, compute_all
from mebench.datasets.raw.records import ClipRecord
from mebench.datasets.synthetic import SyntheticConfig, render_sample


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def cpu_headroom(workers: int, n: int = 4_000_000) -> float:
    """How much faster `workers` copies of a pure-CPU task run over `workers` processes than in one:
    the parallelism the machine really offers now (other load included)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_burn, [1] * workers)  # start-up, not timed
        start = time.perf_counter()
        pool.map(_burn, [n] * workers)
        parallel = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(workers):
        _burn(n)
    return (time.perf_counter() - start) / parallel


def make_clips(folder: Path, samples: int, frame_size: int) -> list[ClipRecord]:
    config = SyntheticConfig(image_size=frame_size)
    records = []
    for i in range(samples):
        onset, apex, _ = render_sample(config, i)
        clip = folder / f"c{i:03d}"
        clip.mkdir(parents=True)
        frames = []
        for n, img in ((1, onset), (2, apex)):
            path = clip / f"img{n}.png"
            cv2.imwrite(str(path), img)
            frames.append((n, path))
        records.append(ClipRecord("synthetic", "s", f"c{i:03d}", "x", clip, 1, 2, 2, tuple(frames)))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--frame-size", type=int, default=256)
    parser.add_argument("--face-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mebench-bench-"))
    try:
        records = make_clips(work / "clips", args.samples, args.frame_size)
        config = PipelineConfig(face_size=args.face_size)
        cache = ArrayCache(work / "cache")
        pipe = compute_all(records, config, cache, ("image", "points"), workers=1)
        fb = compute_all(records, PipelineConfig(face_size=args.face_size, flow="farneback"), cache, "flow", workers=1)
        n = len(records)
        print(f"{n} synthetic samples, frames {args.frame_size}x{args.frame_size} px, face crop {args.face_size} px, "
              f"{os.cpu_count()} cores")
        print(f"{'stage':<22}{'s/sample':>10}{'samples/s':>11}")
        rows = [(s, pipe.timings[s]) for s in ("landmarks", "flow", "image", "points")]
        rows.insert(2, ("flow (farneback)", fb.timings["flow"]))
        rows[1] = ("flow (tv-l1)", rows[1][1])
        for name, seconds in rows:
            print(f"{name:<22}{seconds / n:>10.4f}{n / seconds if seconds else float('inf'):>11.1f}")
        total = sum(pipe.timings[s] for s in ("landmarks", "flow", "image", "points"))
        print(f"{'all (tv-l1), 1 core':<22}{total / n:>10.4f}{n / total:>11.1f}")

        # the flow stage alone, landmarks cached: 1 worker against --workers
        walls = {}
        for workers in (1, args.workers):
            root = work / f"flow-{workers}"
            shutil.copytree(work / "cache" / "raw" / "landmarks", root / "raw" / "landmarks")
            start = time.perf_counter()
            compute_all(records, config, ArrayCache(root), "flow", workers=workers)
            walls[workers] = time.perf_counter() - start
        w = args.workers
        print(f"flow stage wall time: 1 worker {walls[1]:.2f}s ({n / walls[1]:.1f} samples/s), {w} workers "
              f"{walls[w]:.2f}s ({n / walls[w]:.1f} samples/s): speedup x{walls[1] / walls[w]:.2f}")
        if w > 1:
            print(f"for comparison, a pure-CPU task over {w} processes runs x{cpu_headroom(w):.2f} faster than in one "
                  f"(load average now {os.getloadavg()[0]:.1f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
