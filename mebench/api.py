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
from typing import Any, Callable, Mapping, Sequence

from mebench.errors import ConfigError
from mebench.plan import RunPlan
from mebench.progress import CellFinished, Progress
from mebench.runner import RunSummary

__all__ = ["run", "plan_run", "execute", "evaluate", "report", "study", "status", "errors", "training_history"]


def as_list(value: Any, name: str, example: str) -> list:
    """`value` as a list; a bare string where a list is meant is an error (it would iterate by character)."""
    if isinstance(value, (str, bytes)):
        raise ConfigError(f"{name} takes a list, e.g. {example}, not the string {value!r}")
    try:
        return list(value)
    except TypeError:
        raise ConfigError(f"{name} takes a list, e.g. {example}, not {value!r}") from None


def plan_run(methods: Sequence[str], *, protocol: str = "composite", data: Sequence[str] = ("synthetic",),
             preset: str = "paper", seeds: Sequence[int] = (0,), epoch_selection: Sequence[str] = ("final",),
             validation_subjects: int = 4, patience: int | None = None, record_epochs: bool = False,
             params: Mapping[str, Any] | None = None, out: str | Path = "mebench-results", rerun: bool = False,
             cache_dir: str | Path | None = None, pipeline: str = "", precision: str = "fp32", device: str = "auto",
             executor: str = "serial", workers: int | str = "auto", cells_per_gpu: int = 1, retries: int = 1,
             ray_address: str | None = None, cell_timeout: float | None = None, tuning: Sequence[str] = (),
             grid: Mapping[str, Sequence[Any]] | Sequence[tuple[str, Sequence[Any]]] | None = None,
             tracker: str | None = None) -> RunPlan:
    """Check and resolve a run without running it or touching its folder: the returned `mebench.plan.RunPlan`
    holds the methods as resolved (`.methods`: class, checked parameters, selections, search), the dataset, the
    folds and every planned cell (`.cells`); `mebench.execute(plan)` runs it (`mebench.run` does both).

    methods: names, tags ("baseline") or "all", e.g. ["htnet", "baseline"]. protocol: a name with
    options, e.g. "loso:classes=casme2-5". data: KIND or KIND:PATH specs, combined into one dataset.
    epoch_selection: e.g. ["final", "oracle"] (one training gives both). params: NAME -> value for
    every method that has NAME, or "METHOD.NAME" -> value for one method. executor: "serial" (the
    default here), "local", "ray" or "auto" (the CLI's default). cell_timeout: seconds a cell may run before
    it fails and is retried (None: no limit). tuning: hyperparameter-search rules, e.g. ["nested", "test-scored"]
    (mebench.tuning); grid: NAME (or "METHOD.NAME") -> the values to search, e.g. {"lr": [1e-4, 1e-3]}; without it a
    method's declared search space is searched. tracker: "tensorboard" or "mlflow" also writes every training's
    per-epoch loss, accuracy and learning rate through that library (the extra `mebench[tensorboard]` /
    `mebench[mlflow]`); the run folder records them either way (`training_history`).
    Raises a MebenchError for anything invalid."""
    from mebench.plan import RunConfig, prepare_run
    from mebench.plugins import expand_method_selection
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
                       cell_timeout=cell_timeout, tuning=tuple(str(r) for r in rules), grid=grid_items,
                       tracker=tracker or "")
    return prepare_run(config)


def execute(plan: RunPlan, *, progress: Progress | Callable[[CellFinished], object] | None = None) -> RunSummary:
    """Run a prepared plan (`plan_run`, or `mebench.checkpoints.prepare_evaluation`): every cell not finished yet
    goes to the plan's executor and is stored as it finishes. Returns the RunSummary; progress as for `run`."""
    from mebench.runner import execute_plan

    if not isinstance(plan, RunPlan):
        raise ConfigError(f"execute takes a plan from mebench.plan_run, not {type(plan).__name__}")
    return execute_plan(plan, progress)


def run(methods: Sequence[str], *, progress: Progress | Callable[[CellFinished], object] | None = None,
        **options: Any) -> RunSummary:
    """Run every method on every fold and seed of a protocol into the run folder `out`; cells finished before are
    skipped (resume). `execute(plan_run(methods, **options), progress=progress)` in one call: `options` are
    `plan_run`'s keyword arguments (protocol, data, preset, seeds, epoch_selection, params, out, executor, ...).
    progress: a function called with a `mebench.progress.CellFinished` (method, fold, seed, ok, done, total,
    elapsed_s, eta_s) after every cell, or a `mebench.progress.Progress` (e.g. `LineProgress()`, plain lines for a
    log or notebook); None shows nothing. Returns the run's summary (cells run, skipped, failed, and notes).
    Raises a MebenchError for anything invalid, before anything trains."""
    return execute(plan_run(methods, **options), progress=progress)


def evaluate(method: str, weights: str | Path, *, protocol: str = "composite", data: Sequence[str] = ("synthetic",),
             config: Mapping[str, Any] | None = None, out: str | Path = "mebench-results",
             cache_dir: str | Path | None = None, pipeline: str = "", device: str = "auto", executor: str = "serial",
             workers: int | str = "auto",
             progress: Progress | Callable[[CellFinished], object] | None = None) -> RunSummary:
    """Evaluate released per-fold checkpoints (`<subject>.pth`) of `method` without training; stored and
    reported like a run (epoch selection `checkpoint`). config: the published constructor arguments,
    e.g. {"block_repeats": [2, 2, 8]}. executor, workers: as for `run` (each fold is one cell). progress: as for
    `run`, one event per evaluated fold."""
    from mebench.checkpoints import EvaluateConfig, evaluate_checkpoints

    if not isinstance(method, str):
        raise ConfigError(f"method takes one method name, not {method!r}")
    data = as_list(data, "data", "['htnet-release:/data/htnet-release']") or ["synthetic"]
    cfg = EvaluateConfig(method=method, weights=Path(weights), protocol=protocol, out=Path(out),
                         data=data[0] if len(data) == 1 else tuple(data), config=tuple(dict(config or {}).items()),
                         cache_dir=Path(cache_dir) if cache_dir else None, pipeline=pipeline, device=device,
                         executor=executor, workers=workers)
    return evaluate_checkpoints(cfg, progress)


def report(run_dirs: str | Path | Sequence[str | Path], *, out: str | Path | None = None, reference: str | None = None,
           published: bool = False, resamples: int = 2000, permutations: int = 10000, seed: int = 0,
           figures: bool = True, digits: int = 4, percent: bool = False, seeds: Sequence[int] | None = None,
           write: bool = True, label_prefix: str = "mebench"):
    """Write the report of one run folder (into it, or `out`), or of several together (`out` required):
    tables (LaTeX, Markdown, CSV), tests against a reference, figures, report.md and report.html; `seeds` reports
    only those seeds' cells (e.g. the finished ones while others still run). Returns the Report:
    `.summary` (DataFrame: method, protocol, group, metric, mean, std, CI), `.stats`, `.files`, `.tables` (every
    CSV's DataFrame by name: results, predictions, folds, summary, stats, methods, ...), `.predictions`.
    `write=False` (without `out`) computes the same tables and writes no file at all. `label_prefix`: the LaTeX
    tables' labels are tab:PREFIX-PROTOCOL (unique when several reports go into one paper)."""
    from mebench.reports.writer import write_report

    dirs = [run_dirs] if isinstance(run_dirs, (str, Path)) else as_list(run_dirs, "run_dirs", "['runs/a', 'runs/b']")
    if not dirs:
        raise ConfigError("report needs a run folder")
    if len(dirs) > 1 and out is None and write:
        raise ConfigError("reporting several run folders together needs out: the folder to write the report into")
    if not write and out is not None:
        raise ConfigError(f"out={str(out)!r} with write=False: a report that writes nothing has no folder")
    if resamples < 1 or permutations < 1:
        raise ConfigError("resamples and permutations must be positive")
    if seeds is not None:
        seeds = list(dict.fromkeys(as_list(seeds, "seeds", "[0, 1, 2]")))
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ConfigError(f"seeds {seeds!r}: expected whole numbers, e.g. [0, 1, 2]")
    return write_report([Path(d) for d in dirs] if len(dirs) > 1 else Path(dirs[0]), out, reference=reference,
                        published=published, n_resamples=resamples, n_permutations=permutations, seed=seed,
                        figures=figures, digits=digits, percent=percent, seeds=seeds, write=write,
                        label_prefix=label_prefix)


def study(path: str | Path, *, data: Mapping[str, str | Path] | None = None, root: str | Path | None = None,
          dry_run: bool = False, progress: Callable[[Any], Any] | None = None,
          started: Callable[[Any], None] | None = None):
    """Run a study file (mebench.study_file): every `[run.NAME]` and `[evaluate.NAME]` (each resumes), then every
    `[report.NAME]`, after checking the whole file. data: the file's [data] entries -> their paths, e.g.
    {"htnet-release": "/data/htnet-release"} (overriding paths the file gives); root: the folder its run folders
    are relative to (default: the file's [study] root, else its folder). dry_run: check only; the result's
    `.commands` are the equivalent `mebench run/evaluate/report` command lines. progress(step): the progress of a
    run's cells, as for `run`; started(step): told of each step before it runs. Returns a StudyResult."""
    from mebench.study_file import StudyResult, load_study, run_study

    checked = load_study(path, data={k: str(v) for k, v in (data or {}).items()}, root=root)
    return StudyResult(checked) if dry_run else run_study(checked, progress, started)


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


def training_history(run_dir: str | Path):
    """Every training epoch of a run folder's finished torch cells (a DataFrame: method, display_name, preset,
    params_hash, precision, protocol, fold, seed, training, epoch, train_loss, train_accuracy, lr): the mean
    training loss and accuracy over the epoch's batches, and its learning rate. Empty for folders written before
    mebench recorded them."""
    from mebench.store import ResultStore

    return ResultStore(run_dir).training_epochs()
