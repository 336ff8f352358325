"""Study files: a TOML file describing runs, released-checkpoint evaluations and reports, run in one go.

    [data.htnet-release]            # a dataset source; its path here (relative to this file) or on the
    kind = "htnet-release"          # command line: mebench study FILE --data htnet-release=PATH

    [run.composite-quick]           # a `mebench run`: the keys are its options
    methods = ["htnet"]
    preset = "quick"
    seeds = "0-2"                   # or [0, 1, 2], "0,1,2", [0, "3-5"]
    epoch_selection = ["final", "oracle"]
    data = ["htnet-release"]        # names of [data] sources (default: the synthetic data)
    sweep = { lr = [0.001, 0.01] }  # one run per value, each a labelled variant: htnet (lr=0.001)
    out = "runs/composite-quick"    # relative to [study] root, by default the file's folder

    [evaluate.ststnet-released]     # a `mebench evaluate`; weights: a [data] entry without kind
    [report.composite]              # a `mebench report` of run folders

The whole file is checked before anything runs: unknown keys (with a suggestion), value types, and every run's
methods, parameters, epoch selections and search through the checks `mebench run` itself applies. Each step
is the Python API call its command (`Step.command()`, what `--dry-run` prints) makes, so a study resumes as
its runs do.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from mebench.errors import ConfigError, MebenchError
from mebench.tuning import GRID_SEPARATOR, value_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli before it joined the standard library
    import tomli as tomllib

__all__ = ["Study", "Step", "StudyResult", "load_study", "run_study", "parse_seed_text", "parse_path_overrides"]

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_seed_text(text: str, where: str) -> list[int]:
    """`0,1,2`, `0-2` or `0-2,5`: the seeds in order."""
    seeds: list[int] = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        span = _RANGE.match(part)
        if span:
            low, high = int(span.group(1)), int(span.group(2))
            if high < low:
                raise ConfigError(f"{where}: seed range {part.strip()!r} runs backwards; write {high}-{low}")
            seeds.extend(range(low, high + 1))
        elif part.strip().isdigit():
            seeds.append(int(part))
        else:
            raise ConfigError(f"{where}: {part.strip()!r} is not a seed or a range of seeds (e.g. 0, 0-2 or 0,1,2)")
    if not seeds:
        raise ConfigError(f"{where}: no seed given")
    return seeds


def parse_path_overrides(items: Sequence[str], option: str = "--data") -> dict[str, str]:
    """`NAME=PATH` items (the study's [data] entries given on the command line) as name -> path."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, path = str(item).partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"{option} {item!r}: expected NAME=PATH, e.g. htnet-release=/data/htnet-release")
        if name.strip() in out:
            raise ConfigError(f"{option} {name.strip()} is given twice; give it once")
        out[name.strip()] = path.strip()
    return out


# -- what each table may hold ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """One key of a study table: the command-line option it stands for and the kind of value it takes."""

    option: str  # "" for keys that are not an option (sweep)
    kind: str  # str, int, number, bool, list, seeds, table, grid, path, data
    required: bool = False


RUN_KEYS = {
    "methods": Key("--methods", "list", required=True),
    "protocol": Key("--protocol", "str"),
    "data": Key("--data", "data"),
    "preset": Key("--preset", "str"),
    "seeds": Key("--seeds", "seeds"),
    "epoch_selection": Key("--epoch-selection", "list"),
    "validation_subjects": Key("--validation-subjects", "int"),
    "patience": Key("--patience", "int"),
    "record_epochs": Key("--record-epochs", "bool"),
    "params": Key("--param", "table"),
    "sweep": Key("", "grid"),
    "tuning": Key("--tuning", "list"),
    "grid": Key("--grid", "grid"),
    "precision": Key("--precision", "str"),
    "device": Key("--device", "str"),
    "executor": Key("--executor", "str"),
    "workers": Key("--workers", "workers"),
    "cells_per_gpu": Key("--cells-per-gpu", "int"),
    "retries": Key("--retries", "int"),
    "cell_timeout": Key("--cell-timeout", "number"),
    "pipeline": Key("--pipeline", "str"),
    "out": Key("--out", "path", required=True),
}
EVALUATE_KEYS = {
    "method": Key("--method", "str", required=True),
    "weights": Key("--weights", "weights", required=True),
    "protocol": Key("--protocol", "str"),
    "data": Key("--data", "data"),
    "config": Key("--config", "table"),
    "pipeline": Key("--pipeline", "str"),
    "device": Key("--device", "str"),
    "out": Key("--out", "path", required=True),
}
REPORT_KEYS = {
    "runs": Key("", "folders", required=True),
    "out": Key("--out", "path"),
    "reference": Key("--reference", "str"),
    "published": Key("--published", "bool"),
    "resamples": Key("--resamples", "int"),
    "permutations": Key("--permutations", "int"),
    "seed": Key("--seed", "int"),
    "figures": Key("--figures", "bool"),
    "digits": Key("--digits", "int"),
    "percent": Key("--percent", "bool"),
    "seeds": Key("--seeds", "seeds"),
}
DATA_KEYS = {"kind": Key("", "str"), "path": Key("", "str")}
STUDY_KEYS = {"description": Key("", "str"), "root": Key("", "str")}
TOP_KEYS = ("study", "data", "run", "evaluate", "report")
# the command line's defaults where they differ from the Python API's (a study runs what its commands would)
CLI_RUN_DEFAULTS = {"executor": "auto", "device": "auto"}


def _unknown(where: str, key: str, known: Sequence[str]) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean \"{close[0]}\"?)" if close else f" (known keys: {', '.join(known)})"
    return ConfigError(f"{where}: unknown key \"{key}\"{hint}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {value!r}")
    return value


def _check_keys(table: dict[str, Any], keys: Mapping[str, Key], where: str) -> None:
    for key in table:
        if key not in keys:
            raise _unknown(where, key, list(keys))
    for key, spec in keys.items():
        if spec.required and key not in table:
            raise ConfigError(f"{where}: missing key \"{key}\"")


def _check_value(value: Any, kind: str, where: str) -> Any:
    """The value of a key, checked against its kind (what a TOML value may be for it)."""
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{where}: expected {expected}, got {value!r}")

    if kind in ("str", "path", "weights"):
        if not isinstance(value, str) or not value.strip():
            raise fail("a non-empty string")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("a whole number")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
    elif kind == "workers":
        if not (value == "auto" or (isinstance(value, int) and not isinstance(value, bool))):
            raise fail("a whole number or \"auto\"")
    elif kind in ("list", "data", "folders"):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise fail("a list of strings, e.g. [\"final\", \"oracle\"]")
    elif kind == "seeds":
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, str):
            return parse_seed_text(value, where)
        if not isinstance(value, list) or not value:
            raise fail("seeds: a list such as [0, 1, 2], or a string such as \"0-2\"")
        seeds: list[int] = []
        for item in value:
            if isinstance(item, int) and not isinstance(item, bool):
                seeds.append(item)
            elif isinstance(item, str):
                seeds.extend(parse_seed_text(item, where))
            else:
                raise fail("seeds: whole numbers or ranges such as \"0-2\"")
        return seeds
    elif kind == "table":
        _table(value, where)
    elif kind == "grid":
        for name, values in _table(value, where).items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}.{name}: expected a non-empty list of values, got {values!r}")
    return value


# -- the steps -------------------------------------------------------------------------------------------
def show_path(path: Path) -> str:
    """A path as a command prints it: relative to the working folder when inside it, else absolute."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


def _option_words(option: str, kind: str, value: Any) -> list[str]:
    if kind == "bool":
        return [option] if value else ([f"--no-{option[2:]}"] if option == "--figures" else [])
    if kind == "list":
        return [option, ",".join(value)]
    if kind == "seeds":
        return [option, ",".join(map(str, value))]
    if kind == "table":
        return [w for name, v in value.items() for w in (option, f"{name}={value_text(v)}")]
    if kind == "grid":
        return [w for name, vs in value.items() for w in (option, f"{name}={GRID_SEPARATOR.join(map(value_text, vs))}")]
    return [option, str(value)]


@dataclass
class Step:
    """One command of a study: its subcommand, its options as the study gives them (already resolved: data specs,
    absolute folders), and the label `[table.name]` it comes from."""

    command_name: str  # run, evaluate or report
    label: str
    options: dict[str, Any]
    keys: Mapping[str, Key]
    folders: list[Path] = field(default_factory=list)  # report: the run folders, in order

    def words(self) -> list[str]:
        words = ["mebench", self.command_name, *(show_path(f) for f in self.folders)]
        for key, value in self.options.items():
            spec = self.keys[key]
            if not spec.option:
                continue
            if spec.kind == "data":
                words += [w for spec_text in value for w in ("--data", spec_text)]
            elif spec.kind in ("path", "weights"):
                words += [spec.option, show_path(value)]
            else:
                words += _option_words(spec.option, spec.kind, value)
        return words

    def command(self) -> str:
        """The equivalent command line, each argument shell-quoted."""
        return shlex.join(self.words())

    def execute(self, progress: Any = None) -> Any:
        """Run the step through the Python API (a run resumes: finished cells are skipped)."""
        from mebench import api

        o = dict(self.options)
        if self.command_name == "run":
            for key, default in CLI_RUN_DEFAULTS.items():
                o.setdefault(key, default)
            return api.run(o.pop("methods"), progress=progress, **o)
        if self.command_name == "evaluate":
            return api.evaluate(o.pop("method"), o.pop("weights"), progress=progress, **o)
        folders = self.folders if len(self.folders) > 1 else self.folders[0]
        return api.report(folders, **o)


@dataclass
class Study:
    """A checked study: its file, the folder its run folders are relative to, and its steps in order (runs,
    evaluations, then reports)."""

    path: Path
    root: Path
    description: str
    steps: list[Step]

    def commands(self) -> list[str]:
        return [s.command() for s in self.steps]


# -- loading ---------------------------------------------------------------------------------------------
class _Reader:
    """Checks a parsed study file table by table; errors name the file, the table and the key."""

    def __init__(self, path: Path, document: dict[str, Any], data_paths: Mapping[str, str], root: Path | None):
        self.path, self.doc, self.file = path, document, show_path(path.absolute())
        for key in document:
            if key not in TOP_KEYS:
                raise _unknown(self.file, key, TOP_KEYS)
        study = _table(document.get("study", {}), f"{self.file} [study]")
        _check_keys(study, STUDY_KEYS, f"{self.file} [study]")
        for key, value in study.items():
            _check_value(value, STUDY_KEYS[key].kind, f"{self.file} [study] {key}")
        self.description = study.get("description", "")
        self.root = Path(os.path.normpath(root.absolute() if root is not None
                                          else path.parent.absolute() / study.get("root", ".")))
        self.sources = self._sources(data_paths)

    def _sources(self, data_paths: Mapping[str, str]) -> dict[str, tuple[str | None, Path | None]]:
        """[data] entry -> (dataset kind, or None for a plain folder such as checkpoints; its path, or None)."""
        from mebench import plugins

        entries = _table(self.doc.get("data", {}), f"{self.file} [data]")
        for name in data_paths:
            if name not in entries:
                raise _unknown(f"--data {name}={data_paths[name]}: {self.file} [data]", name, list(entries)) \
                    if entries else ConfigError(f"--data {name}={data_paths[name]}: {self.file} has no [data] entries")
        out: dict[str, tuple[str | None, Path | None]] = {}
        for name, entry in entries.items():
            where = f"{self.file} [data.{name}]"
            entry = _table(entry, where)
            _check_keys(entry, DATA_KEYS, where)
            for key, value in entry.items():
                _check_value(value, DATA_KEYS[key].kind, f"{where} {key}")
            kind = entry.get("kind")
            if kind is not None:
                plugins.datasets.get(kind)  # an unknown kind is an error naming the known ones
            path = None
            if name in data_paths:
                path = Path(os.path.normpath(Path(data_paths[name]).absolute()))
            elif "path" in entry:
                path = Path(os.path.normpath(self.path.parent.absolute() / entry["path"]))
            out[name] = (kind, path)
        return out

    def _source(self, name: str, where: str, dataset: bool) -> tuple[str | None, Path | None]:
        if name not in self.sources:
            raise _unknown(f"{where}: {self.file} [data]", name, list(self.sources)) if self.sources else \
                ConfigError(f"{where}: {name!r} is not an entry of {self.file} [data] (the file has none)")
        kind, path = self.sources[name]
        if dataset and kind is None:
            raise ConfigError(f"{where}: [data.{name}] has no kind, so it is a folder (e.g. checkpoints), not a dataset")
        if not dataset and kind is not None:
            raise ConfigError(f"{where}: [data.{name}] is a dataset (kind {kind!r}), not a folder of checkpoints")
        if path is None and (kind is None or self._takes_path(kind)):
            raise ConfigError(f"{where}: [data.{name}] has no path: give it with `--data {name}=PATH` (or `path` "
                              f"in {self.file})")
        return kind, path

    @staticmethod
    def _takes_path(kind: str) -> bool:
        """Whether the kind's loader needs a path (synthetic data need none)."""
        import inspect

        from mebench import plugins

        first = next(iter(inspect.signature(plugins.datasets.get(kind)).parameters.values()), None)
        return first is not None and first.default is inspect.Parameter.empty

    def _data_specs(self, names: list[str], where: str) -> list[str]:
        specs = []
        for name in names:
            kind, path = self._source(name, where, dataset=True)
            assert kind is not None  # a dataset: _source refused a folder
            specs.append(kind if path is None else f"{kind}:{show_path(path)}")
        return specs

    def _options(self, table: dict[str, Any], keys: Mapping[str, Key], where: str) -> dict[str, Any]:
        _check_keys(table, keys, where)
        options: dict[str, Any] = {}
        for key, value in table.items():
            value = _check_value(value, keys[key].kind, f"{where} {key}")
            if keys[key].kind == "data":
                value = self._data_specs(value, f"{where} data")
            elif keys[key].kind == "path":
                value = Path(os.path.normpath(self.root / value))
            elif keys[key].kind == "weights":
                value = self._source(value, f"{where} weights", dataset=False)[1]
            options[key] = value
        return options

    def runs(self) -> list[Step]:
        steps = []
        for name, table in _table(self.doc.get("run", {}), f"{self.file} [run]").items():
            where = f"{self.file} [run.{name}]"
            options = self._options(_table(table, where), RUN_KEYS, where)
            sweep = options.pop("sweep", {})
            clash = sorted(set(sweep) & set(options.get("params", {})))
            if clash:
                raise ConfigError(f"{where}: {clash[0]!r} is both in params and in sweep; give it in one of them")
            for values in itertools.product(*sweep.values()):  # one run per combination; a run without sweep: one
                step_options = dict(options)
                if sweep:
                    step_options["params"] = {**options.get("params", {}), **dict(zip(sweep, values))}
                self._check_run(step_options, where)
                steps.append(Step("run", where, step_options, RUN_KEYS))
        return steps

    def _check_run(self, options: dict[str, Any], where: str) -> None:
        """The checks `mebench run` applies before it loads any data (methods, presets, parameters, epoch
        selections, the search), on the options of one run."""
        from mebench.plugins import expand_method_selection
        from mebench.plan import RunConfig, check_config
        from mebench.selection import EpochSelection

        o = options
        try:
            selection = EpochSelection(",".join(o.get("epoch_selection", ["final"])), o.get("validation_subjects", 4),
                                       o.get("patience"), o.get("record_epochs", False))
            check_config(RunConfig(
                methods=tuple(expand_method_selection(",".join(o["methods"]))), protocol=o.get("protocol", "composite"),
                out=o["out"], preset=o.get("preset", "paper"), seeds=tuple(o.get("seeds", [0])), selection=selection,
                params=tuple(o.get("params", {}).items()), pipeline=o.get("pipeline", ""),
                precision=o.get("precision", "fp32"), cell_timeout=o.get("cell_timeout"),
                tuning=tuple(o.get("tuning", ())), grid=tuple((k, tuple(v)) for k, v in o.get("grid", {}).items())))
        except MebenchError as exc:  # the same error, named by its table
            raise type(exc)(f"{where}: {exc}") from None

    def evaluations(self) -> list[Step]:
        from mebench import plugins
        from mebench.protocol import make_protocol

        steps = []
        for name, table in _table(self.doc.get("evaluate", {}), f"{self.file} [evaluate]").items():
            where = f"{self.file} [evaluate.{name}]"
            options = self._options(_table(table, where), EVALUATE_KEYS, where)
            try:
                plugins.methods.get(options["method"])
                make_protocol(options.get("protocol", "composite"))
            except MebenchError as exc:
                raise type(exc)(f"{where}: {exc}") from None
            steps.append(Step("evaluate", where, options, EVALUATE_KEYS))
        return steps

    def reports(self, written: set[Path]) -> list[Step]:
        steps = []
        for name, table in _table(self.doc.get("report", {}), f"{self.file} [report]").items():
            where = f"{self.file} [report.{name}]"
            options = self._options(_table(table, where), REPORT_KEYS, where)
            folders = [Path(os.path.normpath(self.root / f)) for f in options.pop("runs")]
            for folder in folders:
                if folder not in written and not folder.is_dir():
                    shown = sorted(show_path(f) for f in written)
                    close = difflib.get_close_matches(show_path(folder), shown, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else (
                        f"; the study's run folders: {', '.join(shown)}" if shown else "")
                    raise ConfigError(f"{where} runs: {show_path(folder)} is no run folder of this study and does not "
                                      f"exist{hint}")
            if len(folders) > 1 and "out" not in options:
                raise ConfigError(f"{where}: several run folders are reported together into out: add out = \"...\"")
            steps.append(Step("report", where, options, REPORT_KEYS, folders))
        return steps


def load_study(path: str | Path, *, data: Mapping[str, str] | None = None, root: str | Path | None = None) -> Study:
    """Read and check a study file. data: [data] entry -> path (overrides the file's); root: the folder the run
    folders are relative to (default: the file's [study] root, else its folder). Raises a ConfigError naming the
    file, table and key of the first problem."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"study file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{show_path(path.absolute())}: not valid TOML: {exc}") from None
    reader = _Reader(path, document, dict(data or {}), Path(root) if root is not None else None)
    runs = reader.runs() + reader.evaluations()
    if not runs and not document.get("report"):
        raise ConfigError(f"{reader.file}: no [run.NAME], [evaluate.NAME] or [report.NAME] table: nothing to do")
    steps = runs + reader.reports({s.options["out"] for s in runs})
    return Study(path, reader.root, reader.description, steps)


@dataclass
class StudyResult:
    """What `mebench.study` did: the checked study, and each executed step with its RunSummary (run, evaluate) or
    Report (report); no results for a dry run."""

    study: Study
    results: list[tuple[Step, Any]] = field(default_factory=list)

    @property
    def commands(self) -> list[str]:
        return self.study.commands()

    @property
    def failed(self) -> list[tuple[Step, Any]]:
        """The runs and evaluations with failed cells (rerunning the study retries them)."""
        return [(step, r) for step, r in self.results if step.command_name != "report" and r.failed]


def run_study(study: Study, progress: Callable[[Step], Any] | None = None,
              started: Callable[[Step], None] | None = None) -> StudyResult:
    """Execute every step in order (each run resumes). progress(step): the progress object of a run or evaluation
    (stopped after it when it has `stop`); started(step) is told of each step before it runs."""
    outcome = StudyResult(study)
    for step in study.steps:
        if started is not None:
            started(step)
        shown: Any = progress(step) if progress is not None and step.command_name != "report" else None
        try:
            outcome.results.append((step, step.execute(shown)))
        finally:
            if hasattr(shown, "stop"):
                shown.stop()
    return outcome
