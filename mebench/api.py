"""The Python API: `mebench.run`, `mebench.evaluate` and `mebench.report`.

The command line is a thin layer over these three functions. They take lists where the CLI takes
comma lists (and refuse a bare string where a list is meant), check everything before training,
and return objects a notebook can use: a `RunSummary`, and a `Report` whose tables are DataFrames.

    import mebench
    summary = mebench.run(["htnet", "baseline"], protocol="composite", preset="quick", out="runs/demo")
    rep = mebench.report("runs/demo")
    rep.summary          # one row per method, group and metric: mean, std, CI
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from mebench.errors import ConfigError
from mebench.runner import Progress, RunConfig, RunSummary

__all__ = ["run", "evaluate", "report", "status", "errors"]


def as_list(value: Any, name: str, example: str) -> list:
    """`value` as a list; a bare string where a list is meant is an error (it would iterate by character)."""
    if isinstance(value, (str, bytes)):
        raise ConfigError(f"{name} takes a list, e.g. {example}, not the string {value!r}")
    try:
        return list(value)
    except TypeError:
        raise ConfigError(f"{name} takes a list, e.g. {example}, not {value!r}") from None


def run(methods: Sequence[str], *, protocol: str = "composite", data: Sequence[str] = ("synthetic",),
        preset: str = "paper", seeds: Sequence[int] = (0,), epoch_selection: Sequence[str] = ("final",),
        validation_subjects: int = 4, patience: int | None = None, record_epochs: bool = False,
        params: Mapping[str, Any] | None = None, out: str | Path = "mebench-results", rerun: bool = False,
        cache_dir: str | Path | None = None, pipeline: str = "", precision: str = "fp32", device: str = "auto",
        executor: str = "serial", workers: int | str = "auto", cells_per_gpu: int = 1, retries: int = 1,
        ray_address: str | None = None, cell_timeout: float | None = None, tuning: Sequence[str] = (),
        grid: Mapping[str, Sequence[Any]] | Sequence[tuple[str, Sequence[Any]]] | None = None,
        progress: Progress | None = None) -> RunSummary:
    """Run every method on every fold and seed of a protocol into the run folder `out`; cells finished
    before are skipped (resume). Returns the run's summary (cells run, skipped, failed, and notes).

    methods: names, tags ("baseline") or "all", e.g. ["htnet", "baseline"]. protocol: a name with
    options, e.g. "loso:classes=casme2-5". data: KIND or KIND:PATH specs, combined into one dataset.
    epoch_selection: e.g. ["final", "oracle"] (one training gives both). params: NAME -> value for
    every method that has NAME, or "METHOD.NAME" -> value for one method. executor: "serial" (the
    default here), "local", "ray" or "auto" (the CLI's default). cell_timeout: seconds a cell may run before
    it fails and is retried (None: no limit). tuning: hyperparameter-search rules, e.g. ["nested", "test-scored"]
    (mebench.tuning); grid: NAME (or "METHOD.NAME") -> the values to search, e.g. {"lr": [1e-4, 1e-3]}; without it a
    method's declared search space is searched. Raises a MebenchError for anything invalid, before anything trains.
    """
    from mebench.plugins import expand_method_selection
    from mebench.runner import run_grid
    from mebench.selection import EpochSelection

    names = as_list(methods, "methods", "['htnet', 'baseline']")
    if not names:
        raise ConfigError("methods is empty: name methods or tags, e.g. ['htnet', 'baseline']")
    chosen = expand_method_selection(",".join(str(n) for n in names))
    data = as_list(data, "data", "['htnet-release:/data/htnet-release']") or ["synthetic"]
    selections = as_list(epoch_selection, "epoch_selection", "['final', 'oracle']")
    params = dict(params or {})
    if not isinstance(params, Mapping):
        raise ConfigError(f"params takes a mapping NAME -> value, not {params!r}")
    rules = as_list(tuning, "tuning", "['nested', 'test-scored']")
    if grid is None:
        grid = {}
    if not isinstance(grid, Mapping):
        try:
            grid = dict(as_list(grid, "grid", "{'lr': [0.0001, 0.001]}"))
        except (TypeError, ValueError):
            raise ConfigError(f"grid takes a mapping NAME -> values, e.g. {{'lr': [0.0001, 0.001]}}, not {grid!r}") from None
    grid_items = tuple((str(k), tuple(as_list(v, f"grid[{k!r}]", "[0.0001, 0.001]"))) for k, v in grid.items())
    config = RunConfig(methods=tuple(chosen), protocol=protocol, out=Path(out),
                       data=data[0] if len(data) == 1 else tuple(data), preset=preset,
                       seeds=tuple(as_list(seeds, "seeds", "[0, 1, 2]")),
                       selection=EpochSelection(",".join(selections), validation_subjects, patience, record_epochs),
                       params=tuple(params.items()), rerun=rerun, cache_dir=Path(cache_dir) if cache_dir else None,
                       pipeline=pipeline, precision=precision, device=device, executor=executor, workers=workers,
                       cells_per_gpu=cells_per_gpu, retries=retries, ray_address=ray_address,
                       cell_timeout=cell_timeout, tuning=tuple(str(r) for r in rules), grid=grid_items)
    return run_grid(config, progress)


def evaluate(method: str, weights: str | Path, *, protocol: str = "composite", data: Sequence[str] = ("synthetic",),
             config: Mapping[str, Any] | None = None, out: str | Path = "mebench-results",
             cache_dir: str | Path | None = None, pipeline: str = "", device: str = "auto",
             progress: Progress | None = None) -> RunSummary:
    """Evaluate released per-fold checkpoints (`<subject>.pth`) of `method` without training; stored and
    reported like a run (epoch selection `checkpoint`). config: the published constructor arguments,
    e.g. {"block_repeats": [2, 2, 8]}."""
    from mebench.checkpoints import EvaluateConfig, evaluate_checkpoints

    if not isinstance(method, str):
        raise ConfigError(f"method takes one method name, not {method!r}")
    data = as_list(data, "data", "['htnet-release:/data/htnet-release']") or ["synthetic"]
    cfg = EvaluateConfig(method=method, weights=Path(weights), protocol=protocol, out=Path(out),
                         data=data[0] if len(data) == 1 else tuple(data), config=tuple(dict(config or {}).items()),
                         cache_dir=Path(cache_dir) if cache_dir else None, pipeline=pipeline, device=device)
    return evaluate_checkpoints(cfg, progress)


def report(run_dirs: str | Path | Sequence[str | Path], *, out: str | Path | None = None, reference: str | None = None,
           published: bool = False, resamples: int = 2000, permutations: int = 10000, seed: int = 0,
           figures: bool = True, digits: int = 4, percent: bool = False, seeds: Sequence[int] | None = None):
    """Write the report of one run folder (into it, or `out`), or of several together (`out` required):
    tables (LaTeX, Markdown, CSV), tests against a reference, figures and report.md; `seeds` reports only
    those seeds' cells (e.g. the finished ones while others still run). Returns the Report:
    `.summary` (DataFrame: method, protocol, group, metric, mean, std, CI), `.stats`, `.files`, ..."""
    from mebench.reports.writer import write_report

    dirs = [run_dirs] if isinstance(run_dirs, (str, Path)) else as_list(run_dirs, "run_dirs", "['runs/a', 'runs/b']")
    if not dirs:
        raise ConfigError("report needs a run folder")
    if len(dirs) > 1 and out is None:
        raise ConfigError("reporting several run folders together needs out: the folder to write the report into")
    if resamples < 1 or permutations < 1:
        raise ConfigError("resamples and permutations must be positive")
    if seeds is not None:
        seeds = list(dict.fromkeys(as_list(seeds, "seeds", "[0, 1, 2]")))
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ConfigError(f"seeds {seeds!r}: expected whole numbers, e.g. [0, 1, 2]")
    return write_report([Path(d) for d in dirs] if len(dirs) > 1 else Path(dirs[0]), out, reference=reference,
                        published=published, n_resamples=resamples, n_permutations=permutations, seed=seed,
                        figures=figures, digits=digits, percent=percent, seeds=seeds)


def status(run_dir: str | Path):
    """Cells per method (display name), protocol and training in a run folder: done, running, failed, pending and
    their total (a DataFrame). While a run holds the folder, `running` counts the cells handed to workers; cells
    left running by a run that was stopped count as pending."""
    import pandas as pd

    from mebench.store import ResultStore

    store = ResultStore(run_dir)
    cells = store.cells()
    if not store.in_use():  # cells left running by a run that was stopped are waiting to be resumed
        cells.loc[cells["status"] == "running", "status"] = "pending"
    states = ["done", "running", "failed", "pending"]
    name = cells["display_name"].fillna(cells["method"]) if len(cells) else cells["method"]
    table = (cells.assign(name=name).groupby(["method", "name", "protocol", "training"], sort=False)["status"]
             .value_counts().unstack(fill_value=0).reindex(columns=states, fill_value=0).reset_index())
    table["total"] = table[states].sum(axis=1) if len(table) else 0
    return pd.DataFrame(table)


def errors(run_dir: str | Path):
    """Every failed cell of a run folder with its stored error (a DataFrame: method, fold, seed, training,
    finished_at, error; the error's whole text, traceback included)."""
    from mebench.store import ResultStore

    cells = ResultStore(run_dir).cells()
    failed = cells[cells["status"] == "failed"]
    return failed[["method", "protocol", "fold", "seed", "training", "finished_at", "error"]].reset_index(drop=True)
