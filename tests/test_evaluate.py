"""`mebench evaluate` on checkpoint folders the tests create: complete, one missing, one mismatched."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mebench.cli import app
from mebench.store import ResultStore
from mebench.methods.htnet import HTNet
from mebench.methods.ststnet import STSTNet
from tests.conftest import make_tiny_dataset

FOLDS = ["casme2/s1", "casme2/sub02", "samm/006", "samm/007", "smic/s1", "smic/s2"]


def file_name(fold):
    # "s1" exists in two sources, so those folds need qualified names; the others use the release's <subject>.pth
    subject = fold.split("/")[1]
    return f"{fold.replace('/', '_')}.pth" if subject == "s1" else f"{subject}.pth"


@pytest.fixture
def weights(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    for i, fold in enumerate(FOLDS):
        torch.manual_seed(i)
        torch.save(STSTNet().state_dict(), folder / file_name(fold))
    return folder


def evaluate(weights, out, tiny_data, *extra):
    return CliRunner().invoke(app, ["evaluate", "--method", "ststnet", "--weights", str(weights), "--data", tiny_data,
                                    "--protocol", "composite", "--out", str(out), *extra])


def test_every_fold_evaluated_with_its_own_checkpoint(tmp_path, weights, tiny_data):
    result = evaluate(weights, tmp_path / "run", tiny_data)
    assert result.exit_code == 0, result.output
    cells = ResultStore(tmp_path / "run").cells()
    assert len(cells) == 6 and set(cells["status"]) == {"done"} and set(cells["training"]) == {"checkpoint"}
    preds = ResultStore(tmp_path / "run").predictions()
    ds = make_tiny_dataset()
    X = ds.features("flow")
    for i, fold in enumerate(FOLDS):
        net = STSTNet()
        net.load_state_dict(torch.load(weights / file_name(fold), weights_only=True))
        net.eval()
        rows = np.flatnonzero(ds.samples["subject_key"] == fold)
        with torch.no_grad():
            expected = torch.softmax(net(torch.as_tensor(X[rows])), 1).argmax(1).numpy()
        got = preds[preds["fold"] == fold].set_index("sample").loc[ds.samples["sample"].iloc[rows], "y_pred"].to_numpy()
        assert np.array_equal(got, expected), fold
    report = CliRunner().invoke(app, ["report", str(tmp_path / "run")], env={"COLUMNS": "200"})
    assert report.exit_code == 0 and "ststnet (checkpoint)" in report.output


def test_missing_checkpoint_names_fold_and_file(tmp_path, weights, tiny_data):
    (weights / "007.pth").unlink()
    result = evaluate(weights, tmp_path / "run", tiny_data)
    assert result.exit_code == 2
    assert "fold samm/007: 007.pth" in result.output


def test_mismatched_checkpoint_names_fold_and_file(tmp_path, weights, tiny_data):
    torch.save(HTNet(image_size=28, patch_size=7, num_classes=3, dim=8, heads=2, num_hierarchies=3,
                     block_repeats=(1, 1, 1)).state_dict(), weights / "006.pth")
    result = evaluate(weights, tmp_path / "run", tiny_data)
    assert result.exit_code == 1
    assert "fold samm/006" in result.output and "006.pth" in result.output and "missing keys" in result.output
    cells = ResultStore(tmp_path / "run").cells()
    assert (cells["status"] == "done").sum() == 5  # the other folds' results are kept
