"""Grid throughput of the executors: one small grid run serially, in a local process pool and on a
local Ray instance, in one process; cells per minute and each ratio to serial.

    python benchmarks/grid_throughput.py [--methods htnet,baseline] [--preset quick] [--workers 2]
                                         [--splits 1x2,2x1] [--skip-ray]

The grid is the README's quick demo (`--methods htnet,baseline --preset quick`, synthetic data,
composite protocol, one seed). Each way runs into a fresh results folder with the feature cache
warm (the first, untimed, serial pass of the features fills it), so only training is timed.
`--splits WxT` adds local pools of W workers with T torch threads each, to find the best split of
the cores. Run it on an otherwise idle machine: the ratios are only meaningful then.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from mebench.allocator import keep_freed_memory
from mebench.executors import LocalExecutor, Placement
from mebench.plugins import expand_method_selection
from mebench.plan import RunConfig
from mebench.runner import run_grid


def _torch_work(steps: int) -> float:
    """A fixed CNN training workload on one torch thread; returns its wall time."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 3))
    opt = torch.optim.Adam(net.parameters())
    x, y = torch.randn(64, 3, 28, 28), torch.randint(0, 3, (64,))
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return time.perf_counter() - start


def _start_worker(keep_memory: bool) -> None:
    import torch  # noqa: F401 - importing before the clock starts is the point

    if keep_memory:
        keep_freed_memory()


def _warm_up(_: int) -> None:
    time.sleep(1.0)  # keeps this worker busy so that every worker of the pool gets one


def torch_parallelism(processes: int, keep_memory: bool, steps: int = 100) -> tuple[float, float]:
    """One single-threaded process's time for a fixed torch training workload, and how much more work
    `processes` such processes do at once than one alone: the ceiling of process parallelism for this
    kind of work here. The processes start and import torch before the clock starts (with the start-up
    inside the timed part, an earlier version of this script reported x1.06-1.25; measured properly, x1.5-1.9)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes, initializer=_start_worker, initargs=(keep_memory,)) as pool:
        pool.map(_warm_up, range(processes), chunksize=1)
        single = pool.apply(_torch_work, (steps,))
        start = time.perf_counter()
        pool.map(_torch_work, [steps] * processes, chunksize=1)
        together = time.perf_counter() - start
    return single, processes * single / together


def timed(config: RunConfig, executor=None) -> tuple[float, int]:
    if executor is not None:  # a hand-made pool split, through the same driver
        import mebench.executors as ex

        original = ex.make_executor
        ex.make_executor = lambda *a, **k: executor
        try:
            start = time.perf_counter()
            summary = run_grid(config)
        finally:
            ex.make_executor = original
    else:
        start = time.perf_counter()
        summary = run_grid(config)
    assert not summary.failed, summary.failed
    return time.perf_counter() - start, summary.done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="htnet,baseline")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--protocol", default="composite")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--splits", default="", help="extra local pools, e.g. 1x2,2x1 (workers x threads)")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    methods = tuple(expand_method_selection(args.methods))
    with tempfile.TemporaryDirectory() as tmp:
        base = dict(methods=methods, protocol=args.protocol, preset=args.preset, cache_dir=Path(tmp) / "cache")
        run_grid(RunConfig(out=Path(tmp) / "warm", executor="serial",
                           **{**base, "methods": ("majority",)}))  # fills the feature cache
        ways = [("serial", RunConfig(out=Path(tmp) / "serial", executor="serial", **base), None),
                (f"local --workers {args.workers}",
                 RunConfig(out=Path(tmp) / "local", executor="local", workers=args.workers, **base), None)]
        for split in [s for s in args.splits.split(",") if s]:
            w, t = (int(x) for x in split.split("x"))
            ways.append((f"local {w} workers x {t} threads", RunConfig(out=Path(tmp) / f"split-{split}", **base),
                         LocalExecutor([Placement("cpu", t)] * w)))
        if not args.skip_ray:
            ways.append((f"ray ({args.workers} CPUs)",
                         RunConfig(out=Path(tmp) / "ray", executor="ray", workers=args.workers, **base), None))
        print(f"grid: {', '.join(methods)} | preset {args.preset} | protocol {args.protocol} | synthetic | "
              f"{len(os.sched_getaffinity(0))} cores")
        plain, plain_ceiling = torch_parallelism(args.workers, keep_memory=False)
        kept, kept_ceiling = torch_parallelism(args.workers, keep_memory=True)
        print(f"allocator: a torch training step on one thread is x{plain / kept:.2f} faster with freed memory kept "
              "(mebench's executors keep it)", flush=True)
        print(f"ceiling: {args.workers} single-threaded torch processes train x{kept_ceiling:.2f} as much as one "
              f"(x{plain_ceiling:.2f} with glibc's default allocator): the most any pool of them can gain here",
              flush=True)
        serial_rate = None
        for name, config, executor in ways:
            seconds, cells = timed(config, executor)
            rate = 60 * cells / seconds
            serial_rate = serial_rate or rate
            print(f"{name:<28} {cells:4d} cells in {seconds:7.1f} s: {rate:6.1f} cells/min, x{rate / serial_rate:.2f} serial",
                  flush=True)


if __name__ == "__main__":
    main()
