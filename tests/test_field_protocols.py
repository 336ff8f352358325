"""The field's protocols on fixture trees in the real layouts: CAS(ME)^3 as HTNet evaluates it,
single-dataset class sets, leave one dataset out, MEGC2018; protocol options; the pipeline flag and
HTNet's CAS(ME)^3 input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mebench import plugins
from mebench.cli import app
from mebench.datasets.raw.pipeline import PipelineConfig
from mebench.errors import ConfigError, DataError, UnknownNameError
from mebench.protocol import make_protocol
from mebench.plan import RunConfig, load_dataset
from mebench.runner import run_grid
from mebench.store import ResultStore
from tests import raw_fixtures as F
from tests.conftest import make_tiny_dataset

FAST = "face_size=32"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("field-protocols")
    fear = F.Clip("03", "EP07_01", "fear", 1, 2, 3, 12)
    return {"casme2": F.write_casme2(base / "CASME2", F.CASME2_CLIPS + [fear]),
            "samm": F.write_samm(base / "SAMM"), "smic": F.write_smic(base / "SMIC"),
            "casme3": F.write_casme3(base / "CASME3"), "cache": base / "cache"}


def data(trees, *kinds):
    return tuple(f"{k}:{trees[k]}" for k in kinds)


def write_list(path, rows):
    pd.DataFrame(rows, columns=["dataset", "subject", "clip", "label"]).to_csv(path, index=False)
    return str(path)


def check_folds(protocol, dataset):
    """Every sample tested exactly once, and no subject on both sides of a fold."""
    folds = protocol.folds(dataset.samples)
    subject = dict(zip(dataset.samples["sample"], dataset.samples["subject_key"]))
    tested = [s for f in folds for s in f.test]
    assert sorted(tested) == sorted(dataset.samples["sample"])
    for fold in folds:
        assert not {subject[s] for s in fold.train} & {subject[s] for s in fold.test}, fold.id
    return folds


# ---------------------------------------------------------------------------- the shipped definitions
def test_casme3_htnet_list_has_the_published_counts():
    counts = make_protocol("casme3-htnet").counts()
    assert counts.loc["casme3", ["negative", "positive", "surprise", "total"]].tolist() == [449, 54, 184, 687]
    assert counts.loc["casme3", "subjects"] == 87


def test_megc2018_list_counts():
    counts = make_protocol("megc2018").counts()
    assert counts.loc["casme2", ["I", "II", "III", "IV", "V", "total", "subjects"]].tolist() == [25, 15, 99, 26, 20, 185, 26]
    assert counts.loc["samm", ["I", "II", "III", "IV", "V", "total", "subjects"]].tolist() == [24, 13, 20, 8, 3, 68, 21]


@pytest.mark.parametrize("classes, expected", [
    ("casme2-5", {"happiness": 32, "surprise": 25, "disgust": 63, "repression": 27, "others": 99, "total": 246}),
    ("samm-5", {"anger": 57, "contempt": 12, "happiness": 26, "surprise": 15, "other": 26, "total": 136}),
    ("smic-3", {"negative": 70, "positive": 51, "surprise": 43, "total": 164}),
    ("casme3-7", {"happy": 55, "disgust": 250, "fear": 86, "anger": 64, "sad": 57, "surprise": 187, "others": 161,
                  "total": 860}),
])
def test_class_sets_state_their_reference_counts(classes, expected):
    counts = make_protocol(f"loso:classes={classes}").counts()
    assert {k: int(counts.iloc[0][k]) for k in expected} == expected


def test_protocols_show_lists_options_and_counts():
    shown = invoke("protocols", "show", "loso:classes=casme2-5")
    assert shown.exit_code == 0, shown.output
    assert "loso:classes=casme2-5" in shown.output and "native" in shown.output and "246" in shown.output
    listed = invoke("protocols", "list")
    for name in ("composite", "cross-dataset", "megc2018", "casme3-htnet", "loso"):
        assert f"{name}: " in listed.output
    assert listed.output.count("citation: ") == 5 and listed.output.count("folds: ") == 5


def test_protocol_options_are_checked():
    with pytest.raises(ConfigError, match=r"protocol 'loso': parameter classes=casme9: expected one of 'native'"):
        make_protocol("loso:classes=casme9")
    with pytest.raises(ConfigError, match="has no parameter 'colour'"):
        make_protocol("loso:colour=red")
    with pytest.raises(ConfigError, match="is not NAME=VALUE"):
        make_protocol("loso:classes")
    assert make_protocol("loso").label() == "loso" and make_protocol("loso:classes=native").label() == "loso"


# ---------------------------------------------------------------------------- on fixture trees
def test_casme3_htnet_on_a_fixture_tree(trees, tmp_path):
    protocol = make_protocol("casme3-htnet")
    with pytest.raises(DataError) as info:  # the real list: every listed clip the fixture lacks is named
        protocol.prepare(load_dataset(data(trees, "casme3"), trees["cache"], FAST))
    # no fixture clip is listed: the list names clips by video and onset frame (spNO.1 j-28 and j-102, not j-300)
    assert "lists 687 clip(s) missing from the data (casme3 687 of 687)" in str(info.value)
    assert "casme3/spNO.1/b-166\n" in str(info.value) and "casme3/spNO.1/j-28\n" in str(info.value)
    mini = write_list(tmp_path / "l.csv", [("casme3", "spNO.1", "a-160", "positive"),
                                           ("casme3", "spNO.1", "j-300", "negative"), ("casme3", "spNO.2", "b-166", "surprise")])
    protocol = make_protocol(f"casme3-htnet:clips={mini}")
    ds = protocol.prepare(load_dataset(data(trees, "casme3"), trees["cache"], FAST))
    assert ds.class_names == ("negative", "positive", "surprise") and ds.labels().tolist() == [1, 0, 2]
    assert [f.id for f in check_folds(protocol, ds)] == ["casme3/spNO.1", "casme3/spNO.2"]
    assert list(protocol.groups(ds.samples)) == ["Full"]


def test_megc2018_on_fixture_trees(trees, tmp_path):
    mini = write_list(tmp_path / "l.csv", [
        ("casme2", "sub01", "EP02_01f", "I"), ("casme2", "sub01", "EP19_05f", "III"), ("casme2", "sub02", "EP01_11f", "II"),
        ("samm", "006", "006_1_2", "IV"), ("samm", "009", "009_3_1", "V"), ("samm", "009", "009_3_2", "III")])
    protocol = make_protocol(f"megc2018:clips={mini}")
    ds = protocol.prepare(load_dataset(data(trees, "casme2", "samm"), trees["cache"], FAST))
    assert ds.class_names == ("I", "II", "III", "IV", "V")
    assert ds.samples.groupby("label").size().to_dict() == {"I": 1, "II": 1, "III": 2, "IV": 1, "V": 1}
    assert len(check_folds(protocol, ds)) == 4
    assert list(protocol.groups(ds.samples)) == ["Full", "CASME II", "SAMM"]
    with pytest.raises(DataError, match=r"the MEGC2018 composite lists 248 clip\(s\) missing .*casme2 182 of 185; samm 66"):
        make_protocol("megc2018").prepare(load_dataset(data(trees, "casme2", "samm"), trees["cache"], FAST))
    with pytest.raises(DataError, match="the megc2018 protocol takes samples of casme2, samm only"):
        protocol.prepare(load_dataset(data(trees, "casme2", "smic"), trees["cache"], FAST))


def test_class_sets_on_fixture_trees(trees):
    protocol = make_protocol("loso:classes=casme2-5")
    with pytest.warns(UserWarning, match=r"class set casme2-5: 1 clip\(s\) of labels it leaves out are not used \(fear 1\)"):
        ds = protocol.prepare(load_dataset(data(trees, "casme2"), trees["cache"], FAST))
    assert ds.class_names == ("happiness", "surprise", "disgust", "repression", "others")
    assert ds.samples.groupby("label").size().to_dict() == {"disgust": 1, "happiness": 1, "others": 1, "repression": 1}
    assert len(check_folds(protocol, ds)) == 2  # sub03's only clip is fear
    samm = make_protocol("loso:classes=samm-5").prepare(load_dataset(data(trees, "samm"), trees["cache"], FAST))
    assert samm.class_names == ("anger", "contempt", "happiness", "surprise", "other") and len(samm) == 4
    with pytest.raises(DataError, match="class set casme2-5 is for casme2 only; .* samm"):
        protocol.prepare(load_dataset(data(trees, "casme2", "samm"), trees["cache"], FAST))
    with pytest.raises(DataError, match="needs raw data"):
        protocol.prepare(make_tiny_dataset())


def test_cross_dataset_folds_hold_out_exactly_one_source(trees, tmp_path):
    protocol = make_protocol("cross-dataset")
    tiny = protocol.prepare(make_tiny_dataset())
    folds = protocol.folds(tiny.samples)
    source = dict(zip(tiny.samples["sample"], tiny.samples["dataset"]))
    assert [f.id for f in folds] == ["smic", "casme2", "samm"]
    for fold in folds:
        assert {source[s] for s in fold.test} == {fold.id} and fold.id not in {source[s] for s in fold.train}
        assert len(fold.train) + len(fold.test) == len(tiny)
    assert list(protocol.groups(tiny.samples)) == ["Full", "SMIC", "CASME II", "SAMM"]
    mini = write_list(tmp_path / "l.csv", [
        ("casme2", "sub01", "EP02_01f", "positive"), ("casme2", "sub02", "EP01_11f", "negative"),
        ("samm", "006", "006_1_2", "negative"), ("samm", "009", "009_3_1", "surprise"),
        ("smic", "s01", "s01_po_01", "positive"), ("smic", "s03", "s03_sur_01", "surprise")])
    raw = make_protocol(f"cross-dataset:clips={mini}")
    ds = raw.prepare(load_dataset(data(trees, "smic", "casme2", "samm"), trees["cache"], FAST))
    assert [len(f.test) for f in raw.folds(ds.samples)] == [2, 2, 2]


# ---------------------------------------------------------------------------- through the runner
def test_protocol_options_change_the_cell_key_and_are_reported(trees, tmp_path):
    out = tmp_path / "run"
    for protocol in ("loso", "loso:classes=casme2-5"):
        summary = run_grid(RunConfig(methods=("majority",), protocol=protocol, out=out, data=data(trees, "casme2"),
                                     cache_dir=trees["cache"], pipeline=FAST))
        assert not summary.failed
    cells = ResultStore(out).cells()
    assert cells.groupby("protocol").size().to_dict() == {"loso": 3, "loso:classes=casme2-5": 2}
    assert cells["key"].is_unique
    spec = json.loads(ResultStore(out).runs()["spec"].iloc[-1])
    assert spec["protocol"] == "loso:classes=casme2-5" and spec["pipeline"] == "face_size=32"
    report = invoke("report", out, "--no-figures", "--resamples", "10", "--permutations", "10")
    assert report.exit_code == 0, report.output
    md = (out / "report.md").read_text()
    assert "**Protocol**: `loso:classes=casme2-5`" in md and "options: classes=casme2-5" in md


def test_report_without_the_protocol_plugin(trees, tmp_path, monkeypatch):
    out = tmp_path / "run"
    run_grid(RunConfig(methods=("majority",), protocol="megc2018:clips=" + write_list(tmp_path / "l.csv", [
        ("casme2", "sub01", "EP02_01f", "I"), ("casme2", "sub02", "EP01_11f", "II"),
        ("samm", "006", "006_1_2", "I"), ("samm", "009", "009_3_1", "II")]), out=out,
        data=data(trees, "casme2", "samm"), cache_dir=trees["cache"], pipeline=FAST))
    monkeypatch.setattr(plugins.protocols, "get", lambda name: (_ for _ in ()).throw(
        UnknownNameError(f"unknown protocol {name!r}")))
    from mebench.reports.writer import write_report

    rep = write_report(out, figures=False, n_resamples=10, n_permutations=10)
    groups = set(rep.summary["group"])
    assert groups == {"Full", "CASME II", "SAMM"}


def test_htnet_corrected_runs_on_a_raw_fixture_tree(trees, tmp_path):
    summary = run_grid(RunConfig(methods=("htnet-corrected", "htnet-dlib"), protocol="loso", out=tmp_path,
                                 data=data(trees, "samm"), preset="quick", params=(("epochs", 1),),
                                 cache_dir=trees["cache"], pipeline=FAST))
    assert summary.done == 4 and not summary.failed


def test_prepare_then_run_with_the_same_pipeline_computes_nothing(trees, tmp_path):
    cache = tmp_path / "cache"
    prepared = invoke("datasets", "prepare", f"smic:{trees['smic']}", "--pipeline", "flow=farneback,face_size=32",
                      "--cache-dir", cache, "--workers", "1")
    assert prepared.exit_code == 0, prepared.output
    before = sorted(p.name for p in cache.rglob("*.arr"))
    ran = invoke("run", "--methods", "majority,htnet", "--preset", "quick", "--param", "epochs=1", "--protocol", "loso",
                 "--data", f"smic:{trees['smic']}", "--pipeline", "flow=farneback,face_size=32", "--cache-dir", cache,
                 "--out", tmp_path / "run")
    assert ran.exit_code == 0, ran.output
    assert sorted(p.name for p in cache.rglob("*.arr")) == before


def test_pipeline_options_are_refused_by_datasets_without_a_pipeline(tmp_path):
    with pytest.raises(ConfigError, match="dataset kind 'synthetic' has no preprocessing pipeline"):
        load_dataset("synthetic", pipeline="flow=farneback")
    assert PipelineConfig.from_text("htnet-casme3,face_size=32").face_size == 32
    assert PipelineConfig.from_text("htnet-casme3").text() == "face=mtcnn,face_size=28,flow=farneback,channels=u-v-magnitude"


# ---------------------------------------------------------------------------- HTNet's CAS(ME)^3 input
def test_htnet_casme3_pipeline_and_representation(trees):
    ds = load_dataset(data(trees, "casme3"), trees["cache"], "htnet-casme3")
    assert ds.flow_channels == "u-v-magnitude"
    regions = ds.features("htnet-casme3")
    assert regions.shape == (len(ds), 3, 28, 28) and 0 <= regions.min() and regions.max() <= 255
    with pytest.raises(DataError, match=r"flow is made from the \(optical strain, v, u\) flow image"):
        ds.features("flow")
    pipe = ds.feature_function.pipeline
    rec = ds.feature_function.records[0]
    boxes = pipe.faces(rec)
    assert boxes.shape == (2, 5) and set(boxes[:, 4]) <= {0.0, 1.0}
    flow = pipe.flow(rec)
    assert flow.shape == (28, 28, 2)  # Farneback on the 28x28 face crops
    u, v = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(u, v)
    image = pipe.image(rec)
    np.testing.assert_allclose(image[2], 255 * (magnitude - magnitude.min()) / (magnitude.max() - magnitude.min()),
                               atol=1e-2)
    np.testing.assert_allclose(image[0], 255 * (u - u.min()) / (u.max() - u.min()), atol=1e-2)
    with pytest.raises(DataError, match=r"htnet-casme3 is made from the \(u, v, flow magnitude\) flow image.*--pipeline htnet-casme3"):
        load_dataset(data(trees, "casme3"), trees["cache"], FAST).features("htnet-casme3")
