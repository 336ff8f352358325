"""Typed method parameters, declared on the constructor and checked before anything is computed.

Values given as text (`--param epochs=20`) are read by the declared type: JSON for numbers, lists
and null, true/false for booleans, the text itself for strings.

A method's constructor annotates each keyword-only parameter with its type, and with `Bounds`
where the type alone does not say what is valid (`typing.Annotated`):

    def __init__(self, *, num_classes: NumClasses = 3, seed: Seed = 0, epochs: Epochs = 800,
                 lr: LearningRate = 5e-5, dropout: DropoutRate = 0.5, block_repeats: tuple[int, ...] = (2, 2, 10)):

`param_specs(cls)` reads those declarations (a parameter without an annotation takes its default's
type), and `check_params(cls, params)` checks and normalises values against them (a JSON list
becomes a tuple, an integral float an int), raising one ConfigError that names the method, the
parameter, the value and what was expected. The runner calls it on every method's final
parameters before the first cell trains.
"""

from __future__ import annotations

import inspect
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from mebench.errors import ConfigError

SEED_MAX = 2**32 - 1  # numpy's SeedSequence and torch.manual_seed both take this range


@dataclass(frozen=True)
class Bounds:
    """Constraints beside a parameter's type: an interval (closed unless `*_open`) or choices."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    help: str = ""  # what the value means, for `methods show` / `protocols show`

    def admits(self, value: Any) -> bool:
        if self.choices is not None and value not in self.choices:
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {_number(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {_number(self.high)}")
        return " and ".join(parts)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# The parameters most methods share, declared once.
Seed = Annotated[int, Bounds(0, SEED_MAX)]
NumClasses = Annotated[int, Bounds(2)]
Epochs = Annotated[int, Bounds(1)]
BatchSize = Annotated[int, Bounds(1)]
PositiveInt = Annotated[int, Bounds(1)]
PositiveFloat = Annotated[float, Bounds(0, low_open=True)]
NonNegativeFloat = Annotated[float, Bounds(0)]
LearningRate = PositiveFloat
DropoutRate = Annotated[float, Bounds(0, 1, high_open=True)]
UnitInterval = Annotated[float, Bounds(0, 1)]


_REJECTED = object()


@dataclass(frozen=True)
class ParamSpec:
    """One constructor parameter: its name, default, type (a Python type, a tuple[...] or Literal
    type, possibly Optional) and bounds."""

    name: str
    default: Any
    annotation: Any
    bounds: Bounds | None

    def expected(self) -> str:
        b = self.bounds
        if b is not None and b.choices is not None:
            text = b.describe()
        else:
            text = _type_text(self.annotation)
            text = f"{text} {b.describe()}" if b is not None and b.describe() else text
        return f"{text} ({b.help})" if b is not None and b.help else text

    def check(self, value: Any, owner: str) -> Any:
        """The value normalised to the declared type, or ConfigError naming owner, parameter and value."""
        try:
            checked = _coerce(self.annotation, value)
        except (TypeError, ValueError):
            checked = _REJECTED
        if checked is _REJECTED and isinstance(value, str):  # command-line text: read it as JSON
            try:
                checked = _coerce(self.annotation, _parse_text(value))
            except (TypeError, ValueError):
                pass
        if checked is _REJECTED or (checked is not None and self.bounds is not None and not self.bounds.admits(checked)):
            shown = value if isinstance(value, str) else repr(value)  # command-line text as typed
            raise ConfigError(f"{owner}: parameter {self.name}={shown}: expected {self.expected()}")
        return checked


def _type_text(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_type_text(a) for a in inner) + (" or null" if len(inner) < len(args) else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_PLURAL.get(_split_annotated(args[0])[0], _type_text(args[0]))}"
        return "a list (" + ", ".join(_type_text(a) for a in args) + ")"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation)))


def _parse_text(text: str) -> Any:
    """'12' -> 12, '[2, 2, 8]' -> [2, 2, 8], 'true'/'True' -> True, 'none'/'null' -> None."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return json.loads(text)


_PLURAL = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}


def _coerce(annotation: Any, value: Any) -> Any:
    """Check `value` against `annotation`, converting only where nothing is lost; TypeError if not."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _coerce(args[0], value)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value)
            except (TypeError, ValueError):
                continue
        raise TypeError
    if origin is Literal:
        if value in args:
            return value
        raise ValueError
    if origin in (tuple, list) or annotation in (tuple, list):
        if not isinstance(value, (tuple, list)):
            raise TypeError
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        if len(args) != len(value):
            raise ValueError
        return tuple(_coerce(a, v) for a, v in zip(args, value))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if annotation is int:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TypeError
        return float(value)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise TypeError
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        raise TypeError
    return value  # an annotation this module does not interpret is not checked


def _split_annotated(annotation: Any) -> tuple[Any, Bounds | None]:
    """(type without Annotated, its Bounds); `PositiveInt | None` gives (int | None, Bounds(1))."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extras = typing.get_args(annotation)
        return base, next((e for e in extras if isinstance(e, Bounds)), None)
    if origin in (Union, types.UnionType):
        parts = [_split_annotated(a) for a in typing.get_args(annotation)]
        bounds = next((b for _, b in parts if b is not None), None)
        return Union[tuple(t for t, _ in parts)], bounds
    return annotation, None


def param_specs(cls: type) -> dict[str, ParamSpec]:
    """name -> ParamSpec for every keyword-only parameter of `cls.__init__`."""
    cached = cls.__dict__.get("_param_specs_cache")
    if cached is not None:
        return cached
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):  # a subclass's annotation wins; **kwargs wrappers add none
        if "__init__" in vars(klass):
            try:
                hints.update(typing.get_type_hints(vars(klass)["__init__"], include_extras=True))
            except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the defaults' types
                pass
    specs = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
            continue
        annotation = hints.get(p.name, inspect.Parameter.empty)
        if annotation is inspect.Parameter.empty and p.default not in (inspect.Parameter.empty, None):
            annotation = tuple if isinstance(p.default, tuple) else type(p.default)
        base, bounds = _split_annotated(annotation)
        specs[p.name] = ParamSpec(p.name, p.default, base, bounds)
    setattr(cls, "_param_specs_cache", specs)
    return specs


def check_params(cls: type, params: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    """`params` checked and normalised against `cls`'s declarations; unknown names are an error."""
    owner = owner or f"method {getattr(getattr(cls, 'info', None), 'name', cls.__name__)!r}"
    specs = param_specs(cls)
    unknown = sorted(set(params) - set(specs))
    if unknown:
        raise ConfigError(f"{owner} has no parameter {', '.join(map(repr, unknown))}; "
                          f"its parameters: {', '.join(specs)}")
    return {name: specs[name].check(value, owner) for name, value in params.items()}
