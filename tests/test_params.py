"""Parameter coercion (mebench.params): each declared type takes the values it admits, converted only where
nothing is lost; bounds are enforced; a bad value is one ConfigError naming the owner, the parameter, the value
and what was expected."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

import pytest

from mebench.errors import ConfigError
from mebench.params import (SEED_MAX, Bounds, DropoutRate, Epochs, PositiveFloat, Seed, _coerce, check_params,
                            param_specs)


@pytest.mark.parametrize("annotation, value, expected", [
    (int, 3, 3),
    (int, 4.0, 4),  # an integral float (JSON's 4.0) is the integer
    (float, 2, 2.0),
    (float, 0.5, 0.5),
    (bool, True, True),
    (str, "adam", "adam"),
    (tuple[int, ...], [2, 2, 10], (2, 2, 10)),
    (tuple[int, ...], (), ()),
    (tuple[int, str], [1, "a"], (1, "a")),
    (tuple, [1, "a"], (1, "a")),
    (Literal["sgd", "adam"], "adam", "adam"),
    (Optional[int], None, None),
    (int | None, 5, 5),
    (Annotated[int, Bounds(1)], 7, 7),
    (Any, object, object),
])
def test_each_type_takes_what_it_admits(annotation, value, expected):
    out = _coerce(annotation, value)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("annotation, value", [
    (int, 2.5),  # would lose the fraction
    (int, True),  # a boolean is not a number here
    (int, "3"),
    (float, True),
    (float, float("nan")),
    (float, float("inf")),
    (float, "0.1"),
    (bool, 1),
    (str, 3),
    (tuple[int, ...], 3),
    (tuple[int, ...], [1, 2.5]),
    (tuple[int, str], [1]),  # wrong length
    (Literal["sgd", "adam"], "rmsprop"),
    (int | None, "x"),
    (int, None),
])
def test_each_type_refuses_what_it_does_not_admit(annotation, value):
    with pytest.raises((TypeError, ValueError)):
        _coerce(annotation, value)


@pytest.mark.parametrize("bounds, inside, outside", [
    (Bounds(1), [1, 100], [0, -3]),
    (Bounds(0, low_open=True), [1e-9, 5.0], [0.0, -1.0]),
    (Bounds(0, 1, high_open=True), [0.0, 0.99], [1.0, 1.5, -0.1]),
    (Bounds(0, 1), [0.0, 1.0], [1.01, -0.01]),
    (Bounds(choices=(1, 3)), [1, 3], [2]),
])
def test_bounds_admit_their_interval_or_choices_only(bounds, inside, outside):
    assert all(bounds.admits(v) for v in inside) and not any(bounds.admits(v) for v in outside)


class Net:
    info = None

    def __init__(self, *, num_classes: Annotated[int, Bounds(2)] = 3, seed: Seed = 0, epochs: Epochs = 10,
                 lr: PositiveFloat = 1e-3, dropout: DropoutRate = 0.5, blocks: tuple[int, ...] = (2, 2),
                 optimizer: Literal["sgd", "adam"] = "adam", patience: int | None = None, pretrained: bool = False,
                 name: str = "net", untyped=0.25):
        pass


def test_specs_read_annotations_bounds_and_default_types():
    specs = param_specs(Net)
    assert list(specs) == ["num_classes", "seed", "epochs", "lr", "dropout", "blocks", "optimizer", "patience",
                           "pretrained", "name", "untyped"]
    assert specs["epochs"].annotation is int and specs["epochs"].bounds == Bounds(1)
    assert specs["untyped"].annotation is float  # no annotation: the default's type


@pytest.mark.parametrize("params, expected", [
    (dict(epochs="20"), dict(epochs=20)),  # command-line text read as JSON
    (dict(epochs=20.0), dict(epochs=20)),
    (dict(lr="5e-5"), dict(lr=5e-5)),
    (dict(blocks="[2, 2, 10]"), dict(blocks=(2, 2, 10))),
    (dict(blocks=[1]), dict(blocks=(1,))),
    (dict(pretrained="true"), dict(pretrained=True)),
    (dict(pretrained="False"), dict(pretrained=False)),
    (dict(patience="null"), dict(patience=None)),
    (dict(patience="none"), dict(patience=None)),
    (dict(patience="7"), dict(patience=7)),
    (dict(name="12"), dict(name="12")),  # a string parameter keeps the text as typed
    (dict(optimizer="sgd"), dict(optimizer="sgd")),
    (dict(seed=SEED_MAX), dict(seed=SEED_MAX)),
    (dict(untyped=1), dict(untyped=1.0)),
])
def test_values_are_normalised_to_the_declared_type(params, expected):
    out = check_params(Net, params)
    assert out == expected and all(type(out[k]) is type(v) for k, v in expected.items())


@pytest.mark.parametrize("params, shown, expected", [
    (dict(epochs=0), "epochs=0", "an integer >= 1"),
    (dict(epochs="ten"), "epochs=ten", "an integer >= 1"),
    (dict(epochs=2.5), "epochs=2.5", "an integer >= 1"),
    (dict(num_classes=1), "num_classes=1", "an integer >= 2"),
    (dict(seed=-1), "seed=-1", f"an integer >= 0 and <= {SEED_MAX}"),
    (dict(seed=SEED_MAX + 1), f"seed={SEED_MAX + 1}", f"<= {SEED_MAX}"),
    (dict(lr=0), "lr=0", "a number > 0"),
    (dict(lr="fast"), "lr=fast", "a number > 0"),
    (dict(dropout=1.0), "dropout=1.0", "a number >= 0 and < 1"),
    (dict(blocks="[2, x]"), "blocks=[2, x]", "a list of integers"),
    (dict(blocks=[2, 2.5]), "blocks=[2, 2.5]", "a list of integers"),
    (dict(optimizer="rmsprop"), "optimizer=rmsprop", "one of 'sgd', 'adam'"),
    (dict(patience="soon"), "patience=soon", "an integer or null"),
    (dict(pretrained="yes"), "pretrained=yes", "true or false"),
    (dict(pretrained=1), "pretrained=1", "true or false"),
    (dict(name=3), "name=3", "a string"),
])
def test_a_bad_value_names_the_owner_parameter_value_and_expectation(params, shown, expected):
    with pytest.raises(ConfigError) as exc:
        check_params(Net, params, owner="method 'net'")
    message = str(exc.value)
    assert message.startswith(f"method 'net': parameter {shown}: expected ") and expected in message, message


def test_an_unknown_parameter_names_the_method_and_its_parameters():
    with pytest.raises(ConfigError, match=r"method 'Net' has no parameter 'epochz'; its parameters: num_classes, "
                                          r"seed, epochs, lr"):
        check_params(Net, dict(epochz=3))
