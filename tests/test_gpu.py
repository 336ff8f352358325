"""GPU behaviour (`pytest -m gpu`): skipped with the reason where torch sees no CUDA device."""

from __future__ import annotations

import pytest
import torch

from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.store import ResultStore
from mebench.training import resolve_device

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: torch.cuda.is_available() is False")]


def test_auto_chooses_cuda():
    assert resolve_device("auto") == "cuda"


def run(tmp_path, name, tiny_data, **extra):
    out = tmp_path / name
    summary = run_grid(RunConfig(methods=("ststnet", "htnet"), protocol="loso", out=out, data=tiny_data, preset="quick",
                                 params=(("epochs", 3),), device="auto", **extra))
    assert not summary.failed, summary.failed
    return ResultStore(out)


def test_the_same_seed_gives_the_same_predictions_on_cuda(tmp_path, tiny_data):
    a = run(tmp_path, "a", tiny_data).predictions().sort_values(["method", "sample"])
    b = run(tmp_path, "b", tiny_data).predictions().sort_values(["method", "sample"])
    assert a["y_pred"].tolist() == b["y_pred"].tolist() and a["proba"].tolist() == b["proba"].tolist()
    cells = ResultStore(tmp_path / "a").cells()
    assert set(cells["device"]) == {"cuda"}


def test_bf16_trains_on_cuda_and_is_its_own_result(tmp_path, tiny_data):
    store = run(tmp_path, "bf16", tiny_data, precision="bf16")
    cells = store.cells()
    assert set(cells["precision"]) == {"bf16"} and set(cells["status"]) == {"done"}
    fp32 = run(tmp_path, "bf16", tiny_data)  # the same folder: fp32 cells are new ones, not the bf16 ones
    assert len(fp32.cells()) == 2 * len(cells)
