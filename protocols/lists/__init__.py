"""Protocols defined by a shipped clip list: which clips of the raw datasets, with which labels.

The protocols' data lives in this package, beside the protocols that use it: the clip lists
(`megc2019.csv`, served with its label map by `megc2019`; `megc2018.csv`; `casme3_htnet.csv`) and
the single-dataset class sets (`class_sets.csv`, served by `class_sets`).

A `ClipList` is a CSV that mebench ships (`#` lines give its source): dataset, subject, clip,
label, ids as the raw loaders name them, and no image data; further columns are kept (CAS(ME)^3's
list: `emotion`, the sheet's native label, and the frame numbers). `select_listed` takes a dataset
and returns exactly the listed clips, matched by sample id (dataset/subject/clip), with the list's
labels; it raises one DataError naming every listed clip the data lack. On data with native labels
(raw loaders, or several combined), a native label that maps (`label_map`) to another class than
the list's is reported in a warning and the list wins, or is an error with `strict_labels`; where
the list has an `emotion` column, a native label other than it is an error. On data already in the
list's classes (htnet-release, synthetic), a label other than the list's is an error.
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
    strict_labels: bool = False  # a native label that maps to another class than the list's is an error, not a warning

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
    """The list with a `sample` column ("dataset/subject/clip"); DataError for unknown labels, repeats or no clips."""
    path = Path(path)
    rows = read_shipped_csv(path, COLUMNS, f"{what} list")
    if rows.empty:
        raise DataError(f"{what} list {path} lists no clips (a header and no rows)")
    empty = [c for c in COLUMNS if (rows[c].str.strip() == "").any()]
    if empty:
        raise DataError(f"{what} list {path} has rows with an empty {', '.join(empty)}")
    bad = sorted(set(rows["label"]) - set(classes))
    if bad:
        raise DataError(f"{what} list {path}: labels {bad} are not among {list(classes)}")
    rows = rows[list(COLUMNS) + [c for c in rows.columns if c not in COLUMNS and c != "sample"]].copy()
    rows["sample"] = rows["dataset"] + "/" + rows["subject"] + "/" + rows["clip"]
    dup = rows["sample"][rows["sample"].duplicated()].tolist()
    if dup:
        raise DataError(f"{what} list {path} repeats {dup[:5]}")
    return rows


def _listing(lines: list[str], limit: int = 10) -> str:
    return "; ".join(lines[:limit]) + (f" ... and {len(lines) - limit} more" if len(lines) > limit else "")


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
    if "native_label" in table.columns:
        _check_native_labels(clips, listed, table)
    else:  # data already in the list's classes: its labels are the list's, or the list names other clips
        disagree = [f"{s}: data {have!r}, list {want!r}"
                    for s, have, want in zip(listed["sample"], table["label"], listed["label"]) if have != want]
        if disagree:
            raise DataError(f"{clips.what} list gives {len(disagree)} clip(s) another label than dataset "
                            f"{dataset.name!r} does: {_listing(disagree)}")
    return take_rows(dataset, rows, labels=listed["label"].tolist(), class_names=clips.classes,
                     name_suffix=f"[{clips.tag}]" if clips.tag else "")


def _check_native_labels(clips: ClipList, listed: pd.DataFrame, table: pd.DataFrame) -> None:
    native = table["native_label"]
    if "emotion" in listed.columns:  # the list names the native label too: it must be the data's
        wrong = [f"{s}: the data's label {n!r}, the list's {want!r}"
                 for s, n, want in zip(listed["sample"], native, listed["emotion"])
                 if want.strip() and str(n).strip().lower() != want.strip().lower()]
        if wrong:
            raise DataError(f"{clips.what}: {len(wrong)} listed clip(s) have another label in the data than in the "
                            f"list (is it the same clip?): {_listing(wrong)}")
    disagree = [f"{s}: native {n!r} -> {clips.map_label(d, n)}, list {want}"
                for s, d, n, want in zip(listed["sample"], table["dataset"], native, listed["label"])
                if isinstance(n, str) and d in clips.label_map and clips.map_label(d, n) != want]
    if disagree and clips.strict_labels:
        raise DataError(f"{len(disagree)} listed clip(s) whose native label maps to another class of {clips.what} "
                        f"than the list's: {_listing(disagree)}")
    if disagree:
        warnings.warn(f"{len(disagree)} listed clip(s) whose native label maps to another class of {clips.what} "
                      f"than the list's (the list's label is used): {_listing(disagree)}", stacklevel=4)
