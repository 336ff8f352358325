"""Leave one subject out on any dataset: one fold per (dataset, subject)."""

from __future__ import annotations

import pandas as pd

from mebench.protocol import Fold, Protocol, loso_folds


class LeaveOneSubjectOut(Protocol):
    name = "loso"
    summary = "leave one subject out over every subject of the data; groups: Full and each source dataset"

    def folds(self, samples: pd.DataFrame) -> list[Fold]:
        return loso_folds(samples)

    def groups(self, samples: pd.DataFrame) -> dict[str, pd.Series]:
        groups = {"Full": pd.Series(True, index=samples.index)}
        sources = sorted(samples["dataset"].unique())
        if len(sources) > 1:
            groups.update({s: samples["dataset"] == s for s in sources})
        return groups
