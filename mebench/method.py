"""The method contract, modelled on scikit-learn estimators.

A method class declares what it is as data (`MethodInfo`: name, tags, input (a registered
mebench.representations.Input), citation, presets) and follows a small estimator contract: a keyword-only constructor that
only stores its parameters (generated from the parameters it declares as annotated class attributes; mebench.params),
`fit(X, y) -> self`, `predict_proba(X)` and `predict(X)`.
`mebench.checks.check_method` verifies the contract; plugin authors run it in their tests.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from mebench.errors import ConfigError
from mebench.params import NumClasses, Parameterised, ParamSpec, Seed, check_params, constructor, param_specs

PAPER_PRESET = "paper"
QUICK_PRESET = "quick"
# Every method declares both: what they are for, said when one is missing.
REQUIRED_PRESETS = {PAPER_PRESET: "the published settings, run by default",
                    QUICK_PRESET: "a small budget that runs in minutes on a CPU (--preset quick, smoke tests)"}

EpochCallback = Callable[[int, "Method"], None]


class StopTraining(Exception):
    """Raised by an epoch callback to end training after the current epoch (early stopping)."""


def missing_presets(name: str, presets: Mapping[str, Any]) -> str | None:
    """Why a method's presets are incomplete (None: both required ones are there)."""
    missing = [p for p in REQUIRED_PRESETS if p not in presets]
    if not missing:
        return None
    return (f"method {name!r} lacks the required preset(s) {', '.join(map(repr, missing))}; MethodInfo.presets must "
            "declare " + "; ".join(f"{p!r}: {why}" for p, why in REQUIRED_PRESETS.items()))


@dataclass(frozen=True)
class MethodInfo:
    """What a method is, declared as data beside its code.

    `input` names a registered input (mebench.representations; entry-point group mebench.inputs), e.g.
    "flow" or "apex-face". `presets` is required and must hold both "paper" (the published settings,
    the default) and "quick" (a small budget for smoke runs): preset name -> parameter values.
    """

    name: str
    summary: str
    input: str
    citation: str
    code_url: str = ""
    tags: tuple[str, ...] = ()
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    iterative: bool = True  # trains in epochs and calls fit's epoch_callback after each (epoch selection needs it)
    display_name: str = ""  # as a paper writes it (HTNet, OFF-ApexNet); default: the name
    # The published hyperparameter grid, for a search to use: parameter -> the values tried (each a value the
    # parameter admits; checked by mebench.checks.check_info). Empty: none published.
    search_space: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    # What a reader of the results must know, shown by `mebench methods show` (e.g. "published selection",
    # "differences from the published code"): heading -> text.
    notes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from mebench.plugins import inputs  # names only: no input plugin is imported

        if self.input not in inputs:
            raise ConfigError(f"method {self.name!r} asks for input {self.input!r}; known inputs: "
                              f"{', '.join(inputs.names())} (a plugin adds one in the entry-point group mebench.inputs)")
        why = missing_presets(self.name, self.presets)
        if why:
            raise ConfigError(why)
        if not self.display_name:
            object.__setattr__(self, "display_name", self.name)


class Method(Parameterised):
    """Base class of every method. Subclasses set `info`, declare their parameters as annotated class attributes
    with defaults (`dropout: DropoutRate = 0.5`), and define `fit` and `predict_proba`:

        class Prior(Method):
            info = MethodInfo(name="prior", ...)
            smoothing: NonNegativeFloat = 1.0

    gets the constructor `Prior(*, num_classes=3, seed=0, smoothing=1.0)`, which only stores them (the rules:
    mebench.params.Parameterised). A hand-written keyword-only `__init__` that stores its parameters works as well.

    Every method takes `num_classes` and `seed` (set by the runner for each cell), declared here.
    """

    info: ClassVar[MethodInfo]

    num_classes: NumClasses = 3
    seed: Seed = 0

    # Where and how a cell runs, set by mebench (`set_runtime`) for every cell. Not parameters (so not annotated):
    # they say nothing about the experiment, so a run can move between machines without changing a result's identity.
    device = "cpu"
    precision = "fp32"

    def set_runtime(self, *, device: str = "cpu", precision: str = "fp32") -> "Method":
        self.device, self.precision = device, precision
        return self

    # -- parameters (scikit-learn style, typed: mebench.params) ---------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(constructor(cls))
        names = []
        for p in list(sig.parameters.values())[1:]:
            if p.kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"{cls.__name__}.__init__ parameter {p.name!r} must be keyword-only")
            names.append(p.name)
        return names

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        sig = inspect.signature(constructor(cls))
        return {n: sig.parameters[n].default for n in cls.param_names()}

    @classmethod
    def param_specs(cls) -> dict[str, ParamSpec]:
        """Every parameter's declaration: default, type and bounds (from the constructor's annotations)."""
        cls.param_names()  # keyword-only check
        return param_specs(cls)

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` checked against the declarations and normalised; ConfigError names the bad one."""
        return check_params(cls, dict(params), f"method {cls.info.name!r}")

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> "Method":
        for k, v in self.check_params(params).items():
            setattr(self, k, v)
        return self

    @classmethod
    def from_preset(cls, preset: str = PAPER_PRESET, **overrides: Any) -> "Method":
        if preset not in cls.info.presets:
            raise ConfigError(f"method {cls.info.name!r} has no preset {preset!r}; presets: {', '.join(cls.info.presets)}")
        return cls(**cls.check_params({**cls.info.presets[preset], **overrides}))

    # -- estimator contract -----------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, *, epoch_callback: EpochCallback | None = None) -> "Method":
        """Train on X (N, C, H, W) float32 and y (N,) int. An iterative method (`info.iterative`) calls
        `epoch_callback(epoch, self)` after each epoch (1-based) when one is given; the runner uses it for
        epoch selection. The callback may raise StopTraining, after which `fit` returns normally. A
        non-iterative method may leave the keyword out of its signature: mebench passes it only to
        iterative methods."""
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_proba(X)).argmax(axis=1)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def validate_method_class(name: str, obj: object) -> type[Method]:
    """Registry hook: an entry point of group mebench.methods must be a Method subclass named like it."""
    from mebench.errors import PluginLoadError

    if not (isinstance(obj, type) and issubclass(obj, Method)):
        raise PluginLoadError(f"method plugin {name!r} is {obj!r}, not a subclass of mebench.Method")
    info = getattr(obj, "info", None)
    if not isinstance(info, MethodInfo):
        raise PluginLoadError(f"method plugin {name!r} ({obj.__name__}) has no MethodInfo `info`")
    if info.name != name:
        raise PluginLoadError(f"method plugin registered as {name!r} calls itself {info.name!r}")
    why = missing_presets(name, info.presets)  # an info built around MethodInfo's own check
    if why:
        raise PluginLoadError(why)
    runtime = sorted({"device", "precision"} & set(inspect.signature(constructor(obj)).parameters))
    if runtime:
        raise PluginLoadError(
            f"method plugin {name!r} ({obj.__name__}) takes {' and '.join(map(repr, runtime))} as a constructor parameter: "
            "since mebench 0.2 the device and precision are not method parameters (they describe the machine, not the "
            "experiment). Remove them from its parameters and read self.device / self.precision, which mebench sets for "
            "every cell (mebench run --device, --precision)")
    return obj
