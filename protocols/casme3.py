"""CAS(ME)^3 part A, 3 classes, as HTNet evaluates it.

Li, J. et al. "CAS(ME)^3: A Third Generation Facial Spontaneous Micro-Expression Database with
Depth Information and High Ecological Validity." IEEE TPAMI (2022); Wang, Z. et al. "HTNet for
micro-expression recognition." Neurocomputing 602 (2024).

Leave one subject out over the 687 clips (87 subjects) of the list the HTNet repository ships
(`cas(me)3_part_A_edited.csv`), with its classes: disgust, fear, anger and sad are negative (449),
happy is positive (54), surprise is surprise (184); "others" is left out. HTNet's own input for
this table differs from its composite input: `--pipeline htnet-casme3` with the `htnet-casme3`
method (see mebench.datasets.raw.pipeline).

A listed clip is named by subject, video (Filename) and onset frame, `casme3/spNO.10/k-735`, as the
casme3 loader names it, so it is found whatever other rows the label sheet holds and in whatever
order. The list also gives each clip's sheet label (`emotion`): a clip whose label in the data is
another one, or maps to another class than the list's, is an error naming it.
"""

from __future__ import annotations

from pathlib import Path

from mebench.protocols.lists import HERE, ClipList
from mebench.protocol import ListedProtocol

CLASSES = ("negative", "positive", "surprise")
LABEL_MAP = {"casme3": {"disgust": "negative", "fear": "negative", "anger": "negative", "sad": "negative",
                        "happy": "positive", "surprise": "surprise"}}
CASME3_HTNET = ClipList("CAS(ME)^3 as HTNet evaluates it", Path(HERE) / "casme3_htnet.csv", CLASSES, LABEL_MAP,
                        tag="casme3-htnet", strict_labels=True)


class CASME3HTNet(ListedProtocol):
    name = "casme3-htnet"
    summary = "CAS(ME)^3 part A, 3 classes, LOSO over the 687 clips HTNet evaluates"
    citation = ("Li, J. et al. CAS(ME)^3: A Third Generation Facial Spontaneous Micro-Expression Database with Depth "
                "Information and High Ecological Validity. IEEE TPAMI (2022); list and classes: Wang, Z. et al. HTNet "
                "for micro-expression recognition. Neurocomputing 602 (2024), github.com/wangzhifengharrison/HTNet.")
    data_text = "casme3 (raw: the 687 listed clips)"
    class_text = ", ".join(CLASSES)
    fold_text = "one per subject: 87"
    clip_list = CASME3_HTNET
    sources = {"casme3": "CAS(ME)^3"}
