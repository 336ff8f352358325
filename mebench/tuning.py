"""Hyperparameter search: which configuration of a method's grid makes a result row (`--tuning`).

A method declares its grid as data (`MethodInfo.search_space`: parameter -> values, checked against its
parameter declarations), and a user gives their own with `--grid NAME=V1|V2|...` (or `METHOD.NAME=...`;
`grid={"lr": [1e-4, 1e-3]}` in the Python API). The grid's configurations are its cartesian product, in the
order given. Rules (`--tuning RULE[,RULE...]`), each a result row of its own:

- ``nested`` (honest): in each outer fold, every configuration is trained on the fold's training subjects less
  K held out (the inner split of `--epoch-selection validation`: `mebench.selection.validation_subjects`, K =
  `--validation-subjects`, the cell's seed) and scored by its UF1 on those K subjects after its last epoch; the
  best (ties: the first in grid order) is the configuration whose training on all of the fold's training
  subjects gives the fold's test predictions. Its choice reads no test prediction.
- ``test-scored`` (leaky, the published practice): every configuration on every outer fold; reported is the
  configuration with the best UF1 on the test predictions pooled over all folds (per seed and epoch
  selection; ties: the first). Marked † like `oracle`.
- ``fixed``: every configuration a row of its own; nothing is chosen.

Every configuration's outer training is an ordinary cell (they are the `fixed` rows); the inner trainings are
cells of training ``inner:K`` that predict the held-out training subjects and are never result rows. The
report (`mebench.reports.tuning`) assembles the `nested` and `test-scored` rows from those cells.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from mebench.errors import ConfigError
from mebench.selection import Training

if TYPE_CHECKING:
    from mebench.method import Method

TUNING_RULES = {
    "nested": "per outer fold, the configuration with the best UF1 on subjects held out from the fold's training "
              "subjects, trained again on all of them (honest)",
    "test-scored": "the configuration with the best UF1 on the test predictions pooled over all folds: the published "
                   "practice; leaky (model selection on test data), marked †",
    "fixed": "every configuration a row of its own; nothing chosen",
}
LEAKY_TUNING = frozenset({"test-scored"})
CHOOSING = ("nested", "test-scored")  # rules whose rows the report assembles from the configurations' cells
GRID_SEPARATOR = "|"


def inner_training(count: int) -> str:
    """The training key of the nested rule's inner cells (str of `Training.inner`): K training subjects held out."""
    return str(Training.inner(count))


def is_inner(training: Any) -> bool:
    """Whether a stored training string names a nested rule's inner training."""
    try:
        return Training.parse(training).kind == "inner"
    except ConfigError:
        return False


def check_rules(names: Sequence[str] | str) -> tuple[str, ...]:
    """The rules in the order given, each once; ConfigError naming an unknown one."""
    if isinstance(names, str):
        names = names.split(",")
    out: list[str] = []
    for name in names:
        name = str(name).strip()
        if not name:
            continue
        if name not in TUNING_RULES:
            raise ConfigError(f"--tuning {name!r}: choose from {', '.join(TUNING_RULES)} (several as a comma list, "
                              "e.g. nested,test-scored)")
        if name not in out:
            out.append(name)
    return tuple(out)


def parse_grid_text(items: Sequence[str], option: str = "--grid") -> list[tuple[str, tuple[str, ...]]]:
    """`NAME=V1|V2|...` (or `METHOD.NAME=...`) items as (key, values as text); each value is read later by the
    parameter's declared type, as `--param` values are."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for item in items:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{option} {item!r}: expected NAME=V1|V2|..., e.g. lr=0.001|0.01 or ststnet.epochs=20|40")
        out.append((key, tuple(v.strip() for v in raw.split(GRID_SEPARATOR))))
    return out


def config_text(params: Mapping[str, Any], names: Sequence[str]) -> str:
    """`lr=0.001, epochs=10`: a configuration's values of the searched parameters."""
    return ", ".join(f"{n}={value_text(params.get(n))}" for n in names)


def value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


@dataclass(frozen=True)
class Search:
    """One method's search in a run: its grid and every configuration's checked parameters."""

    method: str
    names: tuple[str, ...]  # the searched parameters, in grid order
    grid: tuple[tuple[Any, ...], ...]  # each parameter's values (normalised), in grid order
    configs: tuple[dict[str, Any], ...]  # each configuration's full parameters (no seed, no num_classes)
    source: str  # "declared" (MethodInfo.search_space) or "grid" (the user's --grid)
    rules: tuple[str, ...]
    inner_subjects: int  # K of the nested rule's inner split

    @property
    def size(self) -> int:
        return len(self.configs)

    def label(self, i: int) -> str:
        return config_text(self.configs[i], self.names)

    def grid_text(self) -> str:
        return " x ".join(f"{n} in {{{', '.join(value_text(v) for v in values)}}}"
                          for n, values in zip(self.names, self.grid))

    def search_id(self, preset: str, protocol: str, fingerprint: str, precision: str, config_hashes: Sequence[str]) -> str:
        """Identifies the search in the results database: the method, what its cells are keyed by, the
        configurations in grid order (ties go to the first) and the inner split."""
        text = json.dumps([self.method, preset, protocol, fingerprint, precision, self.inner_subjects,
                           list(config_hashes)])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def best_first(scores: Sequence[float | None]) -> int | None:
    """The index of the best score, the first of equal ones (grid order); None when a score is missing
    (a configuration not scored yet: nothing can be chosen)."""
    if not len(scores) or any(s is None for s in scores):
        return None
    values = np.array([-np.inf if (s is None or np.isnan(s)) else float(s) for s in scores])
    return int(np.flatnonzero(values == values.max())[0])


# ------------------------------------------------------------------------------------------------ grids


@dataclass
class GridEntry:
    key: str  # NAME or METHOD.NAME as given
    values: tuple[Any, ...]


def _entries(grid: Sequence[tuple[str, Sequence[Any]]] | Mapping[str, Sequence[Any]]) -> list[GridEntry]:
    items = list(grid.items()) if isinstance(grid, Mapping) else list(grid)
    out = []
    for item in items:
        try:
            key, values = item
        except (TypeError, ValueError):
            raise ConfigError(f"--grid {item!r}: expected NAME and its values") from None
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, set, frozenset)):
            raise ConfigError(f"--grid {key}: takes a list of values, e.g. {key}=0.001|0.01 ({{'{key}': [0.001, 0.01]}} "
                              f"in the Python API), not {values!r}")
        out.append(GridEntry(str(key).strip(), tuple(values)))
    return out


def resolve_searches(classes: Mapping[str, type[Method]],
                     resolved: Mapping[str, tuple[type[Method], dict[str, Any]]],
                     rules: Sequence[str], grid, params: Sequence[tuple[str, Any]], preset: str,
                     inner_subjects: int, runner_params: Sequence[str] = ("num_classes", "seed"),
                     notes: list[str] | None = None) -> dict[str, Search]:
    """method -> its Search, for every method of the run that has a grid: the user's (`grid` entries that reach
    it: a NAME it has, or METHOD.NAME) or else its declared search space. Everything is checked here, before
    anything runs: an unknown rule, a grid without a rule, an unknown method or parameter, fewer than two
    values, a value the parameter does not admit, a value given twice, a parameter both fixed (--param) and
    searched (--grid); each error names the parameter. ``notes`` receives what a user should know (a method left
    untuned, a declared grid that overrides the preset)."""
    rules = check_rules(rules)
    entries = _entries(grid or ())
    notes = notes if notes is not None else []
    if entries and not rules:
        raise ConfigError(f"--grid {entries[0].key}: a grid needs --tuning, the rule that picks its configuration "
                          f"({', '.join(TUNING_RULES)})")
    if not rules:
        return {}
    fixed_keys = [k for k, _ in params]
    seen_keys: set[str] = set()
    for e in entries:
        target, sep, param = e.key.partition(".")
        name = param if sep else e.key
        if e.key in seen_keys:
            raise ConfigError(f"--grid {e.key}: given twice; give all its values in one --grid {e.key}=V1|V2|...")
        seen_keys.add(e.key)
        if not name:
            raise ConfigError(f"--grid {e.key!r}: expected NAME=V1|V2|... or METHOD.NAME=V1|V2|...")
        if name in runner_params:
            raise ConfigError(f"--grid {e.key}: {name} is set by mebench for every cell (use --seeds for the seed)")
        if sep:
            if target not in classes:
                raise ConfigError(f"--grid {e.key}: {target!r} is not a method of this run; the run's methods: "
                                  f"{', '.join(classes)}")
            if name not in classes[target].param_names():
                raise ConfigError(f"--grid {e.key}: method {target!r} has no parameter {name!r}; its parameters: "
                                  f"{', '.join(n for n in classes[target].param_names() if n not in runner_params)}")
        elif not any(name in cls.param_names() for cls in classes.values()):
            raise ConfigError(f"--grid {e.key}: no selected method has a parameter {name!r}")
        if len(e.values) < 2:
            raise ConfigError(f"--grid {e.key}: a grid searches at least two values (V1|V2|...); got "
                              f"{len(e.values)}{': ' + repr(e.values[0]) if e.values else ''} (to fix one value, use "
                              f"--param {e.key}=VALUE)")
        for key in fixed_keys:
            k_target, k_sep, k_name = key.partition(".")
            fixed_name = k_name if k_sep else key
            if fixed_name == name and (not sep or not k_sep or k_target == target):
                raise ConfigError(f"--grid {e.key}: the parameter is also fixed by --param {key}; a searched parameter "
                                  "takes its values from the grid alone")
    searches: dict[str, Search] = {}
    untuned = []
    for method, (cls, base) in resolved.items():
        specs = cls.param_specs()
        mine: dict[str, tuple[Any, ...]] = {}
        for e in entries:  # a global NAME first, METHOD.NAME over it
            target, sep, param = e.key.partition(".")
            if not sep and e.key in specs:
                mine[e.key] = e.values
        for e in entries:
            target, sep, param = e.key.partition(".")
            if sep and target == method:
                mine[param] = e.values
        source = "grid"
        if not mine:
            source = "declared"
            declared = dict(cls.info.search_space)
            fixed_here = {k.partition(".")[2] if "." in k else k for k in fixed_keys
                          if "." not in k or k.partition(".")[0] == method}
            dropped = [n for n in declared if n in fixed_here]
            for n in dropped:
                declared.pop(n)
            if dropped:
                notes.append(f"--tuning: method {method!r}: --param fixes {', '.join(dropped)}, so its declared search "
                             f"space searches {', '.join(declared) or 'nothing'}")
            if preset != "paper":
                override = [n for n, values in declared.items()
                            if n in cls.info.presets.get(preset, {}) and cls.info.presets[preset][n] not in values]
                if override:
                    notes.append(f"--tuning: method {method!r}: its declared search space sets "
                                 + "; ".join(f"{n} to {GRID_SEPARATOR.join(value_text(v) for v in declared[n])}"
                                             for n in override)
                                 + f" (around the published setting), not the {preset} preset's value; give your own "
                                 "grid with --grid to search around it")
            mine = {n: tuple(v) for n, v in declared.items()}
            if math_prod(len(v) for v in mine.values()) < 2:
                untuned.append(method)
                continue
        owner = f"--grid of method {method!r}" if source == "grid" else f"search space of method {method!r}"
        names, grid = [], []
        for name, values in mine.items():
            checked: list[Any] = []
            for value in values:
                v = specs[name].check(value, owner)
                if any(_same(v, c) for c in checked):
                    raise ConfigError(f"{owner}: parameter {name}: the value {value_text(v)} is given twice")
                checked.append(v)
            names.append(name)
            grid.append(tuple(checked))
        configs = []
        for combo in itertools.product(*grid):
            configs.append(cls.check_params({**base, **dict(zip(names, combo))}))
        searches[method] = Search(method, tuple(names), tuple(grid), tuple(configs), source, rules, inner_subjects)
    if not searches:
        raise ConfigError(f"--tuning {','.join(rules)}: no selected method has a grid: none declares a search space "
                          "(MethodInfo.search_space) and no --grid reaches one; give one, e.g. --grid lr=0.001|0.01")
    if untuned:
        one = len(untuned) == 1
        notes.append(f"--tuning: {', '.join(untuned)} declare{'s' if one else ''} no search space and no --grid reaches "
                     f"{'it: it runs' if one else 'them: they run'} with {'its' if one else 'their'} preset, untuned")
    return searches


def math_prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal values (1 and 1.0 alike; True and 1 not)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


__all__ = ["TUNING_RULES", "LEAKY_TUNING", "CHOOSING", "Search", "check_rules", "parse_grid_text", "resolve_searches",
           "inner_training", "is_inner", "best_first", "config_text"]
