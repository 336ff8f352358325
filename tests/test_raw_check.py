"""`mebench datasets check` on deliberately broken trees, and `mebench datasets prepare` (resume, rerun)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from mebench.cli import app
from mebench.datasets.raw.tree_check import check_tree, report_lines
from mebench.datasets.raw.pipeline import PipelineConfig
from mebench.datasets.raw.prepare import prepare_dataset
from tests import raw_fixtures as F

FAST = PipelineConfig(face_size=32)
HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion"]


def invoke(*args):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})


def found(report):
    return {(p.severity, p.code, p.path, p.sample) for p in report.problems}


def test_broken_casme2_tree(tmp_path):
    root = F.write_casme2(tmp_path / "CASME2")
    frames = root / "CASME2_RAW_selected"
    shutil.rmtree(frames / "sub02" / "EP03_02")  # missing clip folder
    (frames / "sub01" / "EP02_01f" / "img10.jpg").unlink()  # missing onset frame
    (frames / "sub02" / "EP01_11f" / "img7.jpg").write_bytes(b"\xff\xd8 not a jpeg")  # unreadable apex
    (frames / "sub01" / "EP19_05f" / "img9.jpg").unlink()  # frame count mismatch (not a key frame)
    rows = [[c.subject, c.name, c.onset, c.apex, c.offset, c.label] for c in F.CASME2_CLIPS]
    rows[1][5] = "joy"  # unknown label
    rows.append(list(rows[2]))  # duplicate sample
    F.write_xlsx(root / "CASME2-coding-20140508.xlsx", HEADER, rows)

    report = check_tree("casme2", str(root), cache_dir=tmp_path / "cache", config=FAST, workers=1)
    meta = "CASME2-coding-20140508.xlsx"
    problems = found(report)
    assert ("error", "missing-clip", str(frames / "sub02" / "EP03_02"), "casme2/sub02/EP03_02") in problems
    assert ("error", "missing-frame", str(frames / "sub01" / "EP02_01f"), "casme2/sub01/EP02_01f") in problems
    assert ("error", "unreadable-image", str(frames / "sub02" / "EP01_11f" / "img7.jpg"), "casme2/sub02/EP01_11f") in problems
    assert ("warning", "frame-count", str(frames / "sub01" / "EP19_05f"), "casme2/sub01/EP19_05f") in problems
    assert ("error", "unknown-label", f"{root / meta} row 3", "casme2/sub01/EP19_05f") in problems
    assert ("error", "duplicate-sample", str(frames / "sub02" / "EP01_11f"), "casme2/sub02/EP01_11f") in problems
    assert ("warning", "no-apex", f"{meta} row 3", "casme2/sub01/EP19_05f") in problems
    assert report.fatal and report.clips == 5 and report.usable == 0
    messages = {p.code: p.message for p in report.problems}
    assert "onset frame 10 not found (frames 11..14 present)" in messages["missing-frame"]
    assert "missing 9" in messages["frame-count"] and "unknown label 'joy'" in messages["unknown-label"]
    assert "apex frame: not a decodable image" in messages["unreadable-image"]
    # faces were looked for on the readable onsets: counted in the summary
    assert report.faces_checked and report.faces_detected + report.face_fallbacks == 3
    lines = report_lines(report)
    assert lines[0].startswith("ERROR") and "faces:" in lines[-1] + lines[-2]

    result = invoke("datasets", "check", f"casme2:{root}", "--no-faces", "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 1
    out = result.output
    for needle in ("missing-clip", "missing-frame", "unreadable-image", "frame-count", "unknown-label", "duplicate-sample",
                   str(frames / "sub02" / "EP03_02"), "faces: not checked"):
        assert needle in out, needle


def test_broken_smic_tree(tmp_path):
    root = F.write_smic(tmp_path / "SMIC")
    hs = root / "HS"
    shutil.copytree(hs / "s1" / "micro" / "negative" / "s1_ne_01", hs / "s1" / "micro" / "positive" / "s1_ne_01")
    shutil.copytree(hs / "s3" / "micro" / "surprise" / "s3_sur_01", hs / "s3" / "micro" / "angry" / "s3_an_01")
    (hs / "s3" / "micro" / "negative" / "s3_ne_09").mkdir()
    report = check_tree("smic", str(root), faces=False)
    problems = found(report)
    assert ("error", "duplicate-sample", str(hs / "s1" / "micro" / "positive" / "s1_ne_01"), "smic/s01/s01_ne_01") in problems
    assert ("error", "unknown-label", str(hs / "s3" / "micro" / "angry"), "smic/s03/s03_an_01") in problems
    assert ("error", "missing-frame", str(hs / "s3" / "micro" / "negative" / "s3_ne_09"), "smic/s03/s03_ne_09") in problems
    assert report.fatal


def test_face_fallbacks_are_counted_not_fatal(tmp_path):
    root = F.write_samm(tmp_path / "SAMM", F.SAMM_CLIPS[:2])
    rng = np.random.default_rng(0)
    import cv2

    onset = root / "SAMM" / "006" / "006_1_2" / "006_05562.jpg"
    cv2.imwrite(str(onset), rng.integers(0, 256, (64, 64), dtype=np.uint8))  # no face on this onset
    report = check_tree("samm", str(root), cache_dir=tmp_path / "cache", config=FAST, workers=1)
    assert not report.fatal and report.face_fallbacks == 1 and report.faces_detected == 1
    assert found(report) == {("warning", "face-fallback", str(onset), "samm/006/006_1_2")}
    result = invoke("datasets", "check", f"samm:{root}", "--cache-dir", str(tmp_path / "cache"),
                    "--pipeline", "face_size=32", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "faces: 1 detected, 1 not found (whole-frame fallback crop used)" in result.output


def test_bad_metadata_and_escaping_paths_are_fatal(tmp_path):
    F.write_xlsx(tmp_path / "m" / "MMEW_Micro_Exp.xlsx", ["Subject", "Filename", "Estimated Emotion"], [["S01", "a", "fear"]])
    report = check_tree("mmew", str(tmp_path / "m"), faces=False)
    assert report.fatal and report.problems[0].code == "metadata"
    assert "MMEW_Micro_Exp.xlsx: missing column(s) OnsetFrame, OffsetFrame, ApexFrame" in report.problems[0].message

    root = F.write_casme2(tmp_path / "c", F.CASME2_CLIPS[:1])
    F.write_xlsx(root / "CASME2-coding-20140508.xlsx", HEADER,
                 [[1, "EP02_01f", 10, 12, 14, "happiness"], [1, "/etc", 1, 2, 3, "others"]])
    result = invoke("datasets", "check", f"casme2:{root}", "--no-faces")
    assert result.exit_code == 1 and "path-escape" in result.output and "escapes the dataset root" in result.output
    assert invoke("datasets", "check", "synthetic:/x", "--no-faces").exit_code == 2  # synthetic takes no path


def test_prepare_resumes_and_reruns_nothing(tmp_path):
    root = F.write_smic(tmp_path / "SMIC")
    cache = tmp_path / "cache"
    seen = []

    def interrupt(done, total, sample):
        seen.append(sample)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset("smic", str(root), cache_dir=cache, config=FAST, workers=1, progress=interrupt)
    report = prepare_dataset("smic", str(root), cache_dir=cache, config=FAST, workers=1)
    assert (report.clips, report.computed) == (4, 2) and report.stage_counts["points"] == 2
    result = invoke("datasets", "prepare", f"smic:{root}", "--cache-dir", str(cache), "--pipeline", "face_size=32")
    assert result.exit_code == 0, result.output
    assert "smic: 4 clips, 0 computed, 4 already cached" in result.output
