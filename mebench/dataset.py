"""The sample table and the Dataset that carries it.

Every dataset, synthetic or real, becomes one pandas table with a row per sample:

    dataset      source dataset of the sample ("smic", "casme2", "samm", ...)
    subject      subject id as the source dataset writes it ("s01", "sub01", "006")
    subject_key  "dataset/subject": subjects are keyed by (dataset, subject), never by id alone
    sample       unique sample id, "dataset/subject/clip"
    label        class name
    label_index  index of `label` in `Dataset.class_names`
    content      (optional) digest of every file the sample's inputs read

and per-sample primitives (the flow image, landmarks, face crops; mebench.primitives), aligned with
the table's rows and computed on first use, from which every method input is derived. A dataset
declares the primitives it provides (`Dataset.provides`), so a method whose input needs another is
refused before anything is computed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mebench.errors import ConfigError, DataError, UnknownNameError

SAMPLE_COLUMNS = ("dataset", "subject", "subject_key", "sample", "label", "label_index")
# Optional column: a digest of every file any of the sample's inputs reads (part of the fingerprint, and
# stored with a run so that a resume on changed data can name the samples whose files changed).
CONTENT = "content"

class NonFiniteError(DataError):
    """A dataset's primitive or input holds NaN or infinite values (named by sample)."""


FeatureFunction = Callable[[str], np.ndarray]  # primitive name (mebench.primitives) -> array


def make_sample_table(rows: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """Normalise a table with columns dataset, subject, clip, label into the sample-table schema."""
    missing = {"dataset", "subject", "clip", "label"} - set(rows.columns)
    if missing:
        raise DataError(f"sample table lacks columns {sorted(missing)}")
    table = rows.copy()
    table["dataset"] = table["dataset"].astype(str)
    table["subject"] = table["subject"].astype(str)
    table["subject_key"] = table["dataset"] + "/" + table["subject"]
    table["sample"] = table["subject_key"] + "/" + table["clip"].astype(str)
    unknown = sorted(set(table["label"]) - set(class_names))
    if unknown:
        raise DataError(f"labels {unknown} are not among the classes {list(class_names)}")
    table["label_index"] = table["label"].map({c: i for i, c in enumerate(class_names)}).astype(int)
    dup = table["sample"][table["sample"].duplicated()].tolist()
    if dup:
        raise DataError(f"duplicate sample ids: {dup[:5]}")
    front = list(SAMPLE_COLUMNS)
    return table[front + [c for c in table.columns if c not in front and c != "clip"]].reset_index(drop=True)


def table_fingerprint(table: pd.DataFrame, *extra: str) -> str:
    """Stable hash of the sample identities, labels and, where the table has it, the `content` column (a
    digest of every file the sample's inputs read), plus any extra strings."""
    h = hashlib.sha256()
    content = table["content"] if CONTENT in table.columns else pd.Series("", index=table.index)
    for sample, label, digest in zip(table["sample"], table["label"], content):
        h.update(f"{sample}\t{label}\t{digest}\n".encode() if digest else f"{sample}\t{label}\n".encode())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]


@dataclass
class Dataset:
    """A sample table, its class names and a way to get the primitives it provides (`provides`: names
    registered in mebench.primitives), from which `features` derives any method input."""

    name: str
    source: str
    class_names: tuple[str, ...]
    samples: pd.DataFrame
    fingerprint: str
    feature_function: FeatureFunction
    description: str = ""
    flow_channels: str = "strain-v-u"  # layout of the flow image (mebench.representations.FLOW_CHANNELS)
    provides: tuple[str, ...] = ("flow-image",)  # the primitives feature_function supplies (mebench.primitives)
    _primitives: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        missing = set(SAMPLE_COLUMNS) - set(self.samples.columns)
        if missing:
            raise DataError(f"dataset {self.name!r}: sample table lacks columns {sorted(missing)}")
        self._row_of = {s: i for i, s in enumerate(self.samples["sample"])}
        from mebench.plugins import primitives

        self.provides = tuple(self.provides)
        unknown = [p for p in self.provides if p not in primitives]
        if unknown:
            raise DataError(f"dataset {self.name!r} declares unknown primitive(s) {', '.join(unknown)} (known: "
                            f"{', '.join(primitives.names())}; a plugin registers its own in mebench.primitives)")

    def __len__(self) -> int:
        return len(self.samples)

    def primitive(self, name: str) -> np.ndarray:
        """A primitive it provides, aligned with `samples`, checked against its declared shape and dtype
        (mebench.primitives); computed once, then kept."""
        from mebench.plugins import primitives

        if name not in self._primitives:
            spec = primitives.get(name)
            if name not in self.provides:
                raise DataError(f"dataset {self.name!r} does not provide {name!r} (it provides "
                                f"{', '.join(self.provides)}): {spec.explain()}")
            arr = np.asarray(self.feature_function(name)).astype(spec.dtype, copy=False)
            expected = (len(self.samples), *spec.shape)
            if arr.shape != expected:
                raise DataError(f"dataset {self.name!r}: {name!r} has shape {arr.shape}, expected {expected}")
            self._check_finite(name, arr)
            self._primitives[name] = arr
        return self._primitives[name]

    def _check_finite(self, what: str, arr: np.ndarray) -> None:
        """DataError naming the samples whose values are NaN or infinite (training would fail on them, later)."""
        bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1) if arr.size else np.zeros(len(arr), bool)
        if bad.any():
            names = self.samples["sample"][bad].tolist()
            raise NonFiniteError(f"dataset {self.name!r}: {what!r} holds NaN or infinite values for {len(names)} sample(s): "
                            + ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""))

    def features(self, representation: str) -> np.ndarray:
        """The input a method asks for (mebench.representations), (N, *shape) float32 aligned with `samples`
        (derived once, then kept); DataError naming the missing primitives when the dataset lacks one."""
        from mebench.representations import input_of, refusal

        if representation not in self._features:
            try:
                inp = input_of(representation)
            except UnknownNameError as exc:  # a data question here: which input can this dataset make
                raise DataError(f"dataset {self.name!r}: {exc}") from None
            why = refusal(inp, self.name, self.provides)
            if why:
                raise DataError(why)
            inp.check_layout(self.flow_channels, self.name)
            features = np.asarray(inp.derive(self.primitive), dtype=np.float32)
            self._check_finite(representation, features)
            self._features[representation] = features
        return self._features[representation]

    def rows(self, sample_ids: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self._row_of[s] for s in sample_ids), dtype=np.int64, count=len(sample_ids))
        except KeyError as exc:
            raise DataError(f"dataset {self.name!r} has no sample {exc.args[0]!r}") from None

    def labels(self) -> np.ndarray:
        return self.samples["label_index"].to_numpy()

    def subset(self, mask: np.ndarray | pd.Series, *, name_suffix: str = "") -> "Dataset":
        """A dataset restricted to some rows; features are sliced, not recomputed."""
        mask = np.asarray(mask, dtype=bool)
        parent = self

        def sliced(name: str) -> np.ndarray:
            return parent.primitive(name)[mask]

        table = self.samples[mask].reset_index(drop=True)
        return Dataset(
            name=self.name + name_suffix,
            source=self.source,
            class_names=self.class_names,
            samples=table,
            fingerprint=table_fingerprint(table, self.fingerprint),
            feature_function=sliced,
            description=self.description,
            flow_channels=self.flow_channels,
            provides=self.provides,
        )


def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """'htnet-release:PATH' -> ('htnet-release', 'PATH'); 'synthetic' -> ('synthetic', None)."""
    if not spec or spec.startswith(":"):
        raise ConfigError(f"--data {spec!r}: expected KIND or KIND:PATH (e.g. synthetic, htnet-release:/data/htnet)")
    kind, sep, path = spec.partition(":")
    return kind, (path if sep else None)
