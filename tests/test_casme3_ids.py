"""CAS(ME)^3 clips are named by subject, video (Filename) and onset frame, never by their position among
the repeats of a Filename in the label sheet (issue 22, item 6): the shipped casme3-htnet list finds the
right clips in a sheet holding other rows or another order, and a listed clip whose label in the sheet
is another one is refused."""

from __future__ import annotations

import pandas as pd
import pytest

from mebench.datasets.raw.tabular import Row
from mebench.errors import DataError
from mebench.protocol import make_protocol
from mebench.protocols.casme3 import CASME3_HTNET, LABEL_MAP
from mebench.plan import load_dataset
from tests import raw_fixtures as F

# Clips of the shipped list, with the sheet's frame numbers (HTNet's list): spNO.10 has an unlisted first
# "k" and "l" in the v2 sheet, so a sheet holding only the listed clips once named k-735 "k" and the list
# called it "k2"; the list's "k3" (onset 2067) was the sheet's "k2".
LISTED = [  # subject, Filename, emotion, onset, apex, offset
    ("spNO.1", "j", "happy", 28, 33, 49),
    ("spNO.1", "j", "surprise", 102, 105, 113),
    ("spNO.10", "k", "surprise", 735, 737, 743),
    ("spNO.10", "k", "surprise", 2067, 2069, 2072),
    ("spNO.10", "l", "anger", 1086, 1090, 1094),
    ("spNO.10", "l", "surprise", 1407, 1414, 1424),
]
SAMPLES = [f"casme3/{s}/{f}-{onset}" for s, f, _, onset, _, _ in LISTED]


def clip(subject, name, emotion, onset, apex, offset, index=0):
    return F.Clip(subject, name, emotion, onset, apex, offset, index)


def sheet(tmp_path, rows) -> str:
    return f"casme3:{F.write_casme3(tmp_path / 'CASME3', [clip(*r, index=i) for i, r in enumerate(rows)])}"


def shipped_rows(samples=SAMPLES) -> pd.DataFrame:
    table = CASME3_HTNET.table
    return table.set_index("sample").loc[samples].reset_index()


def mini_list(tmp_path, rows: pd.DataFrame) -> str:
    path = tmp_path / "listed.csv"
    rows.drop(columns=["sample"]).to_csv(path, index=False)
    return f"casme3-htnet:clips={path}"


def test_the_shipped_list_names_clips_by_filename_and_onset():
    table = CASME3_HTNET.table
    assert list(table.columns[:8]) == ["dataset", "subject", "clip", "label", "emotion", "onset", "apex", "offset"]
    assert (table["clip"] == table["clip"].str.extract(r"^([a-m])-\d+$")[0] + "-" + table["onset"]).all()
    assert (table["emotion"].map(LABEL_MAP["casme3"]) == table["label"]).all()
    assert len(table) == 687 and table["sample"].is_unique
    rows = shipped_rows()
    assert rows[["subject", "emotion"]].values.tolist() == [[s, e] for s, _, e, *_ in LISTED]
    assert rows[["onset", "apex", "offset"]].astype(int).values.tolist() == [list(r[3:]) for r in LISTED]


def test_a_sheet_of_only_the_listed_clips_in_another_order_gives_the_right_clips(tmp_path):
    data = load_dataset(sheet(tmp_path, LISTED[::-1]), tmp_path / "cache", "face_size=32")
    assert data.samples["sample"].tolist() == SAMPLES[::-1]
    # the shipped list finds exactly these six (and names the 681 others it lacks)
    with pytest.raises(DataError, match=r"lists 681 clip\(s\) missing from the data \(casme3 681 of 687\)") as info:
        make_protocol("casme3-htnet").prepare(data)
    assert not any(f"{s}\n" in str(info.value) + "\n" for s in SAMPLES)
    chosen = make_protocol(mini_list(tmp_path, shipped_rows())).prepare(data)
    assert chosen.samples["sample"].tolist() == SAMPLES
    # the clip the list calls by onset 2067 is the sheet's row of onset 2067, with its label
    by_sample = chosen.samples.set_index("sample")
    assert by_sample.loc["casme3/spNO.10/k-2067", ["onset", "offset"]].tolist() == [2067, 2072]
    assert by_sample.loc["casme3/spNO.10/l-1086", ["native_label", "label", "onset"]].tolist() == [
        "anger", "negative", 1086]
    assert chosen.samples["native_label"].tolist() == [e for _, _, e, *_ in LISTED]
    assert chosen.samples["onset"].tolist() == [r[3] for r in LISTED]


def test_a_sheet_with_other_rows_gives_the_same_clips(tmp_path):
    extra = [("spNO.10", "k", "Others", 100, 102, 104), ("spNO.1", "j", "others", 5, 6, 8),
             ("spNO.10", "l", "disgust", 50, 52, 55), ("spNO.2", "b", "surprise", 166, 168, 170)]
    rows = extra[:2] + LISTED[:3] + extra[2:] + LISTED[3:]
    data = load_dataset(sheet(tmp_path, rows), tmp_path / "cache", "face_size=32")
    assert len(data) == 10
    chosen = make_protocol(mini_list(tmp_path, shipped_rows())).prepare(data)
    assert chosen.samples["sample"].tolist() == SAMPLES
    assert chosen.samples["onset"].tolist() == [r[3] for r in LISTED]
    assert chosen.samples["native_label"].tolist() == [e for _, _, e, *_ in LISTED]


def test_a_listed_clip_whose_sheet_label_differs_is_refused_by_name(tmp_path):
    rows = list(LISTED)
    rows[0] = ("spNO.1", "j", "disgust", 28, 33, 49)  # the list: happy (positive)
    rows[4] = ("spNO.10", "l", "fear", 1086, 1090, 1094)  # the list: anger; the same class, another label
    data = load_dataset(sheet(tmp_path, rows), tmp_path / "cache", "face_size=32")
    with pytest.raises(DataError) as info:
        make_protocol(mini_list(tmp_path, shipped_rows())).prepare(data)
    message = str(info.value)
    assert "2 listed clip(s) have another label in the data than in the list" in message
    assert "casme3/spNO.1/j-28: the data's label 'disgust', the list's 'happy'" in message
    assert "casme3/spNO.10/l-1086: the data's label 'fear', the list's 'anger'" in message
    # a list without the sheet's labels: a class other than the list's is refused too (not a warning)
    classes_only = shipped_rows().drop(columns=["emotion", "onset", "apex", "offset"])
    with pytest.raises(DataError, match=r"1 listed clip\(s\) whose native label maps to another class .*"
                                        r"casme3/spNO.1/j-28: native 'disgust' -> negative, list positive"):
        make_protocol(mini_list(tmp_path, classes_only)).prepare(data)


def test_clip_ids_are_filename_and_onset():
    from mebench.datasets.raw.casme3 import clip_ids

    def row(subject, filename, onset, offset):
        return Row(subject, subject, filename, "happy", onset, offset)

    rows = [row("spNO.1", "j", "102", "113"), row("spNO.1", "j", "28.0", "49"), row("spNO.2", "j", "28", "40"),
            row("spNO.1", "k", "0300", "310"), row("spNO.1", "k", "300", "305"), row("spNO.1", "m", "", "9")]
    assert clip_ids(rows) == ["j-102", "j-28", "j-28", "k-300-310", "k-300-305", "m-?"]
    assert clip_ids(rows[::-1]) == ["j-102", "j-28", "j-28", "k-300-310", "k-300-305", "m-?"][::-1]
