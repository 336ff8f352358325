"""On-disk cache of computed arrays, keyed by a fingerprint of their inputs and parameters.

Each entry is one file, `root/namespace/<fingerprint>.arr`: a header line with the SHA-256 of
the array's bytes, its dtype and shape and the entry's key (namespace and fingerprint), then the
array in .npy format. Reading checks the checksum, the header against the array, the key against
the one asked for (a file copied or renamed from another entry, e.g. another dataset's, is not
taken), and the shape and dtype the caller says the entry must have; an entry that fails (a truncated write, a flipped bit, a file from another
version) is recomputed with a warning naming the file. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

SUFFIX = ".arr"
MAGIC = b"MEBENCH-ARRAY 1 "


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


class CacheEntryError(ValueError):
    """A cache file that cannot be trusted (the message says why)."""


def encode_entry(arr: np.ndarray, key: str | None = None) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    body = buf.getvalue()
    header = {"sha256": hashlib.sha256(body).hexdigest(), "dtype": arr.dtype.str, "shape": list(arr.shape), "key": key}
    return MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + body


def decode_entry(data: bytes, shape: Sequence[int | None] | None = None, dtype: Any = None,
                 key: str | None = None) -> np.ndarray:
    """The array of an entry's bytes; CacheEntryError when the checksum, the header, the key (when given) or
    the expected shape (None = any size on that axis) and dtype do not hold."""
    if not data.startswith(MAGIC) or b"\n" not in data:
        raise CacheEntryError("not a mebench cache entry (no header)")
    head, body = data[len(MAGIC):].split(b"\n", 1)
    try:
        header = json.loads(head)
    except ValueError:
        raise CacheEntryError("unreadable header") from None
    if hashlib.sha256(body).hexdigest() != header.get("sha256"):
        raise CacheEntryError("checksum mismatch (truncated or corrupted)")
    if key is not None and header.get("key") != key:
        raise CacheEntryError(f"it was written for another entry ({header.get('key') or 'no key recorded'}), e.g. "
                              "copied from another dataset's cache")
    try:
        arr = np.load(io.BytesIO(body), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CacheEntryError(f"unreadable array ({exc})") from None
    if arr.dtype.str != header.get("dtype") or list(arr.shape) != header.get("shape"):
        raise CacheEntryError(f"header says {header.get('dtype')} {header.get('shape')}, array is {arr.dtype.str} "
                              f"{list(arr.shape)}")
    if dtype is not None and arr.dtype != np.dtype(dtype):
        raise CacheEntryError(f"dtype {arr.dtype}, expected {np.dtype(dtype)}")
    if shape is not None and (len(shape) != arr.ndim or any(w is not None and w != a for w, a in zip(shape, arr.shape))):
        wanted = ", ".join("*" if w is None else str(w) for w in shape)
        raise CacheEntryError(f"shape {arr.shape}, expected ({wanted}{',' if len(shape) == 1 else ''})")
    return arr


class ArrayCache:
    """Arrays stored under `root/namespace/<fingerprint>.arr` (see the module docstring)."""

    def __init__(self, root: Path | str | None = None):
        from mebench.errors import ConfigError

        self.root = Path(root) if root is not None else default_cache_dir()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"feature cache {self.root} is a file, not a folder (--cache-dir)")
        self.computed: list[str] = []  # keys computed (not loaded) by this instance, for tests and logs

    def path(self, namespace: str, key: dict[str, Any]) -> Path:
        return self.root / namespace / f"{fingerprint(key)}{SUFFIX}"

    @staticmethod
    def entry_key(namespace: str, key: dict[str, Any]) -> str:
        return f"{namespace}/{fingerprint(key)}"

    def load(self, path: Path, shape=None, dtype=None, key: str | None = None) -> np.ndarray | None:
        """The entry at `path`, or None when it is absent or cannot be trusted (then removed, with a warning)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            warnings.warn(f"feature cache entry {path} cannot be read ({exc.strerror or exc}); recomputing it",
                          stacklevel=3)
            return None
        try:
            return decode_entry(data, shape, dtype, key)
        except CacheEntryError as exc:
            warnings.warn(f"feature cache entry {path} is invalid: {exc}; recomputing it", stacklevel=3)
            path.unlink(missing_ok=True)
            return None

    def get_or_compute(self, namespace: str, key: dict[str, Any], compute: Callable[[], np.ndarray], *,
                       shape: Sequence[int | None] | None = None, dtype: Any = None) -> np.ndarray:
        """The cached array of `key`, else `compute()` stored. `shape`/`dtype`: what the entry must be."""
        path = self.path(namespace, key)
        entry = self.entry_key(namespace, key)
        arr = self.load(path, shape, dtype, entry)
        if arr is not None:
            return arr
        arr = np.asarray(compute())
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        if shape is not None:  # a computation that breaks its own contract is a bug, not a cache problem
            decode_entry(encode_entry(arr), shape, dtype)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode_entry(arr, entry))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.computed.append(f"{namespace}/{path.stem}")
        return arr
