"""The README's quick demo with today's `quick` presets against the presets it had before issue 23 §6,
in one process: wall and CPU time of each, the ratio new/old, and per method its cell-seconds and pooled
Full UF1 (chance is about 1/3).

    python benchmarks/quick_demo.py [--methods htnet,baseline] [--protocol composite] [--workers auto]
                                    [--order new-first]

Both grids are the demo (`--protocol composite --preset quick`, synthetic data, one seed) run with the
local executor (`--protocol cross-dataset`: 3 folds instead of 26, a quick look at the ratio on a busy
machine); the old presets are passed as parameters (`OLD_QUICK`), so the same code trains both.
The feature cache is filled first (untimed), so features cost neither run anything. CPU seconds (this
process and its workers) are printed beside wall seconds: on a machine that is busy with other work,
wall ratios drift with the load and CPU ratios much less.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from mebench.metrics import uf1
from mebench.plugins import expand_method_selection
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.store import ResultStore

# The quick presets before issue 23 §6 (only what changed; every other preset is the same in both grids).
OLD_QUICK: dict[str, dict[str, object]] = {
    "htnet": dict(epochs=40),
    "dual-inception": dict(hidden=1024, epochs=12, lr=1e-3, batch_size=64),
    "offapexnet": dict(epochs=20, lr=1e-3, batch_size=64),
    "rcn-a": dict(epochs=20, lr=5e-3, batch_size=32),
    "ststnet": dict(epochs=40, lr=1e-3, batch_size=64),
}


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the run's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_timed(config: RunConfig) -> tuple[float, float, pd.DataFrame]:
    """Wall and CPU seconds of one grid, and per method its cell-seconds, cells and pooled Full UF1."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    summary = run_grid(config)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    if summary.failed:
        raise SystemExit(f"cells failed: {summary.failed}")
    store = ResultStore(config.out)
    cells = store.cells()
    preds = store.predictions()
    n_classes = len(json.loads(preds["class_names"].iloc[0]))
    per_method = cells.groupby("method").agg(cells=("key", "size"), cell_seconds=("seconds", "sum"))
    per_method["uf1"] = preds.groupby("method").apply(lambda p: uf1(p["y_true"], p["y_pred"], n_classes))
    return wall, cpu, per_method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="htnet,baseline")
    parser.add_argument("--protocol", default="composite")
    parser.add_argument("--workers", default="auto")
    parser.add_argument("--order", choices=("old-first", "new-first"), default="old-first",
                        help="which grid runs first (run both orders to see drift in the machine's load)")
    args = parser.parse_args()
    methods = tuple(expand_method_selection(args.methods))
    workers = args.workers if args.workers == "auto" else int(args.workers)
    old_params = tuple((f"{m}.{k}", v) for m, preset in OLD_QUICK.items() if m in methods for k, v in preset.items())
    with tempfile.TemporaryDirectory() as tmp:
        base = dict(methods=methods, protocol=args.protocol, preset="quick", executor="local", workers=workers,
                    cache_dir=Path(tmp) / "cache")
        run_grid(RunConfig(out=Path(tmp) / "warm", **{**base, "methods": ("majority",), "executor": "serial"}))
        grids = {"old": RunConfig(out=Path(tmp) / "old", params=old_params, **base),
                 "new": RunConfig(out=Path(tmp) / "new", **base)}
        order = ("old", "new") if args.order == "old-first" else ("new", "old")
        print(f"grid: {', '.join(methods)} | preset quick | protocol {args.protocol} | synthetic | local, workers {workers}",
              flush=True)
        measured = {}
        for name in order:
            measured[name] = run_timed(grids[name])
            wall, cpu, per_method = measured[name]
            print(f"{name} presets: {int(per_method['cells'].sum())} cells, {wall:6.1f} s wall, {cpu:6.1f} s CPU, "
                  f"{per_method['cell_seconds'].sum():6.1f} cell-seconds", flush=True)
        (old_wall, old_cpu, old), (new_wall, new_cpu, new) = measured["old"], measured["new"]
        print(f"new/old: wall x{new_wall / old_wall:.2f}, CPU x{new_cpu / old_cpu:.2f}, cell-seconds "
              f"x{new['cell_seconds'].sum() / old['cell_seconds'].sum():.2f}")
        table = pd.DataFrame({"old cell-s": old["cell_seconds"], "new cell-s": new["cell_seconds"],
                              "new/old": new["cell_seconds"] / old["cell_seconds"],
                              "old UF1": old["uf1"], "new UF1": new["uf1"]})
        print(table.sort_values("old cell-s", ascending=False).to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
