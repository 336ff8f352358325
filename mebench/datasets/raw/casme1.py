"""`--data casme1:PATH`: CASME (Yan et al., IEEE FG 2013), the first CASME database, as distributed.

PATH holds the two coding sheets, `Section A.xls` and `Section B.xls` (one per recording section;
both are read, and a sample listed in both is an error; a single combined `CASME*.xls(x)` is
read the same way, or name one file itself as PATH), and the frames
`CASME_raw_selected/sub01/EP01_5/EP01_5-113.jpg` (also accepted: `CASME_raw/`, or the subject
folders directly in PATH). The number after the last `-` is the sheet's frame number.

Sheet: header on row 1, `Subject, Filename, OnsetF, ApexF1, ApexF2, OffsetF, AU, Emotion`
(blank columns ignored; also accepted: the CASME II names `OnsetFrame, ApexFrame, OffsetFrame,
Action Units, Estimated Emotion`). These column names are those a public loader reads (MEB,
Varanka et al.); they are unconfirmed against the official files. `ApexF2`, a second apex that
some clips have, is kept as an extra field. `Subject` 1 becomes "sub01". Labels (lower-cased):
happiness, surprise, disgust, repression, tense, fear, sadness, contempt. Frames are 60 fps.
"""

from __future__ import annotations

import re

from mebench.datasets.raw.build import raw_loader
from mebench.datasets.raw.casme2 import subject_id  # the same ids: 1 -> "sub01"
from mebench.datasets.raw.tabular import TableSpec, scan_table

KIND = "casme1"


SPEC = TableSpec(
    kind=KIND,
    metadata_globs=("Section [AB].xls*", "Section*.xls*", "CASME[_ -]*.xls*", "CASME.xls*", "casme.xls*"),
    fields={
        "subject": ("Subject",), "clip": ("Filename", "File name"),
        "onset": ("OnsetF", "OnsetFrame", "Onset Frame", "Onset"),
        "apex": ("ApexF1", "ApexF", "ApexFrame", "Apex Frame", "Apex"),
        "offset": ("OffsetF", "OffsetFrame", "Offset Frame", "Offset"),
        "label": ("Emotion", "Estimated Emotion"), "action_units": ("AU", "Action Units", "AUs"),
        "apex2": ("ApexF2",),
    },
    vocabulary=("happiness", "surprise", "disgust", "repression", "tense", "fear", "sadness", "contempt"),
    frame_pattern=re.compile(r"^.*-(?P<n>\d+)\.\w+$", re.I),
    frame_dirs=("CASME_raw_selected", "CASME_RAW_selected", "CASME_raw", ""),
    subject_id=subject_id,
    clip_dir=lambda frames_root, row: (row.subject, row.filename),
    every_metadata_file=True,
)


def scan(path, *, fixes=None):
    return scan_table(SPEC, path, fixes=fixes)


load = raw_loader(scan, "CASME (raw frames + the two section sheets): --data casme1:PATH")
