"""Cross-dataset protocol: leave one dataset out on the MEGC2019 composite's data and classes.

Each fold trains on every source but one and tests on the held-out source: SMIC-HS, CASME II and
SAMM in turn (3 folds), on the 442 clips and 3 classes of the MEGC2019 list, as in the
composite's "hold-out database" evaluations (e.g. MEGC2018's HDE, Yap et al., IEEE FG 2018) and
MEB's cross-dataset protocol (Varanka et al., "Data Leakage and Evaluation Issues in
Micro-Expression Analysis", IEEE Trans. Affective Computing, 2023), which holds out one dataset at
a time. Scores are pooled over the folds; each group is one held-out dataset.
"""

from __future__ import annotations

import pandas as pd

from mebench.protocols.lists.megc2019 import CLASSES, MEGC2019
from mebench.protocol import Fold, ListedProtocol
from mebench.protocols.composite import SOURCES


class LeaveOneDatasetOut(ListedProtocol):
    name = "cross-dataset"
    summary = "leave one dataset out: train on the other composite sources, test on the held-out one (3 classes)"
    citation = ("Varanka, T., Li, Y., Peng, W., Zhao, G. Data Leakage and Evaluation Issues in Micro-Expression "
                "Analysis. IEEE Trans. Affective Computing (2023); Yap, M. H., See, J., Hong, X., Wang, S.-J. Facial "
                "Micro-Expressions Grand Challenge 2018 Summary. IEEE FG 2018.")
    data_text = "smic, casme2, samm (raw: the 442 MEGC2019 clips), or htnet-release / synthetic"
    class_text = ", ".join(CLASSES)
    fold_text = "one per dataset: 3"
    clip_list = MEGC2019
    sources = SOURCES

    def folds(self, samples: pd.DataFrame) -> list[Fold]:
        folds = []
        for source in [s for s in self.sources if (samples["dataset"] == s).any()]:
            held = samples["dataset"] == source
            folds.append(Fold(id=source, train=tuple(samples.loc[~held, "sample"]), test=tuple(samples.loc[held, "sample"])))
        return folds
