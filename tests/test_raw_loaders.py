"""Raw dataset loaders on tiny fixture trees in each real layout (tests/raw_fixtures.py):
ids, native labels, frame numbers and the known metadata variants, and clear errors on bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mebench import plugins
from mebench.datasets.raw import casme1, casme2, casme3, mmew, samm, smic
from mebench.datasets.raw.fixes import read_fixes
from mebench.datasets.raw.pipeline import PipelineConfig
from mebench.datasets.raw.records import FIX_NOT_APPLIED, MISSING_FRAME, WARNING
from mebench.errors import ConfigError, DataError
from tests import raw_fixtures as F

FAST = PipelineConfig(face_size=48)


def load(module, root, tmp_path, **kw):
    return module.load(str(root), cache_dir=tmp_path / "cache", pipeline=FAST, workers=1, **kw)


def table(ds, *cols):
    return ds.samples[["sample", *cols]].values.tolist()


def test_entry_points_are_the_loaders():
    for kind, module in (("casme2", casme2), ("samm", samm), ("smic", smic), ("casme3", casme3), ("mmew", mmew),
                         ("casme1", casme1)):
        assert plugins.datasets.get(kind) is module.load


def test_casme2(tmp_path):
    root = F.write_casme2(tmp_path / "CASME2")
    ds = load(casme2, root, tmp_path)
    assert ds.name == "casme2" and ds.source == f"casme2:{root}"
    # native labels, vocabulary order, only those present
    assert ds.class_names == ("happiness", "disgust", "repression", "others")
    # Subject 1 (int) and "02" (text) both normalised; "/" apex is None
    assert table(ds, "subject", "label", "onset", "apex", "offset") == [
        ["casme2/sub01/EP02_01f", "sub01", "happiness", 10, 12, 14],
        ["casme2/sub01/EP19_05f", "sub01", "disgust", 8, pd.NA, 12],
        ["casme2/sub02/EP01_11f", "sub02", "repression", 5, 7, 9],
        ["casme2/sub02/EP03_02", "sub02", "others", 1, 2, 4],
    ]
    assert (ds.samples["native_label"] == ds.samples["label"]).all()
    assert ds.samples["clip_dir"][0] == "CASME2_RAW_selected/sub01/EP02_01f"
    # frames sorted by the number in the name (img8, img9, img10 ...), never lexically
    rec = ds.feature_function.records[1]
    assert rec.numbers() == [8, 9, 10, 11, 12]
    assert [p.name for _, p in rec.frames] == ["img8.jpg", "img9.jpg", "img10.jpg", "img11.jpg", "img12.jpg"]
    assert ds.samples["action_units"][0] == "12"


def test_casme2_metadata_file_as_path_and_other_layouts(tmp_path):
    root = F.write_casme2(tmp_path / "c", F.CASME2_CLIPS[:2], frames_dir="Cropped", name="CASME2-coding-20190701.xlsx")
    ds = load(casme2, root / "CASME2-coding-20190701.xlsx", tmp_path)
    assert ds.samples["clip_dir"][0] == "Cropped/sub01/EP02_01f" and len(ds) == 2
    assert ds.feature_function.records[0].source == "CASME2-coding-20190701.xlsx row 2"


@pytest.mark.parametrize("notes", [13, 0])
def test_samm_header_below_notes_or_on_row_1(tmp_path, notes):
    root = F.write_samm(tmp_path / "SAMM", notes=notes, padded=notes == 13)
    ds = load(samm, root, tmp_path)
    # Subject "006" and 9 both give 3 digits; labels lower-cased
    assert table(ds, "subject", "label", "onset", "apex", "offset") == [
        ["samm/006/006_1_2", "006", "anger", 5562, 5564, 5566],
        ["samm/006/006_1_3", "006", "happiness", 100, 101, 103],
        ["samm/009/009_3_1", "009", "surprise", 3577, 3579, 3580],
        ["samm/009/009_3_2", "009", "other", 40, 41, 43],
    ]
    assert ds.class_names == ("anger", "other", "happiness", "surprise")
    first = ds.feature_function.records[0]
    assert first.frames[0][1].name == ("006_05562.jpg" if notes else "006_5562.jpg")
    assert first.source == f"SAMM_Micro_FACS_Codes_v2.xlsx row {notes + 2}"


def test_smic_labels_from_folders_and_ids_padded(tmp_path):
    root = F.write_smic(tmp_path / "SMIC")
    ds = load(smic, root, tmp_path)
    assert ds.class_names == ("negative", "positive", "surprise")
    assert table(ds, "subject", "label", "onset", "apex", "offset", "n_frames") == [
        ["smic/s01/s01_ne_01", "s01", "negative", 559740, pd.NA, 559744, 5],
        ["smic/s01/s01_po_01", "s01", "positive", 1200, pd.NA, 1203, 4],
        ["smic/s03/s03_ne_02", "s03", "negative", 20010, pd.NA, 20015, 6],
        ["smic/s03/s03_sur_01", "s03", "surprise", 99, pd.NA, 103, 5],
    ]
    assert ds.samples["clip_dir"][0] == "HS/s1/micro/negative/s1_ne_01"  # folder names kept; non_micro ignored
    again = load(smic, root / "HS", tmp_path)  # PATH may be the HS folder itself
    assert again.samples["sample"].tolist() == ds.samples["sample"].tolist()


def test_casme3_repeated_filenames_and_dropped_frames(tmp_path):
    root = F.write_casme3(tmp_path / "casme3", drop=("spNO.1/j", 302))
    scan = casme3.scan(str(root))
    ds = load(casme3, root, tmp_path)
    assert table(ds, "subject", "label", "apex") == [
        ["casme3/spNO.1/a-160", "spNO.1", "happy", 162],  # clip = Filename and onset frame
        ["casme3/spNO.1/j-300", "spNO.1", "disgust", 301],  # apex 302 was dropped: nearest frame, with a warning
        ["casme3/spNO.1/j-310", "spNO.1", "others", 311],  # the other "j" of the subject; "Others" lower-cased
        ["casme3/spNO.2/b-166", "spNO.2", "surprise", 168],
    ]
    assert ds.samples["clip_dir"][1] == "part_A/data/part_A_split/part_A/spNO.1/j/color"
    assert ds.samples["clip_dir"][2] == "part_A/data/part_A_split/part_A/spNO.1/j/color"
    dropped = [p for p in scan.problems if p.code == MISSING_FRAME]
    assert len(dropped) == 1 and dropped[0].severity == WARNING and "302" in dropped[0].message
    assert dropped[0].sample == "casme3/spNO.1/j-300"


def test_casme3_clip_ids_do_not_depend_on_the_other_rows(tmp_path):
    clips = F.CASME3_CLIPS
    reordered = load(casme3, F.write_casme3(tmp_path / "a", [clips[3], clips[2], clips[1]]), tmp_path)
    assert reordered.samples["sample"].tolist() == ["casme3/spNO.2/b-166", "casme3/spNO.1/j-310", "casme3/spNO.1/j-300"]
    assert reordered.samples["native_label"].tolist() == ["surprise", "others", "disgust"]
    # two rows of a video with the same onset (two expressions, or a repeated row): each named with its offset too
    same_onset = [clips[1], F.Clip("spNO.1", "j", "fear", 300, 301, 302, 3), clips[3]]
    ds = load(casme3, F.write_casme3(tmp_path / "b", same_onset), tmp_path)
    assert ds.samples["sample"].tolist() == ["casme3/spNO.1/j-300-304", "casme3/spNO.1/j-300-302", "casme3/spNO.2/b-166"]


def test_mmew_emotion_folders(tmp_path):
    root = F.write_mmew(tmp_path / "MMEW")
    ds = load(mmew, root, tmp_path)
    assert table(ds, "subject", "label") == [
        ["mmew/S01/S01_0101", "S01", "happiness"], ["mmew/S01/S01_0102", "S01", "surprise"],
        ["mmew/S02/S02_0201", "S02", "disgust"]]
    assert ds.samples["clip_dir"][2] == "Micro_Expression/disgust/S02_0201"


def test_casme1_reads_both_section_sheets(tmp_path):
    root = F.write_casme1(tmp_path / "CASME")
    ds = load(casme1, root, tmp_path)
    assert ds.name == "casme1" and ds.class_names == ("happiness", "disgust", "repression", "tense")
    assert table(ds, "subject", "label", "onset", "apex", "offset") == [
        ["casme1/sub01/EP01_5", "sub01", "happiness", 113, 115, 117],
        ["casme1/sub01/EP03_2", "sub01", "tense", 8, 10, 12],
        ["casme1/sub08/EP05_1", "sub08", "disgust", 40, 42, 44],
        ["casme1/sub12/EP02_4", "sub12", "repression", 7, 9, 11],
    ]
    assert ds.samples["clip_dir"][0] == "CASME_raw_selected/sub01/EP01_5"
    rec = ds.feature_function.records[1]  # EP03_2-8.jpg .. EP03_2-12.jpg: by number, not lexically
    assert rec.numbers() == [8, 9, 10, 11, 12] and rec.frames[0][1].name == "EP03_2-8.jpg"
    assert [r.source for r in ds.feature_function.records] == [
        "Section A.xls row 2", "Section A.xls row 3", "Section B.xls row 2", "Section B.xls row 3"]
    # one section named as PATH: only that sheet
    only_b = load(casme1, root / "Section B.xls", tmp_path)
    assert only_b.samples["sample"].tolist() == ["casme1/sub08/EP05_1", "casme1/sub12/EP02_4"]


def test_casme1_errors_name_the_section_sheet(tmp_path):
    bad = {"A": F.CASME1_SECTIONS["A"],
           "B": [F.Clip(8, "EP05_1", "anger", 40, 42, 44, 17), F.Clip(1, "EP01_5", "happiness", 113, 115, 117, 15)]}
    root = F.write_casme1(tmp_path / "CASME", bad)
    with pytest.raises(DataError) as info:
        load(casme1, root, tmp_path)
    msg = str(info.value)
    assert f"{root / 'Section B.xls'} row 2 (casme1/sub08/EP05_1): unknown label 'anger'" in msg
    assert ("(casme1/sub01/EP01_5): sample id also given by Section A.xls row 2 (this one: Section B.xls row 3)"
            in msg)


def test_features_come_from_the_pipeline(tmp_path):
    root = F.write_samm(tmp_path / "SAMM", F.SAMM_CLIPS[:2])
    ds = load(samm, root, tmp_path)
    flow, regions = ds.features("flow"), ds.features("htnet-regions")
    assert flow.shape == regions.shape == (2, 3, 28, 28) and flow.dtype == np.float32
    assert flow.min() >= 0 and flow.max() <= 255
    with pytest.raises(DataError, match="unknown input 'rgb'"):
        ds.features("rgb")


# ---------------------------------------------------------------------------- annotation fixes
def test_annotation_fixes_by_sample_id(tmp_path):
    root = F.write_casme2(tmp_path / "CASME2")
    fixes = pd.DataFrame([
        ("casme2", "casme2/sub01/EP19_05f", "apex", "/", "10", "apex not annotated"),
        ("casme2", "casme2/sub02/EP01_11f", "offset", "99", "8", "a fix for another version"),
        ("casme2", "casme2/sub09/EP01_01", "label", "others", "fear", "clip absent: ignored"),
        ("samm", "casme2/sub01/EP02_01f", "onset", "10", "11", "another dataset's fix: ignored"),
    ], columns=["dataset", "sample", "field", "old", "new", "reason"])
    scan = casme2.scan(str(root), fixes=fixes)
    by_id = {r.sample: r for r in scan.records}
    assert by_id["casme2/sub01/EP19_05f"].apex == 10
    assert by_id["casme2/sub02/EP01_11f"].offset == 9 and by_id["casme2/sub01/EP02_01f"].onset == 10
    not_applied = [p for p in scan.problems if p.code == FIX_NOT_APPLIED]
    assert len(not_applied) == 1 and not_applied[0].sample == "casme2/sub02/EP01_11f" and "'99'" in not_applied[0].message


def test_shipped_fixes_file_reads():
    fixes = read_fixes()
    assert list(fixes.columns) == ["dataset", "sample", "field", "old", "new", "reason"]


# ---------------------------------------------------------------------------- bad input
def test_missing_column_names_the_file_and_column(tmp_path):
    path = F.write_xlsx(tmp_path / "c" / "CASME2-coding-20140508.xlsx",
                        ["Subject", "Filename", "OnsetFrame", "OffsetFrame", "Estimated Emotion"], [[1, "EP01", 1, 3, "others"]])
    with pytest.raises(DataError, match=r"CASME2-coding-20140508.xlsx: missing column\(s\) ApexFrame"):
        casme2.scan(str(path.parent))


def test_samm_notes_without_header_is_an_error(tmp_path):
    F.write_xlsx(tmp_path / "s" / "SAMM_Micro_FACS_Codes_v2.xlsx", ["notes only"], [["x"]], notes=13)
    with pytest.raises(DataError, match="missing column.*Subject.*Filename"):
        samm.scan(str(tmp_path / "s"))


def test_corrupt_metadata_file(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "MMEW_Micro_Exp.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="cannot read metadata file .*MMEW_Micro_Exp.xlsx"):
        mmew.scan(str(tmp_path / "m"))


def test_path_escaping_the_root_is_refused(tmp_path):
    root = F.write_casme2(tmp_path / "CASME2", F.CASME2_CLIPS[:1])
    (tmp_path / "outside").mkdir()
    F.write_xlsx(root / "CASME2-coding-20140508.xlsx",
                 ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion"],
                 [[1, "EP02_01f", 10, 12, 14, "happiness"], [1, "../../../outside", 1, 2, 3, "others"]])
    with pytest.raises(DataError) as info:
        load(casme2, root, tmp_path)
    msg = str(info.value)
    assert "path-escape" in msg and "'sub01/../../../outside' escapes the dataset root" in msg
    assert "CASME2-coding-20140508.xlsx row 3" in msg and "casme2/sub01/../../../outside" in msg


def test_unknown_label_and_bad_frame_number_name_row_and_sample(tmp_path):
    root = F.write_casme2(tmp_path / "CASME2", F.CASME2_CLIPS[:1])
    F.write_xlsx(root / "CASME2-coding-20140508.xlsx",
                 ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion"],
                 [[1, "EP02_01f", 10, 12, 14, "joy"], [1, "EP02_02", "ten", 12, 14, "others"]])
    with pytest.raises(DataError) as info:
        load(casme2, root, tmp_path)
    msg = str(info.value)
    assert "row 2 (casme2/sub01/EP02_01f): unknown label 'joy'" in msg
    assert "row 3 (casme2/sub01/EP02_02): OnsetFrame 'ten' is not a frame number" in msg


def test_missing_clip_folder_is_left_out_with_a_warning(tmp_path):
    root = F.write_casme2(tmp_path / "CASME2", F.CASME2_CLIPS[:2])
    import shutil

    shutil.rmtree(root / "CASME2_RAW_selected" / "sub01" / "EP19_05f")
    with pytest.warns(UserWarning, match=r"1 clip\(s\) left out.*casme2/sub01/EP19_05f.*datasets check"):
        ds = load(casme2, root, tmp_path)
    assert ds.samples["sample"].tolist() == ["casme2/sub01/EP02_01f"]


def test_bad_paths(tmp_path):
    with pytest.raises(ConfigError, match="casme2:PATH needs a path"):
        casme2.load(None)
    with pytest.raises(ConfigError, match="smic:PATH needs a path"):
        smic.load("")
    with pytest.raises(DataError, match="does not exist"):
        samm.load(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no metadata file in .*empty.*SAMM_Micro_FACS_Codes"):
        samm.load(str(tmp_path / "empty"))
    with pytest.raises(DataError, match="no subject folders"):
        smic.load(str(tmp_path / "empty"))


def test_loader_through_the_runner_spec(tmp_path, monkeypatch):
    from mebench.plan import load_dataset

    root = F.write_mmew(tmp_path / "MMEW", F.MMEW_CLIPS[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(f"mmew:{root}", tmp_path / "cache", pipeline="face_size=32")
    assert ds.feature_function.config.face_size == 32 and len(ds) == 1
