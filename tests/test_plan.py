"""The prepare-then-execute path: a run's options are resolved once into an immutable plan, which the driver
executes through an executor; executors and workers never consult the plugin registry; checkpoint evaluation
takes the same path."""

import dataclasses

import numpy as np
import pytest

import mebench
from mebench import plugins
from mebench.checkpoints import EvaluateConfig, prepare_evaluation
from mebench.engine import MethodRef
from mebench.errors import ConfigError, PluginLoadError
from mebench.plan import RunConfig, prepare_run
from mebench.runner import execute_plan, run_grid
from mebench.selection import EpochSelection
from mebench.store import ResultStore
from tests.test_evaluate import weights  # noqa: F401 - the fixture


def test_a_run_resolves_its_options_once(tmp_path, tiny_data, monkeypatch):
    import mebench.datasets.raw.pipeline as pipeline_module
    import mebench.plan as plan_module

    calls = {"check_config": 0, "make_protocol": 0, "from_text": 0, "methods.get": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(plan_module, "check_config", counting("check_config", plan_module.check_config))
    monkeypatch.setattr(plan_module, "make_protocol", counting("make_protocol", plan_module.make_protocol))
    monkeypatch.setattr(pipeline_module.PipelineConfig, "from_text",
                        counting("from_text", pipeline_module.PipelineConfig.from_text))
    monkeypatch.setattr(plugins.methods, "get", counting("methods.get", plugins.methods.get))
    summary = run_grid(RunConfig(methods=("majority", "stratified"), protocol="loso", out=tmp_path, data=tiny_data,
                                 seeds=(0, 1)))
    assert summary.done == 24 and not summary.failed  # 2 methods x 2 seeds x 6 folds
    assert calls["check_config"] == 1 and calls["make_protocol"] == 1 and calls["from_text"] == 1
    # the classes are looked up while preparing (check, worker reference, version), never per cell
    assert calls["methods.get"] < 24


def test_the_plan_is_immutable_and_holds_every_resolved_option(tmp_path, tiny_data):
    plan = mebench.plan_run(["majority", "ststnet"], protocol="loso", data=[tiny_data], preset="quick",
                            epoch_selection=["final", "oracle"], params={"epochs": 2}, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # preparing touches no folder
    assert len(plan.folds) == 6 and len(plan.cells) == 12
    assert plan.methods["ststnet"].params["epochs"] == 2 and plan.methods["ststnet"].display_name == "STSTNet"
    assert plan.methods["majority"].selection.names == ("final",)  # not iterative: final alone
    assert plan.methods["ststnet"].selection.names == ("final", "oracle")
    assert {plan.selections_of(c) for c in plan.cells} == {("final",), ("final", "oracle")}
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.out = tmp_path  # type: ignore[misc]
    with pytest.raises(TypeError):
        plan.methods["x"] = plan.methods["majority"]  # type: ignore[index]
    with pytest.raises(TypeError):
        plan.methods["ststnet"].params["epochs"] = 3  # type: ignore[index]
    summary = mebench.execute(plan)
    assert summary.done == 12
    assert mebench.execute(plan).skipped == 12  # executing it again resumes: every cell is finished


def test_execution_never_consults_the_registry(tmp_path, tiny_data, monkeypatch):
    plan = prepare_run(RunConfig(methods=("majority", "ststnet"), protocol="loso", out=tmp_path, data=tiny_data,
                                 preset="quick", params=(("epochs", 1),)))

    def refuse(name):
        raise AssertionError(f"the registry was asked for {name!r} while executing a plan")

    monkeypatch.setattr(plugins.methods, "get", refuse)
    monkeypatch.setattr(plugins, "method_version", refuse)
    summary = execute_plan(plan)
    assert summary.done == 12 and not summary.failed
    cells = ResultStore(tmp_path).cells()
    ststnet = cells[cells["method"] == "ststnet"]
    assert (ststnet["parameters"] > 0).all() and (ststnet["flops"] > 0).all()  # counted by the worker
    assert cells[cells["method"] == "majority"]["parameters"].isna().all()


def test_a_method_reference_loads_an_entry_point_without_the_registry():
    ref = plugins.method_ref("ststnet")
    assert ref.cls is None and ref.target == "mebench.methods.ststnet:STSTNetMethod"
    assert ref.load() is plugins.methods.get("ststnet")
    missing = MethodRef("gone", "mebench_not_installed_anywhere:Method")
    with pytest.raises(PluginLoadError, match="method plugin 'gone' is not installed on worker .*importing "
                                              "mebench_not_installed_anywhere:Method failed: ModuleNotFoundError"):
        missing.load()


def test_a_variant_reference_is_made_by_its_family_on_the_worker():
    ref = plugins.method_ref("timm:mobilenetv3_small_050")
    assert ref.cls is None and ref.variant == "mobilenetv3_small_050"
    loaded = ref.load()
    assert loaded.info.name == "timm:mobilenetv3_small_050" and loaded.info == plugins.methods.get("timm:mobilenetv3_small_050").info


def test_mistakes_are_refused_while_preparing(tmp_path, tiny_data):
    with pytest.raises(ConfigError, match="--precision"):
        prepare_run(RunConfig(methods=("majority",), protocol="loso", out=tmp_path / "a", data=tiny_data,
                              precision="fp8"))
    with pytest.raises(ConfigError, match="--validation-subjects 9"):
        prepare_run(RunConfig(methods=("ststnet",), protocol="loso", out=tmp_path / "b", data=tiny_data,
                              selection=EpochSelection("validation", 9)))
    assert not any(tmp_path.iterdir())


def test_checkpoint_evaluation_goes_through_the_executors(tmp_path, weights, tiny_data):  # noqa: F811
    serial = EvaluateConfig(method="ststnet", weights=weights, protocol="composite", out=tmp_path / "serial",
                            data=tiny_data)
    plan = prepare_evaluation(serial)
    assert plan.command == "evaluate" and len(plan.cells) == 6
    assert {plan.selections_of(c) for c in plan.cells} == {("checkpoint",)}
    assert execute_plan(plan).done == 6
    local = dataclasses.replace(serial, out=tmp_path / "local", executor="local", workers=2)
    assert mebench.execute(prepare_evaluation(local)).done == 6
    a, b = (ResultStore(tmp_path / name).predictions().sort_values("sample").reset_index(drop=True)
            for name in ("serial", "local"))
    np.testing.assert_array_equal(a["y_pred"], b["y_pred"])
    runs = ResultStore(tmp_path / "local").runs()
    assert '"executor": "local"' in runs["spec"].iloc[0]
