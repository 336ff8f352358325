"""Parameters declared as annotated class attributes (mebench.params.Parameterised, the base of every Method): the
generated keyword-only constructor takes the bases' parameters and the class's own, a re-declared default keeps its
place, a hand-written `__init__` wins, and what is not a parameter stays out."""

from __future__ import annotations

import inspect
from typing import ClassVar

import numpy as np
import pytest

from mebench.checks import check_method
from mebench.errors import ConfigError
from mebench.method import Method, MethodInfo
from mebench.params import Bounds, DropoutRate, Epochs, NonNegativeFloat, PositiveInt
from mebench.training import TorchMethod

PRESETS = {"paper": {}, "quick": {}}


def info(name: str, presets=PRESETS) -> MethodInfo:
    return MethodInfo(name=name, summary="x", input="flow", citation="x", presets=presets)


class ShortNet(TorchMethod):
    info = info("short-net")
    epochs: Epochs = 800  # TorchMethod's, with a new default
    dropout: DropoutRate = 0.25


def test_the_short_form_gets_a_keyword_only_constructor_with_the_bases_parameters_and_its_own():
    assert ShortNet.param_names() == ["num_classes", "seed", "epochs", "lr", "batch_size", "shuffle", "dropout"]
    parameters = list(inspect.signature(ShortNet.__init__).parameters.values())[1:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    assert ShortNet.param_defaults() == {"num_classes": 3, "seed": 0, "epochs": 800, "lr": 1e-3, "batch_size": 64,
                                         "shuffle": True, "dropout": 0.25}
    net = ShortNet(seed=4, dropout=0.5)
    assert net.get_params() == {**ShortNet.param_defaults(), "seed": 4, "dropout": 0.5}
    assert repr(net) == ("ShortNet(num_classes=3, seed=4, epochs=800, lr=0.001, batch_size=64, shuffle=True, "
                         "dropout=0.5)")
    with pytest.raises(TypeError, match="positional"):
        ShortNet(3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'dropuot'"):
        ShortNet(dropuot=0.1)


def test_declared_types_and_bounds_are_checked_as_a_hand_written_constructors_are():
    specs = ShortNet.param_specs()
    assert specs["epochs"].annotation is int and specs["epochs"].bounds == Bounds(1)  # re-declared: Epochs
    assert specs["dropout"].bounds == Bounds(0, 1, high_open=True)
    assert specs["num_classes"].bounds == Bounds(2)  # Method's declaration
    assert ShortNet.check_params({"epochs": "20", "dropout": 0.1}) == {"epochs": 20, "dropout": 0.1}
    with pytest.raises(ConfigError, match="dropout=1.0"):
        ShortNet.check_params({"dropout": 1.0})
    assert ShortNet().set_params(lr="5e-5").lr == 5e-5


def test_re_declaring_a_default_changes_only_the_subclass():
    assert TorchMethod.param_defaults()["epochs"] == 100 and ShortNet.param_defaults()["epochs"] == 800
    assert TorchMethod().epochs == 100 and ShortNet().epochs == 800


def test_new_parameters_above_a_re_declared_one_are_listed_before_it():
    class Ordered(TorchMethod):
        info = info("ordered")
        width: PositiveInt = 8  # above the re-declared epochs: listed before it
        epochs: Epochs = 5
        lr: float = 1e-2
        momentum: NonNegativeFloat = 0.9  # above the re-declared batch_size
        batch_size: int = 16
        tail: int = 1  # nothing re-declared below: last

    assert Ordered.param_names() == ["num_classes", "seed", "width", "epochs", "lr", "momentum", "batch_size",
                                     "shuffle", "tail"]

    class Deeper(Ordered):
        info = info("deeper")
        width: PositiveInt = 16  # re-declared: keeps its place
        gamma: float = 0.5  # above nothing re-declared: last

    assert Deeper.param_names() == [*Ordered.param_names(), "gamma"]
    assert Deeper.param_defaults()["width"] == 16 and Ordered.param_defaults()["width"] == 8


class Prior(Method):
    """A hand-written constructor, as third-party methods write them."""

    info = info("prior")
    classes_: np.ndarray  # an attribute's annotation, beside a hand-written __init__

    def __init__(self, *, num_classes: int = 3, seed: int = 0, smoothing: float = 1.0):
        self.num_classes, self.seed, self.smoothing = num_classes, seed, smoothing

    def fit(self, X, y, *, epoch_callback=None):
        counts = np.bincount(y, minlength=self.num_classes) + self.smoothing
        self.classes_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.classes_, (len(X), 1))


def test_a_hand_written_init_wins_and_its_subclasses_inherit_it():
    assert Prior.param_names() == ["num_classes", "seed", "smoothing"]
    assert Prior(smoothing=2.0).get_params() == {"num_classes": 3, "seed": 0, "smoothing": 2.0}

    class Sub(Prior):
        info = info("sub")

    assert Sub.__init__ is Prior.__init__ and Sub.param_names() == ["num_classes", "seed", "smoothing"]


def test_a_parameter_declared_below_a_hand_written_init_is_refused():
    with pytest.raises(TypeError, match="declares the parameter.*k.*hand-written __init__"):
        class Sub(Prior):
            k: int = 2


def test_class_vars_and_unannotated_attributes_are_not_parameters():
    class Quiet(Method):
        info = info("quiet")
        registry: ClassVar[dict[str, int]] = {}
        label = "unannotated"
        k: int = 1

    assert Quiet.param_names() == ["num_classes", "seed", "k"]
    assert "device" not in Method.param_names() and "precision" not in Method.param_names()


def test_annotations_that_do_not_resolve_fall_back_to_the_defaults_types():
    namespace = {"__name__": "not_a_module", "Method": Method}  # made by exec: no module to resolve names in
    exec("from __future__ import annotations\n"  # noqa: S102
         "class Elsewhere(Method):\n"
         "    k: Unknown = 2\n", namespace)
    cls = namespace["Elsewhere"]
    assert cls(k=5).k == 5 and cls.param_names() == ["num_classes", "seed", "k"]
    assert cls.param_specs()["k"].annotation is int and cls.param_specs()["num_classes"].bounds == Bounds(2)


def test_an_annotation_without_a_default_is_refused():
    with pytest.raises(TypeError, match="network_ is annotated without a default"):
        class Bad(TorchMethod):
            network_: object


def test_a_mutable_default_is_refused():
    with pytest.raises(ValueError, match="mutable default"):
        class Bad(Method):
            sizes: list[int] = [1, 2]


class ShortPrior(Method):
    info = MethodInfo(name="short-prior", summary="x", input="flow", citation="x", iterative=False,
                      presets={"paper": {"smoothing": 1.0}, "quick": {"smoothing": 0.5}})
    smoothing: NonNegativeFloat = 1.0

    def fit(self, X, y, *, epoch_callback=None):
        counts = np.bincount(y, minlength=self.num_classes) + self.smoothing
        self.frequencies_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.frequencies_, (len(X), 1))


def test_a_short_form_method_passes_the_conformance_suite():
    check_method(ShortPrior)
    assert ShortPrior.from_preset("quick").smoothing == 0.5
