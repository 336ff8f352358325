"""`--data htnet-release:PATH`: the MEGC2019 composite set as the public HTNet repository ships it.

Layout under PATH, as the HTNet repository distributes it:

    combined_3_class2_for_optical_flow.csv   dataset, sub, filename_o, label (0/1/2), imagename, ...
    STSNet_whole_norm_u_v_os/                 "{sub}_{filename_o} .png" (note the space), 28x28x3
    combined_datasets_whole/                  "{imagename}", the apex face crop (224x224 JPG)

Representations:

- ``flow``: each PNG exactly as ``cv2.imread`` returns it: BGR, so channels (strain, v, u) since the
  files store (u, v, strain) in RGB order, as float32 (3, 28, 28) with the raw 0-255 values. These are
  the inputs the published STSTNet/HTNet checkpoints were trained on. Read once, at load.
- ``htnet-regions`` (and ``htnet-regions-corrected``): the flow image cut around five landmarks found
  exactly as the published pipeline finds them (`main_HTNet.py`, `whole_face_block_coordinates`):
  MTCNN on the apex face resized to 28x28, the fixed mean landmarks where no face is found (172 of
  the 442 release faces). See `mebench.features.mtcnn`.
- ``apex-face``: the apex face crops (224x224 JPG) as RGB, resized to 112x112 (`face:apex`); the
  release has no onset frames, so no `face:onset`.
- ``htnet-regions-dlib``: the published tiling around dlib's landmarks on the full-size apex face
  instead (`mebench.features.landmarks.apex_landmarks28`; where dlib finds no face, its 68-point
  model runs on the whole image): an alternative for studying what the landmark step does.

Each landmark step's points are cached under a key naming the step and its version and the face
files' bytes (namespace ``htnet-release/landmarks/<step>``), so each runs once per release;
`landmark_report(dataset, step)` lists them per sample.

Loading checks the CSV against the files and raises one DataError naming every missing or
unreadable file (path and sample id) and every row with an unknown label.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, cast

import cv2
import numpy as np
import pandas as pd

from mebench.cache import ArrayCache
from mebench.dataset import CONTENT, Dataset, make_sample_table, table_fingerprint
from mebench.errors import ConfigError, DataError
from mebench.features.regions import GRID
from mebench.primitives import APEX_FACE, FLOW_IMAGE, LANDMARKS_DLIB, LANDMARKS_HTNET, face_array

NAME = "htnet-release"
CSV_NAME = "combined_3_class2_for_optical_flow.csv"
FLOW_DIR = "STSNet_whole_norm_u_v_os"
FACE_DIR = "combined_datasets_whole"
CSV_COLUMNS = ("dataset", "sub", "filename_o", "label", "imagename")
CLASS_NAMES = ("negative", "positive", "surprise")
LABELS = {"0": "negative", "1": "positive", "2": "surprise"}
FLOW_SHAPE = (GRID, GRID, 3)
LANDMARK_NAMESPACE = "htnet-release/landmarks"
MIN_FACE_SIDE = GRID  # the published pipeline resizes the apex face to 28x28 before finding landmarks
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


def _problem_error(root: Path, problems: list[str], kind: str = NAME) -> DataError:
    shown = problems[:MAX_LISTED]
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return DataError(f"{kind} at {root}: {len(problems)} problem(s) with the CSV and its files:\n  "
                     + "\n  ".join(shown) + more)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


MAX_IMAGE_SIDE = 8192  # larger images are refused from their header, before a decode could take gigabytes


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image file's header, without decoding its pixels; None when unknown."""
    import io
    import warnings as _warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return img.size
    except Image.DecompressionBombError:  # PIL refuses to open it at all: past any side we accept
        return (MAX_IMAGE_SIDE + 1, MAX_IMAGE_SIDE + 1)
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _decode(data: bytes, flags: int, expected: tuple[int, int] | None = None) -> tuple[np.ndarray | None, str]:
    """(image, "") or (None, why it cannot be read). The header's size is checked first: above
    MAX_IMAGE_SIDE, or other than `expected` (width, height) when given, the pixels are never decoded."""
    if not data:
        return None, "empty file (0 bytes)"
    size = header_size(data)
    if size is not None and (max(size) > MAX_IMAGE_SIDE or (expected is not None and size != expected)):
        limit = f"{expected[0]}x{expected[1]}" if expected else f"at most {MAX_IMAGE_SIDE} px a side"
        said = f"{size[0]}x{size[1]} px" if max(size) != MAX_IMAGE_SIDE + 1 else f"over {MAX_IMAGE_SIDE} px a side"
        return None, f"its header says {said}, expected {limit} (not decoded)"
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:
        return None, f"OpenCV cannot decode it ({str(exc).strip().splitlines()[-1]})"
    if img is None or img.size == 0:
        return None, "not a decodable image"
    return img, ""


def _escapes(file: Path, folder: Path) -> bool:
    """Whether `file` is a symbolic link (or lies behind one) that leads out of `folder`."""
    try:
        return not file.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        return True


def _plain_name(name: str) -> bool:
    """A file name the release may use: inside its folder (no absolute path, no `..`)."""
    parts = re.split(r"[\\/]", name)
    return bool(name) and not os.path.isabs(name) and not re.match(r"^[A-Za-z]:", name) and ".." not in parts


@dataclass
class ReleaseScan:
    """The release's CSV checked against its files: the sample table, the flow images, digests of
    the files, and every problem found (each naming the file or CSV line and the sample)."""

    root: Path
    table: pd.DataFrame | None = None
    flow: np.ndarray | None = None
    flow_digest: str = ""
    face_digest: str = ""
    problems: list[str] = field(default_factory=list)


def release_table(root: Path, problems: list[str]) -> pd.DataFrame | None:
    """The sample table of a release's CSV (with its flow_file and face_file columns), or None with the
    problems appended (each naming the CSV line and the sample). Shared by the releases that ship this CSV."""
    csv_path = root / CSV_NAME
    if not csv_path.is_file():
        problems.append(f"{csv_path} is missing")
        return None
    try:
        rows = _read_csv(csv_path)
    except DataError as exc:
        problems.append(str(exc))
        return None
    if rows.empty:
        problems.append(f"{csv_path} has no rows")
        return None

    ids = rows["dataset"] + "/" + rows["sub"] + "/" + rows["filename_o"]
    for i, row in rows.iterrows():
        i = cast(int, i)  # the CSV's RangeIndex
        line = f"{CSV_NAME} line {i + 2} (sample {ids[i]})"
        empty = [c for c in CSV_COLUMNS if c != "label" and not row[c]]
        if empty:
            problems.append(f"{line}: empty {', '.join(empty)}")
        if row["label"] not in LABELS:
            problems.append(f"{line}: unknown label {row['label']!r} (expected 0, 1 or 2)")
        flow_name = flow_file_name(row["sub"], row["filename_o"])
        if row["sub"] and row["filename_o"] and (not _plain_name(flow_name) or re.search(r"[\\/]", flow_name)):
            problems.append(f"{line}: sub and filename_o make the flow file name {flow_name!r}, which leaves "
                            f"{FLOW_DIR}/ (refused)")
        if row["imagename"] and not _plain_name(row["imagename"]):
            problems.append(f"{line}: imagename {row['imagename']!r} points outside {FACE_DIR}/ (refused: the CSV "
                            "may only name files inside the release)")
    if problems:
        return None

    table_rows = pd.DataFrame({
        "dataset": rows["dataset"], "subject": rows["sub"], "clip": rows["filename_o"],
        "label": rows["label"].map(LABELS),
        "flow_file": [flow_file_name(s, f) for s, f in zip(rows["sub"], rows["filename_o"])],
        "face_file": rows["imagename"],
    })
    try:
        return make_sample_table(table_rows, CLASS_NAMES)
    except DataError as exc:
        problems.append(f"{csv_path}: {exc}")
        return None


def scan_release(root: Path) -> ReleaseScan:
    """Read and check everything a release Dataset needs; problems are collected, not raised."""
    scan = ReleaseScan(root)
    problems = scan.problems
    table = release_table(root, problems)
    if table is None:
        return scan

    flow_dir, face_dir = root / FLOW_DIR, root / FACE_DIR
    for folder in (flow_dir, face_dir):
        if not folder.is_dir():
            problems.append(f"missing folder {folder} (all {len(table)} files expected in it are missing)")

    flow = np.zeros((len(table), 3, GRID, GRID), dtype=np.float32)
    flow_hash, face_hash = hashlib.sha256(), hashlib.sha256()
    content = []  # per sample: a digest of its flow image and apex face (every file an input reads)
    for i, sample, flow_name, face_name in zip(range(len(table)), table["sample"], table["flow_file"], table["face_file"]):
        digest = hashlib.sha256()
        escaping = [(folder / name, what) for folder, name, what in
                    ((flow_dir, flow_name, "flow image"), (face_dir, face_name, "apex face image"))
                    if folder.is_dir() and _escapes(folder / name, folder)]
        problems += [f"{what} {file} (sample {sample}) is a symbolic link leading out of {file.parent} (refused: "
                     "the release may only name files inside it)" for file, what in escaping]
        if escaping:
            content.append("")
            continue
        if flow_dir.is_dir():
            file = flow_dir / flow_name
            data = _read_bytes(file)
            img, why = (None, "") if data is None else _decode(data, cv2.IMREAD_UNCHANGED, FLOW_SHAPE[1::-1])
            if data is None:
                problems.append(f"missing flow image {file} (sample {sample})")
            elif img is None:
                problems.append(f"unreadable flow image {file} (sample {sample}): {why}")
            elif img.shape != FLOW_SHAPE or img.dtype != np.uint8:
                problems.append(f"unreadable flow image {file} (sample {sample}): shape {img.shape} {img.dtype}, "
                                f"expected {FLOW_SHAPE} uint8")
            else:
                flow[i] = img.transpose(2, 0, 1)
                flow_hash.update(f"{len(data)}:".encode())
                flow_hash.update(data)
                digest.update(hashlib.sha256(data).digest())
        if face_dir.is_dir():
            file = face_dir / face_name
            data = _read_bytes(file)
            img, why = (None, "") if data is None else _decode(data, cv2.IMREAD_COLOR)
            if data is None:
                problems.append(f"missing apex face image {file} (sample {sample})")
            elif img is None:
                problems.append(f"unreadable apex face image {file} (sample {sample}): {why}")
            elif min(img.shape[:2]) < MIN_FACE_SIDE:
                problems.append(f"apex face image {file} (sample {sample}) is {img.shape[1]}x{img.shape[0]} px: "
                                f"too small to find landmarks on (at least {MIN_FACE_SIDE}x{MIN_FACE_SIDE} expected)")
            else:
                face_hash.update(f"{len(data)}:".encode())
                face_hash.update(data)
                digest.update(hashlib.sha256(data).digest())
        content.append(digest.hexdigest()[:16])
    table[CONTENT] = content
    scan.table, scan.flow = table, flow
    scan.flow_digest, scan.face_digest = flow_hash.hexdigest(), face_hash.hexdigest()
    return scan


def release_root(path: str | None, kind: str = NAME, holds: str = f"{CSV_NAME}, {FLOW_DIR}/ and {FACE_DIR}/") -> Path:
    if path is None or not str(path).strip():
        raise ConfigError(f"--data {kind}:PATH needs a path: the folder holding {holds}")
    root = Path(str(path).strip()).expanduser()
    if not root.exists():
        raise DataError(f"{kind}: {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{kind}: {root} is not a directory")
    return root.resolve()


def load_htnet_release(path: str | None, *, cache_dir=None) -> Dataset:
    """Load an HTNet release directory (`--data htnet-release:PATH`); see the module docstring."""
    scan = scan_release(release_root(path))
    if scan.problems:
        raise _problem_error(scan.root, scan.problems)
    table, flow = scan.table, scan.flow
    assert table is not None and flow is not None  # set by a scan without problems
    features = ReleaseFeatures(scan.root, table, flow, scan.face_digest, ArrayCache(cache_dir))
    counts = table.groupby("dataset", sort=False).size()
    return Dataset(
        name=NAME,
        source=f"{NAME}:{scan.root}",
        class_names=CLASS_NAMES,
        samples=table,
        fingerprint=table_fingerprint(table, "htnet-release-flow:" + scan.flow_digest),
        feature_function=features,
        provides=(FLOW_IMAGE, *LANDMARK_PRIMITIVES, APEX_FACE),
        description=f"HTNet release (MEGC2019 composite): {len(table)} samples, "
        f"{table['subject_key'].nunique()} subjects ({', '.join(f'{k} {v}' for k, v in counts.items())})",
    )


@dataclass(frozen=True)
class LandmarkStep:
    """One way to find the five HTNet landmarks on an apex face: `locate(image_bgr)` gives
    ((5, 2) points (x, y) on the 28x28 grid, whether a face was found)."""

    name: str
    version: str  # part of the cache key
    procedure: str
    fallback: str  # what gives the points where no face is found
    locate: Callable[[np.ndarray], tuple[np.ndarray, bool]]


def _mtcnn(image: np.ndarray) -> tuple[np.ndarray, bool]:
    from mebench.features.mtcnn import published_landmarks28

    return published_landmarks28(image)


def _dlib(image: np.ndarray) -> tuple[np.ndarray, bool]:
    from mebench.features.landmarks import DETECTED, apex_landmarks28

    points, how = apex_landmarks28(image)
    return points, how == DETECTED


LANDMARK_STEPS = {
    "mtcnn": LandmarkStep(
        "mtcnn", "facenet-pytorch-mtcnn/bgr-inter_area-28/largest/published-fallback/v1",
        "MTCNN (facenet-pytorch 2.5.2) on the apex face resized to 28x28, as the published main_HTNet.py "
        "(whole_face_block_coordinates) does", "the published fixed mean landmarks", _mtcnn),
    "dlib": LandmarkStep(
        "dlib", "dlib-hog-68pt/upsample1/largest/whole-image-fallback/v1",
        "dlib's HOG face detector and 68-point model on the full-size apex face, scaled to 28x28",
        "dlib's 68-point model run on the whole image", _dlib),
}
# The landmark step behind each landmark primitive (mebench.primitives) on this dataset.
LANDMARK_PRIMITIVES = {LANDMARKS_HTNET: "mtcnn", LANDMARKS_DLIB: "dlib"}
MISSING_FACES_SHOWN = 8  # a run names a few; `datasets check` names them all


class ReleaseFeatures:
    """The feature function of an htnet-release Dataset: `flow` (read at load) and the region inputs."""

    def __init__(self, root: Path, table: pd.DataFrame, flow: np.ndarray, face_digest: str, cache: ArrayCache):
        self.root = root
        self.table = table
        self.flow = flow
        self.face_digest = face_digest
        self.cache = cache
        self.warn = True  # name the faces not found, once per landmark step
        self._warned: set[str] = set()

    def __call__(self, name: str) -> np.ndarray:
        if name == FLOW_IMAGE:
            return self.flow
        if name in LANDMARK_PRIMITIVES:
            return self.landmarks(LANDMARK_PRIMITIVES[name])[0]
        if name == APEX_FACE:  # the release's apex face crops (224x224 JPG), resized; read on demand, not cached
            return face_array([cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for _, _, image in self.faces()])
        raise DataError(f"htnet-release has no primitive {name!r} (it has {FLOW_IMAGE}, {', '.join(LANDMARK_PRIMITIVES)}, "
                        f"{APEX_FACE})")

    def faces(self):
        """(sample, file, BGR image) of every apex face, in table order; DataError naming an unreadable one."""
        for sample, name in zip(self.table["sample"], self.table["face_file"]):
            file = self.root / FACE_DIR / name
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise DataError(f"unreadable apex face image {file} (sample {sample})")
            yield sample, file, image

    def landmark_key(self, step: str) -> dict:
        return {"version": LANDMARK_STEPS[step].version, "faces": list(self.table["face_file"]),
                "face_bytes_sha256": self.face_digest}

    def landmarks(self, step: str = "mtcnn") -> tuple[np.ndarray, np.ndarray]:
        """((N, 5, 2) points on the 28x28 grid, (N,) bool face found) of a landmark step (LANDMARK_STEPS),
        from the cache or computed. Warns once, naming them, about the samples whose face was not found."""
        packed = self.cache.get_or_compute(f"{LANDMARK_NAMESPACE}/{step}", self.landmark_key(step),
                                           lambda: self._compute_landmarks(step),
                                           shape=(len(self.table), 11), dtype=np.float64)
        found = packed[:, 10] > 0
        if self.warn and step not in self._warned:
            self._warned.add(step)
            missing = self.table["sample"][~found].tolist()
            if missing:
                shown = ", ".join(missing[:MISSING_FACES_SHOWN])
                if len(missing) > MISSING_FACES_SHOWN:
                    shown += (f" and {len(missing) - MISSING_FACES_SHOWN} more (`mebench datasets check "
                              f"htnet-release:{self.root}` lists every one)")
                warnings.warn(f"htnet-release: no face found by {step} on {len(missing)} of {len(found)} apex faces; "
                              f"their landmarks are {LANDMARK_STEPS[step].fallback}: {shown}", stacklevel=2)
        return packed[:, :10].reshape(-1, 5, 2), found

    def _compute_landmarks(self, step: str) -> np.ndarray:
        """(N, 11): five (x, y) points flattened, then 1 where a face was found, else 0."""
        locate = LANDMARK_STEPS[step].locate
        out = np.zeros((len(self.table), 11), dtype=np.float64)
        for i, (sample, file, image) in enumerate(self.faces()):
            try:
                points, found = locate(image)
            except ValueError as exc:
                raise DataError(f"landmarks of apex face image {file} (sample {sample}): {exc}") from None
            out[i, :10] = np.asarray(points, dtype=np.float64).reshape(-1)
            out[i, 10] = float(found)
        return out


def landmark_report(dataset: Dataset, step: str = "mtcnn") -> pd.DataFrame:
    """Per sample: face_file, face_found and the five points (x0, y0 ... x4, y4) on the 28x28 grid,
    before clipping, of a landmark step ("mtcnn": the published procedure; "dlib"). Computes them
    unless cached. Works on a Dataset returned by `load_htnet_release` (not on its subsets)."""
    features = dataset.feature_function
    if not isinstance(features, ReleaseFeatures):
        raise DataError(f"dataset {dataset.name!r} was not loaded by htnet-release (or is a subset of one): no landmark report")
    if step not in LANDMARK_STEPS:
        raise ConfigError(f"landmark step {step!r}: one of {', '.join(LANDMARK_STEPS)}")
    points, found = features.landmarks(step)
    report = dataset.samples[["sample", "dataset", "face_file"]].copy()
    report["face_found"] = found
    for k in range(5):
        report[f"x{k}"] = points[:, k, 0]
        report[f"y{k}"] = points[:, k, 1]
    return report


def check_release(path: str | None, *, faces: bool = True, cache_dir=None):
    """`mebench datasets check htnet-release:PATH`: every problem of the CSV and its files, then (with
    `faces`) every apex face on which no face is found, as a CheckReport."""
    from mebench.datasets.raw.tree_check import CheckReport
    from mebench.datasets.raw.records import ERROR, FACE_FALLBACK, METADATA, WARNING, Problem
    root = release_root(path)
    step = LANDMARK_STEPS["mtcnn"]
    report = CheckReport(NAME, str(root), fallback=f"{step.fallback} used, as the published pipeline does")
    scan = scan_release(root)
    report.problems += [Problem(ERROR, METADATA, str(root), text) for text in scan.problems]
    if scan.table is None:
        return report
    report.clips = len(scan.table)
    report.usable = 0 if scan.problems else report.clips
    if faces and not scan.problems:
        assert scan.flow is not None  # set with the table
        features = ReleaseFeatures(root, scan.table, scan.flow, scan.face_digest, ArrayCache(cache_dir))
        features.warn = False  # the report lists them instead
        _, found = features.landmarks(step.name)
        for sample, face, ok in zip(scan.table["sample"], scan.table["face_file"], found):
            if ok:
                report.faces_detected += 1
            else:
                report.face_fallbacks += 1
                report.problems.append(Problem(WARNING, FACE_FALLBACK, str(root / FACE_DIR / face),
                                               f"{step.name} finds no face on the apex face; {step.fallback} are used",
                                               sample))
        report.faces_checked = True
    return report
