"""What reading several epoch selections off one training costs: `final` alone against
`final,oracle` (every epoch's test predictions recorded, oracle and final derived), measured in
one process on the same grid.

    python benchmarks/selection_cost.py [--methods ststnet,htnet] [--preset quick] [--seeds 0]

Before mebench read them off one training, measuring the leakage gap took two trainings (2x). The
target: `final,oracle` at most 1.2x `final` alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.selection import EpochSelection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="ststnet,htnet")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", default="0")
    args = parser.parse_args()
    methods = tuple(m.strip() for m in args.methods.split(","))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        base = dict(methods=methods, protocol="composite", preset=args.preset, seeds=seeds, cache_dir=Path(tmp) / "c",
                    executor="serial")
        run_grid(RunConfig(out=Path(tmp) / "warm", **{**base, "methods": ("majority",)}))  # feature cache
        times = {}
        for name in ("final", "final,oracle"):
            start = time.perf_counter()
            summary = run_grid(RunConfig(out=Path(tmp) / name, selection=EpochSelection(name), **base))
            times[name] = time.perf_counter() - start
            assert not summary.failed
            print(f"--epoch-selection {name:<14} {summary.done} trainings in {times[name]:6.1f} s")
        print(f"final,oracle / final = {times['final,oracle'] / times['final']:.2f} (target <= 1.20; two separate "
              "trainings would be 2.00)")


if __name__ == "__main__":
    main()
