"""MEGC2019 composite protocol.

See, J., Yap, M. H., Li, J., Hong, X., Wang, S.-J. "MEGC 2019 - The Second Facial
Micro-Expressions Grand Challenge." IEEE FG 2019.

SMIC-HS, CASME II and SAMM are pooled into one 3-class problem (negative, positive, surprise)
and evaluated by leave-one-subject-out over the union of their subjects (68 folds on the real
data: 16 + 24 + 28). UF1 and UAR are computed on the predictions pooled over all folds, for the
full composite and for each source dataset's slice.

Data already in 3-class form (synthetic, htnet-release) is used as it is. Raw datasets (their
sample table has a `native_label` column: `--data smic:... --data casme2:... --data samm:...`)
are reduced to exactly the 442 clips of the MEGC2019 list with its labels
(mebench.datasets.raw.megc2019).
"""

from __future__ import annotations

import pandas as pd

from mebench.dataset import Dataset
from mebench.errors import DataError
from mebench.protocol import Fold, Protocol, loso_folds

CLASSES = ("negative", "positive", "surprise")
SOURCES = {"smic": "SMIC", "casme2": "CASME II", "samm": "SAMM"}


def check_sources(dataset: Dataset) -> None:
    """Every sample must come from one of the composite's sources, named exactly: a source the
    protocol does not know (or a differently cased name) is an error naming it, never dropped."""
    counts = dataset.samples["dataset"].value_counts(sort=False)
    unknown = [name for name in counts.index if name not in SOURCES]
    if not unknown:
        return
    parts = []
    for name in unknown:
        rows = dataset.samples.loc[dataset.samples["dataset"] == name, "sample"].tolist()
        close = [s for s in SOURCES if s == str(name).strip().lower().replace(" ", "").replace("-", "")]
        hint = f", did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(rows[:3]) + (" ..." if len(rows) > 3 else "")
        parts.append(f"{name!r} ({len(rows)} sample(s): {shown}){hint}")
    raise DataError(f"the composite protocol takes samples of {', '.join(SOURCES)} only (names are case-sensitive); "
                    f"dataset {dataset.name!r} has samples of unknown source " + "; ".join(parts))


class MEGC2019Composite(Protocol):
    name = "composite"
    summary = "MEGC2019 composite: SMIC-HS + CASME II + SAMM, 3 classes, LOSO over all subjects; groups Full, SMIC, CASME II, SAMM"

    def __init__(self, selection=None):
        # the MEGC2019 list used for datasets with native labels (None: the shipped 442 clips)
        self.selection = selection

    def prepare(self, dataset: Dataset) -> Dataset:
        check_sources(dataset)
        if "native_label" in dataset.samples.columns:
            # raw datasets (native labels): exactly the MEGC2019 list, mapped to the 3 classes;
            # every listed clip missing from the data is named in the error
            from mebench.datasets.raw.megc2019 import select_megc2019

            return select_megc2019(dataset, self.selection)
        if tuple(dataset.class_names) != CLASSES:
            raise DataError(
                f"the composite protocol needs the classes {list(CLASSES)}; dataset {dataset.name!r} has {list(dataset.class_names)}"
            )
        present = set(dataset.samples["dataset"])
        missing = [s for s in SOURCES if s not in present]
        if missing:
            raise DataError(
                f"the composite protocol needs samples from {', '.join(SOURCES)}; dataset {dataset.name!r} has none from {', '.join(missing)}"
            )
        return dataset

    def folds(self, samples: pd.DataFrame) -> list[Fold]:
        return loso_folds(samples)

    def groups(self, samples: pd.DataFrame) -> dict[str, pd.Series]:
        groups = {"Full": pd.Series(True, index=samples.index)}
        groups.update({label: samples["dataset"] == source for source, label in SOURCES.items()})
        return groups
