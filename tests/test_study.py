"""Study files (`mebench study`, `mebench.study`): checked up front, expanded into the commands they stand for,
run (and resumed) through the API; the README's real-data results are one study file. Also: a grid mixing
methods that train in epochs with ones that do not reads `oracle` off the former only, and says so."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mebench
from mebench.cli import app
from mebench.errors import ConfigError, UnknownNameError
from mebench.study_file import load_study, parse_path_overrides, parse_seed_text
from tests.conftest import REPO

README_STUDY = REPO / "studies" / "readme-results.toml"
README_PATHS = {"htnet-release": "/path/to/htnet-release", "causalnet-release": "/path/to/causalnet-release",
                "ststnet-weights": "/path/to/STSTNet_Weights"}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def readme_results_commands() -> list[list[str]]:
    """The `mebench run/evaluate/report` lines of the README's real-data results sections, as argument lists."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Results on the MEGC2019 composite"):readme.index("## Protocols")]
    return [shlex.split(line) for line in section.splitlines() if re.match(r"mebench (run|evaluate|report) ", line)]


def test_the_readme_results_study_expands_to_the_readme_commands(monkeypatch):
    monkeypatch.chdir(REPO)
    args = [f"--data={name}={path}" for name, path in README_PATHS.items()]
    result = invoke("study", "studies/readme-results.toml", "--dry-run", *args)
    assert result.exit_code == 0, result.output
    printed = [shlex.split(line) for line in result.output.strip().splitlines()]
    expected = readme_results_commands()
    assert len(expected) == 15 and len(printed) == 15
    assert sorted(printed) == sorted(expected)  # the same commands, word for word (the README groups them by table)


def test_the_readme_results_study_holds_no_data_path():
    from mebench.study_file import tomllib

    sources = tomllib.loads(README_STUDY.read_text())["data"]
    assert set(sources) == set(README_PATHS) and not any("path" in entry for entry in sources.values())
    with pytest.raises(ConfigError, match=r"\[data.htnet-release\] has no path: give it with `--data htnet-release=PATH`"):
        load_study(README_STUDY)


def test_unknown_keys_are_refused_with_a_suggestion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[run.paper]\nmethods = ["majority"]\nseed = 1\nout = "runs/a"\n')
    with pytest.raises(ConfigError) as err:
        load_study("study.toml")
    assert str(err.value) == 'study.toml [run.paper]: unknown key "seed" (did you mean "seeds"?)'
    write(tmp_path, '[runs.paper]\nmethods = ["majority"]\n')
    with pytest.raises(ConfigError, match=r'^study.toml: unknown key "runs" \(did you mean "run"\?\)'):
        load_study("study.toml")
    write(tmp_path, '[report.r]\nrun = ["a"]\n')
    with pytest.raises(ConfigError, match=r'^study.toml \[report.r\]: unknown key "run" \(did you mean "runs"\?\)'):
        load_study("study.toml")
    write(tmp_path, '[data.tiny]\nkin = "synthetic"\n[run.a]\nmethods = ["majority"]\nout = "a"\n')
    with pytest.raises(ConfigError, match=r'^study.toml \[data.tiny\]: unknown key "kin" \(did you mean "kind"\?\)'):
        load_study("study.toml")


@pytest.mark.parametrize(("body", "message"), [
    ('methods = ["majority"]', r'\[run.a\]: missing key "out"'),
    ('methods = ["majorty"]\nout = "a"', r"\[run.a\]: .*majorty"),
    ('methods = ["ststnet"]\nparams = { epoch = 2 }\nout = "a"', r"\[run.a\]: --param epoch: no selected method"),
    ('methods = ["ststnet"]\nepoch_selection = ["best"]\nout = "a"', r"\[run.a\]: --epoch-selection 'best'"),
    ('methods = ["ststnet"]\npreset = "fast"\nout = "a"', r"\[run.a\]: method 'ststnet' has no preset 'fast'"),
    ('methods = ["ststnet"]\ntuning = ["nested"]\ngrid = { lr = [0.001, -1] }\nout = "a"', r"\[run.a\]: .*lr"),
    ('methods = ["ststnet"]\nseeds = "2-0"\nout = "a"', r"\[run.a\] seeds: seed range '2-0' runs backwards"),
    ('methods = ["ststnet"]\nworkers = "many"\nout = "a"', r"\[run.a\] workers: expected a whole number or \"auto\""),
    ('methods = ["ststnet"]\ndata = ["htnet"]\nout = "a"', r"\[run.a\] data: .*\[data\]"),
    ('methods = ["ststnet"]\nparams = { lr = 0.1 }\nsweep = { lr = [1, 2] }\nout = "a"', r"'lr' is both in params and in sweep"),
])
def test_every_run_is_checked_before_anything_runs(tmp_path, body, message):
    path = write(tmp_path, f"[run.a]\n{body}\n")
    with pytest.raises((ConfigError, UnknownNameError), match=message):
        load_study(path)
    assert not (tmp_path / "a").exists()


def test_seeds_take_lists_and_ranges(tmp_path):
    assert parse_seed_text("0-2", "x") == [0, 1, 2] and parse_seed_text("0-1,5", "x") == [0, 1, 5]
    path = write(tmp_path, '[run.a]\nmethods = ["majority"]\nseeds = [0, "3-4"]\nout = "a"\n')
    assert load_study(path).commands() == [f"mebench run --methods majority --seeds 0,3,4 --out {tmp_path / 'a'}"]
    with pytest.raises(ConfigError, match="'x' is not a seed"):
        parse_seed_text("0,x", "--seeds")


def test_data_paths_come_from_the_file_or_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    text = ('[data.release]\nkind = "htnet-release"\npath = "../data/release"\n[data.weights]\n'
            '[run.a]\nmethods = ["majority"]\ndata = ["release"]\nout = "runs/a"\n'
            '[evaluate.b]\nmethod = "ststnet"\nweights = "weights"\ndata = ["release"]\nout = "runs/b"\n'
            '[report.both]\nruns = ["runs/a", "runs/b"]\nout = "runs/report"\n')
    study = write(tmp_path / "studies", text)
    with pytest.raises(ConfigError, match=r"\[evaluate.b\] weights: \[data.weights\] has no path"):
        load_study(study)
    commands = load_study(study, data={"weights": "/w"}).commands()
    assert commands == [  # the file's path is relative to the file; run folders too (no [study] root)
        "mebench run --methods majority --data htnet-release:data/release --out studies/runs/a",
        "mebench evaluate --method ststnet --weights /w --data htnet-release:data/release --out studies/runs/b",
        "mebench report studies/runs/a studies/runs/b --out studies/runs/report"]
    moved = load_study(study, data={"weights": "/w", "release": "/elsewhere"}, root=tmp_path / "out")
    assert moved.commands()[0] == "mebench run --methods majority --data htnet-release:/elsewhere --out out/runs/a"
    with pytest.raises(ConfigError, match=r'--data releas=/x: .*unknown key "releas" \(did you mean "release"\?\)'):
        load_study(study, data={"releas": "/x"})
    with pytest.raises(ConfigError, match="expected NAME=PATH"):
        parse_path_overrides(["/data/release"])
    write(tmp_path / "studies", text.replace('data = ["release"]\nout = "runs/b"', 'data = ["weights"]\nout = "runs/b"'))
    with pytest.raises(ConfigError, match=r"\[data.weights\] has no kind, so it is a folder"):
        load_study(study, data={"weights": "/w"})
    write(tmp_path / "studies", text.replace('"runs/a", "runs/b"', '"runs/a", "runs/c"'))
    with pytest.raises(ConfigError, match=r"runs/c is no run folder of this study and does not exist \(did you mean"):
        load_study(study, data={"weights": "/w"})


def test_a_study_runs_sweeps_and_reports_and_resumes(tmp_path, tiny_data):
    study = write(tmp_path, f"""
[data.tiny]
kind = "{tiny_data}"

[run.grid]
methods = ["ststnet", "majority"]
protocol = "loso"
data = ["tiny"]
preset = "quick"
seeds = "0-1"
params = {{ epochs = 2 }}
executor = "serial"
out = "runs/a"

[run.lr]  # each value a labelled variant of ststnet in the same run folder
methods = ["ststnet"]
protocol = "loso"
data = ["tiny"]
preset = "quick"
seeds = "0-1"
params = {{ epochs = 2 }}
sweep = {{ lr = [0.01, 0.1] }}
executor = "serial"
out = "runs/a"

[report.a]
runs = ["runs/a"]
out = "runs/report"
figures = false
resamples = 20
permutations = 20
""")
    outcome = mebench.study(study)
    runs = [r for step, r in outcome.results if step.command_name == "run"]
    assert [s.command_name for s, _ in outcome.results] == ["run", "run", "run", "report"]
    assert [r.done for r in runs] == [24, 12, 12] and not outcome.failed
    assert "--param lr=0.01" in outcome.commands[1] and "--param lr=0.1" in outcome.commands[2]
    rep = outcome.results[-1][1]
    assert set(rep.summary["method"]) == {"ststnet (lr=0.001)", "ststnet (lr=0.01)", "ststnet (lr=0.1)", "majority"}
    assert (tmp_path / "runs" / "report" / "table.md").is_file()
    again = mebench.study(study)  # every run resumes: nothing is trained twice
    assert [(r.done, r.skipped) for s, r in again.results if s.command_name == "run"] == [(0, 24), (0, 12), (0, 12)]


def test_the_study_command_prints_each_step_and_its_dry_run(tmp_path, tiny_data):
    study = write(tmp_path, f'[data.tiny]\nkind = "{tiny_data}"\n[run.a]\nmethods = ["majority"]\nprotocol = "loso"\n'
                            f'data = ["tiny"]\nexecutor = "serial"\nout = "a"\n')
    dry = invoke("study", study, "--dry-run")
    assert dry.exit_code == 0 and dry.output.strip() == (
        f"mebench run --methods majority --protocol loso --data {tiny_data} --executor serial --out {tmp_path / 'a'}")
    assert not (tmp_path / "a").exists()
    result = invoke("study", study)
    assert result.exit_code == 0, result.output
    assert f"[run.a]: mebench run --methods majority" in result.output and "6 cells run" in result.output
    bad = invoke("study", study, "--data", "tiny")
    assert bad.exit_code == 2 and "error: --data 'tiny': expected NAME=PATH" in bad.output


def test_a_grid_mixing_iterative_and_non_iterative_methods_reads_oracle_where_it_exists(tmp_path, tiny_data):
    result = invoke("run", "--methods", "ststnet,biwoof,majority", "--epoch-selection", "final,oracle",
                    "--protocol", "loso", "--data", tiny_data, "--preset", "quick", "--param", "epochs=2",
                    "--executor", "serial", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert ("note: --epoch-selection oracle applies to ststnet; not to biwoof, majority (they do not train in "
            "epochs: final only)") in result.output
    rep = mebench.report(tmp_path, figures=False, resamples=20, permutations=20)
    assert set(rep.summary["method"]) == {"ststnet", "ststnet (oracle)", "biwoof", "majority"}
    with pytest.raises(ConfigError, match="method 'biwoof' does not train in epochs"):  # nothing left for biwoof
        mebench.run(["ststnet", "biwoof"], protocol="loso", data=[tiny_data], epoch_selection=["oracle"], out=tmp_path)
