"""The raw pipeline: known motions through every stage, per-stage caching, bad frames, parallel
work, the face fallback, apex choice, and the face stage on the real apex faces of the release."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mebench.cache import ArrayCache
from mebench.datasets.raw.pipeline import Pipeline, PipelineConfig, RawFeatures, compute_all
from mebench.datasets.raw.records import ClipRecord
from mebench.datasets.raw.stages import truncation
from mebench.datasets.synthetic import SyntheticConfig, render_sample
from mebench.errors import DataError
from mebench.features.flow import FlowParams, optical_strain
from tests.conftest import RELEASE, needs_release

CONFIG = PipelineConfig(face_size=64)
BASE = render_sample(SyntheticConfig(image_size=96), 0)[0]  # a textured synthetic face, 96x96 gray


def stages_grid(pipe, rec):
    """The five HTNet landmarks of a clip on the 28x28 grid, computed directly from its dlib landmarks."""
    from mebench.datasets.raw.stages import grid_landmarks

    return grid_landmarks(pipe.landmarks(rec)[0], pipe.transform(rec), pipe.config.face_size)


def shift(img, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, img.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def zoom(img, factor):
    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0, factor)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def bump(img, x0, y0, dx, dy, sigma=6.0):
    """apex(q) = onset(q - d(q)), d a Gaussian bump of peak (dx, dy) at (x0, y0): a local motion."""
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float32)
    g = np.exp(-0.5 * ((xx - x0) ** 2 + (yy - y0) ** 2) / sigma**2)
    return cv2.remap(img, xx - dx * g, yy - dy * g, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def clip(folder: Path, frames: dict[int, np.ndarray], *, apex: int | None = None, name: str | None = None) -> ClipRecord:
    folder.mkdir(parents=True, exist_ok=True)
    listed = []
    for n, img in sorted(frames.items()):
        path = folder / f"img{n}.png"
        assert cv2.imwrite(str(path), img)
        listed.append((n, path))
    numbers = sorted(frames)
    return ClipRecord("casme2", "sub01", name or folder.name, "happiness", folder, numbers[0], apex, numbers[-1],
                      tuple(listed))


def namespaces(cache: ArrayCache) -> Counter:
    return Counter(k.split("/")[1] for k in cache.computed)


# ---------------------------------------------------------------------------- known motions
def test_translation_has_the_right_flow_and_no_strain(tmp_path):
    rec = clip(tmp_path / "t", {1: BASE, 2: shift(BASE, 1.5, -1.0)}, apex=2)
    pipe = Pipeline(CONFIG, ArrayCache(tmp_path / "cache"))
    flow = pipe.flow(rec)
    assert flow.shape == (64, 64, 2) and flow.dtype == np.float32
    # the face crop maps frame px to crop px: the expected flow is the motion through that transform
    matrix = pipe.transform(rec)
    expected = matrix[:, :2] @ np.array([1.5, -1.0])
    inner = flow[8:-8, 8:-8].reshape(-1, 2)
    median = np.median(inner, axis=0)
    assert np.linalg.norm(median - expected) < 0.12 * np.linalg.norm(expected), (median, expected)
    assert median @ expected / (np.linalg.norm(median) * np.linalg.norm(expected)) > 0.995
    strain = optical_strain(flow[..., 0], flow[..., 1])[8:-8, 8:-8]
    assert strain.mean() < 0.02 and np.median(strain) < 0.015
    # a 3% zoom, by contrast, has strain sqrt(0.03^2 + 0.03^2) = 0.042 everywhere
    zoomed = clip(tmp_path / "z", {1: BASE, 2: zoom(BASE, 1.03)}, apex=2)
    z = pipe.flow(zoomed)
    assert 0.03 < optical_strain(z[..., 0], z[..., 1])[8:-8, 8:-8].mean() < 0.055


def test_local_upward_motion_through_every_stage(tmp_path):
    x0, y0 = 36.0, 30.0  # the left brow of the synthetic face
    rec = clip(tmp_path / "b", {1: BASE, 2: bump(BASE, x0, y0, 0.0, -1.5, sigma=8.0)}, apex=2)
    pipe = Pipeline(CONFIG, ArrayCache(tmp_path / "cache"))
    flow = pipe.flow(rec)
    matrix = pipe.transform(rec)
    cx, cy = np.rint(matrix[:, :2] @ [x0, y0] + matrix[:, 2]).astype(int)
    scale = np.linalg.norm(matrix[:, 0])
    u, v = flow[cy - 1:cy + 2, cx - 1:cx + 2, 0].mean(), flow[cy - 1:cy + 2, cx - 1:cx + 2, 1].mean()
    # upwards, about 1.5 px at the bump (TV-L1's smoothing takes off some 20% of so local a motion)
    assert -1.2 * 1.5 * scale < v < -0.7 * 1.5 * scale and abs(u) < 0.3 * abs(v)
    assert np.percentile(np.abs(flow[-10:, :]), 95) < 0.15 * abs(v)  # still far from it (the chin)
    # image: (strain, v, u) each min-max 0-255; the most negative v (the bump) is darkest in channel 1
    image = pipe.image(rec)
    assert image.shape == (3, 28, 28) and image.min() >= 0 and image.max() <= 255
    gx, gy = int(cx * 28 / 64), int(cy * 28 / 64)
    assert image[1, gy - 1:gy + 2, gx - 1:gx + 2].min() < 40 and np.median(image[1]) > 150
    points = pipe.points(rec)
    assert points.shape == (6, 2) and points[5, 0] == 1.0  # five landmarks, then "a face was found"
    np.testing.assert_allclose(points[:5], stages_grid(pipe, rec))


def test_farneback_option_agrees_on_the_direction(tmp_path):
    rec = clip(tmp_path / "t", {1: BASE, 2: shift(BASE, 1.0, 1.0)}, apex=2)
    tvl1 = Pipeline(CONFIG, ArrayCache(tmp_path / "cache")).flow(rec)[8:-8, 8:-8].reshape(-1, 2).mean(axis=0)
    fb = Pipeline(PipelineConfig(face_size=64, flow="farneback"), ArrayCache(tmp_path / "cache")).flow(rec)
    fb = fb[8:-8, 8:-8].reshape(-1, 2).mean(axis=0)
    assert fb @ tvl1 / (np.linalg.norm(fb) * np.linalg.norm(tvl1)) > 0.98 and 0.7 < np.linalg.norm(fb) / np.linalg.norm(tvl1) < 1.3


# ---------------------------------------------------------------------------- caching
def test_second_run_computes_nothing_and_a_parameter_recomputes_only_its_dependants(tmp_path):
    recs = [clip(tmp_path / f"c{i}", {1: BASE, 2: shift(BASE, 0.5 * i, 0.5)}, apex=2) for i in range(2)]
    root = tmp_path / "cache"

    def run(config):
        cache = ArrayCache(root)
        compute_all(recs, config, cache, ("image", "points"), workers=1)
        return namespaces(cache)

    assert run(CONFIG) == {"landmarks": 2, "flow": 2, "image": 2, "points": 2}
    assert run(CONFIG) == {}  # everything cached
    tau = PipelineConfig(face_size=64, tvl1=FlowParams(tau=0.2))
    assert run(tau) == {"flow": 2, "image": 2}  # not the landmarks, nor the points
    assert run(PipelineConfig(face_size=64, channels="u-v-magnitude")) == {"image": 2}
    assert run(PipelineConfig(face_size=48)) == {"flow": 2, "image": 2, "points": 2}
    assert run(PipelineConfig(face_size=64, tvl1=FlowParams(size=56))) == {}  # FlowParams.size is not the pipeline's
    # a changed file recomputes what reads it: the apex of clip 0 -> its flow and after, not its landmarks
    apex_file = recs[0].frame_path(2)
    st = os.stat(apex_file)
    os.utime(apex_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert run(CONFIG) == {"flow": 1, "image": 1}


def test_a_corrupt_frame_is_named_and_the_cache_is_kept(tmp_path):
    recs = [clip(tmp_path / f"c{i}", {1: BASE, 2: shift(BASE, 0.5, 0.5 * i)}, apex=2) for i in range(3)]
    bad = recs[1].frame_path(2)
    good_bytes = bad.read_bytes()
    bad.write_bytes(good_bytes[: len(good_bytes) // 2])  # truncated PNG
    cache = ArrayCache(tmp_path / "cache")
    with pytest.raises(DataError, match=rf"unreadable image {bad} \(sample casme2/sub01/c1\): truncated PNG"):
        compute_all(recs, CONFIG, cache, "image", workers=1)
    pipe = Pipeline(CONFIG, cache)
    assert pipe.is_cached("image", recs[0]) and not pipe.is_cached("flow", recs[1])
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    bad.write_bytes(good_bytes)
    again = ArrayCache(tmp_path / "cache")
    compute_all(recs, CONFIG, again, "image", workers=1)
    assert namespaces(again)["flow"] == 2  # clip 0 was kept


def test_truncation_checks():
    ok, jpg = cv2.imencode(".jpg", BASE)
    data = jpg.tobytes()
    assert truncation(data, ".jpg") is None
    assert "truncated JPEG" in truncation(data[: len(data) - 200], ".JPG")
    assert "not a JPEG" in truncation(b"GIF89a", ".jpg")
    _, bmp = cv2.imencode(".bmp", BASE)
    assert truncation(bmp.tobytes(), ".bmp") is None and "truncated BMP" in truncation(bmp.tobytes()[:-10], ".bmp")
    assert truncation(b"", ".png") == "empty file"


def test_parallel_equals_serial(tmp_path):
    recs = [clip(tmp_path / f"c{i}", {1: BASE, 2: shift(BASE, 0.2 * i, -0.3)}, apex=2) for i in range(8)]
    serial, parallel = ArrayCache(tmp_path / "serial"), ArrayCache(tmp_path / "parallel")
    done = []
    compute_all(recs, CONFIG, serial, ("image", "points"), workers=1)
    pipe = compute_all(recs, CONFIG, parallel, ("image", "points"), workers=2,
                       progress=lambda d, t, s: done.append((d, t)))
    assert namespaces(parallel) == {"landmarks": 8, "flow": 8, "image": 8, "points": 8}  # reported by the workers
    assert done[-1] == (8, 8) and pipe.counts["flow"] == 8 and pipe.timings["flow"] > 0
    a, b = Pipeline(CONFIG, serial), Pipeline(CONFIG, parallel)
    for rec in recs:
        np.testing.assert_allclose(a.image(rec), b.image(rec), atol=1e-3)
        np.testing.assert_array_equal(a.points(rec), b.points(rec))


# ---------------------------------------------------------------------------- fallback and apex
def test_no_face_uses_the_centred_square_and_warns(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (60, 80), dtype=np.uint8)
    rec = clip(tmp_path / "n", {1: noise, 2: shift(noise, 1.0, 0.0)}, apex=2)
    features = RawFeatures([rec], CONFIG, ArrayCache(tmp_path / "cache"), workers=1)
    with pytest.warns(UserWarning, match=r"1 of 1 clips: no face found by dlib on the onset frame \(casme2/sub01/n\)"):
        flow = features("flow-image")
    assert flow.shape == (1, 3, 28, 28) and features.face_methods() == ["whole-image"]
    s = 64 / 60  # the 60x60 centre square, scaled to 64 px, no rotation
    np.testing.assert_allclose(features.pipeline.transform(rec), [[s, 0, -10 * s], [0, s, 0]])


def test_apex_midpoint_or_largest_flow(tmp_path):
    amounts = {10: 0.0, 11: 0.6, 12: 1.6, 13: 0.9, 14: 0.5, 15: 0.3, 16: 0.2, 17: 0.1, 18: 0.0}
    rec = clip(tmp_path / "a", {n: shift(BASE, a, 0.0) for n, a in amounts.items()})
    cache = ArrayCache(tmp_path / "cache")
    assert Pipeline(CONFIG, cache).apex(rec) == (14, "midpoint")
    spotted = Pipeline(PipelineConfig(face_size=64, apex="max-flow"), cache)
    assert spotted.apex(rec) == (12, "max-flow")
    assert spotted.flow_key(rec) != Pipeline(CONFIG, cache).flow_key(rec)
    spotted.flow(rec)
    assert namespaces(cache)["apex"] == 1
    rec.apex = 13  # an annotated apex is used as it is
    assert spotted.apex(rec) == (13, "annotated")


def test_config_from_text():
    c = PipelineConfig.from_text("flow=farneback, apex=max-flow,face_size=160,tvl1.tau=0.2,align=false")
    assert (c.flow, c.apex, c.face_size, c.tvl1.tau, c.align) == ("farneback", "max-flow", 160, 0.2, False)
    from mebench.errors import ConfigError

    for bad in ("flow=lk", "nonsense=1", "face_size=big", "tvl1", "size.x=1"):
        with pytest.raises(ConfigError):
            PipelineConfig.from_text(bad)


# ---------------------------------------------------------------------------- real faces
@needs_release
def test_face_stage_on_the_real_apex_faces(tmp_path):
    """The pipeline's face stage (dlib on the frame, alignment, crop) on 30 real apex faces per
    dataset of ../shared/data/htnet-release; the full 442-face detection rate of dlib itself is
    measured in tests/test_htnet_release.py (421/442)."""
    table = pd.read_csv(RELEASE / "combined_3_class2_for_optical_flow.csv", dtype=str, keep_default_na=False)
    picked = table.groupby("dataset").head(30)
    pipe = Pipeline(PipelineConfig(), ArrayCache(tmp_path / "cache"))
    methods = {}
    for row in picked.itertuples():
        path = RELEASE / "combined_datasets_whole" / row.imagename
        rec = ClipRecord(row.dataset, row.sub, row.filename_o, row.label, path.parent, 1, 1, 1, ((1, path),))
        points, how, _ = pipe.landmarks(rec)
        methods[rec.sample] = how
        if how != "detected":
            continue
        matrix = pipe.transform(rec)
        moved = points @ matrix[:, :2].T + matrix[:, 2]
        left, right = moved[36:42].mean(axis=0), moved[42:48].mean(axis=0)
        assert abs(left[1] - right[1]) < 0.5 and left[0] < right[0]  # eyes level after alignment
        assert (moved[:, 0] > -2).all() and (moved[:, 0] < 130).all()  # the landmarks inside the 128 px crop
        from mebench.datasets.raw.stages import grid_landmarks

        five = grid_landmarks(points, matrix, 128)
        assert five[:2, 1].max() < five[2, 1] < five[3:, 1].min()  # eyes above the nose above the mouth
    rate = np.mean([m == "detected" for m in methods.values()])
    per = pd.Series(methods).groupby(lambda s: s.split("/")[0]).apply(lambda s: f"{(s == 'detected').sum()}/{len(s)}")
    print(f"pipeline face stage on real apex faces: detection rate {rate:.0%} ({dict(per)})")
    assert rate >= 0.8
