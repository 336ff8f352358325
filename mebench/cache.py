"""On-disk cache of computed arrays, keyed by a fingerprint of their inputs and parameters."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def default_cache_dir() -> Path:
    """$MEBENCH_CACHE, else $XDG_CACHE_HOME/mebench, else ~/.cache/mebench."""
    if os.environ.get("MEBENCH_CACHE"):
        return Path(os.environ["MEBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mebench"


def fingerprint(parts: dict[str, Any]) -> str:
    """Hash of JSON-serialisable key parts (sorted keys, so order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


class ArrayCache:
    """Arrays stored as .npy files under `root/namespace/<fingerprint>.npy`, written atomically."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.computed: list[str] = []  # keys computed (not loaded) by this instance, for tests and logs

    def path(self, namespace: str, key: dict[str, Any]) -> Path:
        return self.root / namespace / f"{fingerprint(key)}.npy"

    def get_or_compute(self, namespace: str, key: dict[str, Any], compute: Callable[[], np.ndarray]) -> np.ndarray:
        path = self.path(namespace, key)
        if path.exists():
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # a truncated file from a killed run: recompute it
        arr = np.asarray(compute())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.computed.append(f"{namespace}/{path.stem}")
        return arr
