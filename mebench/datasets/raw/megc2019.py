"""The MEGC2019 composite selection: the shipped list of 442 clips and the native -> 3-class label map.

`megc2019.csv` (dataset, subject, clip, label) is the protocol's definition, ids as the raw
loaders name them. `select_megc2019(dataset)` takes a dataset with native labels (raw loaders,
or several combined) and returns exactly the listed clips with their 3-class labels; it raises
one DataError naming every listed clip that the data lack. A listed clip whose native label
maps (LABEL_MAP) to another class than the list's is kept with the list's label and reported
in a warning: the list is the protocol.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from mebench.dataset import Dataset
from mebench.datasets.raw.metadata import read_shipped_csv
from mebench.errors import DataError

LIST_FILE = Path(__file__).with_name("megc2019.csv")
CLASSES = ("negative", "positive", "surprise")
COLUMNS = ("dataset", "subject", "clip", "label")

# Native label (as the raw loaders give it, lower-case) -> MEGC2019 class; labels not listed are excluded.
LABEL_MAP: dict[str, dict[str, str]] = {
    "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    "casme2": {"disgust": "negative", "repression": "negative", "happiness": "positive", "surprise": "surprise"},
    "samm": {"anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative",
             "sadness": "negative", "happiness": "positive", "surprise": "surprise"},
}
MAX_LISTED = 500


def megc2019_label_map(dataset: str, native_label: str) -> str | None:
    """The 3-class label of a native label of a source dataset, None when MEGC2019 excludes it."""
    return LABEL_MAP.get(dataset, {}).get(str(native_label).lower())


def read_list(path: Path | str | None = None) -> pd.DataFrame:
    """The selection list with a `sample` column ("dataset/subject/clip")."""
    path = Path(path) if path is not None else LIST_FILE
    rows = read_shipped_csv(path, COLUMNS, "MEGC2019 list")
    bad = sorted(set(rows["label"]) - set(CLASSES))
    if bad:
        raise DataError(f"MEGC2019 list {path}: labels {bad} are not among {list(CLASSES)}")
    rows = rows[list(COLUMNS)].copy()
    rows["sample"] = rows["dataset"] + "/" + rows["subject"] + "/" + rows["clip"]
    dup = rows["sample"][rows["sample"].duplicated()].tolist()
    if dup:
        raise DataError(f"MEGC2019 list {path} repeats {dup[:5]}")
    return rows


def select_megc2019(dataset: Dataset, selection: pd.DataFrame | Path | str | None = None) -> Dataset:
    """Exactly the listed clips of `dataset`, labelled with the 3 classes (see the module docstring)."""
    from mebench.datasets.combine import take_rows

    listed = selection if isinstance(selection, pd.DataFrame) else read_list(selection)
    if "sample" not in listed.columns:
        listed = listed.assign(sample=listed["dataset"] + "/" + listed["subject"] + "/" + listed["clip"])
    row_of = {s: i for i, s in enumerate(dataset.samples["sample"])}
    missing = listed[~listed["sample"].isin(row_of)]
    if len(missing):
        present = set(dataset.samples["dataset"])
        per = []
        for ds, group in missing.groupby("dataset", sort=False):
            total = int((listed["dataset"] == ds).sum())
            hint = f" (no {ds} data given: add --data {ds}:PATH)" if ds not in present else ""
            per.append(f"{ds} {len(group)} of {total}{hint}")
        names = missing["sample"].tolist()
        more = f"\n  ... and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
        raise DataError(f"the MEGC2019 composite lists {len(names)} clip(s) missing from the data ({'; '.join(per)}):\n  "
                        + "\n  ".join(names[:MAX_LISTED]) + more)
    rows = [row_of[s] for s in listed["sample"]]
    table = dataset.samples.iloc[rows]
    native = table["native_label"] if "native_label" in table.columns else table["label"]
    disagree = [f"{s}: native {n!r} -> {megc2019_label_map(d, n)}, list {want}"
                for s, d, n, want in zip(listed["sample"], table["dataset"], native, listed["label"])
                if isinstance(n, str) and d in LABEL_MAP and megc2019_label_map(d, n) != want]
    if disagree:
        warnings.warn(f"{len(disagree)} listed clip(s) whose native label maps to another MEGC2019 class than the list's "
                      f"(the list's label is used): {'; '.join(disagree[:10])}{' ...' if len(disagree) > 10 else ''}",
                      stacklevel=2)
    return take_rows(dataset, rows, labels=listed["label"].tolist(), class_names=CLASSES, name_suffix="[megc2019]")
