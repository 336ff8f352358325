"""The MEGC2019 composite selection: the shipped list of 442 clips and the native -> 3-class label map.

`megc2019.csv` (dataset, subject, clip, label) is the protocol's definition, ids as the raw
loaders name them. `select_megc2019(dataset)` takes a dataset with native labels (raw loaders,
or several combined) and returns exactly the listed clips with their 3-class labels; it raises
one DataError naming every listed clip that the data lack. A listed clip whose native label
maps (LABEL_MAP) to another class than the list's is kept with the list's label and reported
in a warning: the list is the protocol.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mebench.dataset import Dataset
from mebench.protocols.lists import ClipList, read_clip_list, select_listed

LIST_FILE = Path(__file__).with_name("megc2019.csv")
CLASSES = ("negative", "positive", "surprise")

# Native label (as the raw loaders give it, lower-case) -> MEGC2019 class; labels not listed are excluded.
LABEL_MAP: dict[str, dict[str, str]] = {
    "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    "casme2": {"disgust": "negative", "repression": "negative", "happiness": "positive", "surprise": "surprise"},
    "samm": {"anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative",
             "sadness": "negative", "happiness": "positive", "surprise": "surprise"},
}


def megc2019_label_map(dataset: str, native_label: str) -> str | None:
    """The 3-class label of a native label of a source dataset, None when MEGC2019 excludes it."""
    return MEGC2019.map_label(dataset, native_label)


MEGC2019 = ClipList("the MEGC2019 composite", LIST_FILE, CLASSES, LABEL_MAP, tag="megc2019")


def read_list(path: Path | str | None = None) -> pd.DataFrame:
    """The selection list with a `sample` column ("dataset/subject/clip")."""
    return MEGC2019.table if path is None else read_clip_list(path, CLASSES, "MEGC2019")


def select_megc2019(dataset: Dataset, selection: pd.DataFrame | Path | str | None = None) -> Dataset:
    """Exactly the listed clips of `dataset`, labelled with the 3 classes (see the module docstring)."""
    listed = selection if isinstance(selection, pd.DataFrame) else read_list(selection)
    return select_listed(dataset, MEGC2019, listed)
