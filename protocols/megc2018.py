"""MEGC2018 composite protocol: CASME II and SAMM with five objective classes.

Yap, M. H., See, J., Hong, X., Wang, S.-J. "Facial Micro-Expressions Grand Challenge 2018
Summary." IEEE FG 2018. The classes are Davison et al.'s objective classes I-V ("Objective
Classes for Micro-Facial Expression Recognition", Journal of Imaging 4(10), 2018), defined by
action units rather than by the emotion the annotators estimated; classes VI and VII are left out.
Leave one subject out over the 47 subjects of the 253 listed clips (CASME II 185, SAMM 68), as
the composite-database evaluation (CDE) of the challenge; the shipped list gives its source.
"""

from __future__ import annotations

from pathlib import Path

from mebench.protocols.lists import HERE, ClipList
from mebench.protocol import ListedProtocol

CLASSES = ("I", "II", "III", "IV", "V")
MEGC2018 = ClipList("the MEGC2018 composite", Path(HERE) / "megc2018.csv", CLASSES, tag="megc2018")


class MEGC2018Composite(ListedProtocol):
    name = "megc2018"
    summary = "MEGC2018 composite: CASME II + SAMM, objective classes I-V, LOSO over all subjects"
    citation = ("Yap, M. H., See, J., Hong, X., Wang, S.-J. Facial Micro-Expressions Grand Challenge 2018 Summary. "
                "IEEE FG 2018; Davison, A. K., Merghani, W., Yap, M. H. Objective Classes for Micro-Facial Expression "
                "Recognition. Journal of Imaging 4(10):119 (2018).")
    data_text = "casme2, samm (raw: the 253 listed clips)"
    class_text = ", ".join(CLASSES) + " (objective classes)"
    fold_text = "one per subject: 47 (26 + 21)"
    clip_list = MEGC2018
    sources = {"casme2": "CASME II", "samm": "SAMM"}
