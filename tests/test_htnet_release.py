"""The htnet-release loader and dlib landmarks: real-data checks (skipped without ../shared) and
error handling on a tiny fake release tree built in tmp_path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mebench.datasets.htnet_release import (CSV_NAME, FACE_DIR, FLOW_DIR, flow_file_name, landmark_report,
                                            load_htnet_release)
from mebench.errors import ConfigError, DataError
from mebench.features import landmarks as lm
from mebench.features.regions import PUBLISHED_FALLBACK_LANDMARKS, five_points_from_68

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
RELEASE = Path(os.environ.get("MEBENCH_HTNET_RELEASE",
                              Path(__file__).resolve().parents[1].parent / "shared" / "data" / "htnet-release"))
needs_release = pytest.mark.skipif(
    not RELEASE.is_dir(), reason=f"real HTNet release data not found at {RELEASE} (set MEBENCH_HTNET_RELEASE)")


def clipped_windows(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Reference tiling written out directly: published quirk = landmark x picks the rows."""
    out = np.empty_like(flow)
    pts = np.clip(points, 7, 21).astype(int)
    for n in range(flow.shape[0]):
        for k, (r0, c0) in zip((0, 1, 3, 4), ((0, 0), (0, 14), (14, 0), (14, 14))):
            x, y = pts[n, k]
            out[n, :, r0:r0 + 14, c0:c0 + 14] = flow[n, :, x - 7:x + 7, y - 7:y + 7]
    return out


# ---------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def release_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("htnet-release-cache")


@pytest.fixture(scope="module")
def release(release_cache):
    if not RELEASE.is_dir():
        pytest.skip(f"real HTNet release data not found at {RELEASE}")
    return load_htnet_release(str(RELEASE), cache_dir=release_cache)


@needs_release
def test_release_table_counts(release):
    table = release.samples
    assert release.name == "htnet-release" and release.source == f"htnet-release:{RELEASE.resolve()}"
    assert release.class_names == ("negative", "positive", "surprise")
    assert len(release) == 442 and table["sample"].is_unique
    assert table["subject_key"].nunique() == 68
    counts = table.groupby(["dataset", "label"]).size().unstack()[list(release.class_names)]
    assert counts.loc["smic"].tolist() == [70, 51, 43]
    assert counts.loc["casme2"].tolist() == [88, 32, 25]
    assert counts.loc["samm"].tolist() == [92, 26, 15]
    assert table.groupby("dataset")["subject"].nunique().to_dict() == {"smic": 16, "casme2": 24, "samm": 28}
    assert "samm/006" in set(table["subject_key"])  # subject ids stay text ("006", not 6)
    smic = table[table["dataset"] == "smic"].iloc[0]
    assert smic["flow_file"].endswith(" .png") and smic["face_file"] != smic["flow_file"].replace(" .png", ".jpg")


@needs_release
def test_release_flow_is_exactly_cv2_imread(release):
    flow = release.features("flow")
    assert flow.shape == (442, 3, 28, 28) and flow.dtype == np.float32
    assert flow.min() == 0 and flow.max() == 255  # raw values, no scaling
    for i in (0, 150, 300, 441):
        png = cv2.imread(str(RELEASE / FLOW_DIR / release.samples["flow_file"][i]))
        np.testing.assert_array_equal(flow[i], png.transpose(2, 0, 1).astype(np.float32))


@needs_release
def test_release_flow_channel_order_is_bgr(release):
    """The PNGs store (u, v, strain) as RGB; the models get BGR = (strain, v, u). Decode with PIL
    (RGB) independently of OpenCV to pin the order."""
    Image = pytest.importorskip("PIL.Image")
    flow = release.features("flow")
    for i in (3, 200):
        with Image.open(RELEASE / FLOW_DIR / release.samples["flow_file"][i]) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32).transpose(2, 0, 1)
        assert not np.array_equal(rgb[0], rgb[2])
        np.testing.assert_array_equal(flow[i], rgb[::-1])


@needs_release
def test_release_dlib_regions_and_landmarks(release, release_cache):
    start = time.perf_counter()
    regions = release.features("htnet-regions-dlib")
    seconds = time.perf_counter() - start
    report = landmark_report(release, "dlib")
    assert regions.shape == (442, 3, 28, 28) and regions.dtype == np.float32
    points = report[[f"{a}{k}" for k in range(5) for a in "xy"]].to_numpy().reshape(-1, 5, 2)
    np.testing.assert_array_equal(regions, clipped_windows(release.features("flow"), points))
    # sane faces: eyes above the nose above the mouth corners, left before right
    assert (points[:, [0, 1], 1].max(axis=1) < points[:, 2, 1]).all()
    assert (points[:, 2, 1] < points[:, [3, 4], 1].min(axis=1)).all()
    assert (points[:, 0, 0] < points[:, 1, 0]).all() and (points[:, 3, 0] < points[:, 4, 0]).all()
    rate = report["face_found"].mean()
    per_dataset = report.groupby("dataset")["face_found"].apply(lambda s: f"{s.sum()}/{len(s)}")
    print(f"dlib detection rate {rate:.1%} ({dict(per_dataset)}); landmark pass {seconds:.1f}s")
    assert rate > 0.85  # measured: 421/442 = 95.2% (CASME II 129/145, SAMM 129/133, SMIC 163/164)

    # a second load reuses the cached landmarks: dlib does not run again
    again = load_htnet_release(str(RELEASE), cache_dir=release_cache)
    np.testing.assert_array_equal(again.features("htnet-regions-dlib"), regions)
    assert again.feature_function.cache.computed == []
    assert again.fingerprint == release.fingerprint


PUBLISHED_LANDMARKS = REFERENCE / "htnet_release_published_landmarks.csv"


@needs_release
@pytest.mark.skipif(not PUBLISHED_LANDMARKS.is_file(), reason=f"{PUBLISHED_LANDMARKS} not found (../shared absent)")
def test_release_htnet_regions_use_exactly_the_published_landmarks(release):
    """All 442 apex faces: the published pipeline's MTCNN landmarks (facenet-pytorch 2.5.2 on CPU), raw and
    clipped, whether a face was found, and so the very windows HTNet was trained on."""
    reference = pd.read_csv(PUBLISHED_LANDMARKS)
    assert reference["imagename"].tolist() == release.samples["face_file"].tolist()
    report = landmark_report(release, "mtcnn")
    cols = [f"{a}{k}" for k in range(5) for a in "xy"]
    found = report["face_found"].to_numpy()
    assert (found == reference["detected"].astype(bool).to_numpy()).all()
    assert int((~found).sum()) == 172  # as the published pipeline: no face on 172 of 442
    # float32 MTCNN arithmetic on another torch build moves the points by ~1e-5 px (measured: 8e-6);
    # the windows depend only on the clipped integers, compared exactly below
    raw_diff = np.abs(report[cols].to_numpy() - reference[cols].to_numpy())
    assert raw_diff.max() < 1e-4, f"largest difference {raw_diff.max()} px"
    clipped = np.clip(report[cols].to_numpy(), 7, 21).astype(int)
    differ = release.samples["sample"][(clipped != reference[[c + "_clipped" for c in cols]].to_numpy()).any(axis=1)]
    assert differ.empty, f"clipped landmarks differ for {list(differ)}"
    points = reference[[c + "_clipped" for c in cols]].to_numpy().reshape(-1, 5, 2)
    np.testing.assert_array_equal(release.features("htnet-regions"), clipped_windows(release.features("flow"), points))


# ---------------------------------------------------------------------------- fake tree
FAKE_ROWS = [  # dataset, sub, filename_o, label, imagename
    ("smic", "s01", "s01_ne_01", "0", "s01_s1_ne_01.jpg"),
    ("casme2", "sub01", "EP02_01f", "1", "sub01_EP02_01f.jpg"),
    ("samm", "006", "006_1_2", "2", "006_006_1_2.jpg"),
]


def make_fake_release(root: Path, rows=FAKE_ROWS, *, drop_column: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    (root / FLOW_DIR).mkdir(parents=True)
    (root / FACE_DIR).mkdir()
    table = pd.DataFrame(rows, columns=["dataset", "sub", "filename_o", "label", "imagename"])
    table.insert(4, "apex", "")
    table["sub_filename"] = ""
    if drop_column:
        table = table.drop(columns=[drop_column])
    table.to_csv(root / CSV_NAME, index=False)
    for ds, sub, clip, _, face in rows:
        assert cv2.imwrite(str(root / FLOW_DIR / flow_file_name(sub, clip)), rng.integers(0, 256, (28, 28, 3), dtype=np.uint8))
        assert cv2.imwrite(str(root / FACE_DIR / face), rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
    return root


def test_fake_release_loads(tmp_path):
    root = make_fake_release(tmp_path / "release")
    data = load_htnet_release(str(root), cache_dir=tmp_path / "cache")
    assert data.samples["sample"].tolist() == ["smic/s01/s01_ne_01", "casme2/sub01/EP02_01f", "samm/006/006_1_2"]
    assert data.samples["label"].tolist() == ["negative", "positive", "surprise"]
    assert data.samples["flow_file"][0] == "s01_s01_ne_01 .png" and data.samples["face_file"][2] == "006_006_1_2.jpg"
    flow = data.features("flow")
    for i, name in enumerate(data.samples["flow_file"]):
        np.testing.assert_array_equal(flow[i], cv2.imread(str(root / FLOW_DIR / name)).transpose(2, 0, 1))


def test_fake_release_regions_fall_back_and_are_cached(tmp_path):
    root = make_fake_release(tmp_path / "release")
    data = load_htnet_release(str(root), cache_dir=tmp_path / "cache")
    regions = data.features("htnet-regions")
    report = landmark_report(data)
    assert not report["face_found"].any()  # noise has no face: the published fallback landmarks
    points = report[[f"{a}{k}" for k in range(5) for a in "xy"]].to_numpy().reshape(-1, 5, 2)
    np.testing.assert_array_equal(points, np.repeat(PUBLISHED_FALLBACK_LANDMARKS[None], 3, axis=0))
    np.testing.assert_array_equal(regions, clipped_windows(data.features("flow"), points))
    assert len(data.feature_function.cache.computed) == 1
    again = load_htnet_release(str(root), cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.features("htnet-regions"), regions)
    assert again.feature_function.cache.computed == []
    with pytest.raises(DataError, match="htnet-regions|representation"):
        data.features("nonsense")
    with pytest.raises(DataError, match="not loaded by htnet-release"):
        landmark_report(data.subset(np.array([True, False, True])))


def test_each_landmark_step_has_its_own_cache_entry(tmp_path):
    root = make_fake_release(tmp_path / "release")
    data = load_htnet_release(str(root), cache_dir=tmp_path / "cache")
    features = data.feature_function
    assert features.landmark_key("mtcnn") != features.landmark_key("dlib")
    published = landmark_report(data, "mtcnn")
    dlib = landmark_report(data, "dlib")
    computed = features.cache.computed
    assert len(computed) == 2 and computed[0].startswith("htnet-release/landmarks/mtcnn/")
    assert computed[1].startswith("htnet-release/landmarks/dlib/")
    cols = [f"{a}{k}" for k in range(5) for a in "xy"]
    assert not np.array_equal(published[cols].to_numpy(), dlib[cols].to_numpy())
    assert not np.array_equal(data.features("htnet-regions"), data.features("htnet-regions-dlib"))
    assert len(computed) == 2  # the regions reuse the cached landmarks of their own step


def test_methods_show_states_htnets_input_procedure():
    from typer.testing import CliRunner

    from mebench.cli import app

    shown = " ".join(CliRunner().invoke(app, ["methods", "show", "htnet"], env={"COLUMNS": "200"}).output.split())
    assert "whole_face_block_coordinates" in shown and "MTCNN" in shown and "main_HTNet.py" in shown


def test_missing_flow_and_face_named_in_one_error(tmp_path):
    root = make_fake_release(tmp_path / "release")
    (root / FLOW_DIR / "sub01_EP02_01f .png").unlink()
    (root / FACE_DIR / "006_006_1_2.jpg").unlink()
    with pytest.raises(DataError) as info:
        load_htnet_release(str(root), cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert "sub01_EP02_01f .png" in msg and "casme2/sub01/EP02_01f" in msg
    assert "006_006_1_2.jpg" in msg and "samm/006/006_1_2" in msg
    assert "2 problem" in msg and "smic" not in msg


def test_unreadable_and_misshapen_files_named(tmp_path):
    root = make_fake_release(tmp_path / "release")
    (root / FLOW_DIR / "s01_s01_ne_01 .png").write_bytes(b"not a png at all")
    cv2.imwrite(str(root / FLOW_DIR / "006_006_1_2 .png"), np.zeros((32, 32, 3), np.uint8))
    (root / FACE_DIR / "sub01_EP02_01f.jpg").write_bytes(b"\xff\xd8 garbage")
    with pytest.raises(DataError) as info:
        load_htnet_release(str(root), cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert "unreadable flow image" in msg and "s01_s01_ne_01 .png" in msg and "smic/s01/s01_ne_01" in msg
    assert "006_006_1_2 .png" in msg and "32x32 px" in msg
    assert "unreadable apex face image" in msg and "sub01_EP02_01f.jpg" in msg


def test_missing_folder_named(tmp_path):
    root = make_fake_release(tmp_path / "release")
    for f in (root / FACE_DIR).iterdir():
        f.unlink()
    (root / FACE_DIR).rmdir()
    with pytest.raises(DataError, match=f"missing folder .*{FACE_DIR}"):
        load_htnet_release(str(root), cache_dir=tmp_path / "cache")


def test_csv_lacking_a_column_named(tmp_path):
    root = make_fake_release(tmp_path / "release", drop_column="imagename")
    with pytest.raises(DataError, match=f"{CSV_NAME}.*lacks column.*imagename"):
        load_htnet_release(str(root), cache_dir=tmp_path / "cache")


def test_unknown_label_names_the_sample(tmp_path):
    rows = [*FAKE_ROWS[:2], ("samm", "006", "006_1_2", "7", "006_006_1_2.jpg")]
    root = make_fake_release(tmp_path / "release", rows)
    with pytest.raises(DataError, match=r"line 4 \(sample samm/006/006_1_2\): unknown label '7'"):
        load_htnet_release(str(root), cache_dir=tmp_path / "cache")


def test_bad_paths(tmp_path):
    with pytest.raises(ConfigError, match="htnet-release:PATH"):
        load_htnet_release(None)
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=f"{missing} does not exist"):
        load_htnet_release(str(missing), cache_dir=tmp_path / "cache")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is not a directory"):
        load_htnet_release(str(tmp_path / "file"), cache_dir=tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=f"{CSV_NAME} is missing"):
        load_htnet_release(str(tmp_path / "empty"), cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------------------- landmarks module
def test_apex_landmarks28_scales_the_five_points():
    image = np.random.default_rng(1).integers(0, 256, (60, 40, 3), dtype=np.uint8)
    points68, how = lm.detect_landmarks68(image)
    assert points68.shape == (68, 2) and how == "whole-image"
    five, how28 = lm.apex_landmarks28(image)
    assert how28 == how
    np.testing.assert_allclose(five, five_points_from_68(points68[None])[0] * [28 / 40, 28 / 60])
    gray_points, _ = lm.detect_landmarks68(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert gray_points.shape == (68, 2)


def test_missing_model_package_is_a_data_error(monkeypatch):
    monkeypatch.setattr(lm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="face_recognition_models"):
        lm.shape_predictor_path()
