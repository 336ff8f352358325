import subprocess
import sys
import textwrap
import tomllib

import pytest
from typer.testing import CliRunner

from mebench import plugins
from mebench.cli import app
from mebench.errors import DuplicateNameError, PluginLoadError, UnknownNameError
from mebench.method import Method, MethodInfo
from mebench.registry import Registry
from tests.plugin_fixtures import write_distribution
from tests.conftest import REPO


def tagged(tag: str) -> list[str]:
    """The registered methods carrying `tag`, read from each class's MethodInfo."""
    loaded, _broken = plugins.methods.load_all()
    return sorted(name for name, cls in loaded.items() if tag in cls.info.tags)


REGISTRIES = [r for r in vars(plugins).values() if isinstance(r, Registry)]  # every kind of plugin mebench has


def test_every_entry_point_group_of_pyproject_is_a_registry():
    groups = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    assert {g for g in groups if g.startswith("mebench.")} == {r.group for r in REGISTRIES}


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.group)
def test_every_entry_point_of_pyproject_is_registered_from_it(registry):
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][registry.group]
    origins = registry.origins()
    for name, target in declared.items():
        assert name in origins and f"entry point {target} (mebench " in origins[name][0], (name, origins.get(name))


def test_listing_names_imports_no_model_code():
    code = "import sys, mebench.plugins; n = mebench.plugins.methods.names(); assert 'htnet' in n; " \
           "print(sorted(m for m in sys.modules if m.startswith(('torch', 'mebench.methods', 'timm', 'cv2'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match=r"unknown method 'htnt', did you mean 'htnet'\?"):
        plugins.methods.get("htnt")
    with pytest.raises(UnknownNameError, match="did you mean 'composite'"):
        plugins.protocols.get("composit")


def test_tags_expand_to_every_method_carrying_them():
    baselines = tagged("baseline")
    assert "ststnet" in baselines and "htnet" not in baselines
    assert plugins.expand_method_selection("htnet,baseline") == ["htnet", *baselines]
    last = baselines[-1]
    assert plugins.expand_method_selection(f"{last},baseline") == [last, *baselines[:-1]]  # no duplicates
    assert set(plugins.expand_method_selection("all")) >= {"htnet", "ststnet"}
    with pytest.raises(UnknownNameError, match="did you mean 'ststnet'"):
        plugins.expand_method_selection("htnet,ststnt")


def test_method_selection_ignores_case_and_suggests_tags():
    assert plugins.expand_method_selection("HTNet,Baseline") == plugins.expand_method_selection("htnet,baseline")
    with pytest.raises(UnknownNameError, match=r"unknown method 'baselines', did you mean 'baseline'\?"):
        plugins.expand_method_selection("htnet,baselines")


class _Clash(Method):
    info = MethodInfo(name="htnet", summary="x", input="flow", citation="x", presets={"paper": {}, "quick": {}})

    def __init__(self, *, num_classes: int = 3, seed: int = 0):
        self.num_classes, self.seed = num_classes, seed


def test_duplicate_name_names_both_origins():
    with pytest.raises(DuplicateNameError) as exc:
        plugins.register_method(_Clash)
    msg = str(exc.value)
    assert "methods.htnet:HTNetMethod" in msg and "_Clash" in msg


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """A third-party distribution on sys.path declaring one good and one broken method plugin."""
    write_distribution(tmp_path, "thirdparty_mer", {"good.py": textwrap.dedent("""
        from mebench.method import Method, MethodInfo
        class Majority(Method):
            info = MethodInfo(name="tp-good", summary="third-party plugin", input="flow", citation="test",
                              tags=("baseline",), presets={"paper": {}, "quick": {}})
            def __init__(self, *, num_classes: int = 3, seed: int = 0):
                self.num_classes = num_classes
                self.seed = seed
    """)}, "[mebench.methods]\ntp-good = thirdparty_mer.good:Majority\ntp-broken = thirdparty_mer.broken:Nothing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("tp-good", "tp-broken"):
        plugins.methods.unregister(name)


def test_third_party_plugin_is_discovered_and_broken_one_is_reported(fake_distribution):
    assert {"tp-good", "tp-broken"} <= set(plugins.methods.names())
    loaded, broken = plugins.methods.load_all()
    assert "tp-good" in loaded and "htnet" in loaded and "ststnet" in loaded
    assert "tp-broken" in broken and "module_that_does_not_exist" in broken["tp-broken"]
    with pytest.raises(PluginLoadError, match="thirdparty-mer 1.0"):
        plugins.methods.get("tp-broken")
    # a broken plugin doesn't stop tag expansion of the others
    baselines = tagged("baseline")
    assert "tp-good" in baselines and plugins.expand_method_selection("baseline") == baselines


def test_methods_list_reports_broken_plugin(fake_distribution):
    result = CliRunner().invoke(app, ["methods", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "tp-broken" in result.output and "BROKEN" in result.output
    assert "htnet" in result.output and "htnet-regions" in result.output and "paper, quick" in result.output


def test_method_selection_ignores_case_and_suggests_tags():
    assert plugins.expand_method_selection("STSTNet,Majority") == ["ststnet", "majority"]
    assert plugins.expand_method_selection("BASELINE") == plugins.expand_method_selection("baseline")
    with pytest.raises(UnknownNameError, match="did you mean 'baseline'"):
        plugins.expand_method_selection("baselines")
    with pytest.raises(UnknownNameError, match="did you mean 'ststnet'"):
        plugins.expand_method_selection("stsnet")


def test_raw_kinds_come_from_the_dataset_registry():
    from mebench.datasets.raw import raw_kinds

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["mebench.datasets"]
    expected = tuple(sorted(n for n, target in declared.items() if target.startswith("mebench.datasets.raw.")))
    assert raw_kinds() == expected == ("casme1", "casme2", "casme3", "mmew", "samm", "smic")
    plugins.datasets.register("my-raw", lambda path=None, *, cache_dir=None: None)
    try:
        assert "my-raw" not in raw_kinds()  # registered in-process: no raw scanner of mebench's
    finally:
        plugins.datasets.unregister("my-raw")
