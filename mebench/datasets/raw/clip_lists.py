"""Protocols defined by a shipped clip list: which clips of the raw datasets, with which labels.

A `ClipList` is a CSV that mebench ships (`#` lines give its source): dataset, subject, clip,
label, ids as the raw loaders name them, and no image data. `select_listed` takes a dataset with
native labels (raw loaders, or several combined) and returns exactly the listed clips with the
list's labels; it raises one DataError naming every listed clip the data lack. Where a native
label maps (`label_map`) to another class than the list's, the list wins and a warning says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping

import pandas as pd

from mebench.dataset import Dataset
from mebench.datasets.raw.metadata import read_shipped_csv
from mebench.errors import DataError

COLUMNS = ("dataset", "subject", "clip", "label")
MAX_LISTED = 500
HERE = Path(__file__).parent


@dataclass(frozen=True)
class ClipList:
    """A protocol's clip list: its file, its classes in order, and what a native label should map to."""

    what: str  # e.g. "the MEGC2019 composite", for messages
    path: Path
    classes: tuple[str, ...]
    # dataset -> native label (lower-case) -> class; a native label not in its dataset's map is left out
    label_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    tag: str = ""  # suffix of the selected dataset's name

    def map_label(self, dataset: str, native_label: str) -> str | None:
        return self.label_map.get(dataset, {}).get(str(native_label).lower())

    @cached_property
    def table(self) -> pd.DataFrame:
        return read_clip_list(self.path, self.classes, self.what)

    def counts(self) -> pd.DataFrame:
        """Clips per dataset and class (a row per dataset, a column per class, plus subjects and total)."""
        t = self.table
        counts = t.groupby(["dataset", "label"], sort=False).size().unstack(fill_value=0)
        counts = counts.reindex(columns=list(self.classes), fill_value=0)
        counts["total"] = counts.sum(axis=1)
        counts.insert(0, "subjects", t.groupby("dataset", sort=False)["subject"].nunique())
        return counts


def read_clip_list(path: Path | str, classes: tuple[str, ...], what: str) -> pd.DataFrame:
    """The list with a `sample` column ("dataset/subject/clip"); DataError for unknown labels or repeats."""
    path = Path(path)
    rows = read_shipped_csv(path, COLUMNS, f"{what} list")
    bad = sorted(set(rows["label"]) - set(classes))
    if bad:
        raise DataError(f"{what} list {path}: labels {bad} are not among {list(classes)}")
    rows = rows[list(COLUMNS)].copy()
    rows["sample"] = rows["dataset"] + "/" + rows["subject"] + "/" + rows["clip"]
    dup = rows["sample"][rows["sample"].duplicated()].tolist()
    if dup:
        raise DataError(f"{what} list {path} repeats {dup[:5]}")
    return rows


def select_listed(dataset: Dataset, clips: ClipList, listed: pd.DataFrame | None = None) -> Dataset:
    """Exactly the listed clips of `dataset`, labelled as the list says (see the module docstring)."""
    from mebench.datasets.combine import take_rows

    listed = clips.table if listed is None else listed
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
        raise DataError(f"{clips.what} lists {len(names)} clip(s) missing from the data ({'; '.join(per)}):\n  "
                        + "\n  ".join(names[:MAX_LISTED]) + more)
    rows = [row_of[s] for s in listed["sample"]]
    table = dataset.samples.iloc[rows]
    native = table["native_label"] if "native_label" in table.columns else table["label"]
    disagree = [f"{s}: native {n!r} -> {clips.map_label(d, n)}, list {want}"
                for s, d, n, want in zip(listed["sample"], table["dataset"], native, listed["label"])
                if isinstance(n, str) and d in clips.label_map and clips.map_label(d, n) != want]
    if disagree:
        warnings.warn(f"{len(disagree)} listed clip(s) whose native label maps to another class of {clips.what} "
                      f"than the list's (the list's label is used): {'; '.join(disagree[:10])}"
                      f"{' ...' if len(disagree) > 10 else ''}", stacklevel=3)
    return take_rows(dataset, rows, labels=listed["label"].tolist(), class_names=clips.classes,
                     name_suffix=f"[{clips.tag}]" if clips.tag else "")
