"""`--data mmew:PATH`: MMEW micro-expressions (Ben et al., IEEE TPAMI 2021) as distributed.

PATH holds `MMEW_Micro_Exp.xlsx` (any `MMEW*.xlsx`) and the frames
`Micro_Expression/{emotion}/{Filename}/1.jpg` (`{n}.jpg`, n = the sheet's frame numbers). The
emotion folder is matched to the label ignoring case; a clip not under its label's folder is
looked for under the other emotion folders.

Sheet: `Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion,
remarks`. `Subject` is kept as written ("S01"; an integer n becomes "S{n:02d}"). Labels
(lower-cased; the vocabulary is unconfirmed by public sources): happiness, surprise, disgust,
fear, sadness, anger, others.
"""

from __future__ import annotations

import re
from pathlib import Path

from mebench.datasets.raw import metadata as md
from mebench.datasets.raw.build import raw_loader
from mebench.datasets.raw.tabular import Row, TableSpec, scan_table

KIND = "mmew"


def subject_id(value) -> str | None:
    text = md.cell_text(value)
    if not text:
        return None
    return f"S{int(text):02d}" if re.fullmatch(r"\d+", text) else text


def clip_dir(frames_root: Path, row: Row):
    try:
        folders = sorted(d.name for d in frames_root.iterdir() if d.is_dir())
    except OSError:
        folders = []
    own = [f for f in folders if f.lower() == row.label]
    for folder in own + [f for f in folders if f not in own]:
        if (frames_root / folder / row.filename).is_dir():
            return folder, row.filename
    return (own[0] if own else row.label), row.filename


SPEC = TableSpec(
    kind=KIND,
    metadata_globs=("MMEW_Micro_Exp*.xls*", "MMEW*.xlsx", "MMEW*.xls"),
    fields={
        "subject": ("Subject",), "clip": ("Filename", "File name"),
        "onset": ("OnsetFrame", "Onset Frame", "Onset"), "apex": ("ApexFrame", "Apex Frame", "Apex"),
        "offset": ("OffsetFrame", "Offset Frame", "Offset"),
        "label": ("Estimated Emotion", "Emotion"), "action_units": ("Action Units", "AU", "AUs"),
        "remarks": ("remarks", "Remark"),
    },
    vocabulary=("happiness", "surprise", "disgust", "fear", "sadness", "anger", "others"),
    frame_pattern=re.compile(r"^(?P<n>\d+)\.\w+$", re.I),
    frame_dirs=("Micro_Expression", "MMEW/Micro_Expression", "micro_expression", ""),
    subject_id=subject_id,
    clip_dir=clip_dir,
    probe=lambda row: None,
)


def scan(path, *, fixes=None):
    return scan_table(SPEC, path, fixes=fixes)


load = raw_loader(scan, "MMEW micro-expressions (raw frames + label sheet): --data mmew:PATH")
