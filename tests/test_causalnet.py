"""CausalNet (ICCV 2025) and its data: logit parity with the published Models.py, the causalnet-release
loader, its input against the published crops, conformance, refusal on data without the direction maps,
the published per-subject selection (oracle-stop) and the declared grid. Real-data tests skip without
../shared; the loader's error handling runs on a fake release built in tmp_path."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

import mebench
from mebench import plugins
from mebench.checks import check_dataset, check_info, check_method
from mebench.datasets.causalnet_release import load_causalnet_release
from mebench.errors import ConfigError, DataError
from mebench.selection import EpochRecord, EpochSelection, derive, is_leaky, oracle_selection
from tests.conftest import REFERENCE, RELEASE, SHARED, needs_reference, needs_release

CAUSALNET = SHARED / "data" / "causalnet-release"
needs_causalnet = pytest.mark.skipif(not CAUSALNET.is_dir(), reason=f"CausalNet release not found at {CAUSALNET} "
                                     "(../shared absent)")
FLOWS = "STSNet_whole_norm_u_v_os"
SUFFIXES = ("", "_1", "_2", "_3")  # onset-apex flow, apex-offset flow, onset-apex and apex-offset direction


def method():
    return plugins.methods.get("causalnet")


# ---------------------------------------------------------------------------- parity
def reference_state(ref):
    """The reference README's rule: each tensor generated from its key; the buffers as stored."""
    state = {}
    for key, shape in ref["keys"]:
        if key in ref["buffers"]:
            state[key] = ref["buffers"][key]
            continue
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        state[key] = torch.randn(tuple(shape), generator=g, dtype=torch.float32) * 0.02
    return state


@needs_reference
@pytest.mark.parametrize("name,count", [("causalnet_official_small", 53_308_937),
                                        ("causalnet_official_paper", 276_590_089)])
def test_logits_equal_the_published_implementation(name, count):
    ref = torch.load(REFERENCE / f"{name}.pt", weights_only=True)
    model = mebench.load_published("causalnet", reference_state(ref), **ref["config"])
    assert not model.training
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == [(k, tuple(s)) for k, s in ref["keys"]]
    assert sum(p.numel() for p in model.parameters()) == count
    assert sorted(k for k, _ in model.named_parameters()) == sorted(ref["parameters"])
    fresh = method()(**{**ref["config"], "block_repeats": tuple(ref["config"]["block_repeats"])}).build_network()
    for key, value in ref["buffers"].items():  # the masks as the published constructor builds them from gamma
        assert torch.equal(fresh.state_dict()[key], value), key
    with torch.no_grad():
        logits = model(ref["input"].float())
    torch.testing.assert_close(logits, ref["logits"], atol=1e-5, rtol=0)


def test_a_small_width_is_the_same_architecture():
    cls = method()
    small = cls(dim=16, heads=2, block_repeats=(1, 1, 2)).build_network()
    wide = cls(dim=256, heads=3, block_repeats=(1, 1, 2)).build_network()
    assert list(small.state_dict()) == list(wide.state_dict())
    assert small.width == 16 and wide.width == 256  # the cross-attention width follows dim
    assert small.mlp_head[0].in_features == 12 * 16 and wide.mlp_head[0].in_features == 1536 * 2
    assert wide.mlp_head[0].out_features == 2048 and len(small.CrossAttention.layers) == 2  # depth: last repeat
    out = small(torch.rand(5, 4, 3, 28, 28) * 255)
    assert out.shape == (5, 3)
    with pytest.raises(ValueError, match="multiple of 8"):
        cls(dim=12).build_network()


# ---------------------------------------------------------------------------- data (real)
@pytest.fixture(scope="module")
def release():
    if not CAUSALNET.is_dir():
        pytest.skip(f"CausalNet release not found at {CAUSALNET}")
    return load_causalnet_release(str(CAUSALNET))


@needs_causalnet
def test_release_samples_keys_and_labels_equal_htnet_release(release):
    from mebench.datasets.htnet_release import load_htnet_release

    table = release.samples
    assert release.name == "causalnet-release" and len(release) == 442 and table["sample"].is_unique
    assert table["subject_key"].nunique() == 68
    assert table.loc[0, "sample"].count("/") == 2  # dataset/subject/clip
    if RELEASE.is_dir():
        htnet = load_htnet_release(str(RELEASE)).samples
        assert table["sample"].tolist() == htnet["sample"].tolist()
        assert table["label"].tolist() == htnet["label"].tolist()
    counts = table.groupby(["dataset", "label"]).size().unstack()[list(release.class_names)]
    assert counts.loc["smic"].tolist() == [70, 51, 43] and counts.loc["samm"].tolist() == [92, 26, 15]
    for name in ("flow-image", "flow-image:apex-offset", "direction-map:onset-apex", "direction-map:apex-offset"):
        image = release.primitive(name)
        assert image.shape == (442, 3, 28, 28) and image.dtype == np.float32 and image.max() <= 255
    # the onset-to-apex map is CausalNet's own, not the HTNet release's image (README: 22 grey levels apart)
    if RELEASE.is_dir():
        htnet_flow = load_htnet_release(str(RELEASE)).primitive("flow-image")
        assert np.abs(release.primitive("flow-image") - htnet_flow).mean() > 5


def published_crops(root, samples: pd.DataFrame) -> np.ndarray:
    """main_train.py written out directly: cv2.imread, the fixed template clipped to [7, 21] and cast to int,
    window [p0 - 7: p0 + 7, p1 - 7: p1 + 7] (x picks the rows), [point 0 | point 1] over [point 3 | point 4],
    the four maps stacked, (N, 4, 28, 28, 3) permuted to (N, 4, 3, 28, 28)."""
    template = np.array([[9.528073, 11.062551], [21.396168, 10.919773], [15.380184, 17.380562],
                         [10.255435, 22.121233], [20.583706, 22.25584]])
    template[template < 7] = 7
    template[template > 21] = 21
    p = template.astype(int)
    out = []
    for sample, subject in zip(samples["sample"], samples["subject"]):
        clip = sample.split("/", 2)[2]
        maps = []
        for suffix in SUFFIXES:
            img = cv2.imread(str(root / FLOWS / f"{subject}_{clip}{suffix} .png"))
            win = [img[p[k][0] - 7:p[k][0] + 7, p[k][1] - 7:p[k][1] + 7] for k in range(5)]
            maps.append(cv2.vconcat([cv2.hconcat([win[0], win[1]]), cv2.hconcat([win[3], win[4]])]))
        out.append(maps)
    return torch.Tensor(np.array(out)).permute(0, 1, 4, 2, 3).numpy()


@needs_causalnet
def test_input_equals_the_published_crops_for_every_clip(release):
    X = release.features("causalnet-regions")
    assert X.shape == (442, 4, 3, 28, 28) and X.dtype == np.float32
    np.testing.assert_array_equal(X, published_crops(CAUSALNET, release.samples))
    assert release.features("flow").shape == (442, 3, 28, 28)  # every flow method runs on it too


@needs_causalnet
def test_release_conforms():
    check_dataset(plugins.datasets.get("causalnet-release"), str(CAUSALNET))


@needs_causalnet
def test_release_has_no_landmarks(release):
    with pytest.raises(DataError, match="no landmarks"):
        release.features("htnet-regions")


# ---------------------------------------------------------------------------- data (fake tree)
CSV_HEADER = "dataset,sub,filename_o,label,apex,imagename,sub_filename\n"
FAKE_ROWS = [("casme2", "sub01", "EP02_01f", 0), ("casme2", "sub02", "EP09_01", 1), ("samm", "006", "006_1_2", 2),
             ("smic", "s01", "s01_ne_01", 0)]


@pytest.fixture
def fake_release(tmp_path):
    """A release tree of four clips with random maps (real files copied when ../shared has them)."""
    root = tmp_path / "causalnet-release"
    (root / FLOWS).mkdir(parents=True)
    lines = [f"{d},{s},{f},{lab},,{s}_{f}.jpg,\n" for d, s, f, lab in FAKE_ROWS]
    (root / "combined_3_class2_for_optical_flow.csv").write_text(CSV_HEADER + "".join(lines))
    rng = np.random.default_rng(0)
    for _, sub, clip, _ in FAKE_ROWS:
        for suffix in SUFFIXES:
            cv2.imwrite(str(root / FLOWS / f"{sub}_{clip}{suffix} .png"), rng.integers(0, 256, (28, 28, 3), np.uint8))
    return root


def test_fake_release_loads_and_conforms(fake_release):
    ds = load_causalnet_release(str(fake_release))
    assert ds.samples["sample"].tolist() == ["casme2/sub01/EP02_01f", "casme2/sub02/EP09_01", "samm/006/006_1_2",
                                             "smic/s01/s01_ne_01"]
    assert ds.samples["label"].tolist() == ["negative", "positive", "surprise", "negative"]
    second = cv2.imread(str(fake_release / FLOWS / "sub02_EP09_01_2 .png"))
    np.testing.assert_array_equal(ds.primitive("direction-map:onset-apex")[1], second.transpose(2, 0, 1))
    check_dataset(load_causalnet_release, str(fake_release))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_fingerprint_covers_every_map_file(fake_release, suffix):
    before = load_causalnet_release(str(fake_release)).fingerprint
    file = fake_release / FLOWS / f"006_006_1_2{suffix} .png"
    img = cv2.imread(str(file))
    img[5, 5, 1] ^= 1  # one grey level of one pixel
    cv2.imwrite(str(file), img)
    assert load_causalnet_release(str(fake_release)).fingerprint != before


def test_fingerprint_covers_the_csv(fake_release):
    before = load_causalnet_release(str(fake_release)).fingerprint
    csv = fake_release / "combined_3_class2_for_optical_flow.csv"
    csv.write_text(csv.read_text().replace("s01_s01_ne_01.jpg", "other.jpg"))  # a column no input reads
    assert load_causalnet_release(str(fake_release)).fingerprint != before


def test_loading_errors_name_the_file_and_sample(fake_release):
    (fake_release / FLOWS / "sub01_EP02_01f_3 .png").unlink()
    (fake_release / FLOWS / "s01_s01_ne_01_1 .png").write_bytes(b"")
    cv2.imwrite(str(fake_release / FLOWS / "006_006_1_2 .png"), np.zeros((28, 28), np.uint8))
    with pytest.raises(DataError) as err:
        load_causalnet_release(str(fake_release))
    text = str(err.value)
    assert "3 problem(s)" in text
    assert "missing apex-to-offset direction map" in text and "sub01_EP02_01f_3 .png (sample casme2/sub01/EP02_01f)" in text
    assert "s01_s01_ne_01_1 .png (sample smic/s01/s01_ne_01): empty file" in text
    assert "006_006_1_2 .png (sample samm/006/006_1_2): shape (28, 28)" in text
    with pytest.raises(ConfigError, match="causalnet-release:PATH needs a path"):
        load_causalnet_release(None)


# ---------------------------------------------------------------------------- conformance
def test_method_conforms():
    check_method(method())


def test_paper_preset_is_the_published_configuration():
    assert dict(method().info.presets["paper"]) == dict(
        image_size=28, patch_size=7, dim=256, heads=3, num_hierarchies=3, block_repeats=(3, 3, 9), gamma=0.5,
        epochs=200, lr=5e-5, batch_size=1024, shuffle=False)  # main_train.py (its DataLoader does not shuffle)
    quick = method().from_preset("quick")
    assert quick.dim < 256 and quick.epochs < 200  # a cheap configuration, labelled [quick] in every table


def test_search_space_is_the_published_grid():
    space = method().info.search_space
    assert space["gamma"] == (0.3, 0.4, 0.5)
    expected = {(a, b, c) for a in (3, 2) for b in (3, 2) for c in (7, 8, 9, 10)} - {(2, 2, c) for c in (7, 8, 9, 10)}
    assert set(space["block_repeats"]) == expected and len(space["block_repeats"]) == 12
    assert method().info.presets["paper"]["block_repeats"] in space["block_repeats"]
    assert method().info.presets["paper"]["gamma"] in space["gamma"]


def test_check_info_validates_the_search_space():
    from dataclasses import replace

    cls = method()
    for broken in ({"gama": (0.3,)}, {"gamma": ("high",)}, {"gamma": ()}, {"block_repeats": ((3, "x", 9),)}):
        bad = type("Broken", (cls,), {"info": replace(cls.info, search_space=broken)})
        with pytest.raises(AssertionError, match="search_space"):
            check_info(bad)


def test_methods_show_states_input_template_selection_tuning_and_differences():
    from typer.testing import CliRunner

    from mebench.cli import app

    result = CliRunner().invoke(app, ["methods", "show", "causalnet"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for phrase in ("input: causalnet-regions", "fixed template", "9.528073", "published selection:", "oracle-stop",
                   "published tuning:", "main_train_for_parameter_tuning.py", "differences from the published code:",
                   "search space (36 configurations)", "gamma in {0.3, 0.4, 0.5}", "(3, 3, 9)",
                   "not the code that computed them"):
        assert phrase in text, phrase


# ---------------------------------------------------------------------------- refusals
def test_run_on_synthetic_is_refused_before_training(tmp_path):
    with pytest.raises(DataError, match=r"(?s)direction map.*causalnet-release.*not the code that computed them"):
        mebench.run(["causalnet"], protocol="loso", preset="quick", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run folder (and any cell) was made


@needs_release
def test_htnet_release_lacks_the_maps():
    from mebench.datasets.htnet_release import load_htnet_release

    with pytest.raises(DataError, match="cannot compute them from raw frames"):
        load_htnet_release(str(RELEASE)).features("causalnet-regions")


def test_raw_data_is_refused_with_the_reason(tmp_path):
    from tests.raw_fixtures import write_casme2

    write_casme2(tmp_path / "CASME2")
    from mebench.plan import load_dataset

    dataset = load_dataset(f"casme2:{tmp_path / 'CASME2'}", tmp_path / "cache")
    with pytest.raises(DataError, match="code that computed them.*cannot compute them from raw frames"):
        dataset.features("causalnet-regions")
    assert not any((tmp_path / "cache").rglob("*.npy"))  # refused before any flow was computed


# ---------------------------------------------------------------------------- oracle-stop
def published_stop_rule(correct: np.ndarray) -> int | None:
    """main_train.py's loop for one subject: `best < acc` keeps a new best, `acc >= 1` stops. The 1-based
    epoch kept, or None when nothing was ever kept (accuracy 0 throughout)."""
    best, kept = 0, None
    for epoch, row in enumerate(correct, start=1):
        acc = row.mean()
        if best < acc:
            best, kept = acc, epoch
        if acc >= 1:
            break
    return kept


def test_oracle_stop_on_a_hand_made_record():
    # two test subjects A (3 samples, classes 0 1 2) and B (2 samples, classes 1 1); five epochs
    y = np.array([0, 1, 2, 1, 1])
    subjects = np.array(["A", "A", "A", "B", "B"])
    pred = np.array([[0, 0, 0, 0, 0],   # A 1/3, B 0
                     [0, 1, 0, 1, 0],   # A 2/3, B 1/2
                     [0, 1, 2, 0, 0],   # A 1 (first 100%), B 0
                     [0, 1, 2, 1, 1],   # A 1, B 1 (first 100%)
                     [0, 0, 2, 1, 1]])  # A 2/3, B 1
    record = EpochRecord(np.zeros((5, 5, 3), np.float16), pred.astype(np.uint8))
    chosen, epochs = derive("oracle-stop", record, y, subjects)
    assert epochs.tolist() == [3, 3, 3, 4, 4]  # computed by hand: the first epoch at 100%
    assert chosen.tolist() == [0, 1, 2, 1, 1]
    _, oracle_epochs = derive("oracle", record, y, subjects)
    assert oracle_epochs.tolist() == [4, 4, 4, 5, 5]  # HTNet's rule: the last best epoch
    # no epoch at 100%: the first epoch of the best accuracy (A: 2/3 at epochs 2 and 4)
    pred2 = pred.copy()
    pred2[2:, 2] = 0
    record2 = EpochRecord(np.zeros((5, 5, 3), np.float16), pred2.astype(np.uint8))
    assert derive("oracle-stop", record2, y, subjects)[1][:3].tolist() == [2, 2, 2]
    assert is_leaky("oracle-stop") and is_leaky("oracle") and not is_leaky("final")


def test_oracle_stop_matches_the_published_loop_by_brute_force():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(400):
        n_epochs, n = int(rng.integers(1, 9)), int(rng.integers(1, 5))
        y = rng.integers(0, 3, n)
        pred = rng.integers(0, 3, (n_epochs, n))
        if rng.random() < 0.3:
            pred[rng.integers(0, n_epochs)] = y  # a 100% epoch now and then
        record = EpochRecord(np.zeros((n_epochs, n, 3), np.float16), pred.astype(np.uint8))
        _, epochs, chosen = oracle_selection(record, y, np.array(["s"] * n), ties="first")
        published = published_stop_rule(pred == y[None, :])
        assert chosen["s"] == (published if published is not None else 1)  # none kept: mebench keeps epoch 1
        checked += published is not None
    assert checked > 200


def test_oracle_stop_is_read_off_the_one_training(tmp_path, tiny_data):
    from reports.results import load_run
    from tests.plugin_fixtures import ScriptedEpochs

    plugins.register_method(ScriptedEpochs)
    try:
        mebench.run(["scripted"], protocol="loso", data=[tiny_data], epoch_selection=["final", "oracle", "oracle-stop"],
                    out=tmp_path)
    finally:
        plugins.methods.unregister("scripted")
    results = load_run(tmp_path)
    preds = results.preds
    assert set(results.cells["training"]) == {"full"}  # one training for the three selections
    stop, oracle = preds[preds["epoch_selection"] == "oracle-stop"], preds[preds["epoch_selection"] == "oracle"]
    # every tiny subject has two clips of each class and the script predicts one class per epoch: accuracy
    # 1/3 at every epoch, so the first best epoch is 1 and the last is 5
    assert (stop["epoch"] == 1).all() and (oracle["epoch"] == 5).all()
    assert stop["leaky"].all() and oracle["leaky"].all() and not preds.loc[preds["epoch_selection"] == "final", "leaky"].any()
    assert EpochSelection("final,oracle-stop").records_epochs()
    with pytest.raises(ConfigError, match="oracle-stop"):
        EpochSelection("oracle-first")
