"""A list protocol's `clips=PATH` (issue 22, item 4): checked when the protocol is built, and applied to
every kind of data, not only to raw datasets."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from mebench.cli import app
from mebench.errors import ConfigError, DataError
from mebench.protocol import make_protocol
from mebench.plan import RunConfig, load_dataset
from mebench.runner import run_grid
from mebench.store import ResultStore


def write_list(path, rows, columns=("dataset", "subject", "clip", "label")):
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def refused(spec: str) -> str:
    with pytest.raises(ConfigError) as info:
        make_protocol(spec)
    return str(info.value)


# ---------------------------------------------------------------------------- checked up front
def test_a_missing_list_is_refused_when_the_protocol_is_built(tmp_path):
    missing = tmp_path / "nowhere.csv"
    assert refused(f"composite:clips={missing}") == f"protocol 'composite': clips={missing}: no such file"
    result = CliRunner().invoke(app, ["run", "--methods", "majority", "--protocol", f"composite:clips={missing}",
                                      "--out", str(tmp_path / "run")], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert f"clips={missing}: no such file" in " ".join(result.output.split())


def test_a_folder_is_not_a_list(tmp_path):
    assert refused(f"cross-dataset:clips={tmp_path}") == (f"protocol 'cross-dataset': clips={tmp_path} is a folder, "
                                                          "not a clip list CSV file")


def test_a_file_that_is_not_a_clip_list_is_refused(tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                      "gnats:x:41:41:Gnats Bug-Reporting System (admin),,,:/var/lib/gnats:/usr/sbin/nologin\n")
    message = refused(f"composite:clips={passwd}")
    assert message.startswith(f"protocol 'composite': clips={passwd} is not a usable clip list: ")
    assert "lacks column(s) dataset, subject, clip, label (its header: 'root:x:0:0:root:/root:/bin/bash')" in message
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    assert f"clips={binary} is not a usable clip list: cannot read" in refused(f"composite:clips={binary}")


def test_an_empty_list_or_one_of_other_classes_or_sources_is_refused(tmp_path):
    empty = write_list(tmp_path / "empty.csv", [])
    assert "lists no clips" in refused(f"composite:clips={empty}")
    roman = write_list(tmp_path / "roman.csv", [("casme2", "sub01", "EP02_01f", "I")])
    assert "labels ['I'] are not among ['negative', 'positive', 'surprise']" in refused(f"composite:clips={roman}")
    casme3 = write_list(tmp_path / "casme3.csv", [("casme3", "spNO.1", "j-28", "positive")])
    assert refused(f"composite:clips={casme3}").endswith(
        "lists clips of 'casme3'; the composite protocol takes smic, casme2, samm only (names are case-sensitive)")


# ---------------------------------------------------------------------------- applied to every kind of data
def test_a_one_clip_list_on_the_synthetic_data_keeps_that_clip_only(tmp_path):
    one = write_list(tmp_path / "one.csv", [("casme2", "sub02", "c02", "negative")])
    synthetic = load_dataset("synthetic")
    assert synthetic.samples.set_index("sample").loc["casme2/sub02/c02", "label"] == "negative"
    protocol = make_protocol(f"composite:clips={one}")
    chosen = protocol.prepare(synthetic)
    assert chosen.samples["sample"].tolist() == ["casme2/sub02/c02"] and chosen.labels().tolist() == [0]
    folds = protocol.folds(chosen.samples)
    assert [(f.id, f.test) for f in folds] == [("casme2/sub02", ("casme2/sub02/c02",))]
    assert list(protocol.groups(chosen.samples)) == ["Full"]
    assert make_protocol("composite").prepare(synthetic) is synthetic  # without the option: used as it is


def test_listed_clips_the_data_lack_are_one_error(tmp_path):
    listed = write_list(tmp_path / "l.csv", [("casme2", "sub02", "c02", "negative"), ("smic", "s99", "c01", "positive"),
                                             ("samm", "006", "c99", "surprise")])
    with pytest.raises(DataError) as info:
        make_protocol(f"composite:clips={listed}").prepare(load_dataset("synthetic"))
    message = str(info.value)
    assert "lists 2 clip(s) missing from the data" in message
    assert "smic/s99/c01" in message and "samm/006/c99" in message and "casme2/sub02/c02" not in message


def test_a_listed_label_other_than_the_datas_is_an_error_naming_the_sample(tmp_path):
    wrong = write_list(tmp_path / "wrong.csv", [("casme2", "sub02", "c02", "surprise"),
                                                ("smic", "s01", "c01", "negative")])
    with pytest.raises(DataError, match=re.escape("1 clip(s) another label than dataset 'synthetic' does: "
                                                  "casme2/sub02/c02: data 'negative', list 'surprise'")):
        make_protocol(f"composite:clips={wrong}").prepare(load_dataset("synthetic"))


def test_a_list_on_htnet_release_like_data(tmp_path):
    from tests.test_htnet_release import make_fake_release

    release = load_dataset(f"htnet-release:{make_fake_release(tmp_path / 'release')}", tmp_path / "cache")
    two = write_list(tmp_path / "two.csv", [("samm", "006", "006_1_2", "surprise"),
                                            ("smic", "s01", "s01_ne_01", "negative")])
    chosen = make_protocol(f"composite:clips={two}").prepare(release)
    assert chosen.samples["sample"].tolist() == ["samm/006/006_1_2", "smic/s01/s01_ne_01"]
    assert chosen.samples["label"].tolist() == ["surprise", "negative"]
    wrong = write_list(tmp_path / "wrong.csv", [("casme2", "sub01", "EP02_01f", "negative")])
    with pytest.raises(DataError, match="casme2/sub01/EP02_01f: data 'positive', list 'negative'"):
        make_protocol(f"cross-dataset:clips={wrong}").prepare(release)


def test_a_run_with_a_list_trains_and_tests_the_listed_clips_only(tmp_path, tiny_data):
    listed = write_list(tmp_path / "l.csv", [("smic", "s1", "c0", "negative"), ("smic", "s1", "c1", "positive"),
                                             ("casme2", "sub02", "c2", "surprise"), ("samm", "006", "c3", "negative")])
    out = tmp_path / "run"
    summary = run_grid(RunConfig(methods=("majority",), protocol=f"composite:clips={listed}", out=out, data=tiny_data))
    assert summary.done == 3 and not summary.failed
    cells = ResultStore(out).cells()
    assert sorted(cells["fold"]) == ["casme2/sub02", "samm/006", "smic/s1"]
    assert set(cells["protocol"]) == {f"composite:clips={listed}"}
    predictions = ResultStore(out).predictions()
    assert sorted(predictions["sample"]) == ["casme2/sub02/c2", "samm/006/c3", "smic/s1/c0", "smic/s1/c1"]
