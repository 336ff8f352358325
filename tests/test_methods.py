"""Built-in methods: published presets, parameter refusals, Bi-WOOF's features (every registered method's
conformance is checked in test_conformance.py)."""

import numpy as np
import pytest

from mebench import plugins
from mebench.checks import check_method, method_checks
from mebench.errors import ConfigError, ConformanceError
from mebench.method import Method, MethodInfo

# Trained with STSTNet's published settings: STSTNet itself and HTNet with its variants.
STSTNET_TRAINING = ["htnet", "htnet-corrected", "htnet-dlib", "htnet-casme3", "htnet-template", "ststnet"]


def test_presets_hold_the_published_settings():
    htnet = plugins.methods.get("htnet").info.presets["paper"]
    assert (htnet["image_size"], htnet["patch_size"], htnet["dim"], htnet["heads"], htnet["num_hierarchies"]) == (28, 7, 256, 3, 3)
    assert tuple(htnet["block_repeats"]) == (2, 2, 10)
    for name in STSTNET_TRAINING:
        paper = plugins.methods.get(name).info.presets["paper"]
        assert (paper["lr"], paper["batch_size"], paper["epochs"]) == (5e-5, 256, 800)
    assert plugins.methods.get("htnet").info.input == "htnet-regions"
    assert plugins.methods.get("ststnet").info.input == "flow"


def test_from_preset_rejects_unknown_parameters_and_presets():
    cls = plugins.methods.get("ststnet")
    with pytest.raises(ConfigError, match="no preset 'fast'"):
        cls.from_preset("fast")
    with pytest.raises(ConfigError, match="no parameter 'epochz'"):
        cls.from_preset("quick", epochz=3)


class _Sloppy(Method):
    """Breaks the contract: builds state in the constructor and ignores num_classes."""

    info = MethodInfo(name="sloppy", summary="x", input="flow", citation="x", presets={"paper": {}, "quick": {}})

    def __init__(self, *, num_classes: int = 3, seed: int = 0):
        self.num_classes, self.seed = num_classes, seed
        self.model_ = object()

    def fit(self, X, y, *, epoch_callback=None):
        self.k_ = int(y.max()) + 1
        return self

    def predict_proba(self, X):
        return np.full((len(X), self.k_), 1.0 / self.k_)


def test_conformance_checks_catch_a_broken_method():
    with pytest.raises(ConformanceError, match="check_constructor_only_stores"):
        check_method(_Sloppy)
    checks = {c.__name__: c for c in method_checks(_Sloppy)}
    with pytest.raises(ConformanceError, match="num_classes columns"):
        checks["check_absent_class"]()


def test_biwoof_features_weight_orientations_by_magnitude_and_blocks_by_strain():
    from mebench.methods.biwoof import biwoof_features

    X = np.zeros((1, 3, 28, 28), np.float32)
    X[0, 1] = 100.0  # v, the still face at 100
    X[0, 2] = 100.0  # u
    X[0, 2, :12, :12] = 150.0  # inside the top-left block (rows and columns 0-14) only: moves right (+u), orientation 0
    X[0, 0, :12, :12] = 255.0  # and strains; the rest of the face is still (strain 0)
    f = biwoof_features(X, blocks=2, bins=8).reshape(2, 2, 8)
    assert f[0, 0, 0] > 0 and np.count_nonzero(f) == 1  # one block, one bin: right, magnitude x strain
    flipped = X.copy()
    flipped[0, 2, :12, :12] = 50.0  # moving left instead: orientation pi
    assert biwoof_features(flipped, 2, 8).reshape(2, 2, 8)[0, 0, 4] > 0


def test_biwoof_blocks_are_the_authors():
    """biwoof.m, 28 x 28 flow, 5 blocks: step 5, MATLAB rows 1-6, 5-11, 10-16, 15-21, 20-28."""
    from mebench.methods.biwoof import block_bounds

    assert block_bounds(28, 5) == [(0, 6), (4, 11), (9, 16), (14, 21), (19, 28)]
    assert block_bounds(28, 2) == [(0, 15), (13, 28)]
    assert block_bounds(4, 1) == [(0, 4)]


def test_biwoof_histograms_sum_to_one_per_block_before_the_strain_weight():
    """Locally, magnitude only shapes a block's histogram; globally, the block's summed strain scales it."""
    from mebench.methods.biwoof import biwoof_features

    X = np.zeros((1, 3, 28, 28), np.float32)
    X[0, 1:] = 100.0
    X[0, 2, :12, :12] = 200.0  # top-left: fast, to the right
    X[0, 2, 16:, 16:] = 110.0  # bottom-right: slow, to the right, on a 12 x 12 area too
    X[0, 0, :12, :12] = 10.0
    X[0, 0, 16:, 16:] = 30.0  # three times the strain
    f = biwoof_features(X, blocks=2, bins=8).reshape(2, 2, 8)
    assert np.count_nonzero(f) == 2
    np.testing.assert_allclose(f[1, 1, 0] / f[0, 0, 0], 3.0)  # the magnitudes (x10) cancel; the strains do not
    np.testing.assert_allclose(np.linalg.norm(f), 1.0)


def test_biwoof_learns_a_separable_flow_and_refuses_epoch_selection(tmp_path, tiny_data):
    import mebench

    summary = mebench.run(["biwoof"], protocol="loso", data=[tiny_data], out=tmp_path)
    assert summary.done == 6 and not summary.failed
    with pytest.raises(ConfigError, match="does not train in epochs"):
        mebench.run(["biwoof"], protocol="loso", data=[tiny_data], epoch_selection=["oracle"], out=tmp_path)


def test_htnet_template_cuts_around_the_fixed_template():
    """htnet-template's input: the published tiling around HTNet's fallback landmarks on every clip, whatever
    landmarks the data have (computed here from the tiling function and the constants, not the representation)."""
    from mebench.datasets.synthetic import load_synthetic
    from mebench.features.regions import PUBLISHED_FALLBACK_LANDMARKS, tile_regions

    data = load_synthetic(None)
    flow = data.primitive("flow-image")
    expected = tile_regions(flow, np.repeat(PUBLISHED_FALLBACK_LANDMARKS[None], len(flow), axis=0))
    np.testing.assert_array_equal(data.features("htnet-regions-template"), expected)
    assert not np.array_equal(data.features("htnet-regions"), expected), "the data's own landmarks differ"
