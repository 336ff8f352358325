"""The field's single-dataset class sets (`class_sets.csv`, sources in its header): for a dataset's
native labels, which class each becomes and which are left out.

`apply_class_set` relabels a raw dataset (native labels) with a set: every sample must come from
the set's dataset, a native label the set does not know is an error, and the clips of labels the
set leaves out are removed with a warning that counts them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from mebench.dataset import Dataset
from mebench.protocols.lists import HERE
from mebench.datasets.raw.metadata import read_shipped_csv
from mebench.errors import DataError

CLASS_SETS_FILE = HERE / "class_sets.csv"
NAMES = ("casme2-5", "samm-5", "smic-3", "casme3-7")  # the sets of the file, in order


@dataclass(frozen=True)
class ClassSet:
    name: str
    dataset: str
    classes: tuple[str, ...]  # in order
    mapping: dict[str, str]  # native label -> class
    left_out: tuple[str, ...]  # native labels the set does not use
    reference: dict[str, int]  # native label -> clips in the reference sheet

    def counts(self) -> pd.DataFrame:
        """Reference clips per class (one row: the set's dataset), as the file's header sources give them."""
        per_class = {c: sum(n for label, n in self.reference.items() if self.mapping.get(label) == c)
                     for c in self.classes}
        row = {**per_class, "total": sum(per_class.values()),
               "left out": ", ".join(f"{label} {self.reference[label]}" for label in self.left_out) or "-"}
        return pd.DataFrame([row], index=pd.Index([self.dataset], name="dataset"))


@lru_cache(maxsize=1)
def class_sets() -> dict[str, ClassSet]:
    rows = read_shipped_csv(CLASS_SETS_FILE, ("set", "dataset", "native_label", "class", "reference_count"),
                            "class set file")
    out: dict[str, ClassSet] = {}
    for name, part in rows.groupby("set", sort=False):
        datasets = part["dataset"].unique()
        if len(datasets) != 1:
            raise DataError(f"{CLASS_SETS_FILE}: class set {name!r} names several datasets {list(datasets)}")
        used = part[part["class"] != ""]
        # read_shipped_csv: every cell is a str
        out[str(name)] = ClassSet(str(name), str(datasets[0]), tuple(dict.fromkeys(used["class"])),
                                  dict(zip(used["native_label"], used["class"])),
                                  tuple(part.loc[part["class"] == "", "native_label"]),
                                  {k: int(v) for k, v in zip(part["native_label"], part["reference_count"])})
    return out


def apply_class_set(dataset: Dataset, name: str) -> Dataset:
    """The dataset relabelled with class set `name` (see the module docstring)."""
    from mebench.datasets.combine import take_rows

    cs = class_sets()[name]
    table = dataset.samples
    if "native_label" not in table.columns:
        raise DataError(f"class set {name} relabels {cs.dataset}'s native labels: it needs raw data "
                        f"(--data {cs.dataset}:PATH); dataset {dataset.name!r} has none")
    other = sorted(set(table["dataset"]) - {cs.dataset})
    if other:
        raise DataError(f"class set {name} is for {cs.dataset} only; dataset {dataset.name!r} also has samples of "
                        f"{', '.join(other)}")
    native = table["native_label"].str.lower()
    unknown = sorted(set(native) - set(cs.mapping) - set(cs.left_out))
    if unknown:
        raise DataError(f"class set {name} does not know the native label(s) {unknown} of dataset {dataset.name!r}")
    keep = native.isin(list(cs.mapping))
    dropped = native[~keep].value_counts()
    if len(dropped):
        warnings.warn(f"class set {name}: {int(dropped.sum())} clip(s) of labels it leaves out are not used ("
                      + ", ".join(f"{label} {n}" for label, n in dropped.items()) + ")", stacklevel=3)
    rows = keep.to_numpy().nonzero()[0]
    return take_rows(dataset, rows, labels=native[keep].map(cs.mapping).tolist(), class_names=cs.classes,
                     name_suffix=f"[{name}]")
