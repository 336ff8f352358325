"""Executors: serial, local worker processes and Ray give the same predictions; a worker killed
mid-cell is retried; plugins of an installed package work on workers; runs move between devices and
executors without recomputing; the run specification is stored; a run folder is used by one run at
a time. The Ray tests start a local Ray instance with 2 CPUs and shut it down; without Ray they are
skipped and the others run."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mebench import plugins
from mebench.errors import DataError
from mebench.executors import placements
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.store import ResultStore
from tests.conftest import REPO
from tests.plugin_fixtures import AllocatorProbe, Sleeper, killer

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install 'mebench[ray]')")
RAY = pytest.param("ray", marks=needs_ray)


@pytest.fixture(autouse=True)
def no_ray_left():
    yield
    ray = sys.modules.get("ray")  # imported only by the tests that use Ray
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def sleeper():
    plugins.register_method(Sleeper)
    yield "sleeper"
    plugins.methods.unregister("sleeper")


def predictions(out: Path) -> pd.DataFrame:
    preds = ResultStore(out).predictions()
    return preds.sort_values(["method", "seed", "sample"])[["method", "seed", "sample", "y_pred", "proba"]].reset_index(drop=True)


@pytest.mark.parametrize("executor", ["local", RAY])
def test_serial_and_parallel_executors_give_the_same_predictions(tmp_path, tiny_data, executor):
    common = dict(methods=("ststnet", "majority"), protocol="loso", data=tiny_data, preset="quick", seeds=(0, 1),
                  params=(("epochs", 2),))
    results = {}
    for name in ("serial", executor):
        out = tmp_path / name
        summary = run_grid(RunConfig(out=out, executor=name, workers=2, **common))
        assert summary.done == 24 and not summary.failed
        results[name] = predictions(out)
        spec = json.loads(ResultStore(out).runs()["spec"].iloc[0])
        assert spec["execution"]["executor"] == name
    pd.testing.assert_frame_equal(results[executor].drop(columns="proba"), results["serial"].drop(columns="proba"))
    np.testing.assert_allclose(np.array([json.loads(p) for p in results[executor]["proba"]]),
                               np.array([json.loads(p) for p in results["serial"]["proba"]]), atol=1e-5)


@pytest.mark.parametrize("executor", ["serial", "local", RAY])
def test_every_executor_keeps_freed_memory_where_cells_run(tmp_path, tiny_data, executor, monkeypatch):
    from mebench import allocator

    monkeypatch.setattr(allocator, "_tuned", False)  # this process may have been set up by an earlier test
    plugins.register_method(AllocatorProbe)
    try:
        run_grid(RunConfig(out=tmp_path, methods=("allocator-probe",), protocol="loso", data=tiny_data,
                           executor=executor, workers=2))
    finally:
        plugins.methods.unregister("allocator-probe")
    assert set(ResultStore(tmp_path).predictions()["y_pred"]) == {1}


@pytest.mark.parametrize("executor", ["local", RAY])
def test_a_worker_killed_mid_cell_is_retried_and_the_grid_completes(tmp_path, tiny_data, sleeper, executor):
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    stop, killed = threading.Event(), []
    thread = killer(pid_dir, stop, killed)
    try:
        summary = run_grid(RunConfig(methods=(sleeper,), protocol="loso", out=tmp_path / "run", data=tiny_data,
                                     executor=executor, workers=2, retries=1,
                                     params=(("delay", 0.5), ("pid_dir", str(pid_dir)))))
    finally:
        stop.set()
        thread.join()
    assert len(killed) == 1, "the test killed one worker mid-cell"
    assert summary.done == 6 and not summary.failed
    assert set(ResultStore(tmp_path / "run").cells()["status"]) == {"done"}


def test_a_worker_death_without_retries_fails_the_cell_with_its_cause(tmp_path, tiny_data, sleeper):
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    stop, killed = threading.Event(), []
    thread = killer(pid_dir, stop, killed)
    try:
        summary = run_grid(RunConfig(methods=(sleeper,), protocol="loso", out=tmp_path / "run", data=tiny_data,
                                     executor="local", workers=2, retries=0,  # a long cell: killed inside it
                                     params=(("delay", 1.5), ("pid_dir", str(pid_dir)))))
    finally:
        stop.set()
        thread.join()
    assert summary.done == 5 and len(summary.failed) == 1
    assert "WorkerDied" in summary.failed[0][1] and f"worker process {killed[0]}" in summary.failed[0][1]
    assert "killed by signal SIGKILL" in summary.failed[0][1]


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A package installed only for this test: a method plugin declared as an entry point."""
    site = tmp_path / "site"
    (site / "mebench_testpkg").mkdir(parents=True)
    (site / "mebench_testpkg" / "__init__.py").write_text(textwrap.dedent("""
        import numpy as np
        from mebench import Method, MethodInfo

        class Prior(Method):
            info = MethodInfo(name="testpkg-prior", summary="class prior", input="flow", citation="test",
                              presets={"paper": {}, "quick": {}}, iterative=False)

            def __init__(self, *, num_classes: int = 3, seed: int = 0):
                self.num_classes, self.seed = num_classes, seed

            def fit(self, X, y):
                self.prior_ = np.bincount(y, minlength=self.num_classes) / len(y)
                return self

            def predict_proba(self, X):
                return np.tile(self.prior_, (len(X), 1))
    """))
    dist = site / "mebench_testpkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mebench-testpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mebench.methods]\ntestpkg-prior = mebench_testpkg:Prior\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    plugins.methods._loaded.pop("testpkg-prior", None)


@pytest.mark.parametrize("executor", ["local", RAY])
def test_a_plugin_of_an_installed_package_runs_on_workers(tmp_path, tiny_data, installed_plugin, executor, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(installed_plugin), str(REPO)]))  # Ray workers' environment
    assert "testpkg-prior" in plugins.methods.names()
    summary = run_grid(RunConfig(methods=("testpkg-prior",), protocol="loso", out=tmp_path / executor, data=tiny_data,
                                 executor=executor, workers=2))
    assert summary.done == 6 and not summary.failed


@needs_ray
def test_a_ray_worker_without_the_plugin_names_it_and_the_node(tmp_path, tiny_data, installed_plugin, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the workers do not have the package
    summary = run_grid(RunConfig(methods=("testpkg-prior",), protocol="loso", out=tmp_path, data=tiny_data,
                                 executor="ray", workers=2))
    assert summary.done == 0 and len(summary.failed) == 6
    error = summary.failed[0][1]
    assert "method plugin 'testpkg-prior' is not installed on worker" in error


@pytest.mark.parametrize("executor, device", [("local", "auto"), pytest.param("ray", "cpu", marks=needs_ray)])
def test_resuming_with_another_device_or_executor_recomputes_nothing(tmp_path, tiny_data, executor, device):
    config = dict(methods=("ststnet",), protocol="loso", out=tmp_path, data=tiny_data, preset="quick",
                  params=(("epochs", 1),))
    run_grid(RunConfig(executor="serial", device="cpu", **config))
    before = ResultStore(tmp_path).cells().set_index("key")["finished_at"]
    summary = run_grid(RunConfig(executor=executor, device=device, workers=2, **config))
    assert summary.done == 0 and summary.skipped == 6
    pd.testing.assert_series_equal(ResultStore(tmp_path).cells().set_index("key")["finished_at"], before)
    runs = ResultStore(tmp_path).runs()
    assert [json.loads(s)["execution"]["executor"] for s in runs["spec"]] == ["serial", executor]
    cells = ResultStore(tmp_path).cells()
    assert set(cells["device"]) == {"cpu"} and json.loads(cells["runtime"].iloc[0])["host"]


def test_the_run_specification_round_trips_and_report_md_shows_it(tmp_path, tiny_data):
    from mebench.reports.writer import write_report

    config = RunConfig(methods=("ststnet", "majority"), protocol="composite", out=tmp_path, data=tiny_data,
                       preset="quick", seeds=(3, 1), params=(("epochs", 1),), precision="fp32")
    run_grid(config)
    stored = json.loads(ResultStore(tmp_path).runs()["spec"].iloc[0])
    expected = json.loads(json.dumps(config.spec()))
    assert {k: stored[k] for k in expected} == expected
    assert stored["methods"] == ["ststnet", "majority"] and stored["seeds"] == [3, 1]
    rep = write_report(tmp_path, figures=False, n_resamples=20, n_permutations=20)
    assert rep.reference == "ststnet"  # the first method of --methods
    md = (tmp_path / "report.md").read_text()
    assert "## Run specification" in md and "--methods ststnet,majority" in md and "executor" in md


def test_two_runs_on_one_folder_the_second_is_refused(tmp_path, sleeper):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    script = textwrap.dedent(f"""
        from mebench import plugins
        from mebench.plan import RunConfig
        from mebench.runner import run_grid
        from tests.conftest import make_tiny_dataset
        from tests.plugin_fixtures import Sleeper
        plugins.register_method(Sleeper)
        plugins.datasets.register("tiny", make_tiny_dataset, source="test")
        run_grid(RunConfig(methods=("sleeper",), protocol="loso", out={str(tmp_path)!r}, data="tiny",
                           params=(("delay", 1.0),)))
    """)
    first = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO)
    try:
        lock = tmp_path / ".mebench.lock"
        deadline = time.time() + 60
        while time.time() < deadline and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.05)
        with pytest.raises(DataError, match=rf"in use by mebench run \(pid {first.pid} on "):
            run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path, data="synthetic"))
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0
    cells = ResultStore(tmp_path).cells()
    assert len(cells) == 6 and set(cells["status"]) == {"done"}  # the first run finished undisturbed


def test_placements_split_the_cores():
    cores = len(os.sched_getaffinity(0))
    auto = placements("cpu", "auto", 1)
    assert len(auto) == cores and {p.threads for p in auto} == {1}
    one = placements("cpu", 1, 1)
    assert len(one) == 1 and one[0].threads == cores


def test_a_plugin_with_a_device_parameter_gets_a_clear_message():
    from mebench.errors import PluginLoadError
    from mebench.method import validate_method_class

    class Old(Sleeper):
        def __init__(self, *, num_classes: int = 3, seed: int = 0, device: str = "cpu"):
            self.num_classes, self.seed, self.device = num_classes, seed, device

    Old.info = Sleeper.info
    with pytest.raises(PluginLoadError, match="takes 'device' as a constructor parameter: since mebench 0.2 the "
                                              "device and precision are not method parameters"):
        validate_method_class("sleeper", Old)


def test_bf16_is_its_own_result_and_labelled(tmp_path, tiny_data):
    from mebench.reports.results import load_run

    for precision in ("fp32", "bf16"):
        summary = run_grid(RunConfig(methods=("ststnet",), protocol="loso", out=tmp_path, data=tiny_data,
                                     preset="quick", params=(("epochs", 1),), precision=precision))
        assert summary.done == 6 and not summary.failed  # a new precision is new cells
    variants = set(load_run(tmp_path).preds["variant"])
    assert variants == {"ststnet", "ststnet [bf16]"}


def test_ray_executor_without_ray_names_the_extra(tmp_path, tiny_data, monkeypatch):
    from mebench.errors import ConfigError

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ConfigError, match=r"--executor ray needs Ray: pip install 'mebench\[ray\]'"):
        run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path, data=tiny_data, executor="ray"))


def test_ctrl_c_keeps_finished_cells_and_says_how_to_resume(tmp_path):
    # 6 cells of 2 s on 2 workers: the interrupt lands between the 2nd and the 6th with seconds to spare
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    script = textwrap.dedent(f"""
        import sys
        from mebench import plugins
        from mebench.cli import app
        from tests.conftest import make_tiny_dataset
        from tests.plugin_fixtures import Sleeper
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal, whatever pytest's process ignores
        plugins.register_method(Sleeper)
        plugins.datasets.register("tiny", make_tiny_dataset, source="test")
        sys.exit(app(["run", "--methods", "sleeper", "--protocol", "loso", "--data", "tiny", "--param", "delay=2.0",
                      "--executor", "local", "--workers", "2", "--out", {str(tmp_path)!r}]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "results.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline:
        if db.exists() and (tmp_path / ".mebench.lock").exists():
            try:
                if (ResultStore(tmp_path).cells()["status"] == "done").sum() >= 2:
                    break
            except DataError:
                pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "stopped: interrupted:" in stderr and "run the same command again to compute the rest" in stderr
    done = ResultStore(tmp_path).cells()
    assert 2 <= (done["status"] == "done").sum() < 6


def test_workers_stop_when_their_driver_is_killed(tmp_path):
    """A driver killed with SIGKILL cannot tell its workers; they notice and exit instead of training on."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    script = textwrap.dedent(f"""
        import sys
        from mebench import plugins
        from mebench.cli import app
        from tests.conftest import make_tiny_dataset
        from tests.plugin_fixtures import Sleeper
        plugins.register_method(Sleeper)
        plugins.datasets.register("tiny", make_tiny_dataset, source="test")
        sys.exit(app(["run", "--methods", "sleeper", "--protocol", "loso", "--data", "tiny",
                      "--param", "delay=120", "--param", "pid_dir={pid_dir}",
                      "--executor", "local", "--workers", "2", "--out", {str(tmp_path / 'run')!r}]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(pid_dir.iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.1)
    workers = {int(p.read_text()) for p in pid_dir.iterdir()}
    assert len(workers) == 2, "both workers started a cell"
    proc.kill()
    proc.wait()

    def alive(pid: int) -> bool:  # a zombie (exited, not yet reaped by init) counts as gone
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False

    deadline = time.time() + 30
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"worker processes {left} outlived their killed driver"
