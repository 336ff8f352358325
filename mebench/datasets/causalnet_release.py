"""`--data causalnet-release:PATH`: the MEGC2019 composite as the public CausalNet repository ships its inputs.

Zhang, Z., Tang, W., Chen, H. "Rethinking Key-frame-based Micro-expression Recognition: A Robust and
Accurate Framework Against Key-frame Errors." ICCV 2025 (arXiv 2508.06640). Code (MIT):
https://github.com/tony19980810/CausalNet

Layout under PATH, as the CausalNet repository distributes it:

    combined_3_class2_for_optical_flow.csv   the HTNet release's list: the same 442 clips, columns and labels
    STSNet_whole_norm_u_v_os/                 four 28x28x3 PNGs per clip, named like the HTNet release's:
        "{sub}_{filename_o} .png"      onset-to-apex optical flow     -> primitive flow-image
        "{sub}_{filename_o}_1 .png"    apex-to-offset optical flow    -> flow-image:apex-offset
        "{sub}_{filename_o}_2 .png"    onset-to-apex direction map    -> direction-map:onset-apex
        "{sub}_{filename_o}_3 .png"    apex-to-offset direction map   -> direction-map:apex-offset

The map meanings are those the repository's `main_train_for_parameter_tuning.py` states; the code that
computed the maps is not published, which is why they exist only here (a method that needs them is
refused on every other dataset). Each map is read once, at load, exactly as the published
`main_train.py` reads it: `cv2.imread`, so BGR, raw 0-255, as float32 (3, 28, 28). The onset-to-apex
map is *not* the HTNet release's flow image (same clips and naming, other pixels), so every `flow`
method runs on this dataset's own image. There are no apex faces, hence no landmarks: inputs cut around
landmarks (htnet-regions...) are refused; `causalnet-regions` is cut around one fixed template. The flow
images' channels are declared (strain, v, u) as on htnet-release: the folder and file names are the HTNet
release's (`..._norm_u_v_os`: u, v and strain stored in RGB order), an inference, since the code that made
them is unpublished.

Samples are keyed `dataset/subject/clip` as on htnet-release. The fingerprint covers the sample ids
and labels, each sample's digest of its four files (the `content` column) and the CSV's bytes. Loading
raises one DataError naming every missing, unreadable or misshapen file with its sample.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mebench.dataset import CONTENT, Dataset, table_fingerprint
from mebench.datasets.htnet_release import (CLASS_NAMES, CSV_NAME, FLOW_DIR, FLOW_SHAPE, _decode, _escapes,
                                            _problem_error, _read_bytes, flow_file_name, release_root, release_table)
from mebench.errors import DataError
from mebench.features.regions import GRID
from mebench.primitives import FLOW_IMAGE
from mebench.representations import CAUSALNET_MAPS

NAME = "causalnet-release"
# primitive -> the suffix its file adds to the clip id (published main_train.py: n_img, _1, _2, _3)
MAP_SUFFIXES = dict(zip((FLOW_IMAGE, *CAUSALNET_MAPS), ("", "_1", "_2", "_3")))
MAP_TEXT = {FLOW_IMAGE: "onset-to-apex optical flow image", **{k: v.removeprefix("the ") for k, v in CAUSALNET_MAPS.items()}}


def map_file_name(subject: str, clip: str, primitive: str) -> str:
    """The file of one map of a clip: "{sub}_{filename_o}{suffix} .png", with the release's space."""
    return flow_file_name(subject, clip + MAP_SUFFIXES[primitive])


def _read_map(file: Path, folder: Path, sample: str, what: str) -> tuple[np.ndarray | None, bytes, str]:
    """(image HxWx3 uint8, the file's bytes, "") or (None, b"", the problem naming the file and sample)."""
    where = f"{what} {file} (sample {sample})"
    data = _read_bytes(file)
    if data is None:
        return None, b"", f"missing {where}"
    if _escapes(file, folder):
        return None, b"", f"{where} is a symbolic link leading out of {folder} (refused)"
    img, why = _decode(data, cv2.IMREAD_UNCHANGED, (GRID, GRID))
    if img is None:
        return None, b"", f"unreadable {where}: {why}"
    if img.shape != FLOW_SHAPE or img.dtype != np.uint8:
        return None, b"", f"unreadable {where}: shape {img.shape} {img.dtype}, expected {FLOW_SHAPE} uint8"
    return img, data, ""


def scan_maps(root: Path) -> tuple[pd.DataFrame | None, dict[str, np.ndarray], list[str]]:
    """(sample table with its `content` digests, primitive -> (N, 3, 28, 28) float32, problems)."""
    problems: list[str] = []
    table = release_table(root, problems)
    if table is None:
        return None, {}, problems
    table = table.drop(columns=["face_file"])  # the release has no apex faces
    folder = root / FLOW_DIR
    if not folder.is_dir():
        return table, {}, [f"missing folder {folder} (all {4 * len(table)} map files expected in it are missing)"]
    maps = {name: np.zeros((len(table), 3, GRID, GRID), dtype=np.float32) for name in MAP_SUFFIXES}
    content = []
    for i, (sample, subject) in enumerate(zip(table["sample"], table["subject"])):
        clip = sample.split("/", 2)[2]
        digest = hashlib.sha256()
        for name in MAP_SUFFIXES:
            img, data, problem = _read_map(folder / map_file_name(subject, clip, name), folder, sample, MAP_TEXT[name])
            if problem:
                problems.append(problem)
                continue
            assert img is not None  # read without a problem
            maps[name][i] = img.transpose(2, 0, 1)
            digest.update(hashlib.sha256(data).digest())
        content.append(digest.hexdigest()[:16])
    table[CONTENT] = content
    return table, maps, problems


class MapFeatures:
    """The feature function of a causalnet-release Dataset: its four maps, read at load."""

    def __init__(self, maps: dict[str, np.ndarray]):
        self.maps = maps

    def __call__(self, name: str) -> np.ndarray:
        if name in self.maps:
            return self.maps[name]
        raise DataError(f"{NAME} has no primitive {name!r} (it has {', '.join(self.maps)}; without apex faces it has "
                        "no landmarks, so inputs cut around landmarks cannot be made from it)")


def load_causalnet_release(path: str | None, *, cache_dir=None) -> Dataset:
    """The CausalNet release: the MEGC2019 composite's 442 clips, four maps each (`--data causalnet-release:PATH`)."""
    root = release_root(path, NAME, f"{CSV_NAME} and {FLOW_DIR}/")
    table, maps, problems = scan_maps(root)
    if problems:
        raise _problem_error(root, problems, NAME)
    assert table is not None  # read without a problem
    csv_digest = hashlib.sha256((root / CSV_NAME).read_bytes()).hexdigest()
    counts = table.groupby("dataset", sort=False).size()
    description = (f"CausalNet release (MEGC2019 composite, four maps per clip): {len(table)} samples, "
                   f"{table['subject_key'].nunique()} subjects ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    fingerprint = table_fingerprint(table, f"{NAME}-csv:{csv_digest}")
    return Dataset(NAME, f"{NAME}:{root}", CLASS_NAMES, table, fingerprint, MapFeatures(maps), description,
                   provides=tuple(MAP_SUFFIXES))
