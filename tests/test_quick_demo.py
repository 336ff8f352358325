"""The README's demo, HTNet and STSTNet with the quick preset on the synthetic composite, learns:
both beat chance (UF1 1/3) by a clear margin. About two minutes on 2 cores."""

import pandas as pd
from typer.testing import CliRunner

from mebench.cli import app


def test_quick_preset_beats_chance_on_synthetic(tmp_path):
    run = CliRunner().invoke(app, ["run", "--methods", "htnet,ststnet", "--protocol", "composite", "--preset", "quick",
                                   "--out", str(tmp_path)])
    assert run.exit_code == 0, run.output
    report = CliRunner().invoke(app, ["report", str(tmp_path), "--no-figures", "--resamples", "200",
                                      "--permutations", "200"])
    assert report.exit_code == 0, report.output
    results = pd.read_csv(tmp_path / "results.csv")
    full_uf1 = results[(results.group == "Full") & (results.metric == "uf1")].set_index("method")["value"]
    assert set(full_uf1.index) == {"htnet", "ststnet"}
    assert (full_uf1 > 0.5).all(), full_uf1.to_dict()
