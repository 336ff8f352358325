"""Leave one subject out on any dataset: one fold per (dataset, subject).

Option `classes`: `native` (default) keeps the data's labels as they are; a class set relabels a
raw dataset's native labels as the field reports it (mebench.protocols.lists.class_sets, sources in
`class_sets.csv`): `casme2-5` (happiness, surprise, disgust, repression, others; Yan et al. 2014),
`samm-5` (anger, contempt, happiness, surprise, other; Davison et al. 2018), `smic-3` (Li et al.
2013) and `casme3-7` (Li et al. 2022).
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd

from mebench.dataset import Dataset
from mebench.protocols.lists.class_sets import NAMES, apply_class_set, class_sets
from mebench.params import Bounds
from mebench.protocol import Fold, Protocol, dataset_groups, loso_folds

ClassSetName = Annotated[str, Bounds(choices=("native", *NAMES))]


class LeaveOneSubjectOut(Protocol):
    name = "loso"
    summary = "leave one subject out over every subject of the data; groups: Full and each source dataset"
    citation = "Class sets: see `mebench protocols show loso` (class_sets.csv cites each)."
    data_text = "any; with classes=SET, the set's raw dataset"
    class_text = "the data's own (classes=native), or a class set: " + ", ".join(NAMES)
    fold_text = "one per subject"

    def __init__(self, *, classes: ClassSetName = "native"):
        self.classes = classes

    def counts(self) -> pd.DataFrame | None:
        return None if self.classes == "native" else class_sets()[self.classes].counts()

    def prepare(self, dataset: Dataset) -> Dataset:
        return dataset if self.classes == "native" else apply_class_set(dataset, self.classes)

    def folds(self, samples: pd.DataFrame) -> list[Fold]:
        return loso_folds(samples)

    def groups(self, samples: pd.DataFrame) -> dict[str, pd.Series]:
        return dataset_groups(samples)
