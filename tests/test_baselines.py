"""Baselines: OFF-ApexNet, Dual-Inception, RCN-A, timm:<model> and the majority/stratified floors.

Layer shapes and parameter counts are checked against numbers computed here by hand from the
published architectures; every registered flow method trains a few steps on the synthetic data and on
the real HTNet release (when ../shared is present). Conformance: test_conformance.py.
"""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import RELEASE, needs_release
from mebench import plugins
from mebench.errors import DataError, UnknownNameError
from mebench.method import Method

SECOND_TIMM = "timm:mobilenetv3_small_050"


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def flow_batch(n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 28, 28, generator=torch.Generator().manual_seed(seed)) * 255


def output_shapes(net: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Output shape (without the batch axis) of each named submodule during one forward pass."""
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(_module, _inputs, out) -> None:  # returns None: a hook's return value would replace the output
            shapes.setdefault(name, tuple(out.shape[1:]))
        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in modules.items()]
    try:
        net.eval()
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def build(name: str, **params) -> nn.Module:
    return plugins.methods.get(name)(**params).build_network()


def quick_params(cls: type[Method], **extra) -> dict:
    names = set(cls.param_names())
    params = dict(cls.info.presets["quick"])
    params.update({k: v for k, v in extra.items() if k in names})
    return params


# -- metadata ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", plugins.methods.names())
def test_every_registered_method_s_module_cites_its_code(name):
    info = plugins.methods.get(name).info
    module_doc = sys.modules[plugins.methods.get(name).__module__].__doc__ or ""
    assert not info.code_url.strip() or info.code_url.split()[0] in module_doc, \
        f"{name}: the module docstring cites the code ({info.code_url})"


def test_baselines_are_tagged_and_timm_models_are_named_explicitly():
    for name in ("offapexnet", "dual-inception", "rcn-a", "majority", "stratified", "timm"):
        info = plugins.methods.get(name).info
        assert ("baseline" in info.tags) == (name != "timm"), name
        assert info.input == "flow" and info.code_url.strip(), name
    for name in ("majority", "stratified"):
        assert "floor" in plugins.methods.get(name).info.tags
    selected = plugins.expand_method_selection("baseline")
    assert {"offapexnet", "dual-inception", "rcn-a", "majority", "stratified"} <= set(selected)
    assert "timm" not in selected


def test_paper_presets_hold_the_published_settings():
    off = plugins.methods.get("offapexnet")
    assert (off.info.presets["paper"]["lr"], off.info.presets["paper"]["epochs"]) == (1e-4, 3000)
    assert off.info.presets["paper"]["dropout"] == 0.5
    dual = plugins.methods.get("dual-inception")
    assert {k: dual.info.presets["paper"][k] for k in ("lr", "batch_size", "epochs")} == dict(lr=1e-4, batch_size=3, epochs=40)
    assert isinstance(dual().make_optimizer(nn.Linear(1, 1).parameters()), torch.optim.Adam)
    rcn = plugins.methods.get("rcn-a")
    paper = rcn.info.presets["paper"]
    assert {k: paper[k] for k in ("featuremaps", "pool_size", "num_layers", "lr", "momentum", "batch_size", "epochs")} == dict(
        featuremaps=32, pool_size=5, num_layers=1, lr=5e-4, momentum=0.9, batch_size=64, epochs=20)
    sgd = rcn.from_preset("paper").make_optimizer(nn.Linear(1, 1).parameters())
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    timm_paper = plugins.methods.get("timm").info.presets["paper"]
    assert {k: timm_paper[k] for k in ("image_size", "lr", "weight_decay", "batch_size", "epochs")} == dict(
        image_size=112, lr=1e-4, weight_decay=1e-3, batch_size=32, epochs=50)
    adam = plugins.methods.get("timm:resnet18").from_preset("paper").make_optimizer(nn.Linear(1, 1).parameters())
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["weight_decay"] == 1e-3


# -- OFF-ApexNet -------------------------------------------------------------------------------

def test_offapexnet_layers_and_parameter_count():
    net = build("offapexnet")
    per_stream = conv(5, 1, 6) + conv(5, 6, 16)  # 156 + 2416
    flat = 2 * 16 * 7 * 7  # two streams of 16 maps at 7x7 ('same' convolutions, two 2x2 poolings)
    expected = 2 * per_stream + dense(flat, 1024) + dense(1024, 1024) + dense(1024, 3)
    assert expected == 2_664_475
    assert n_params(net) == expected
    assert abs(expected - 2.77e6) / 2.77e6 < 0.05  # the count STSTNet's paper lists for OFF-ApexNet
    for stream in (net.stream_u, net.stream_v):
        assert stream.conv1.weight.shape == (6, 1, 5, 5) and stream.conv2.weight.shape == (16, 6, 5, 5)
    shapes = output_shapes(net, {"conv1": net.stream_u.conv1, "conv2": net.stream_u.conv2, "stream": net.stream_u,
                                 "fc1": net.classifier[0], "fc2": net.classifier[3], "out": net}, flow_batch())
    assert shapes == {"conv1": (6, 28, 28), "conv2": (16, 14, 14), "stream": (16, 7, 7), "fc1": (1024,),
                      "fc2": (1024,), "out": (3,)}
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]


def test_offapexnet_reads_u_and_v_but_not_strain():
    net = build("offapexnet").eval()
    x = flow_batch(3)
    x_strain = x.clone()
    x_strain[:, 0] = torch.rand(3, 28, 28) * 255
    x_u = x.clone()
    x_u[:, 2] = 0
    with torch.no_grad():
        assert torch.allclose(net(x), net(x_strain))
        assert not torch.allclose(net(x), net(x_u))


# -- Dual-Inception ------------------------------------------------------------------------------

def test_dual_inception_layers_and_parameter_count():
    net = build("dual-inception")

    def block(c_in: int, w: int) -> int:  # 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | pool -> 1x1
        return conv(1, c_in, w) + (conv(1, c_in, w) + conv(3, w, w)) + (conv(1, c_in, w) + conv(5, w, w)) + conv(1, c_in, w)

    per_stream = block(3, 6) + block(24, 16)
    assert per_stream == 1332 + 10336
    flat = 2 * 64 * 7 * 7
    expected = 2 * per_stream + dense(flat, 1024) + dense(1024, 3)
    assert expected == 6_449_963
    assert n_params(net) == expected
    shapes = output_shapes(net, {"block1": net.stream_x.block1, "block2": net.stream_x.block2, "stream": net.stream_x,
                                 "dense": net.dense, "out": net}, flow_batch())
    assert shapes == {"block1": (24, 28, 28), "block2": (64, 14, 14), "stream": (64, 7, 7), "dense": (1024,), "out": (3,)}
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())  # none in the release


def test_dual_inception_streams_see_one_flow_component_each():
    net = build("dual-inception").eval()
    seen = {}
    net.stream_x.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))  # update() returns None
    net.stream_y.register_forward_pre_hook(lambda m, args: seen.update(y=args[0]))
    x = flow_batch(2)
    with torch.no_grad():
        net(x)
    assert seen["x"].shape == seen["y"].shape == (2, 3, 28, 28)
    for c in range(3):  # the component, repeated three times, scaled to [0, 1] as the release does
        assert torch.allclose(seen["x"][:, c], x[:, 2] / 255)
        assert torch.allclose(seen["y"][:, c], x[:, 1] / 255)


# -- RCN-A -----------------------------------------------------------------------------------------

def test_rcn_a_layers_and_parameter_count():
    f, p = 32, 5
    bn = 2 * f  # weight and bias; running statistics are buffers
    expected = (conv(5, 3, f) + bn) + (conv(1, f, f) + bn) + (conv(3, f, f) + bn) + dense(p * p * f, 3)
    assert expected == 15_331
    for image_size, maps in ((60, (28, 14)), (None, (12, 6))):
        net = build("rcn-a", image_size=image_size)
        assert n_params(net) == expected  # the attention unit adds no parameter, the size changes none
        rcl = net.rcls[0]
        shapes = output_shapes(net, {"conv1": net.conv1, "rcl": rcl, "avgpool": net.avgpool, "out": net}, flow_batch())
        assert shapes == {"conv1": (f, maps[0], maps[0]), "rcl": (f, maps[1], maps[1]), "avgpool": (f, p, p), "out": (3,)}
        assert rcl.rrconv[0].weight.shape == (f, f, 3, 3) and rcl.ffconv[0].weight.shape == (f, f, 1, 1)


def test_rcn_a_attention_is_the_released_class_activation_map():
    from mebench.methods.rcn import class_attention

    g = torch.Generator().manual_seed(0)
    feats = torch.rand(4, 8, 5, 5, generator=g)
    weight = torch.randn(3, 8 * 5 * 5, generator=g)
    cams = []
    for k in range(3):  # the release's loop, written out
        cam = (weight[k].reshape(8, 5, 5) * feats).mean(dim=1, keepdim=True)
        cam = cam - cam.amin(dim=(2, 3), keepdim=True)
        cams.append(cam / cam.amax(dim=(2, 3), keepdim=True))
    expected = torch.cat(cams, dim=1).mean(dim=1, keepdim=True)
    got = class_attention(feats, weight)
    assert got.shape == (4, 1, 5, 5) and torch.allclose(got, expected, atol=1e-6)
    assert float(got.min()) >= 0 and float(got.max()) <= 1
    assert torch.isfinite(class_attention(torch.zeros(2, 8, 5, 5), weight)).all()  # constant maps: no 0/0


# -- timm ------------------------------------------------------------------------------------------

def test_timm_variants_are_cached_named_and_default_to_their_model():
    from mebench.methods.timm_flow import TimmFlowMethod

    cls = plugins.methods.get("timm:resnet18")
    assert cls is TimmFlowMethod.for_variant("resnet18") and issubclass(cls, TimmFlowMethod)
    assert cls.info.name == "timm:resnet18" and cls.param_defaults()["model_name"] == "resnet18"
    assert cls().model_name == "resnet18" and cls(model_name="resnet34").model_name == "resnet34"
    other = plugins.methods.get(SECOND_TIMM)
    assert other.info.name == SECOND_TIMM and other.param_defaults()["model_name"] == "mobilenetv3_small_050"
    assert plugins.methods.get("timm").param_defaults()["model_name"] == "resnet18"


def test_timm_unknown_model_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"unknown timm model 'resnet_18', did you mean .*'resnet18'"):
        plugins.methods.get("timm:resnet_18")
    with pytest.raises(UnknownNameError, match="unknown timm model"):
        plugins.methods.get("timm:no-such-architecture-at-all")
    with pytest.raises(UnknownNameError, match="did you mean"):  # a bad name set as a parameter fails at build
        plugins.methods.get("timm")(model_name="resnt18").build_network()


def test_timm_network_resizes_to_image_size_and_uses_timm():
    import timm

    net = build("timm:resnet18")
    seen = {}
    net.model.conv1.register_forward_pre_hook(lambda m, args: seen.update(inp=args[0]))
    shapes = output_shapes(net, {"out": net}, flow_batch())
    assert seen["inp"].shape == (2, 3, 112, 112) and float(seen["inp"].max()) <= 1.0
    assert shapes == {"out": (3,)}
    reference = timm.create_model("resnet18", pretrained=False, in_chans=3, num_classes=3)
    assert n_params(net) == n_params(reference)
    vit = build("timm:vit_tiny_patch16_224", num_classes=4)  # a fixed-size architecture is built for 112x112
    assert output_shapes(vit, {"out": vit}, flow_batch()) == {"out": (4,)}


def test_timm_second_architecture_trains_predicts_and_pickles():
    X = flow_batch(10, seed=1).numpy()
    y = np.arange(10) % 3
    method = plugins.methods.get(SECOND_TIMM)(**quick_params(plugins.methods.get(SECOND_TIMM), epochs=1, batch_size=5))
    proba = method.fit(X, y).predict_proba(X[:4])
    assert proba.shape == (4, 3) and np.allclose(proba.sum(axis=1), 1)
    restored = pickle.loads(pickle.dumps(method))
    assert type(restored) is type(method) and restored.get_params() == method.get_params()
    assert np.allclose(restored.predict_proba(X[:4]), proba)


# -- floors ------------------------------------------------------------------------------------------

def test_majority_predicts_the_training_majority():
    cls = plugins.methods.get("majority")
    X = np.zeros((9, 3, 28, 28), np.float32)
    m = cls(num_classes=3).fit(X, np.array([1, 1, 1, 2, 2, 0, 1, 2, 1]))
    assert np.array_equal(m.predict(X[:4]), [1, 1, 1, 1])
    assert np.array_equal(m.predict_proba(X[:2]), [[0, 1, 0], [0, 1, 0]])
    assert cls(num_classes=4).fit(X[:4], np.array([2, 0, 2, 0])).predict(X[:1])[0] == 0  # ties: lowest index
    with pytest.raises(DataError, match="labels must lie"):
        cls(num_classes=2).fit(X[:3], np.array([0, 1, 2]))


def test_stratified_follows_training_frequencies_and_is_seeded():
    cls = plugins.methods.get("stratified")
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X_train = np.zeros((len(y), 3, 28, 28), np.float32)
    X = np.zeros((20_000, 1, 1, 1), np.float32)
    m = cls(num_classes=3, seed=5).fit(X_train, y)
    pred = m.predict(X)
    assert np.allclose(np.bincount(pred, minlength=3) / len(pred), [0.6, 0.3, 0.1], atol=0.015)
    assert np.array_equal(pred, cls(num_classes=3, seed=5).fit(X_train, y).predict(X))  # deterministic per seed
    assert np.array_equal(pred[:50], m.predict(X[:50]))  # a prefix of X gets a prefix of the draws
    assert not np.array_equal(pred, cls(num_classes=3, seed=6).fit(X_train, y).predict(X))
    proba = m.predict_proba(X[:10])
    assert np.array_equal(proba.sum(axis=1), np.ones(10)) and set(np.unique(proba)) <= {0.0, 1.0}
    absent = cls(num_classes=4, seed=0).fit(X_train, y).predict(X)  # class 3 never seen: never drawn
    assert 3 not in absent


# -- training on real and synthetic data ---------------------------------------------------------------

# Every registered method reading the flow image (the input `pick` gives), and a second timm architecture.
# (A plugin that fails to load is left to test_conformance, which reports it.)
TRAINABLE = [n for n, cls in plugins.methods.load_all()[0].items() if cls.info.input == "flow"] + [SECOND_TIMM]


def few_steps(name: str, X: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    cls = plugins.methods.get(name)
    method = cls(**quick_params(cls, num_classes=n_classes, seed=0, epochs=1, batch_size=16))
    seen: list[int] = []
    if cls.info.iterative:
        method.fit(X, y, epoch_callback=lambda epoch, m: seen.append(epoch))
        assert seen == [1]
    else:
        method.fit(X, y)
    return np.asarray(method.predict_proba(X[:10]))


def pick(dataset, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    X = dataset.features("flow")
    y = dataset.labels()
    idx = np.random.default_rng(0).permutation(len(y))[:n]
    assert X.shape[1:] == (3, 28, 28) and X.dtype == np.float32
    return X[idx], y[idx]


@pytest.fixture(scope="module")
def synthetic_sample():
    from mebench.plan import load_dataset

    ds = load_dataset("synthetic")
    return (*pick(ds), len(ds.class_names))


@pytest.fixture(scope="module")
def release_sample():
    from mebench.plan import load_dataset

    ds = load_dataset(f"htnet-release:{RELEASE}")
    return (*pick(ds), len(ds.class_names))


@pytest.mark.parametrize("name", TRAINABLE)
def test_trains_a_few_steps_on_synthetic_data(name, synthetic_sample):
    X, y, k = synthetic_sample
    proba = few_steps(name, X, y, k)
    assert proba.shape == (10, k) and np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@needs_release
@pytest.mark.parametrize("name", TRAINABLE)
def test_trains_a_few_steps_on_the_real_release(name, release_sample):
    X, y, k = release_sample
    proba = few_steps(name, X, y, k)
    assert proba.shape == (10, k) and np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
