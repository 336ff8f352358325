"""The built-in HTNet and STSTNet reproduce the published implementations' logits."""

import zlib

import pytest
import torch

import mebench
from mebench.errors import DataError
from tests.conftest import REFERENCE, needs_reference

pytestmark = needs_reference


def rebuild_state_dict(keys):
    """The reference README's rule: every tensor is generated from its key."""
    state = {}
    for key, shape in keys:
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        tensor = torch.randn(tuple(shape), generator=g, dtype=torch.float32) * 0.02
        if key.endswith("running_var"):
            tensor = tensor.abs() + 1.0
        elif key.endswith("num_batches_tracked"):
            tensor = torch.zeros((), dtype=torch.long)
        state[key] = tensor
    return state


@pytest.mark.parametrize("name", ["htnet_official_small", "htnet_official_paper"])
def test_htnet_parity(name):
    ref = torch.load(REFERENCE / f"{name}.pt", weights_only=True)
    model = mebench.load_published("htnet", rebuild_state_dict(ref["keys"]), **ref["config"])
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == [(k, list(s)) for k, s in ref["keys"]]
    with torch.no_grad():
        logits = model(ref["input"].float())
    torch.testing.assert_close(logits, ref["logits"], atol=1e-5, rtol=0)
    if name == "htnet_official_paper":
        assert sum(p.numel() for p in model.parameters()) == 139_582_982


def test_ststnet_parity():
    ref = torch.load(REFERENCE / "ststnet_official.pt", weights_only=True)
    model = mebench.load_published("ststnet", rebuild_state_dict(ref["keys"]))
    assert not model.training
    with torch.no_grad():
        logits = model(ref["input"].float())
    torch.testing.assert_close(logits, ref["logits"], atol=1e-5, rtol=0)


def test_mismatched_checkpoint_names_the_problem():
    ref = torch.load(REFERENCE / "htnet_official_small.pt", weights_only=True)
    state = rebuild_state_dict(ref["keys"])
    with pytest.raises(DataError, match=r"wrong shapes .*to_qkv.weight \(90, 32, 1, 1\) != \(765, 256, 1, 1\)"):
        mebench.load_published("htnet", state)  # paper configuration (dim 256) vs a dim-32 checkpoint
    state.pop("mlp_head.2.bias")
    with pytest.raises(DataError, match=r"missing keys \['mlp_head.2.bias'\]"):
        mebench.load_published("htnet", state, **ref["config"])
