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
(mebench.protocols.lists.megc2019).
"""

from __future__ import annotations

from mebench.protocols.lists.megc2019 import CLASSES, MEGC2019
from mebench.protocol import ListedProtocol

SOURCES = {"smic": "SMIC", "casme2": "CASME II", "samm": "SAMM"}
CITATION = ("See, J., Yap, M. H., Li, J., Hong, X., Wang, S.-J. MEGC 2019 - The Second Facial Micro-Expressions "
            "Grand Challenge. IEEE FG 2019.")


class MEGC2019Composite(ListedProtocol):
    name = "composite"
    summary = "MEGC2019 composite: SMIC-HS + CASME II + SAMM, 3 classes, LOSO over all subjects"
    citation = CITATION
    data_text = "smic, casme2, samm (raw: the 442 listed clips), or htnet-release / synthetic"
    class_text = ", ".join(CLASSES)
    fold_text = "one per subject: 68 (16 + 24 + 28)"
    clip_list = MEGC2019
    sources = SOURCES
