"""Small methods used by the runner tests (registered in-process or through a fake distribution)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mebench.method import Method, MethodInfo


class NearestCentroid(Method):
    """Deterministic nearest-centroid classifier; `delay` seconds of sleep per fit make runs interruptible."""

    info = MethodInfo(name="centroid", summary="nearest centroid (test plugin)", input="flow", citation="test",
                      tags=("test",), presets={"paper": {}, "quick": {}}, iterative=False)

    def __init__(self, *, num_classes: int = 3, seed: int = 0, delay: float = 0.0, fail_on_fold_with: str = ""):
        self.num_classes = num_classes
        self.seed = seed
        self.delay = delay
        self.fail_on_fold_with = fail_on_fold_with

    def fit(self, X, y, *, epoch_callback=None):
        time.sleep(self.delay)
        flat = X.reshape(len(X), -1)
        self.centroids_ = np.stack([flat[y == c].mean(axis=0) if np.any(y == c) else np.full(flat.shape[1], np.inf)
                                    for c in range(self.num_classes)])
        self.n_train_ = len(X)
        return self

    def predict_proba(self, X):
        if self.fail_on_fold_with and len(X) == int(self.fail_on_fold_with):
            raise RuntimeError("deliberate failure for the test")
        d = np.linalg.norm(X.reshape(len(X), -1)[:, None, :] - self.centroids_[None], axis=2)
        d = np.where(np.isfinite(d), d, 1e12)
        logits = -(d - d.min(axis=1, keepdims=True)) / 100.0
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


class ScriptedEpochs(Method):
    """Predicts, after epoch e, the class scripted for e; lets tests check epoch selection exactly."""

    info = MethodInfo(name="scripted", summary="scripted per-epoch predictions (test plugin)", input="flow",
                      citation="test", presets={"paper": {}, "quick": {}})

    # class predicted for every test sample after each epoch (1-based: epoch 1 -> index 0)
    SCRIPT = (0, 1, 2, 1, 0)

    def __init__(self, *, num_classes: int = 3, seed: int = 0, epochs: int = 5):
        self.num_classes = num_classes
        self.seed = seed
        self.epochs = epochs

    def fit(self, X, y, *, epoch_callback=None):
        for epoch in range(1, self.epochs + 1):
            self.current_ = self.SCRIPT[epoch - 1]
            if epoch_callback is not None:
                epoch_callback(epoch, self)
        return self

    def predict_proba(self, X):
        p = np.full((len(X), self.num_classes), 0.1)
        p[:, self.current_] = 0.8
        return p / p.sum(axis=1, keepdims=True)


SPY_LOG: list[tuple[str, frozenset]] = []  # module-level: survives the deep copies epoch selection makes


class Spy(Method):
    """Records which samples (ids stored in pixel [0, 0, 0]) each fit and predict_proba call sees."""

    info = MethodInfo(name="spy", summary="records what it sees (test plugin)", input="flow", citation="test",
                      presets={"paper": {}, "quick": {}})

    def __init__(self, *, num_classes: int = 3, seed: int = 0, epochs: int = 4):
        self.num_classes = num_classes
        self.seed = seed
        self.epochs = epochs

    @staticmethod
    def ids(X) -> frozenset:
        return frozenset(int(v) for v in X[:, 0, 0, 0])

    def fit(self, X, y, *, epoch_callback=None):
        SPY_LOG.append(("fit", self.ids(X)))
        for epoch in range(1, self.epochs + 1):
            self.epoch_ = epoch
            if epoch_callback is not None:
                SPY_LOG.append(("callback", frozenset()))
                epoch_callback(epoch, self)
        SPY_LOG.append(("fit-end", frozenset()))
        return self

    def predict_proba(self, X):
        SPY_LOG.append(("predict", self.ids(X)))
        p = np.full((len(X), self.num_classes), 0.1)
        p[:, self.epoch_ % self.num_classes] = 0.8
        return p / p.sum(axis=1, keepdims=True)


class Sleeper(Method):
    """Nearest-centroid with a pause in fit that announces its process: tests kill workers mid-cell."""

    info = MethodInfo(name="sleeper", summary="announces its pid, sleeps, then fits (test plugin)", input="flow",
                      citation="test", presets={"paper": {}, "quick": {}}, iterative=False)

    def __init__(self, *, num_classes: int = 3, seed: int = 0, delay: float = 0.0, pid_dir: str = ""):
        self.num_classes = num_classes
        self.seed = seed
        self.delay = delay
        self.pid_dir = pid_dir

    def fit(self, X, y):
        import os
        import uuid
        from pathlib import Path

        if self.pid_dir:  # written beside the folder, then moved in: a watcher never reads a half-written file
            name = f"{os.getpid()}-{uuid.uuid4().hex}"
            staged = Path(self.pid_dir).parent / f".{name}"
            staged.write_text(str(os.getpid()))
            os.replace(staged, Path(self.pid_dir) / name)
        time.sleep(self.delay)
        self.prior_ = np.bincount(y, minlength=self.num_classes) / len(y)
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))


class AllocatorProbe(Method):
    """Predicts class 1 where its process keeps freed memory (`mebench.allocator`), else class 0."""

    info = MethodInfo(name="allocator-probe", summary="reports its process's allocator setting (test plugin)",
                      input="flow", citation="test", presets={"paper": {}, "quick": {}}, iterative=False)

    def __init__(self, *, num_classes: int = 3, seed: int = 0):
        self.num_classes = num_classes
        self.seed = seed

    def fit(self, X, y):
        from mebench import allocator

        self.kept_ = allocator._tuned
        return self

    def predict_proba(self, X):
        p = np.zeros((len(X), self.num_classes))
        p[:, int(self.kept_)] = 1.0
        return p


def killer(pid_dir, stop, killed: list[int], sig: int | None = None):
    """A thread that sends `sig` (default SIGKILL) to the first worker process that announces a cell in pid_dir
    (a Sleeper's pid file), once, and records its pid in `killed`."""
    import os
    import signal
    import threading

    def watch() -> None:
        while not stop.is_set():
            for f in sorted(pid_dir.glob("*")):
                pid = int(f.read_text())
                if pid != os.getpid():
                    os.kill(pid, signal.SIGKILL if sig is None else sig)
                    killed.append(pid)
                    return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def write_distribution(root: Path, package: str, modules: dict[str, str], entry_points: str) -> None:
    """An installed distribution under ``root`` (put it on sys.path): the package ``package`` with ``modules``
    (file name -> source; `broken.py` fails to import) and its ``entry_points.txt``, as pip would leave them."""
    pkg = root / package
    pkg.mkdir()
    for name, source in {"__init__.py": "", **modules, "broken.py": "import module_that_does_not_exist\n"}.items():
        (pkg / name).write_text(source)
    dist = root / f"{package}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)
