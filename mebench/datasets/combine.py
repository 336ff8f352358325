"""Combining datasets (`--data A --data B`) and taking rows of one, with lazily computed primitives.

`combine_datasets` stacks the sample tables; class names are the union in first-seen order
(the first dataset's classes in its order, then each later dataset's new classes in its
order), labels are re-indexed accordingly, and the features of the parts are concatenated when
first asked for. `take_rows` builds a dataset from some rows of another (optionally with new
labels and classes); when the parent's feature function can `select(rows)` (raw datasets,
combinations of them), only those rows' features are ever computed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mebench.dataset import SAMPLE_COLUMNS, Dataset, table_fingerprint
from mebench.errors import DataError


def features_of_rows(dataset: Dataset, rows: np.ndarray):
    """A feature function giving `dataset`'s features of `rows` only."""
    rows = np.asarray(rows, dtype=np.int64)
    parent = dataset.feature_function
    if hasattr(parent, "select"):
        return parent.select(rows)
    return RowFeatures(dataset, rows)


class RowFeatures:
    def __init__(self, dataset: Dataset, rows: np.ndarray):
        self.dataset, self.rows = dataset, rows

    def __call__(self, name: str) -> np.ndarray:
        return self.dataset.primitive(name)[self.rows]

    def select(self, rows):
        return features_of_rows(self.dataset, self.rows[np.asarray(rows, dtype=np.int64)])


class CombinedFeatures:
    def __init__(self, parts: Sequence[Dataset]):
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])

    def __call__(self, name: str) -> np.ndarray:
        return np.concatenate([p.primitive(name) for p in self.parts])

    def select(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        return SelectedCombined(self, rows)


class SelectedCombined:
    def __init__(self, combined: CombinedFeatures, rows: np.ndarray):
        self.combined, self.rows = combined, rows

    def __call__(self, name: str) -> np.ndarray:
        out = None
        offsets = self.combined.offsets
        for k, part in enumerate(self.combined.parts):
            where = np.nonzero((self.rows >= offsets[k]) & (self.rows < offsets[k + 1]))[0]
            if not len(where):
                continue
            arr = np.asarray(features_of_rows(part, self.rows[where] - offsets[k])(name))
            if out is None:
                out = np.empty((len(self.rows), *arr.shape[1:]), dtype=arr.dtype)
            out[where] = arr
        if out is None:
            raise DataError("no rows selected")
        return out

    def select(self, rows):
        return SelectedCombined(self.combined, self.rows[np.asarray(rows, dtype=np.int64)])


def combine_datasets(datasets: Sequence[Dataset]) -> Dataset:
    """One dataset of several; see the module docstring. Sample ids must not repeat."""
    datasets = list(datasets)
    if not datasets:
        raise DataError("no dataset to combine")
    if len(datasets) == 1:
        return datasets[0]
    class_names: list[str] = []
    for ds in datasets:
        class_names += [c for c in ds.class_names if c not in class_names]
    table = pd.concat([ds.samples for ds in datasets], ignore_index=True)
    dup = table["sample"][table["sample"].duplicated()].unique().tolist()
    if dup:
        raise DataError(f"the --data sources share sample ids ({', '.join(dup[:5])}{' ...' if len(dup) > 5 else ''}): "
                        "give each dataset once")
    table["label_index"] = table["label"].map({c: i for i, c in enumerate(class_names)}).astype(int)
    channels = {ds.flow_channels for ds in datasets}
    if len(channels) > 1:
        raise DataError("the --data sources have flow images of different channel layouts "
                        f"({', '.join(f'{ds.name}: {ds.flow_channels}' for ds in datasets)}); use one pipeline for all")
    front = list(SAMPLE_COLUMNS)
    table = table[front + [c for c in table.columns if c not in front]]
    combined = Dataset(
        name="+".join(ds.name for ds in datasets),
        source=" + ".join(ds.source for ds in datasets),
        class_names=tuple(class_names),
        samples=table,
        fingerprint=table_fingerprint(table, *(ds.fingerprint for ds in datasets)),
        feature_function=CombinedFeatures(datasets),
        description="; ".join(ds.description or ds.name for ds in datasets),
        flow_channels=datasets[0].flow_channels,
        provides=tuple(p for p in datasets[0].provides if all(p in ds.provides for ds in datasets)),  # what all have
    )
    combined.parts = datasets  # type: ignore[attr-defined]
    return combined


def take_rows(dataset: Dataset, rows: Sequence[int] | np.ndarray, *, labels: Sequence[str] | None = None,
              class_names: Sequence[str] | None = None, name_suffix: str = "") -> Dataset:
    """The dataset of `rows` (in that order), optionally relabelled with `labels` over `class_names`."""
    rows = np.asarray(rows, dtype=np.int64)
    table = dataset.samples.iloc[rows].reset_index(drop=True).copy()
    classes = tuple(class_names) if class_names is not None else dataset.class_names
    if labels is not None:
        table["label"] = list(labels)
    unknown = sorted(set(table["label"]) - set(classes))
    if unknown:
        raise DataError(f"labels {unknown} are not among the classes {list(classes)}")
    table["label_index"] = table["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
    return Dataset(
        name=dataset.name + name_suffix,
        source=dataset.source,
        class_names=classes,
        samples=table,
        fingerprint=table_fingerprint(table, dataset.fingerprint, name_suffix),
        feature_function=features_of_rows(dataset, rows),
        description=dataset.description,
        flow_channels=dataset.flow_channels,
        provides=dataset.provides,
    )
