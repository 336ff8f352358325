"""The `mebench` command line: thin commands over the Python API (mebench.api).

Every error is one `error:` line on stderr with exit code 2 (the traceback only with --debug),
usage errors included; failed cells make `run` exit with code 1 after the whole grid has run; a run
stopped with Ctrl-C exits with 130 after saying how to resume. Listings are plain text that is
never cut to the terminal's width (or JSON with --json).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from typer.core import TyperGroup

from mebench.errors import ConfigError, MebenchError
from mebench.progress import terminal_progress


class OneLineErrors(TyperGroup):
    """Usage errors (a missing option, an unknown command) as one `error:` line and exit code 2, in the
    style of every other error, instead of a boxed panel."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            result = super().main(args=args, prog_name=prog_name or "mebench", complete_var=complete_var,
                                  standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0  # non-standalone click returns an Exit's code
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("stopped: interrupted", err=True)
            code = 130
        except Exception as exc:  # click's usage errors (typer carries its own click: matched by their shape)
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # `mebench` or `mebench methods` alone: the help
                typer.echo(exc.ctx.get_help() if getattr(exc, "ctx", None) else exc.format_message())
                code = 0
            else:
                typer.echo(f"error: {exc.format_message()}", err=True)
                code = 2
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(cls=OneLineErrors, help="Benchmark micro-expression recognition methods under honest, tested "
                  "protocols.", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None,
                  # help uses the terminal's whole width (click caps it at 80 columns otherwise); subcommands inherit it
                  context_settings={"max_content_width": 10_000})
methods_app = typer.Typer(help="Method plugins.", no_args_is_help=True, rich_markup_mode=None)
protocols_app = typer.Typer(help="Protocol plugins.", no_args_is_help=True, rich_markup_mode=None)
datasets_app = typer.Typer(help="Dataset plugins.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(methods_app, name="methods")
app.add_typer(protocols_app, name="protocols")
app.add_typer(datasets_app, name="datasets")

PIPELINE_HELP = ("Raw datasets' preprocessing: a preset (htnet-casme3: HTNet's CAS(ME)^3 input) and/or options "
                 "NAME=VALUE,... e.g. flow=farneback,apex=max-flow,face_size=160,tvl1.tau=0.2; options: face "
                 "(dlib|mtcnn), face_size, margin, align, flow (tvl1|farneback), tvl1.*, farneback.*, apex "
                 "(midpoint|max-flow), apex_candidates, size, channels (strain-v-u|u-v-magnitude).")
DATA_HELP = ("KIND or KIND:PATH, e.g. synthetic, htnet-release:/data/htnet; repeat to combine datasets "
             "(--data smic:/d/SMIC --data casme2:/d/CASME2 --data samm:/d/SAMM). Default: synthetic.")
CACHE_HELP = "Feature cache folder (default: $MEBENCH_CACHE, else ~/.cache/mebench)."
JSON_HELP = "Print JSON instead of text (for scripts)."
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


def _version(value: bool) -> None:
    if value:
        from mebench.version import __version__

        typer.echo(f"mebench {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print mebench's version and exit.")] = False,
) -> None:
    _state["debug"] = debug or bool(os.environ.get("MEBENCH_DEBUG"))
    warnings.showwarning = _show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one `warning:` line on stderr, in the style of the errors (no source location)."""
    typer.echo(f"warning: {message}", err=True)


def say(text: str = "") -> None:
    typer.echo(text)


def note(text: str) -> None:
    typer.echo(text, err=True)


def text_table(headers: list[str], rows: list[list[Any]], right: set[int] | None = None) -> str:
    """Columns aligned with spaces, nothing cut: lines are as long as their content needs."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    right = right or set()
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
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


def parse_params(items: list[str], option: str = "--param") -> dict[str, str]:
    """NAME=VALUE (or METHOD.NAME=VALUE) pairs; the values stay text, read later by each parameter's type."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r}: expected NAME=VALUE, e.g. epochs=20 or ststnet.epochs=20")
        if key.strip() in parsed:  # "last wins" would silently drop one of the two
            raise ConfigError(f"{option} {key.strip()} is given twice ({key.strip()}={parsed[key.strip()]} and {item}); "
                              "give it once")
        parsed[key.strip()] = raw.strip()
    return parsed


def _finish(summary, what: str, out_dir: Path) -> None:
    for text in summary.notes:
        note(f"note: {text}")
    if summary.failed:
        for cell, error in summary.failed:
            note(f"failed: {cell}: {error}")
        note(f"error: {len(summary.failed)} of {summary.total} {what} failed (errors stored in {out_dir}); "
             "rerun the same command to retry them")
        raise typer.Exit(1)


@app.command(epilog="Example: mebench run --methods htnet,baseline --protocol composite --preset quick")
@handles_errors
def run(
    methods: Annotated[str, typer.Option(help="Method names or tags, comma-separated ('all' for every method).")],
    protocol: Annotated[str, typer.Option(
        help="Protocol, with options as NAME:OPTION=VALUE,... e.g. composite, cross-dataset, loso:classes=casme2-5 "
             "(see `mebench protocols list` and `mebench protocols show NAME`).")] = "composite",
    data: Annotated[Optional[list[str]], typer.Option(help=DATA_HELP)] = None,
    preset: Annotated[str, typer.Option(help="Method preset: paper (published settings) or quick.")] = "paper",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    epoch_selection: Annotated[str, typer.Option(
        help="final (last epoch, default), epoch:E (epoch E of every fold), validation (best epoch on held-out "
             "training subjects), oracle (best epoch on the test subject: the published HTNet protocol, leaky) or "
             "oracle-stop (the first such epoch, stopping at 100%: the published CausalNet protocol, leaky); a comma "
             "list reads several from one training, e.g. final,oracle (validation trains on its own).")] = "final",
    record_epochs: Annotated[bool, typer.Option(
        "--record-epochs", help="Keep every epoch's test predictions (learning curves; selections derived later).")] = False,
    validation_subjects: Annotated[int, typer.Option(
        help="Training subjects held out per fold by --epoch-selection validation.")] = 4,
    patience: Annotated[Optional[int], typer.Option(
        help="Early stopping patience in epochs for --epoch-selection validation.")] = None,
    param: Annotated[Optional[list[str]], typer.Option(
        help="NAME=VALUE for every method that has NAME (the others are named in a note), or METHOD.NAME=VALUE "
             "for one method, e.g. ststnet.epochs=10; repeatable.")] = None,
    tuning: Annotated[str, typer.Option(
        help="Hyperparameter search: how a configuration of the grid is chosen, each rule a result row: nested "
             "(per outer fold, the best on subjects held out from its training subjects, --validation-subjects of "
             "them; honest), test-scored (the best pooled test UF1 over all folds: the published practice, leaky, "
             "marked †), fixed (every configuration its own row); a comma list, e.g. nested,test-scored. Searches "
             "--grid, else each method's declared search space (`mebench methods show NAME`).")] = "",
    grid: Annotated[Optional[list[str]], typer.Option(
        help="NAME=V1|V2|... (or METHOD.NAME=V1|V2|...): a parameter's values to search with --tuning, read like "
             "--param values, e.g. lr=0.0001|0.001 or causalnet.block_repeats=[2,2,8]|[3,3,9]; repeatable (the grid is "
             "every combination, in the order given).")] = None,
    precision: Annotated[str, typer.Option(
        help="fp32 (default), bf16 or fp16 (autocast); part of every result's identity.")] = "fp32",
    device: Annotated[str, typer.Option(help="auto (CUDA when torch sees a GPU, else CPU), cpu, cuda, cuda:N or mps; "
                                             "where cells run, not part of their identity.")] = "auto",
    executor: Annotated[str, typer.Option(
        help="auto (a pool of worker processes when the grid is big enough, default), serial, local (worker "
             "processes on this machine) or ray (a Ray cluster: --ray-address, or a local instance).")] = "auto",
    workers: Annotated[str, typer.Option(
        help="Worker processes (local) or cells in flight (ray); auto: one per GPU times --cells-per-gpu, else one "
             "per core, the cores split between them.")] = "auto",
    cells_per_gpu: Annotated[int, typer.Option(help="Cells run at once on one GPU (small models leave it idle).")] = 1,
    retries: Annotated[int, typer.Option(
        help="Tries again a cell whose worker died (killed, out of memory, node lost), stalled or timed out.")] = 1,
    cell_timeout: Annotated[Optional[float], typer.Option(
        help="Seconds one cell may run before it fails (and is retried under --retries); default: no limit, but a "
             "cell running far longer than the others is named in a warning.")] = None,
    ray_address: Annotated[Optional[str], typer.Option(
        help="Join this Ray cluster (e.g. HEAD:6379) with --executor ray.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder holding the results database.")] = Path("mebench-results"),
    rerun: Annotated[bool, typer.Option(help="Recompute cells that are already finished.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help=CACHE_HELP)] = None,
    pipeline: Annotated[str, typer.Option(help=PIPELINE_HELP)] = "",
    tracker: Annotated[Optional[str], typer.Option(
        help="Also write every training's per-epoch loss, accuracy and learning rate through tensorboard (into "
             "OUT/tensorboard) or mlflow (its tracking URI); the extras mebench[tensorboard] / mebench[mlflow]. The "
             "run folder records them either way.")] = None,
) -> None:
    """Run every method on every fold and seed of a protocol; finished cells are skipped, so an
    interrupted run resumes where it stopped."""
    from mebench import api
    from mebench.selection import is_leaky
    from mebench.tuning import parse_grid_text

    data = data or ["synthetic"]
    plan = api.plan_run(methods.split(","), protocol=protocol, data=data, preset=preset, seeds=parse_seeds(seeds),
                        epoch_selection=epoch_selection.split(","), validation_subjects=validation_subjects,
                        patience=patience, record_epochs=record_epochs, params=parse_params(param or []),
                        tuning=[t for t in tuning.split(",") if t.strip()], grid=parse_grid_text(grid or []),
                        out=out_dir, rerun=rerun, cache_dir=cache_dir, pipeline=pipeline, precision=precision,
                        device=device, executor=executor,
                        workers=workers if workers == "auto" else parse_count(workers, "--workers"),
                        cells_per_gpu=cells_per_gpu, retries=retries, ray_address=ray_address,
                        cell_timeout=cell_timeout, tracker=tracker)
    note(f"methods: {', '.join(plan.methods)} | protocol: {protocol} | data: {' + '.join(data)} | preset: {preset} | "
         f"seeds: {seeds} | epoch selection: {epoch_selection}" + (f" | pipeline: {pipeline}" if pipeline else ""))
    if any(is_leaky(s.strip()) for s in epoch_selection.split(",")):
        note("warning: oracle epoch selection picks epochs on the test subject; results are marked leaky")
    if "test-scored" in [t.strip() for t in tuning.split(",")]:
        note("warning: --tuning test-scored picks the configuration on the test predictions; its results are marked "
             "leaky")
    bar = terminal_progress()
    try:
        summary = api.execute(plan, progress=bar)
    finally:
        bar.stop()
    note(f"{summary.done} cells run, {summary.skipped} already finished, {len(summary.failed)} failed; "
         f"results in {out_dir}")
    _finish(summary, "cells", out_dir)


@app.command(epilog="Example: mebench evaluate --method ststnet --weights STSTNet_Weights "
                     "--data htnet-release:/data/htnet-release --protocol composite")
@handles_errors
def evaluate(
    method: Annotated[str, typer.Option(help="Method whose network the checkpoints hold.")],
    weights: Annotated[Path, typer.Option(help="Folder of per-fold state dicts named <subject>.pth.")],
    protocol: Annotated[str, typer.Option(help="Protocol (with its options) whose folds the checkpoints belong to.")] = "composite",
    data: Annotated[Optional[list[str]], typer.Option(help=DATA_HELP)] = None,
    config: Annotated[Optional[list[str]], typer.Option(
        help="NAME=VALUE published constructor argument, e.g. block_repeats=[2,2,8]; repeatable.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder holding the results database.")] = Path("mebench-results"),
    cache_dir: Annotated[Optional[Path], typer.Option(help=CACHE_HELP)] = None,
    pipeline: Annotated[str, typer.Option(help=PIPELINE_HELP)] = "",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    executor: Annotated[str, typer.Option(
        help="serial (default), local (worker processes) or ray: where the folds' evaluations run, as for a run.")] = "serial",
    workers: Annotated[str, typer.Option(help="Worker processes (local) or evaluations in flight (ray).")] = "auto",
) -> None:
    """Evaluate released per-fold checkpoints without training; results are stored like a run's,
    marked as evaluated checkpoints."""
    from mebench import api

    bar = terminal_progress()
    try:
        summary = api.evaluate(method, weights, protocol=protocol, data=data or ["synthetic"],
                               config=parse_params(config or [], "--config"), out=out_dir, cache_dir=cache_dir,
                               pipeline=pipeline, device=device, executor=executor,
                               workers=workers if workers == "auto" else parse_count(workers, "--workers"),
                               progress=bar)
    finally:
        bar.stop()
    note(f"{summary.done} folds evaluated, {len(summary.failed)} failed; results in {out_dir}")
    _finish(summary, "checkpoints", out_dir)


@app.command(epilog="Example: mebench report mebench-results --reference htnet --published")
@handles_errors
def report(
    run_dirs: Annotated[Optional[list[Path]], typer.Argument(
        help="Run folders written by `mebench run --out` (default: mebench-results); several are reported together "
             "into --out.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", help="Where to write the files (default: the run folder; required for several).")] = None,
    reference: Annotated[Optional[str], typer.Option(
        help="Method every other one is tested against, as labelled in the CSVs, e.g. 'htnet' or "
             "'htnet (oracle)' (default: the first method of the run's --methods).")] = None,
    published: Annotated[bool, typer.Option(
        help="Add the published MEGC2019 composite figures (HTNet paper table, shipped with mebench) as marked rows.")] = False,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of subjects for the confidence intervals.")] = 2000,
    permutations: Annotated[int, typer.Option(help="Random subject swaps of the paired permutation test.")] = 10000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the permutation test.")] = 0,
    figures: Annotated[bool, typer.Option(help="Draw the figures (PDF and PNG).")] = True,
    digits: Annotated[int, typer.Option(help="Digits after the point in the tables (the field often prints 2).")] = 4,
    percent: Annotated[bool, typer.Option(
        "--percent", help="Print scores as percentages (e.g. --percent --digits 1).")] = False,
    seeds: Annotated[Optional[str], typer.Option(
        help="Report only these comma-separated seeds (e.g. the finished ones while others still run); "
             "default: every seed in the run folders.")] = None,
    label_prefix: Annotated[str, typer.Option(
        help="The LaTeX tables' labels are tab:PREFIX-PROTOCOL: a prefix per report keeps them unique in one "
             "paper.")] = "mebench",
) -> None:
    """Write the results section of a paper: tables (LaTeX, Markdown, CSV), statistical tests against a
    reference method, figures and report.md; print the table."""
    from mebench import api

    dirs = run_dirs or [Path("mebench-results")]
    rep = api.report(dirs if len(dirs) > 1 else dirs[0], out=out_dir, reference=reference, published=published,
                     resamples=resamples, permutations=permutations, seed=seed, figures=figures, digits=digits,
                     percent=percent, seeds=parse_seeds(seeds) if seeds is not None else None,
                     label_prefix=label_prefix)
    show_report(rep)


def show_report(rep) -> None:
    from mebench.reports.tables import terminal_table

    for protocol in rep.protocols:
        say(terminal_table(rep.shown_summary, protocol, rep.shown_incomplete, rep.fmt, rep.shown_mixed))
        say()
    say(f"reference method: {rep.reference}")
    for text in rep.notes:
        say(f"note: {text}")
    for path in rep.files:
        say(f"wrote {path}")


@app.command(epilog="Example: mebench study studies/readme-results.toml --data htnet-release=/data/htnet-release "
                     "--dry-run")
@handles_errors
def study(
    path: Annotated[Path, typer.Argument(help="Study file (TOML): its runs, evaluations and reports; see "
                                              "studies/readme-results.toml.")],
    data: Annotated[Optional[list[str]], typer.Option(
        help="NAME=PATH: the path of the study's [data.NAME] entry (overrides the file's); repeatable.")] = None,
    root: Annotated[Optional[Path], typer.Option(
        help="Folder the study's run folders are relative to (default: the file's [study] root, else its folder).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the study and print the equivalent mebench "
                                                            "commands; run nothing.")] = False,
) -> None:
    """Run a study file: every run and evaluation (each resumes where it stopped), then every report. The whole
    file is checked first."""
    from mebench import api
    from mebench.study_file import parse_path_overrides

    overrides = parse_path_overrides(data or [])
    if dry_run:
        for command in api.study(path, data=overrides, root=root, dry_run=True).commands:
            say(command)
        return
    outcome = api.study(path, data=overrides, root=root, progress=lambda step: terminal_progress(),
                        started=lambda step: note(f"{step.label}: {step.command()}"))
    for step, result in outcome.results:
        if step.command_name == "report":
            show_report(result)
            continue
        for text in result.notes:
            note(f"note: {step.label}: {text}")
        note(f"{step.label}: {result.done} cells run, {result.skipped} already finished, {len(result.failed)} failed")
    if outcome.failed:
        note(f"error: {len(outcome.failed)} of the study's runs have failed cells (errors stored in their run "
             "folders; `mebench errors FOLDER` prints them); run the study again to retry them")
        raise typer.Exit(1)


@app.command(epilog="Example: mebench status mebench-results")
@handles_errors
def status(run_dir: Annotated[Path, typer.Argument(help="Run folder (mebench run --out).")] = Path("mebench-results"),
           as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Cells done, running, failed and pending per method of a run folder (also while the run goes on)."""
    from mebench import api

    table = api.status(run_dir)
    if as_json:
        _json(table.to_dict("records"))
        return
    columns = ["done", "running", "failed", "pending", "total"]
    say(text_table(["method", "protocol", "training", *columns],
                   [[r["name"], r["protocol"], r["training"], *(int(r[c]) for c in columns)] for _, r in table.iterrows()],
                   right={3, 4, 5, 6, 7}))
    if table["failed"].sum():
        note(f"{int(table['failed'].sum())} failed cell(s): `mebench errors {run_dir}` prints their errors")


@app.command(epilog="Example: mebench errors mebench-results")
@handles_errors
def errors(run_dir: Annotated[Path, typer.Argument(help="Run folder (mebench run --out).")] = Path("mebench-results"),
           full: Annotated[bool, typer.Option("--full", help="Print each error's whole text (traceback).")] = False) -> None:
    """Each failed cell's stored error (first line, or the whole text with --full)."""
    from mebench import api

    failed = api.errors(run_dir)
    if failed.empty:
        say(f"no failed cell in {run_dir}")
        return
    for _, r in failed.iterrows():
        text = str(r["error"] or "?")
        say(f"{r['method']} fold {r['fold']} seed {r['seed']} ({r['training']}, {r['protocol']}): "
            + (text if full else text.split(chr(10), 1)[0]))


# -- plugins ---------------------------------------------------------------------------------------------
def _json(value: Any) -> None:
    say(json.dumps(value, indent=2, default=str))


def method_record(cls) -> dict[str, Any]:
    from mebench.representations import input_of

    info = cls.info
    specs = cls.param_specs()
    return {"name": info.name, "display_name": info.display_name, "summary": info.summary, "citation": info.citation,
            "code": info.code_url, "tags": list(info.tags), "iterative": info.iterative, "input": info.input,
            "input_definition": input_of(info.input).explain(), "notes": dict(info.notes),
            "search_space": {k: list(v) for k, v in info.search_space.items()},
            "presets": {k: dict(v) for k, v in info.presets.items()},
            "parameters": [{"name": n, "default": s.default, "expected": s.expected(),
                            "presets": {p: v[n] for p, v in info.presets.items() if n in v}} for n, s in specs.items()]}


@methods_app.command("list", epilog="Example: mebench methods list")
@handles_errors
def methods_list(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Names, tags, input representation and presets of every method; broken plugins are reported."""
    from mebench import plugins

    loaded, broken = plugins.methods.load_all()
    if as_json:
        _json([{**method_record(cls), "broken": None} for cls in loaded.values()]
              + [{"name": n, "broken": e} for n, e in broken.items()])
        return
    rows = [[n, c.info.display_name, ", ".join(c.info.tags), c.info.input, ", ".join(c.info.presets), c.info.summary]
            for n, c in loaded.items()] + [[n, "", "", "", "", f"BROKEN: {e}"] for n, e in broken.items()]
    say(text_table(["name", "display name", "tags", "input", "presets", "summary"], rows))


@methods_app.command("show", epilog="Example: mebench methods show htnet")
@handles_errors
def methods_show(name: Annotated[str, typer.Argument(help="Method name, e.g. htnet or timm:resnet18.")],
                 as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Citation, code, input (with its definition), tags, presets and every parameter with its default and type."""
    from mebench import plugins

    record = method_record(plugins.methods.get(name))
    if as_json:
        _json(record)
        return
    say(f"{record['name']} ({record['display_name']}): {record['summary']}")
    for key in ("citation", "code", "tags", "iterative", "input", "input_definition"):
        value = ", ".join(record[key]) if isinstance(record[key], list) else record[key]
        say(f"{key}: {value if value not in ('', None) else '-'}")
    for heading, text in record["notes"].items():
        say(f"{heading}: {text}")
    if record["search_space"]:
        size = math.prod(len(v) for v in record["search_space"].values())
        say(f"search space ({size} configurations): " + " x ".join(
            f"{k} in {{{', '.join(map(repr, (tuple(x) if isinstance(x, list) else x for x in v)))}}}"
            for k, v in record["search_space"].items()))
    presets = list(record["presets"])
    rows = [[p["name"], repr(p["default"]), *[repr(p["presets"][k]) if k in p["presets"] else "" for k in presets],
             p["expected"]] for p in record["parameters"]]
    say()
    say(text_table(["parameter", "default", *[f"preset {k}" for k in presets], "expected"], rows))


def protocol_record(protocol) -> dict[str, Any]:
    cls = type(protocol)
    counts = protocol.counts()
    return {"name": cls.name, "label": protocol.label(), "summary": cls.summary, "data": cls.data_text,
            "classes": cls.class_text, "folds": cls.fold_text, "citation": cls.citation,
            "options": [{"name": n, "default": s.default, "value": getattr(protocol, n), "expected": s.expected()}
                        for n, s in cls.option_specs().items()],
            "counts": None if counts is None else {str(k): {str(c): (v.item() if hasattr(v, "item") else v)
                                                            for c, v in row.items()} for k, row in counts.iterrows()}}


@protocols_app.command("list", epilog="Example: mebench protocols list")
@handles_errors
def protocols_list(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Every protocol: what it is, its data, classes, folds and citation."""
    from mebench import plugins

    loaded, broken = plugins.protocols.load_all()
    records = [protocol_record(cls()) for cls in loaded.values()]
    if as_json:
        _json(records + [{"name": n, "broken": e} for n, e in broken.items()])
        return
    for r in records:
        say(f"{r['name']}: {r['summary']}")
        for key in ("data", "classes", "folds", "citation"):
            say(f"  {key}: {r[key] or '-'}")
    for name, error in broken.items():
        say(f"{name}: BROKEN: {error}")


@protocols_app.command("show", epilog="Example: mebench protocols show loso:classes=casme2-5")
@handles_errors
def protocols_show(
    spec: Annotated[str, typer.Argument(help="Protocol, optionally with options: NAME[:OPTION=VALUE,...].")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """A protocol's description, citation, options with their defaults, and the clips per class of its
    definition (its clip list or class set)."""
    from mebench.protocol import make_protocol

    protocol = make_protocol(spec)
    record = protocol_record(protocol)
    if as_json:
        _json(record)
        return
    say(f"{record['label']}: {record['summary']}")
    for key in ("data", "classes", "folds", "citation"):
        say(f"{key}: {record[key] or '-'}")
    say()
    say((sys.modules[type(protocol).__module__].__doc__ or "").strip())
    if record["options"]:
        say()
        say(text_table(["option", "default", "value", "expected"],
                       [[o["name"], repr(o["default"]), repr(o["value"]), o["expected"]] for o in record["options"]]))
    counts = protocol.counts()
    if counts is not None:
        numeric = [c for c in counts.columns if str(counts[c].dtype).startswith("int")]
        rows = [[str(k), *[str(v) for v in row.tolist()]] for k, row in counts.iterrows()]
        if len(counts) > 1:
            rows.append(["all", *[str(counts[c].sum()) if c in numeric else "" for c in counts.columns]])
        say()
        say("clips per class of the definition:")
        say(text_table(["dataset", *map(str, counts.columns)], rows, right=set(range(1, len(counts.columns) + 1))))


def dataset_record(kind: str, loader) -> dict[str, Any]:
    import inspect

    module = sys.modules.get(getattr(loader, "__module__", ""), None)
    return {"kind": kind, "summary": (loader.__doc__ or "").strip().splitlines()[0] if loader.__doc__ else "",
            "description": (module.__doc__ or "").strip() if module else "",
            "takes_path": kind != "synthetic", "pipeline": "pipeline" in inspect.signature(loader).parameters}


@datasets_app.command("list", epilog="Example: mebench datasets list")
@handles_errors
def datasets_list(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Dataset kinds usable with --data KIND[:PATH]."""
    from mebench import plugins

    loaded, broken = plugins.datasets.load_all()
    records = [dataset_record(k, loader) for k, loader in loaded.items()]
    if as_json:
        _json(records + [{"kind": n, "broken": e} for n, e in broken.items()])
        return
    rows = [[r["kind"], "yes" if r["pipeline"] else "no", r["summary"]] for r in records]
    rows += [[n, "", f"BROKEN: {e}"] for n, e in broken.items()]
    say(text_table(["kind", "--pipeline", "description (--data KIND[:PATH])"], rows))


@datasets_app.command("show", epilog="Example: mebench datasets show casme2")
@handles_errors
def datasets_show(kind: Annotated[str, typer.Argument(help="Dataset kind, e.g. casme2 or htnet-release.")],
                  as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """What a dataset kind reads (the layouts it accepts, its ids and labels) and whether --pipeline applies."""
    from mebench import plugins

    record = dataset_record(kind, plugins.datasets.get(kind))
    if as_json:
        _json(record)
        return
    say(f"{kind}: {record['summary']}")
    say(f"--pipeline applies: {'yes (' + PIPELINE_HELP + ')' if record['pipeline'] else 'no'}")
    say()
    say(record["description"])


def _raw_spec(spec: str) -> tuple[str, str | None]:
    from mebench.dataset import parse_data_spec
    from mebench.datasets.raw import raw_kinds

    kind, path = parse_data_spec(spec)
    kinds = raw_kinds()
    if kind not in kinds:
        raise ConfigError(f"{spec!r}: expected RAWKIND:PATH with RAWKIND one of {', '.join(kinds)}")
    return kind, path


@datasets_app.command("check", epilog="Example: mebench datasets check casme2:/data/CASME2")
@handles_errors
def datasets_check(
    spec: Annotated[str, typer.Argument(help="KIND or KIND:PATH, e.g. casme2:/data/CASME2, htnet-release:/data/htnet or "
                                             "synthetic; any registered kind (`mebench datasets list`).")],
    faces: Annotated[bool, typer.Option("--faces/--no-faces", help="Find the face in every onset frame (apex face for "
                                        "htnet-release) and count those where none is found.")] = True,
    pipeline: Annotated[Optional[str], typer.Option(help=PIPELINE_HELP)] = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes for face detection (default: every core).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help=CACHE_HELP)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the summary only, not every problem.")] = False,
) -> None:
    """Validate a dataset: raw trees and htnet-release against their metadata (every bad file), any other kind
    (synthetic, causalnet-release, plugins) by the dataset conformance checks; every problem, then a summary;
    exit code 1 when a problem is fatal (an error)."""
    from mebench.datasets.data_check import check_data
    from mebench.datasets.raw.tree_check import report_lines

    result = check_data(spec, faces=faces, cache_dir=cache_dir, pipeline=pipeline, workers=workers)
    for line in result.summary() if quiet else report_lines(result):
        say(line)
    if result.fatal:
        raise typer.Exit(1)


@datasets_app.command("prepare", epilog="Example: mebench datasets prepare casme2:/data/CASME2")
@handles_errors
def datasets_prepare(
    spec: Annotated[str, typer.Argument(help="RAWKIND:PATH, e.g. samm:/data/SAMM (the raw kinds: `mebench datasets list`).")],
    pipeline: Annotated[Optional[str], typer.Option(help=PIPELINE_HELP)] = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes (default: every core).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help=CACHE_HELP)] = None,
) -> None:
    """Compute and cache every clip's features ahead of a run (faces, flow, flow image, landmarks), using
    every core; an interrupted prepare resumes where it stopped. `run --pipeline X` afterwards computes
    nothing again."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mebench.datasets.raw.pipeline import PipelineConfig
    from mebench.datasets.raw.prepare import prepare_dataset

    kind, path = _raw_spec(spec)
    config = PipelineConfig.from_text(pipeline) if pipeline is not None else None
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), console=Console(stderr=True))
    task = {}

    def start(_done: int, total: int, _sample: str) -> None:
        task["id"] = bar.add_task(f"{kind}: preparing", total=total)

    def advance(done: int, _total: int, sample: str) -> None:
        bar.update(task["id"], completed=done, description=f"{kind}: {sample}")

    with bar:
        result = prepare_dataset(kind, path, cache_dir=cache_dir, config=config, workers=workers, progress=advance,
                                 start=start)
    for line in result.lines():
        say(line)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
