"""The README's demo (`--methods htnet,baseline --protocol composite --preset quick` on the synthetic
composite) learns with every method's quick preset: each method that learns beats chance (UF1 about 1/3)
by a clear margin and beats both floors of the same run. About two minutes on 2 idle cores."""

import pandas as pd
from typer.testing import CliRunner

from mebench import plugins
from mebench.cli import app


def test_quick_preset_beats_chance_on_synthetic(tmp_path):
    run = CliRunner().invoke(app, ["run", "--methods", "htnet,baseline", "--protocol", "composite", "--preset", "quick",
                                   "--out", str(tmp_path)])
    assert run.exit_code == 0, run.output
    report = CliRunner().invoke(app, ["report", str(tmp_path), "--no-figures", "--resamples", "200",
                                      "--permutations", "200"])
    assert report.exit_code == 0, report.output
    results = pd.read_csv(tmp_path / "results.csv")
    full_uf1 = results[(results.group == "Full") & (results.metric == "uf1")].set_index("method")["value"]
    demo = plugins.expand_method_selection("htnet,baseline")
    assert set(full_uf1.index) == set(demo)
    floors = [m for m in demo if "floor" in plugins.methods.get(m).info.tags]
    learners = full_uf1.drop(floors)
    assert {"htnet", "ststnet", "offapexnet", "dual-inception", "rcn-a", "biwoof"} <= set(learners.index)
    assert (learners > 0.5).all(), full_uf1.to_dict()
    assert (learners > full_uf1[floors].max() + 0.15).all(), full_uf1.to_dict()
