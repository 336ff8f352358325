"""Typed method parameters, declared once and checked before anything is computed.

Values given as text (`--param epochs=20`) are read by the declared type: JSON for numbers, lists
and null, true/false for booleans, the text itself for strings.

A parameter is declared with its type, and with `Bounds` where the type alone does not say what is
valid (`typing.Annotated`). A `Parameterised` class (every `mebench.Method`) declares its parameters
as annotated class attributes with defaults, and gets a keyword-only constructor storing them:

    class MyNet(TorchMethod):  # num_classes, seed, epochs, lr, batch_size, shuffle come from the bases
        epochs: Epochs = 800  # re-declared: a new default
        dropout: DropoutRate = 0.5
        block_repeats: tuple[int, ...] = (2, 2, 10)

A hand-written keyword-only constructor declares them the same way, and wins where a class has one:

    def __init__(self, *, num_classes: NumClasses = 3, seed: Seed = 0, epochs: Epochs = 800, ...):

`param_specs(cls)` reads those declarations (a hand-written constructor's parameter without an
annotation takes its default's type), and `check_params(cls, params)` checks and normalises values against them (a JSON list
becomes a tuple, an integral float an int), raising one ConfigError that names the method, the
parameter, the value and what was expected. The runner calls it on every method's final
parameters before the first cell trains.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import sys
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, ClassVar, Literal, Union

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


def constructor(cls: type) -> Callable[..., None]:
    """`cls.__init__`, found as attribute lookup finds it (read through `vars`: mypy refuses `__init__` read off a
    class object, as unsound for instances)."""
    return next(vars(klass)["__init__"] for klass in cls.__mro__ if "__init__" in vars(klass))


@typing.dataclass_transform(kw_only_default=True, eq_default=False)
class Parameterised:
    """A class whose keyword-only constructor is generated from the parameters it declares: annotated class
    attributes with defaults (the annotation is the declaration, as for a hand-written constructor), a base
    class's first. The constructor only stores them, as a dataclass's does.

    A parameter a subclass re-declares (a new default) keeps its place; one it declares anew is listed before
    the next parameter the class re-declares below it, or last. So a class puts its own parameters before
    inherited ones by re-declaring those after its own.

    Attributes that are not parameters are `ClassVar` or unannotated on the class (fitted ones are assigned in
    `fit`): an annotation without a default is refused, since it would declare a parameter without one.
    A class that writes its own keyword-only `__init__` declares its parameters there; that constructor wins,
    and subclasses that declare no parameter of their own inherit it.
    """

    # The parameters of the generated constructor, in its order; None where a hand-written __init__ declares them.
    _declared_parameters: ClassVar[tuple[inspect.Parameter, ...] | None] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            cls._declared_parameters = None
            return
        inherited = cls._declared_parameters  # the nearest base's
        if inherited is None:  # below a hand-written __init__, which declares the parameters
            own = _declared_here(cls, below_hand_written=True)
            if own:
                raise TypeError(f"{cls.__qualname__} declares the parameter(s) {', '.join(p.name for p in own)} as "
                                "class attributes but inherits a hand-written __init__: take them in an __init__ "
                                "of its own, or declare every parameter as a class attribute")
            return
        parameters = _merged(inherited, _declared_here(cls))
        cls._declared_parameters = parameters
        setattr(cls, "__init__", _generated_constructor(cls, parameters))


def _is_class_var(annotation: Any) -> bool:
    if isinstance(annotation, str):  # left unresolved: read as dataclasses does
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _declared_here(cls: type, below_hand_written: bool = False) -> list[inspect.Parameter]:
    """The parameters `cls` itself declares as class attributes, in the order of its body. Below a hand-written
    `__init__`, an annotation without a default is an attribute's, not a parameter's."""
    annotations = vars(cls).get("__annotations__", {})
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable here (a name imported only for type checkers): kept as text
        hints = {}
    declared = []
    for name, text in annotations.items():
        annotation = hints.get(name, text)
        if _is_class_var(annotation):
            continue
        if name not in vars(cls):
            if below_hand_written:
                continue
            raise TypeError(f"{cls.__qualname__}.{name} is annotated without a default, which declares a parameter "
                            "without one: give it a default, or, if it is not a parameter, make it a ClassVar or "
                            "assign it in a method (a fitted attribute in fit)")
        declared.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=vars(cls)[name],
                                          annotation=annotation))
    return declared


def _merged(inherited: tuple[inspect.Parameter, ...], own: list[inspect.Parameter]) -> tuple[inspect.Parameter, ...]:
    """The inherited parameters with a class's own: a re-declared one replaces the inherited one in its place, and
    new ones go before the next re-declared one below them in the class body, or last."""
    by_name = {p.name: p for p in inherited}
    order = list(by_name)
    waiting: list[str] = []  # new names above the next re-declared one
    for parameter in own:
        if parameter.name in by_name:
            at = order.index(parameter.name)
            order[at:at] = waiting
            waiting = []
        else:
            waiting.append(parameter.name)
        by_name[parameter.name] = parameter
    return tuple(by_name[name] for name in order + waiting)


def _generated_constructor(cls: type, parameters: tuple[inspect.Parameter, ...]) -> Callable[..., None]:
    """A keyword-only `__init__` storing `parameters`, made by dataclasses (which refuses mutable defaults) for a
    dataclass declaring them in this order."""
    # In the class's module, so that param_specs resolves annotations left as text there, as for a hand-written
    # __init__ (a class made by exec in a namespace of its own has no module to resolve them in).
    namespace = {"__module__": cls.__module__} if cls.__module__ in sys.modules else None
    layout = dataclasses.make_dataclass(
        cls.__name__, [(p.name, p.annotation, dataclasses.field(default=p.default, kw_only=True)) for p in parameters],
        namespace=namespace, eq=False, repr=False, match_args=False)
    init: Callable[..., None] = vars(layout)["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


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
    for p in list(inspect.signature(constructor(cls)).parameters.values())[1:]:
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
