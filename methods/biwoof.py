"""Bi-WOOF: Bi-Weighted Oriented Optical Flow features and a linear SVM.

Liong, S.-T., See, J., Wong, K., Phan, R. C.-W. "Less is more: Micro-expression recognition from
video using apex frame." Signal Processing: Image Communication 62, 82-92 (2018).
Code: https://github.com/christy1206/biwoof (`biwoof.m`, the feature only).

The onset-to-apex flow is described by a histogram of flow orientations per facial block, two
ways weighted: locally, each pixel votes for its orientation bin with its flow magnitude, and the
block's histogram is normalised to sum 1; globally, each block's histogram is multiplied by the
block's summed optical strain. The blocks' histograms, concatenated and L2-normalised, are
classified by a linear SVM (scikit-learn's LinearSVC; Pedregosa et al., JMLR 2011). It is not
trained in epochs (`iterative=False`): only `final` applies.

As in the authors' code: 5 x 5 blocks and 8 bins of 45 degrees, and the same blocks, which share
their boundary rows and columns and give the last block the remainder (`block_bounds`). One
difference: `biwoof.m` bins with `histc` on the edges -180:45:179, whose last bin counts only
orientations of exactly 135 degrees, so flow pointing between 135 and 180 degrees is left out;
mebench bins the whole circle, as the paper describes.

Input: the `flow` representation, (strain, v, u) each min-max normalised to 0-255 per image (the
release's PNGs and the pipeline's flow image). Normalisation removes each channel's zero, so u and
v are re-centred on their median (the still face) before orientations and magnitudes are taken,
and strain is used as it is (its minimum is 0 motion). Published composite figures (HTNet paper's
table): UF1 0.6296, UAR 0.6227.
"""

from __future__ import annotations

import numpy as np

from mebench.errors import DataError
from mebench.method import EpochCallback, Method, MethodInfo
from mebench.params import PositiveFloat, PositiveInt


def block_bounds(size: int, blocks: int) -> list[tuple[int, int]]:
    """The authors' blocks along one axis, as 0-based [start, stop): with step = size // blocks, block k
    (1-based) spans MATLAB rows (k-1)*step .. k*step+1, the first from row 1 and the last to the end,
    so neighbours share a row."""
    step = size // blocks
    bounds = []
    for k in range(1, blocks + 1):
        first = 1 if k == 1 else (k - 1) * step
        last = size if k == blocks else min(k * step + 1, size)
        bounds.append((first - 1, last))
    return bounds


def biwoof_features(X: np.ndarray, blocks: int, bins: int) -> np.ndarray:
    """(N, 3, H, W) flow images (strain, v, u) -> (N, blocks * blocks * bins) Bi-WOOF histograms."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 4 or X.shape[1] != 3:
        raise DataError(f"Bi-WOOF reads (N, 3, H, W) flow images (strain, v, u), got {X.shape}")
    h, w = X.shape[2:]
    if blocks > min(h, w):
        raise DataError(f"Bi-WOOF: {blocks} x {blocks} blocks do not fit {h} x {w} flow images")
    strain, v, u = X[:, 0], X[:, 1], X[:, 2]
    u = u - np.median(u, axis=(1, 2), keepdims=True)
    v = v - np.median(v, axis=(1, 2), keepdims=True)
    magnitude = np.hypot(u, v)
    orientation = np.mod(np.arctan2(v, u), 2 * np.pi)
    bin_of = np.minimum((orientation / (2 * np.pi) * bins).astype(np.int64), bins - 1)
    feats = np.empty((len(X), blocks, blocks, bins))
    for i, (r0, r1) in enumerate(block_bounds(h, blocks)):
        for j, (c0, c1) in enumerate(block_bounds(w, blocks)):
            b = bin_of[:, r0:r1, c0:c1].reshape(len(X), -1)
            m = magnitude[:, r0:r1, c0:c1].reshape(len(X), -1)
            local: np.ndarray = np.stack([np.bincount(bb, weights=mm, minlength=bins) for bb, mm in zip(b, m)])
            total = local.sum(axis=1, keepdims=True)
            local = local / np.where(total > 0, total, 1.0)  # a still block stays 0 (the MATLAB code divides by 0)
            weight = strain[:, r0:r1, c0:c1].reshape(len(X), -1).sum(axis=1)  # global: the block's strain
            feats[:, i, j] = local * weight[:, None]
    flat = feats.reshape(len(X), -1)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    return flat / np.where(norm > 0, norm, 1.0)


class BiWOOFMethod(Method):
    info = MethodInfo(
        name="biwoof",
        display_name="Bi-WOOF",
        summary="Bi-WOOF (Liong et al., SPIC 2018): magnitude- and strain-weighted flow orientation histograms, linear SVM",
        input="flow",
        citation="Liong, S.-T., See, J., Wong, K., Phan, R. C.-W. Less is more: Micro-expression recognition from video "
        "using apex frame. Signal Processing: Image Communication 62, 82-92 (2018).",
        tags=("baseline", "classical"),
        presets={"paper": dict(blocks=5, bins=8, C=1.0), "quick": dict(blocks=5, bins=8, C=1.0)},
        iterative=False,
    )

    blocks: PositiveInt = 5
    bins: PositiveInt = 8
    C: PositiveFloat = 1.0

    def fit(self, X: np.ndarray, y: np.ndarray, *, epoch_callback: EpochCallback | None = None) -> "BiWOOFMethod":
        # Method's one signature; not iterative, so mebench never passes a callback and there is no epoch to report
        from sklearn.svm import LinearSVC

        y = np.asarray(y, dtype=np.int64)
        self.classes_ = np.unique(y)
        features = biwoof_features(X, self.blocks, self.bins)
        if len(self.classes_) == 1:  # a fold with one class: nothing to separate
            self.svm_ = None
            return self
        self.svm_ = LinearSVC(C=self.C, random_state=self.seed, dual="auto", max_iter=10000).fit(features, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "classes_"):
            raise RuntimeError("BiWOOFMethod is not fitted: call fit first")
        proba = np.zeros((len(X), self.num_classes))
        if self.svm_ is None:
            proba[:, self.classes_[0]] = 1.0
            return proba
        scores = self.svm_.decision_function(biwoof_features(X, self.blocks, self.bins))
        if scores.ndim == 1:  # two classes: one margin, positive for classes_[1]
            scores = np.stack([-scores, scores], axis=1)
        e = np.exp(scores - scores.max(axis=1, keepdims=True))  # softmax of the margins: a ranking, not calibrated
        proba[:, self.classes_] = e / e.sum(axis=1, keepdims=True)
        return proba
