"""Method inputs and dataset primitives are plugins: registries, the apex/onset faces, refusals before
training, the preset and protocol contracts, and `mebench datasets check/show/list`."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, replace

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import mebench
from mebench import plugins
from mebench.checks import check_info
from mebench.cli import app
from mebench.dataset import Dataset, make_sample_table, table_fingerprint
from mebench.errors import ConfigError, ConformanceError, DataError, PluginLoadError
from mebench.method import Method, MethodInfo, validate_method_class
from mebench.primitives import APEX_FACE, FACE_SIZE, FLOW_IMAGE, ONSET_FACE, PrimitiveSpec
from mebench.protocol import Protocol
from mebench.representations import Input
from tests.conftest import REPO, SHARED, make_tiny_dataset, tiny_table
from tests.plugin_fixtures import write_distribution

RELEASE = SHARED / "data" / "htnet-release"
needs_release = pytest.mark.skipif(not RELEASE.is_dir(), reason=f"HTNet release not found at {RELEASE}")
FITS: list[tuple[str, tuple[int, ...]]] = []  # (method, shape of X) of every fit


class ApexFaceCentroid(Method):
    """Nearest centroid on the mean colour of a 4x4 grid of the apex face: a tiny method on `apex-face`."""

    info = MethodInfo(name="apex-centroid", summary="nearest centroid on the apex face (test plugin)",
                      input="apex-face", citation="test", presets={"paper": {}, "quick": {}}, iterative=False)

    def __init__(self, *, num_classes: int = 3, seed: int = 0):
        self.num_classes, self.seed = num_classes, seed

    @staticmethod
    def _pooled(X):
        n = len(X)
        return X.reshape(n, 3, 4, FACE_SIZE // 4, 4, FACE_SIZE // 4).mean(axis=(3, 5)).reshape(n, -1)

    def fit(self, X, y):
        FITS.append((self.info.name, X.shape[1:]))
        flat = self._pooled(X)
        self.centroids_ = np.stack([flat[y == c].mean(axis=0) if np.any(y == c) else np.full(flat.shape[1], 1e6)
                                    for c in range(self.num_classes)])
        return self

    def predict_proba(self, X):
        d = np.linalg.norm(self._pooled(X)[:, None] - self.centroids_[None], axis=2)
        e = np.exp(-(d - d.min(axis=1, keepdims=True)) / 10.0)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class FaceDifference(Input):
    """A plugin input: apex face minus onset face."""

    name: str = "face-difference"
    description: str = "apex face minus onset face"

    def needs(self):
        return (APEX_FACE, ONSET_FACE)

    @property
    def shape(self):
        return (3, FACE_SIZE, FACE_SIZE)

    def derive(self, primitive):
        return primitive(APEX_FACE) - primitive(ONSET_FACE)


@pytest.fixture
def apex_method():
    FITS.clear()
    mebench.register_method(ApexFaceCentroid)
    yield "apex-centroid"
    plugins.methods.unregister("apex-centroid")


@pytest.fixture
def flow_only_data():
    """The tiny dataset (flow image only), registered as --data flow-only."""
    plugins.datasets.register("flow-only", make_tiny_dataset, source="tests.test_inputs")
    yield "flow-only"
    plugins.datasets.unregister("flow-only")


# ---------------------------------------------------------------------------- registries
def test_builtin_inputs_and_primitives_are_entry_points():
    for registry, names in ((plugins.inputs, ("flow", "htnet-regions", "causalnet-regions", "apex-face")),
                            (plugins.primitives, (FLOW_IMAGE, "landmarks:htnet", APEX_FACE, ONSET_FACE))):
        origins = registry.origins()
        for name in names:
            assert origins[name][0].startswith("entry point mebench."), (name, origins[name])
    assert plugins.inputs.get("apex-face").shape == (3, FACE_SIZE, FACE_SIZE)
    assert plugins.primitives.get(APEX_FACE) == PrimitiveSpec(APEX_FACE, (3, 112, 112), "float32",
                                                              plugins.primitives.get(APEX_FACE).description,
                                                              plugins.primitives.get(APEX_FACE).availability)


@pytest.fixture
def third_party_inputs(tmp_path, monkeypatch):
    """A distribution declaring a good input, a broken input and a primitive, through entry points."""
    write_distribution(tmp_path, "thirdparty_inputs", {"__init__.py": textwrap.dedent("""
        from mebench.primitives import PrimitiveSpec
        from mebench.representations import PrimitiveInput
        DEPTH = PrimitiveSpec("depth:apex", (1, 28, 28), "float32", "a depth map of the apex frame")
        DEPTH_INPUT = PrimitiveInput("apex-depth", "the apex depth map", "depth:apex")
    """)}, "[mebench.inputs]\napex-depth = thirdparty_inputs:DEPTH_INPUT\nbroken-input = thirdparty_inputs.broken:X\n"
        "[mebench.primitives]\ndepth:apex = thirdparty_inputs:DEPTH\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for registry, name in ((plugins.inputs, "apex-depth"), (plugins.inputs, "broken-input"),
                           (plugins.primitives, "depth:apex")):
        registry.unregister(name)


def test_third_party_input_is_discovered_and_a_broken_one_is_reported(third_party_inputs):
    loaded, broken = plugins.inputs.load_all()
    assert "apex-depth" in loaded and "apex-face" in loaded and "flow" in loaded
    assert "module_that_does_not_exist" in broken["broken-input"]
    with pytest.raises(PluginLoadError, match="thirdparty-inputs 1.0"):
        plugins.inputs.get("broken-input")
    assert plugins.inputs.get("apex-depth").shape == (1, 28, 28)  # from the plugin's own primitive
    info = MethodInfo(name="depth-net", summary="s", input="apex-depth", citation="c",
                      presets={"paper": {}, "quick": {}})
    assert info.input == "apex-depth"


def test_a_method_may_ask_for_the_apex_face_but_not_an_unknown_input():
    assert MethodInfo(name="m", summary="s", input="apex-face", citation="c",
                      presets={"paper": {}, "quick": {}}).input == "apex-face"
    with pytest.raises(ConfigError, match=r"asks for input 'apex-fce'; known inputs: apex-face"):
        MethodInfo(name="m", summary="s", input="apex-fce", citation="c", presets={"paper": {}, "quick": {}})


def test_an_input_plugin_must_be_an_input_named_as_registered():
    with pytest.raises(PluginLoadError, match="not a mebench.representations.Input"):
        mebench.plugins.register_input(object())
    with pytest.raises(PluginLoadError, match="calls itself"):
        plugins.inputs.register("other-name", FaceDifference())


# ---------------------------------------------------------------------------- the faces
def test_synthetic_faces_are_the_rendered_frames():
    from mebench.datasets.synthetic import DEFAULT_CONFIG, load_synthetic, render_sample

    ds = load_synthetic()
    assert {APEX_FACE, ONSET_FACE} <= set(ds.provides)
    apex, onset = ds.primitive(APEX_FACE), ds.primitive(ONSET_FACE)
    assert apex.shape == onset.shape == (len(ds), 3, FACE_SIZE, FACE_SIZE) and apex.dtype == np.float32
    frame_onset, frame_apex, _ = render_sample(DEFAULT_CONFIG, 5)
    expected = cv2.resize(frame_apex, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(apex[5, 0], expected) and np.array_equal(apex[5, 1], expected)
    assert np.array_equal(onset[5, 2], cv2.resize(frame_onset, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_LINEAR))
    assert np.array_equal(ds.features("apex-face"), apex)


@needs_release
def test_htnet_release_apex_faces_are_its_face_crops():
    from mebench.datasets.htnet_release import FACE_DIR, load_htnet_release

    ds = load_htnet_release(str(RELEASE))
    assert APEX_FACE in ds.provides and ONSET_FACE not in ds.provides  # the release has no onset frames
    faces = ds.features("apex-face")
    assert faces.shape == (442, 3, FACE_SIZE, FACE_SIZE)
    row = 17
    image = cv2.imread(str(RELEASE / FACE_DIR / ds.samples["face_file"][row]), cv2.IMREAD_COLOR)
    expected = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    assert np.array_equal(faces[row], expected.transpose(2, 0, 1).astype(np.float32))
    with pytest.raises(DataError, match=r"'htnet-release' does not provide 'face:onset'.*releases ship no onset frame"):
        ds.primitive(ONSET_FACE)


def test_raw_faces_come_from_the_onset_and_apex_frames(tmp_path):
    from mebench.plan import load_dataset
    from tests.raw_fixtures import write_casme2

    write_casme2(tmp_path / "CASME2")
    ds = load_dataset(f"casme2:{tmp_path / 'CASME2'}", tmp_path / "cache")
    assert {APEX_FACE, ONSET_FACE} <= set(ds.provides)
    onset, apex = ds.primitive(ONSET_FACE), ds.primitive(APEX_FACE)
    assert onset.shape == apex.shape == (len(ds), 3, FACE_SIZE, FACE_SIZE)
    assert onset.max() > 1 and not np.array_equal(onset, apex)


def test_a_plugin_input_combines_primitives():
    from mebench.datasets.synthetic import load_synthetic

    mebench.plugins.register_input(FaceDifference())
    try:
        ds = load_synthetic()
        diff = ds.features("face-difference")
        assert np.array_equal(diff, ds.primitive(APEX_FACE) - ds.primitive(ONSET_FACE))
    finally:
        plugins.inputs.unregister("face-difference")


# ---------------------------------------------------------------------------- end to end and refusals
def test_an_apex_face_method_runs_end_to_end_on_synthetic(tmp_path, apex_method):
    summary = mebench.run([apex_method], protocol="loso", preset="quick", out=tmp_path / "run")
    assert not summary.failed and summary.done == summary.total > 0
    assert FITS and all(shape == (3, FACE_SIZE, FACE_SIZE) for _, shape in FITS)
    rep = mebench.report(tmp_path / "run", figures=False, resamples=50, permutations=50)
    uf1 = rep.summary.query("group == 'Full' and metric == 'uf1'")["mean"]
    assert len(uf1) == 1 and 0.0 <= float(uf1.iloc[0]) <= 1.0


def test_a_missing_primitive_is_refused_before_training(tmp_path, apex_method, flow_only_data):
    with pytest.raises(DataError) as exc:
        mebench.run([apex_method], protocol="loso", data=[flow_only_data], out=tmp_path / "run")
    message = str(exc.value)
    for part in ("method 'apex-centroid'", "input 'apex-face'", "dataset 'tiny'", "face:apex", "provides flow-image"):
        assert part in message, (part, message)
    assert not FITS and not (tmp_path / "run").exists()


def test_causalnet_on_synthetic_names_the_missing_maps():
    from mebench.datasets.synthetic import load_synthetic

    with pytest.raises(DataError, match=r"input 'causalnet-regions'.*flow-image:apex-offset.*not the code that "):
        load_synthetic().features("causalnet-regions")


def test_declared_primitives_are_checked_against_their_registered_shape():
    table = make_sample_table(tiny_table(), ("negative", "positive", "surprise"))
    wrong = np.zeros((len(table), 3, 64, 64), np.float32)
    ds = Dataset("bad", "bad", ("negative", "positive", "surprise"), table, table_fingerprint(table), lambda n: wrong,
                 provides=(FLOW_IMAGE, APEX_FACE))
    with pytest.raises(DataError, match=r"'face:apex' has shape \(36, 3, 64, 64\), expected \(36, 3, 112, 112\)"):
        ds.primitive(APEX_FACE)
    with pytest.raises(DataError, match="declares unknown primitive.*face:apx"):
        Dataset("bad", "bad", ("negative",), table.assign(label="negative", label_index=0), "f", lambda n: wrong,
                provides=(FLOW_IMAGE, "face:apx"))


# ---------------------------------------------------------------------------- presets and protocol contract
def test_both_presets_are_required_by_name():
    with pytest.raises(ConfigError, match=r"lacks the required preset\(s\) 'quick'.*'quick': a small budget"):
        MethodInfo(name="m", summary="s", input="flow", citation="c", presets={"paper": {}})
    with pytest.raises(ConfigError, match=r"lacks the required preset\(s\) 'paper', 'quick'"):
        MethodInfo(name="m", summary="s", input="flow", citation="c")
    assert '"paper"' in MethodInfo.__doc__ and '"quick"' in MethodInfo.__doc__ and "required" in MethodInfo.__doc__

    class NoQuick(ApexFaceCentroid):  # an info that bypassed MethodInfo's own check
        info = replace(ApexFaceCentroid.info, presets={"paper": {}, "quick": {}})

    object.__setattr__(NoQuick.info, "presets", {"paper": {}})
    with pytest.raises(PluginLoadError, match=r"'apex-centroid' lacks the required preset\(s\) 'quick'"):
        validate_method_class("apex-centroid", NoQuick)
    with pytest.raises(ConformanceError, match=r"lacks the required preset\(s\) 'quick'"):
        check_info(NoQuick)


def test_the_protocol_contract_is_documented_in_full():
    declared = [n for n in Protocol.__annotations__ if not n.startswith("_")]
    assert {"tests_each_sample_once", "data_text", "class_text", "fold_text", "subjects_on_both_sides"} <= set(declared)
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Adding a protocol"):readme.index("## Adding a dataset")]
    for name in [*declared, "prepare", "folds", "groups"]:
        assert f"`{name}`" in Protocol.__doc__, f"Protocol's docstring does not explain {name}"
        assert name in section, f"README's 'Adding a protocol' does not explain {name}"


# ---------------------------------------------------------------------------- datasets check / show / list
def test_datasets_check_runs_the_conformance_checks_on_synthetic():
    result = CliRunner().invoke(app, ["datasets", "check", "synthetic"])
    assert result.exit_code == 0, result.output
    assert "synthetic at (no path): 176 clips, 176 usable; 0 error(s)" in result.output
    assert "conformance checks passed: 5 (check_sample_table" in result.output


def test_datasets_check_reports_a_broken_plugin_dataset_and_quiet_prints_the_summary_only():
    def load_bad(path=None, *, cache_dir=None):
        ds = make_tiny_dataset(path, cache_dir=cache_dir)
        bad = np.zeros((len(ds), 3, 28, 28), np.float32)
        return replace(ds, feature_function=lambda n: ds.feature_function(n) if n == FLOW_IMAGE else bad,
                       provides=(FLOW_IMAGE, APEX_FACE))

    plugins.datasets.register("bad-faces", load_bad, source="tests.test_inputs")
    try:
        full = CliRunner().invoke(app, ["datasets", "check", "bad-faces"])
        quiet = CliRunner().invoke(app, ["datasets", "check", "bad-faces", "--quiet"])
    finally:
        plugins.datasets.unregister("bad-faces")
    assert full.exit_code == quiet.exit_code == 1, full.output
    assert re.search(r"ERROR\s+conformance\s+bad-faces: .*face:apex", full.output)
    assert "ERROR" not in quiet.output and "bad-faces at (no path): 36 clips, 0 usable; " in quiet.output
    assert quiet.output.strip() in full.output


def test_datasets_show_and_list_name_no_file_the_user_lacks():
    runner = CliRunner()
    outputs = [runner.invoke(app, ["datasets", "list"]).output]
    outputs += [runner.invoke(app, ["datasets", "show", kind]).output for kind in plugins.datasets.names()]
    for text in outputs:
        for leak in ("../", "shared/data", "tests/", str(REPO), "fixture"):
            assert leak not in text, (leak, text[:300])
