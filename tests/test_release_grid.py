"""The full composite grid on the real HTNet release: 68 folds, each of the 442 samples predicted once per seed."""

from typer.testing import CliRunner

from mebench.cli import app
from mebench.store import ResultStore
from tests.conftest import RELEASE, needs_release

pytestmark = needs_release


def test_ststnet_composite_grid_on_the_release(tmp_path):
    # two epochs instead of the quick preset's budget: the grid, not the accuracy, is under test here
    args = ["run", "--data", f"htnet-release:{RELEASE}", "--methods", "ststnet", "--protocol", "composite",
            "--preset", "quick", "--param", "epochs=2", "--seeds", "0,1", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cells = ResultStore(tmp_path).cells()
    assert len(cells) == 2 * 68 and set(cells["status"]) == {"done"}
    assert cells["fold"].nunique() == 68
    preds = ResultStore(tmp_path).predictions()
    counts = preds.groupby(["seed", "sample"]).size()
    assert len(counts) == 2 * 442 and (counts == 1).all()
    report = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert report.exit_code == 0, report.output
