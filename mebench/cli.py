"""The `mebench` command line: thin commands over the Python API.

Every MebenchError becomes one line on stderr and exit code 2 (the traceback only with --debug);
failed cells make `run` exit with code 1 after the whole grid has run.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from mebench.errors import ConfigError, MebenchError

app = typer.Typer(help="Benchmark micro-expression recognition methods under honest, tested protocols.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
methods_app = typer.Typer(help="Method plugins.", no_args_is_help=True)
protocols_app = typer.Typer(help="Protocol plugins.", no_args_is_help=True)
datasets_app = typer.Typer(help="Dataset plugins.", no_args_is_help=True)
app.add_typer(methods_app, name="methods")
app.add_typer(protocols_app, name="protocols")
app.add_typer(datasets_app, name="datasets")

PIPELINE_HELP = ("Raw datasets' preprocessing: a preset (htnet-casme3: HTNet's CAS(ME)^3 input) and/or options "
                 "NAME=VALUE,... e.g. flow=farneback,apex=max-flow,face_size=160,tvl1.tau=0.2; options: face "
                 "(dlib|mtcnn), face_size, margin, align, flow (tvl1|farneback), tvl1.*, farneback.*, apex "
                 "(midpoint|max-flow), apex_candidates, size, channels (strain-v-u|u-v-magnitude).")

out = Console()
err = Console(stderr=True)
_state = {"debug": False}  # set per invocation by the app callback


def handles_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mebench.executors import Interrupted

        try:
            return command(*args, **kwargs)
        except Interrupted as exc:
            typer.echo(f"stopped: {exc}", err=True)
            raise typer.Exit(130) from None
        except MebenchError as exc:
            if _state["debug"]:
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


@app.callback()
def main_options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    _state["debug"] = debug or bool(os.environ.get("MEBENCH_DEBUG"))
    warnings.showwarning = _show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one `warning:` line on stderr, in the style of the errors (no source location)."""
    typer.echo(f"warning: {message}", err=True)


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds:
        raise ConfigError("--seeds is empty")
    return seeds


def parse_count(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: a whole number, or auto") from None


def parse_params(items: list[str], option: str = "--param") -> tuple[tuple[str, str], ...]:
    """NAME=VALUE pairs; the values stay text, read later by each parameter's declared type."""
    parsed = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r}: expected NAME=VALUE, e.g. epochs=20")
        parsed.append((key.strip(), raw.strip()))
    return tuple(parsed)


class RichProgress:
    """One bar for all workers: cells done, cells running (and the last one started), time left."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("eta"), TimeRemainingColumn(), console=err, transient=False)
        self.task = None
        self.running: set[str] = set()
        self.last = ""

    def start(self, total: int, skipped: int) -> None:
        if skipped:
            err.print(f"resuming: {skipped} of {total} cells already finished")
        self.bar.start()
        self.task = self.bar.add_task("starting", total=total - skipped)

    def _describe(self) -> str:
        return f"{len(self.running)} running | {self.last}"

    def cell_started(self, cell) -> None:
        self.running.add(cell.key)
        self.last = f"{cell.method} | fold {cell.fold} | seed {cell.seed}"
        self.bar.update(self.task, description=self._describe())

    def cell_finished(self, cell, ok: bool) -> None:
        self.running.discard(cell.key)
        if not ok:
            self.bar.console.print(f"[red]failed[/red]: {cell.describe()}")
        self.bar.update(self.task, advance=1, description=self._describe())

    def stop(self) -> None:
        if self.task is not None:
            self.bar.stop()


@app.command(epilog="Example: mebench run --methods htnet,baseline --protocol composite --preset quick")
@handles_errors
def run(
    methods: Annotated[str, typer.Option(help="Method names or tags, comma-separated ('all' for every method).")],
    protocol: Annotated[str, typer.Option(
        help="Protocol, with options as NAME:OPTION=VALUE,... e.g. composite, cross-dataset, loso:classes=casme2-5 "
             "(see `mebench protocols list` and `mebench protocols show NAME`).")] = "composite",
    data: Annotated[Optional[list[str]], typer.Option(
        help="KIND or KIND:PATH, e.g. synthetic, htnet-release:/data/htnet; repeat to combine datasets "
             "(--data smic:/d/SMIC --data casme2:/d/CASME2 --data samm:/d/SAMM). Default: synthetic.")] = None,
    preset: Annotated[str, typer.Option(help="Method preset: paper (published settings) or quick.")] = "paper",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    epoch_selection: Annotated[str, typer.Option(
        help="final (last epoch, default), epoch:E (epoch E of every fold), validation (best epoch on held-out "
             "training subjects) or oracle (best epoch on the test subject: the published protocol, leaky); a comma "
             "list reads several from one training, e.g. final,oracle (validation trains on its own).")] = "final",
    record_epochs: Annotated[bool, typer.Option(
        "--record-epochs", help="Keep every epoch's test predictions (learning curves; selections derived later).")] = False,
    validation_subjects: Annotated[int, typer.Option(help="Training subjects held out per fold by --epoch-selection validation.")] = 4,
    patience: Annotated[Optional[int], typer.Option(help="Early stopping patience in epochs for --epoch-selection validation.")] = None,
    precision: Annotated[str, typer.Option(help="fp32 (default), bf16 or fp16 (autocast); part of every result's identity.")] = "fp32",
    device: Annotated[str, typer.Option(help="auto (CUDA when torch sees a GPU, else CPU), cpu, cuda, cuda:N or mps; "
                                             "where cells run, not part of their identity.")] = "auto",
    executor: Annotated[str, typer.Option(
        help="auto (a pool of worker processes when the grid is big enough, default), serial, local (worker "
             "processes on this machine) or ray (a Ray cluster: --ray-address, or a local instance).")] = "auto",
    workers: Annotated[str, typer.Option(
        help="Worker processes (local) or cells in flight (ray); auto: one per GPU times --cells-per-gpu, else one "
             "per core, the cores split between them.")] = "auto",
    cells_per_gpu: Annotated[int, typer.Option(help="Cells run at once on one GPU (small models leave it idle).")] = 1,
    retries: Annotated[int, typer.Option(help="Tries again a cell whose worker died (killed, out of memory, node lost).")] = 1,
    ray_address: Annotated[Optional[str], typer.Option(help="Join this Ray cluster (e.g. HEAD:6379) with --executor ray.")] = None,
    param: Annotated[Optional[list[str]], typer.Option(help="NAME=VALUE override for every method that has NAME; repeatable.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder holding the results database.")] = Path("mebench-results"),
    rerun: Annotated[bool, typer.Option(help="Recompute cells that are already finished.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Feature cache (default $MEBENCH_CACHE or ~/.cache/mebench).")] = None,
    pipeline: Annotated[str, typer.Option(help=PIPELINE_HELP)] = "",
) -> None:
    """Run every method on every fold and seed of a protocol; finished cells are skipped, so an
    interrupted run resumes where it stopped."""
    from mebench.plugins import expand_method_selection
    from mebench.runner import RunConfig, run_grid
    from mebench.selection import EpochSelection

    data = data or ["synthetic"]
    config = RunConfig(methods=tuple(expand_method_selection(methods)), protocol=protocol, out=out_dir,
                       data=data[0] if len(data) == 1 else tuple(data),
                       preset=preset, seeds=parse_seeds(seeds),
                       selection=EpochSelection(epoch_selection, validation_subjects, patience, record_epochs),
                       params=parse_params(param or []), rerun=rerun, cache_dir=cache_dir, pipeline=pipeline,
                       precision=precision, device=device, executor=executor,
                       workers=workers if workers == "auto" else parse_count(workers, "--workers"),
                       cells_per_gpu=cells_per_gpu, retries=retries, ray_address=ray_address)
    err.print(f"methods: {', '.join(config.methods)} | protocol: {protocol} | data: {' + '.join(data)} | preset: {preset} | "
              f"seeds: {','.join(map(str, config.seeds))} | epoch selection: {epoch_selection}"
              + (f" | pipeline: {pipeline}" if pipeline else ""), markup=False, highlight=False)
    if "oracle" in config.selection.names:
        err.print("[yellow]warning[/yellow]: oracle epoch selection picks epochs on the test subject; results are marked leaky")
    progress = RichProgress()
    try:
        summary = run_grid(config, progress)
    finally:
        progress.stop()
    err.print(f"{summary.done} cells run, {summary.skipped} already finished, {len(summary.failed)} failed; "
              f"results in {out_dir}")
    if summary.failed:
        for what, error in summary.failed:
            typer.echo(f"failed: {what}: {error}", err=True)
        typer.echo(f"error: {len(summary.failed)} of {summary.total} cells failed (errors stored in {out_dir}); "
                   "rerun the same command to retry them", err=True)
        raise typer.Exit(1)


@app.command(epilog="Example: mebench evaluate --method ststnet --weights STSTNet_Weights "
                     "--data htnet-release:/data/htnet-release --protocol composite")
@handles_errors
def evaluate(
    method: Annotated[str, typer.Option(help="Method whose network the checkpoints hold.")],
    weights: Annotated[Path, typer.Option(help="Folder of per-fold state dicts named <subject>.pth.")],
    protocol: Annotated[str, typer.Option(help="Protocol (with its options) whose folds the checkpoints belong to.")] = "composite",
    data: Annotated[Optional[list[str]], typer.Option(
        help="KIND or KIND:PATH, e.g. htnet-release:/data/htnet; repeat to combine datasets. Default: synthetic.")] = None,
    config: Annotated[Optional[list[str]], typer.Option(help="NAME=VALUE published constructor argument, e.g. block_repeats=[2,2,8]; repeatable.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder holding the results database.")] = Path("mebench-results"),
    cache_dir: Annotated[Optional[Path], typer.Option(help="Feature cache (default $MEBENCH_CACHE or ~/.cache/mebench).")] = None,
    pipeline: Annotated[str, typer.Option(help=PIPELINE_HELP)] = "",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
) -> None:
    """Evaluate released per-fold checkpoints without training; results are stored like a run's,
    marked as evaluated checkpoints."""
    from mebench.evaluate import EvaluateConfig, evaluate_checkpoints

    data = data or ["synthetic"]
    cfg = EvaluateConfig(method=method, weights=weights, protocol=protocol, out=out_dir,
                         data=data[0] if len(data) == 1 else tuple(data),
                         config=parse_params(config or [], "--config"), cache_dir=cache_dir, pipeline=pipeline,
                         device=device)
    progress = RichProgress()
    try:
        summary = evaluate_checkpoints(cfg, progress)
    finally:
        progress.stop()
    err.print(f"{summary.done} folds evaluated, {len(summary.failed)} failed; results in {out_dir}")
    if summary.failed:
        for what, error in summary.failed:
            typer.echo(f"failed: {what}: {error}", err=True)
        typer.echo(f"error: {len(summary.failed)} of {summary.total} checkpoints could not be evaluated", err=True)
        raise typer.Exit(1)


@app.command(epilog="Example: mebench report mebench-results --reference htnet --published")
@handles_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `mebench run --out`.")] = Path("mebench-results"),
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Where to write the files (default: RUN_DIR).")] = None,
    reference: Annotated[Optional[str], typer.Option(
        help="Method every other one is tested against, as labelled in the tables, e.g. 'htnet' or "
             "'htnet (oracle)' (default: the first method named in the run).")] = None,
    published: Annotated[bool, typer.Option(
        help="Add the published MEGC2019 composite figures (HTNet paper table, shipped with mebench) as marked rows.")] = False,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of subjects for the confidence intervals.")] = 2000,
    permutations: Annotated[int, typer.Option(help="Random subject swaps of the paired permutation test.")] = 10000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the permutation test.")] = 0,
    figures: Annotated[bool, typer.Option(help="Draw the figures (PDF and PNG).")] = True,
    digits: Annotated[int, typer.Option(help="Digits after the point in the tables (the field often prints 2).")] = 4,
    percent: Annotated[bool, typer.Option("--percent", help="Print scores as percentages (e.g. --percent --digits 1).")] = False,
) -> None:
    """Write the results section of a paper into the run folder: tables (LaTeX, Markdown, CSV),
    statistical tests against a reference method, figures and report.md; print the table."""
    from reports.tables import terminal_table
    from reports.writer import write_report

    if resamples < 1 or permutations < 1:
        raise ConfigError("--resamples and --permutations must be positive")
    rep = write_report(run_dir, out_dir, reference=reference, published=published, n_resamples=resamples,
                       n_permutations=permutations, seed=seed, figures=figures, digits=digits, percent=percent)
    for protocol in rep.protocols:
        out.print(terminal_table(rep.shown_summary, protocol, rep.shown_incomplete, rep.fmt))
    out.print(f"reference method: {rep.reference}")
    for note in rep.notes:
        out.print(f"note: {note}", markup=False, highlight=False)
    for path in rep.files:
        out.print(f"wrote {path}", markup=False, highlight=False)


@methods_app.command("list", epilog="Example: mebench methods list")
@handles_errors
def methods_list() -> None:
    """Names, tags, input representation and presets of every method; broken plugins are reported."""
    from mebench import plugins

    loaded, broken = plugins.methods.load_all()
    table = Table(title="methods")
    for col in ("name", "tags", "input", "presets", "summary"):
        table.add_column(col)
    for name, cls in loaded.items():
        info = cls.info
        table.add_row(name, ", ".join(info.tags), info.input, ", ".join(info.presets), info.summary)
    for name, error in broken.items():
        table.add_row(name, "", "", "", f"[red]BROKEN[/red]: {error}")
    out.print(table)


@methods_app.command("show", epilog="Example: mebench methods show htnet")
@handles_errors
def methods_show(name: Annotated[str, typer.Argument(help="Method name, e.g. htnet or timm:resnet18.")]) -> None:
    """Citation, code, input, tags, presets and every parameter with its default."""
    from mebench import plugins
    from mebench.representations import REPRESENTATIONS

    cls = plugins.methods.get(name)
    info = cls.info
    out.print(f"[bold]{info.name}[/bold]: {info.summary}")
    for line in (f"citation: {info.citation}", f"code: {info.code_url or '-'}", f"tags: {', '.join(info.tags) or '-'}",
                 f"input: {info.input}: {REPRESENTATIONS[info.input].explain()}"):
        out.print(line, markup=False, highlight=False)
    table = Table(title="parameters")
    table.add_column("parameter")
    table.add_column("default")
    for preset in info.presets:
        table.add_column(f"preset {preset}")
    for param, default in cls.param_defaults().items():
        table.add_row(param, repr(default), *[repr(p[param]) if param in p else "" for p in info.presets.values()])
    out.print(table)


@protocols_app.command("list", epilog="Example: mebench protocols list")
@handles_errors
def protocols_list() -> None:
    """Every protocol: what it is, its data, classes, folds and citation."""
    from mebench import plugins

    loaded, broken = plugins.protocols.load_all()
    for name, cls in loaded.items():
        typer.echo(f"{name}: {cls.summary}")
        for what, text in (("data", cls.data_text), ("classes", cls.class_text), ("folds", cls.fold_text),
                           ("citation", cls.citation)):
            typer.echo(f"  {what}: {text or '-'}")
    for name, error in broken.items():
        typer.echo(f"{name}: BROKEN: {error}")


@protocols_app.command("show", epilog="Example: mebench protocols show loso:classes=casme2-5")
@handles_errors
def protocols_show(
    spec: Annotated[str, typer.Argument(help="Protocol, optionally with options: NAME[:OPTION=VALUE,...].")],
) -> None:
    """A protocol's description, citation, options with their defaults, and the clips per class of its
    definition (its clip list or class set)."""
    from mebench.protocol import make_protocol

    protocol = make_protocol(spec)
    cls = type(protocol)
    out.print(f"[bold]{protocol.label()}[/bold]: {cls.summary}")
    module_doc = (sys.modules[cls.__module__].__doc__ or "").strip()
    for line in (f"data: {cls.data_text}", f"classes: {cls.class_text}", f"folds: {cls.fold_text or '-'}",
                 f"citation: {cls.citation or '-'}", "", module_doc):
        out.print(line, markup=False, highlight=False)
    specs = cls.option_specs()
    if specs:
        table = Table(title="options")
        for col in ("option", "default", "value", "expected"):
            table.add_column(col)
        for name, spec_ in specs.items():
            table.add_row(name, repr(spec_.default), repr(getattr(protocol, name)), spec_.expected())
        out.print(table)
    counts = protocol.counts()
    if counts is not None:
        table = Table(title="clips per class of the definition")
        table.add_column("dataset")
        for col in counts.columns:
            table.add_column(str(col), justify="right")
        for dataset, row in counts.iterrows():
            table.add_row(str(dataset), *[str(v) for v in row.tolist()])
        if len(counts) > 1:
            total = counts.drop(columns=[c for c in counts.columns if not str(counts[c].dtype).startswith("int")])
            table.add_row("all", *[str(total[c].sum()) if c in total.columns else "" for c in counts.columns])
        out.print(table)


@datasets_app.command("list", epilog="Example: mebench datasets list")
@handles_errors
def datasets_list() -> None:
    """Dataset kinds usable with --data KIND[:PATH]."""
    from mebench import plugins

    loaded, broken = plugins.datasets.load_all()
    table = Table(title="datasets (--data KIND[:PATH])")
    table.add_column("kind")
    table.add_column("description")
    for name, loader in loaded.items():
        doc = (loader.__doc__ or "").strip().splitlines()
        table.add_row(name, doc[0] if doc else "")
    for name, error in broken.items():
        table.add_row(name, f"[red]BROKEN[/red]: {error}")
    out.print(table)


def _raw_spec(spec: str) -> tuple[str, str | None]:
    from mebench.dataset import parse_data_spec
    from mebench.datasets.raw import KINDS

    kind, path = parse_data_spec(spec)
    if kind not in KINDS:
        raise ConfigError(f"{spec!r}: expected RAWKIND:PATH with RAWKIND one of {', '.join(KINDS)}")
    return kind, path



@datasets_app.command("check", epilog="Example: mebench datasets check casme2:/data/CASME2")
@handles_errors
def datasets_check(
    spec: Annotated[str, typer.Argument(help="KIND:PATH, e.g. casme2:/data/CASME2 (casme2, samm, smic, casme3, mmew, "
                                             "htnet-release).")],
    faces: Annotated[bool, typer.Option("--faces/--no-faces", help="Find the face in every onset frame (apex face for "
                                        "htnet-release) and count those where none is found.")] = True,
    pipeline: Annotated[Optional[str], typer.Option(help=PIPELINE_HELP)] = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes for face detection (default: every core).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Feature cache (default $MEBENCH_CACHE or ~/.cache/mebench).")] = None,
) -> None:
    """Validate a dataset tree against its metadata: every problem with its path, then a summary;
    exit code 1 when a problem is fatal (an error)."""
    from mebench.dataset import parse_data_spec
    from mebench.datasets.raw.check import check_tree, report_lines
    from mebench.datasets.raw.pipeline import PipelineConfig

    kind, path = parse_data_spec(spec)
    if kind == "htnet-release":
        from mebench.datasets.htnet_release import check_release

        report = check_release(path, faces=faces, cache_dir=cache_dir)
    else:
        kind, path = _raw_spec(spec)
        config = PipelineConfig.from_text(pipeline) if pipeline is not None else None
        report = check_tree(kind, path, faces=faces, cache_dir=cache_dir, config=config, workers=workers)
    for line in report_lines(report):
        typer.echo(line)
    if report.fatal:
        raise typer.Exit(1)


@datasets_app.command("prepare", epilog="Example: mebench datasets prepare casme2:/data/CASME2")
@handles_errors
def datasets_prepare(
    spec: Annotated[str, typer.Argument(help="RAWKIND:PATH, e.g. samm:/data/SAMM (casme2, samm, smic, casme3, mmew).")],
    pipeline: Annotated[Optional[str], typer.Option(help=PIPELINE_HELP)] = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes (default $MEBENCH_WORKERS, else every core).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Feature cache (default $MEBENCH_CACHE or ~/.cache/mebench).")] = None,
) -> None:
    """Compute and cache every clip's features ahead of a run (faces, flow, strain, regions), using
    every core; an interrupted prepare resumes where it stopped."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mebench.datasets.raw.pipeline import PipelineConfig
    from mebench.datasets.raw.prepare import prepare_dataset

    kind, path = _raw_spec(spec)
    config = PipelineConfig.from_text(pipeline) if pipeline is not None else None
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), console=err)
    task = {}

    def start(_done: int, total: int, _sample: str) -> None:
        task["id"] = bar.add_task(f"{kind}: preparing", total=total)

    def advance(done: int, _total: int, sample: str) -> None:
        bar.update(task["id"], completed=done, description=f"{kind}: {sample}")

    with bar:
        report = prepare_dataset(kind, path, cache_dir=cache_dir, config=config, workers=workers, progress=advance,
                                 start=start)
    for line in report.lines():
        typer.echo(line)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
