"""`--data htnet-release:PATH`: the MEGC2019 composite set as the public HTNet repository ships it.

Layout under PATH (see ../shared/data/README.md):

    combined_3_class2_for_optical_flow.csv   dataset, sub, filename_o, label (0/1/2), imagename, ...
    STSNet_whole_norm_u_v_os/                 "{sub}_{filename_o} .png" (note the space), 28x28x3
    combined_datasets_whole/                  "{imagename}", the apex face crop (224x224 JPG)

Representations:

- ``flow``: each PNG exactly as ``cv2.imread`` returns it: BGR, so channels (strain, v, u) since the
  files store (u, v, strain) in RGB order, as float32 (3, 28, 28) with the raw 0-255 values. These are
  the inputs the published STSTNet/HTNet checkpoints were trained on. Read once, at load.
- ``htnet-regions``: ``tile_regions(flow, landmarks, published_quirks=True)`` where the five landmarks
  per sample come from dlib on the apex face JPG, scaled to the 28x28 grid
  (`mebench.features.landmarks.apex_landmarks28`). When dlib finds no face, the 68-point predictor is
  run on the whole image (the faces are tight crops) instead of the published code's fixed mean
  points. The landmarks and how each was found are cached (namespace ``htnet-release/landmarks``,
  keyed by the face files' bytes), so dlib runs once per release; `landmark_report(dataset)` lists
  them per sample, with ``landmark_method`` "detected" or "whole-image".

Loading checks the CSV against the files and raises one DataError naming every missing or
unreadable file (path and sample id) and every row with an unknown label.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mebench.cache import ArrayCache
from mebench.dataset import Dataset, make_sample_table, table_fingerprint
from mebench.errors import ConfigError, DataError
from mebench.features.regions import GRID, REGION_VARIANTS, region_features

NAME = "htnet-release"
CSV_NAME = "combined_3_class2_for_optical_flow.csv"
FLOW_DIR = "STSNet_whole_norm_u_v_os"
FACE_DIR = "combined_datasets_whole"
CSV_COLUMNS = ("dataset", "sub", "filename_o", "label", "imagename")
CLASS_NAMES = ("negative", "positive", "surprise")
LABELS = {"0": "negative", "1": "positive", "2": "surprise"}
FLOW_SHAPE = (GRID, GRID, 3)
LANDMARK_NAMESPACE = "htnet-release/landmarks"
MAX_LISTED = 1000  # problems listed one per line in an error (all of them unless the release is badly broken)


def flow_file_name(sub: str, filename_o: str) -> str:
    """The release's flow image name: "{sub}_{filename_o} .png", with the space before ".png"."""
    return f"{sub}_{filename_o} .png"


def _read_csv(csv_path: Path) -> pd.DataFrame:
    try:
        rows = pd.read_csv(csv_path, dtype=str, keep_default_na=False)  # "006" stays text
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read {csv_path}: {exc}") from None
    rows.columns = [str(c).strip() for c in rows.columns]
    missing = [c for c in CSV_COLUMNS if c not in rows.columns]
    if missing:
        raise DataError(f"{csv_path} lacks column(s) {', '.join(missing)} (has: {', '.join(rows.columns)})")
    for col in CSV_COLUMNS:
        rows[col] = rows[col].astype(str).str.strip()
    return rows


def _problem_error(root: Path, problems: list[str]) -> DataError:
    shown = problems[:MAX_LISTED]
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return DataError(f"htnet-release at {root}: {len(problems)} problem(s) with the CSV and its files:\n  "
                     + "\n  ".join(shown) + more)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def load_htnet_release(path: str | None, *, cache_dir=None) -> Dataset:
    """Load an HTNet release directory (`--data htnet-release:PATH`); see the module docstring."""
    if path is None or not str(path).strip():
        raise ConfigError("--data htnet-release:PATH needs a path: the folder holding "
                          f"{CSV_NAME}, {FLOW_DIR}/ and {FACE_DIR}/")
    root = Path(str(path).strip()).expanduser()
    if not root.exists():
        raise DataError(f"htnet-release: {root} does not exist")
    if not root.is_dir():
        raise DataError(f"htnet-release: {root} is not a directory")
    root = root.resolve()
    csv_path = root / CSV_NAME
    if not csv_path.is_file():
        raise DataError(f"htnet-release: {csv_path} is missing")
    rows = _read_csv(csv_path)
    if rows.empty:
        raise DataError(f"{csv_path} has no rows")

    problems: list[str] = []
    ids = rows["dataset"] + "/" + rows["sub"] + "/" + rows["filename_o"]
    for i, row in rows.iterrows():
        line = f"{CSV_NAME} line {i + 2} (sample {ids[i]})"
        empty = [c for c in CSV_COLUMNS if c != "label" and not row[c]]
        if empty:
            problems.append(f"{line}: empty {', '.join(empty)}")
        if row["label"] not in LABELS:
            problems.append(f"{line}: unknown label {row['label']!r} (expected 0, 1 or 2)")
    if problems:
        raise _problem_error(root, problems)

    table_rows = pd.DataFrame({
        "dataset": rows["dataset"], "subject": rows["sub"], "clip": rows["filename_o"],
        "label": rows["label"].map(LABELS),
        "flow_file": [flow_file_name(s, f) for s, f in zip(rows["sub"], rows["filename_o"])],
        "face_file": rows["imagename"],
    })
    table = make_sample_table(table_rows, CLASS_NAMES)

    flow_dir, face_dir = root / FLOW_DIR, root / FACE_DIR
    for folder in (flow_dir, face_dir):
        if not folder.is_dir():
            problems.append(f"missing folder {folder} (all {len(table)} files expected in it are missing)")

    flow = np.zeros((len(table), 3, GRID, GRID), dtype=np.float32)
    flow_hash, face_hash = hashlib.sha256(), hashlib.sha256()
    for i, sample, flow_name, face_name in zip(range(len(table)), table["sample"], table["flow_file"], table["face_file"]):
        if flow_dir.is_dir():
            file = flow_dir / flow_name
            data = _read_bytes(file)
            img = None if data is None else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if data is None:
                problems.append(f"missing flow image {file} (sample {sample})")
            elif img is None:
                problems.append(f"unreadable flow image {file} (sample {sample})")
            elif img.shape != FLOW_SHAPE or img.dtype != np.uint8:
                problems.append(f"unreadable flow image {file} (sample {sample}): shape {img.shape} {img.dtype}, "
                                f"expected {FLOW_SHAPE} uint8")
            else:
                flow[i] = img.transpose(2, 0, 1)
                flow_hash.update(f"{len(data)}:".encode())
                flow_hash.update(data)
        if face_dir.is_dir():
            file = face_dir / face_name
            data = _read_bytes(file)
            if data is None:
                problems.append(f"missing apex face image {file} (sample {sample})")
            elif cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None:
                problems.append(f"unreadable apex face image {file} (sample {sample})")
            else:
                face_hash.update(f"{len(data)}:".encode())
                face_hash.update(data)
    if problems:
        raise _problem_error(root, problems)

    features = ReleaseFeatures(root, table, flow, face_hash.hexdigest(), ArrayCache(cache_dir))
    counts = table.groupby("dataset", sort=False).size()
    return Dataset(
        name=NAME,
        source=f"{NAME}:{root}",
        class_names=CLASS_NAMES,
        samples=table,
        fingerprint=table_fingerprint(table, "htnet-release-flow:" + flow_hash.hexdigest()),
        feature_function=features,
        description=f"HTNet release (MEGC2019 composite): {len(table)} samples, "
        f"{table['subject_key'].nunique()} subjects ({', '.join(f'{k} {v}' for k, v in counts.items())})",
    )


class ReleaseFeatures:
    """The feature function of an htnet-release Dataset: `flow` (read at load) and `htnet-regions`."""

    def __init__(self, root: Path, table: pd.DataFrame, flow: np.ndarray, face_digest: str, cache: ArrayCache):
        self.root = root
        self.table = table
        self.flow = flow
        self.face_digest = face_digest
        self.cache = cache

    def __call__(self, representation: str) -> np.ndarray:
        if representation == "flow":
            return self.flow
        if representation in REGION_VARIANTS:
            points, _ = self.landmarks()
            return region_features(representation, self.flow, points)
        raise DataError(f"htnet-release cannot provide representation {representation!r} "
                        f"(it has flow, {', '.join(REGION_VARIANTS)})")

    def landmark_key(self) -> dict:
        from mebench.features.landmarks import LANDMARKS_VERSION

        return {"version": LANDMARKS_VERSION, "faces": list(self.table["face_file"]), "face_bytes_sha256": self.face_digest}

    def landmarks(self) -> tuple[np.ndarray, np.ndarray]:
        """((N, 5, 2) points on the 28x28 grid, (N,) how strings), from the cache or dlib."""
        from mebench.features.landmarks import HOW_CODES

        packed = self.cache.get_or_compute(LANDMARK_NAMESPACE, self.landmark_key(), self._compute_landmarks)
        packed = np.asarray(packed, dtype=np.float64)
        if packed.shape != (len(self.table), 11):
            raise DataError(f"landmark cache entry has shape {packed.shape}, expected ({len(self.table)}, 11)")
        how = np.array([HOW_CODES[int(c)] for c in packed[:, 10]], dtype=object)
        return packed[:, :10].reshape(-1, 5, 2), how

    def _compute_landmarks(self) -> np.ndarray:
        """(N, 11): five (x, y) points flattened, then the index of `how` in HOW_CODES."""
        from mebench.features.landmarks import HOW_CODES, apex_landmarks28

        out = np.zeros((len(self.table), 11), dtype=np.float64)
        for i, (sample, name) in enumerate(zip(self.table["sample"], self.table["face_file"])):
            file = self.root / FACE_DIR / name
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise DataError(f"unreadable apex face image {file} (sample {sample})")
            points, how = apex_landmarks28(image)
            out[i, :10] = points.reshape(-1)
            out[i, 10] = HOW_CODES.index(how)
        return out


def landmark_report(dataset: Dataset) -> pd.DataFrame:
    """Per sample: face_file, landmark_method ("detected" or "whole-image") and the five points
    (x0, y0 ... x4, y4) on the 28x28 grid, before clipping. Runs dlib unless cached.

    Works on a Dataset returned by `load_htnet_release` (not on its subsets)."""
    features = dataset.feature_function
    if not isinstance(features, ReleaseFeatures):
        raise DataError(f"dataset {dataset.name!r} was not loaded by htnet-release (or is a subset of one): no landmark report")
    points, how = features.landmarks()
    report = dataset.samples[["sample", "dataset", "face_file"]].copy()
    report["landmark_method"] = how
    for k in range(5):
        report[f"x{k}"] = points[:, k, 0]
        report[f"y{k}"] = points[:, k, 1]
    return report
