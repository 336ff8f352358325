"""The MEGC2019 selection from raw datasets, combining --data sources, and the shipped 442-clip list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mebench import plugins
from mebench.dataset import Dataset, make_sample_table, table_fingerprint
from mebench.datasets.combine import combine_datasets
from mebench.datasets.raw import casme2, samm, smic
from mebench.protocols.lists.megc2019 import CLASSES, megc2019_label_map, read_list, select_megc2019
from mebench.datasets.raw.pipeline import PipelineConfig
from mebench.errors import DataError
from mebench.protocols.composite import MEGC2019Composite
from tests import raw_fixtures as F
from tests.conftest import RELEASE, needs_release

FAST = PipelineConfig(face_size=32)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("raw-composite")
    return {"casme2": F.write_casme2(base / "CASME2"), "samm": F.write_samm(base / "SAMM"),
            "smic": F.write_smic(base / "SMIC")}


def load_all(trees, cache):
    return [m.load(str(trees[m.KIND]), cache_dir=cache, pipeline=FAST, workers=1) for m in (smic, casme2, samm)]


MINI = pd.DataFrame([  # a mini MEGC list over the fixture trees (the real one has 442 clips)
    ("casme2", "sub01", "EP02_01f", "positive"), ("casme2", "sub02", "EP01_11f", "negative"),
    ("samm", "006", "006_1_2", "negative"), ("samm", "009", "009_3_1", "surprise"),
    ("smic", "s01", "s01_po_01", "positive"), ("smic", "s03", "s03_sur_01", "surprise"),
], columns=["dataset", "subject", "clip", "label"])


# ---------------------------------------------------------------------------- the shipped list
def test_shipped_list_is_the_megc2019_composite():
    listed = read_list()
    assert len(listed) == 442 and listed["sample"].is_unique
    counts = listed.groupby(["dataset", "label"]).size().unstack()[list(CLASSES)]
    assert counts.loc["smic"].tolist() == [70, 51, 43]
    assert counts.loc["casme2"].tolist() == [88, 32, 25]
    assert counts.loc["samm"].tolist() == [92, 26, 15]
    assert listed.groupby("dataset")["subject"].nunique().to_dict() == {"smic": 16, "casme2": 24, "samm": 28}
    # ids as the raw loaders make them
    assert listed[listed["dataset"] == "smic"]["clip"].str.fullmatch(r"s\d\d_(ne|po|sur)_\d\d").all()
    assert listed[listed["dataset"] == "casme2"]["subject"].str.fullmatch(r"sub\d\d").all()
    assert listed[listed["dataset"] == "samm"]["subject"].str.fullmatch(r"\d{3}").all()
    assert "samm/025" not in set(listed["dataset"] + "/" + listed["subject"])  # only `Other` samples
    excluded = {"casme2/sub04/EP12_01f", "casme2/sub05/EP09_05f"}
    assert not excluded & set(listed["sample"])


@needs_release
def test_shipped_list_matches_the_release_csv():
    release = pd.read_csv(RELEASE / "combined_3_class2_for_optical_flow.csv", dtype=str, keep_default_na=False)
    ours = read_list()
    assert ours["sample"].tolist() == (release["dataset"] + "/" + release["sub"] + "/" + release["filename_o"]).tolist()
    assert ours["label"].tolist() == release["label"].map({"0": "negative", "1": "positive", "2": "surprise"}).tolist()


def test_label_map():
    assert megc2019_label_map("samm", "Contempt") == "negative" and megc2019_label_map("samm", "other") is None
    assert megc2019_label_map("casme2", "repression") == "negative"
    assert megc2019_label_map("casme2", "fear") is None and megc2019_label_map("casme2", "others") is None
    assert megc2019_label_map("smic", "surprise") == "surprise"


# ---------------------------------------------------------------------------- selection
def test_composite_selects_exactly_the_list(trees, tmp_path):
    combined = combine_datasets(load_all(trees, tmp_path / "cache"))
    assert combined.class_names[:3] == ("negative", "positive", "surprise")  # smic first: its classes first
    assert "happiness" in combined.class_names and "anger" in combined.class_names
    MINI.to_csv(tmp_path / "mini.csv", index=False)
    protocol = MEGC2019Composite(clips=str(tmp_path / "mini.csv"))
    assert protocol.label() == f"composite:clips={tmp_path / 'mini.csv'}"
    chosen = protocol.prepare(combined)
    assert chosen.class_names == CLASSES
    assert chosen.samples["sample"].tolist() == (MINI["dataset"] + "/" + MINI["subject"] + "/" + MINI["clip"]).tolist()
    assert chosen.samples["label"].tolist() == MINI["label"].tolist()
    assert chosen.samples["native_label"].tolist() == ["happiness", "repression", "anger", "surprise", "positive", "surprise"]
    assert chosen.labels().tolist() == [1, 0, 0, 2, 1, 2]
    # only the selected clips are computed, and their features are the parts' own
    flow = chosen.features("flow")
    assert flow.shape == (6, 3, 28, 28)
    assert chosen.features("htnet-regions").shape == (6, 3, 28, 28)
    computed_flows = [k for k in combined.parts[0].feature_function.cache.computed if k.startswith("raw/flow")]
    computed_flows += [k for p in combined.parts[1:] for k in p.feature_function.cache.computed if k.startswith("raw/flow")]
    assert len(computed_flows) == 6
    casme = combined.parts[1]
    np.testing.assert_array_equal(flow[0], casme.features("flow")[0])
    # the composite's folds and groups work on it
    folds = protocol.folds(chosen.samples)
    assert len(folds) == 6 and set(protocol.groups(chosen.samples)) == {"Full", "SMIC", "CASME II", "SAMM"}


def test_missing_listed_clips_are_all_named(trees, tmp_path):
    parts = load_all(trees, tmp_path / "cache")
    extra = pd.DataFrame([("casme2", "sub01", "EP99_01", "negative"), ("samm", "037", "037_7_4", "positive")],
                         columns=MINI.columns)
    with pytest.raises(DataError) as info:
        select_megc2019(combine_datasets(parts), pd.concat([MINI, extra]))
    msg = str(info.value)
    assert "lists 2 clip(s) missing" in msg and "casme2/sub01/EP99_01" in msg and "samm/037/037_7_4" in msg
    with pytest.raises(DataError) as info:  # the real list on the fixtures: every absent clip named
        MEGC2019Composite().prepare(combine_datasets(parts[1:]))
    msg = str(info.value)
    assert "smic 164 of 164 (no smic data given: add --data smic:PATH)" in msg and "casme2 142 of 145" in msg  # 3 fixture clips are listed
    assert "smic/s20/s20_sur_02" in msg and msg.count("\n") > 400


def test_label_disagreement_is_warned_and_the_list_wins(trees, tmp_path):
    parts = load_all(trees, tmp_path / "cache")
    wrong = MINI.copy()
    wrong.loc[0, "label"] = "surprise"  # native happiness -> positive
    with pytest.warns(UserWarning, match=r"casme2/sub01/EP02_01f: native 'happiness' -> positive, list surprise"):
        chosen = select_megc2019(combine_datasets(parts), wrong)
    assert chosen.samples["label"][0] == "surprise"


def test_three_class_data_keeps_the_old_behaviour():
    from tests.conftest import make_tiny_dataset

    tiny = make_tiny_dataset()
    assert MEGC2019Composite().prepare(tiny) is tiny


# ---------------------------------------------------------------------------- combining
def _toy(name, rows, classes, offset):
    table = make_sample_table(pd.DataFrame(rows, columns=["dataset", "subject", "clip", "label"]), classes)
    X = np.arange(len(table), dtype=np.float32)[:, None, None, None] + offset + np.zeros((1, 3, 28, 28), np.float32)
    calls = []

    def features(rep):
        calls.append(rep)
        return X

    ds = Dataset(name, name, classes, table, table_fingerprint(table), features)
    return ds, calls


def test_combine_datasets_unions_classes_and_concatenates_features():
    a, calls_a = _toy("a", [("a", "1", "x", "sad"), ("a", "1", "y", "happy")], ("happy", "sad"), 0)
    b, calls_b = _toy("b", [("b", "2", "z", "fear"), ("b", "2", "w", "happy")], ("fear", "happy"), 100)
    ab = combine_datasets([a, b])
    assert ab.class_names == ("happy", "sad", "fear")
    assert ab.samples["label_index"].tolist() == [1, 0, 2, 0]
    assert ab.name == "a+b" and ab.fingerprint != a.fingerprint
    assert calls_a == calls_b == []  # lazy
    np.testing.assert_array_equal(ab.features("flow")[:, 0, 0, 0], [0, 1, 100, 101])
    with pytest.raises(DataError, match="share sample ids"):
        combine_datasets([a, a])


def test_run_with_several_data_options(trees, tmp_path):
    from typer.testing import CliRunner

    from mebench.cli import app
    from mebench.store import ResultStore
    from tests.plugin_fixtures import NearestCentroid

    plugins.register_method(NearestCentroid)
    try:
        result = CliRunner().invoke(app, ["run", "--methods", "centroid", "--protocol", "loso",
                                          "--data", f"casme2:{trees['casme2']}", "--data", f"samm:{trees['samm']}",
                                          "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"),
                                          "--pipeline", "face_size=32"],
                                    env={"COLUMNS": "300"})
    finally:
        plugins.methods.unregister("centroid")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"data: casme2:{trees['casme2']} + samm:{trees['samm']}" in said
    preds = ResultStore(tmp_path / "run").predictions()
    assert len(preds) == 8 and set(preds["dataset"]) == {"casme2", "samm"}
    cells = ResultStore(tmp_path / "run").cells()
    assert len(cells) == 4 and set(cells["dataset"]) == {"casme2+samm"}
    assert "face_size=32" in ResultStore(tmp_path / "run").runs()["spec"].iloc[0]
