"""The protocol contract: a protocol turns a sample table into folds and names the reporting groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from mebench.dataset import Dataset
from mebench.errors import PluginLoadError


@dataclass(frozen=True)
class Fold:
    """One train/test split. `id` is stable across runs (it names the held-out unit)."""

    id: str
    train: tuple[str, ...]
    test: tuple[str, ...]


class Protocol:
    """Base class of protocols. Subclasses set `name`, `summary` and implement `folds` and `groups`."""

    name: ClassVar[str]
    summary: ClassVar[str]

    def prepare(self, dataset: Dataset) -> Dataset:
        """Check (and if the protocol says so, select from) the dataset before folding."""
        return dataset

    def folds(self, samples: pd.DataFrame) -> list[Fold]:
        raise NotImplementedError

    def groups(self, samples: pd.DataFrame) -> dict[str, pd.Series]:
        """Reporting groups: display name -> boolean mask over `samples` rows, in table order."""
        raise NotImplementedError


def loso_folds(samples: pd.DataFrame) -> list[Fold]:
    """Leave one subject out; a subject is (dataset, subject), folds ordered by subject key."""
    folds = []
    for key, test in samples.groupby("subject_key", sort=True):
        train = samples.loc[samples["subject_key"] != key, "sample"]
        folds.append(Fold(id=str(key), train=tuple(train), test=tuple(test["sample"])))
    return folds


def validate_protocol_class(name: str, obj: object) -> type[Protocol]:
    if not (isinstance(obj, type) and issubclass(obj, Protocol)):
        raise PluginLoadError(f"protocol plugin {name!r} is {obj!r}, not a subclass of mebench.Protocol")
    if getattr(obj, "name", None) != name:
        raise PluginLoadError(f"protocol plugin registered as {name!r} calls itself {getattr(obj, 'name', None)!r}")
    return obj
