"""`--data samm:PATH`: SAMM (Davison et al., IEEE TAC 2018) as distributed.

PATH holds `SAMM_Micro_FACS_Codes_v2.xlsx` (any `SAMM*.xlsx`) and the frames
`SAMM/006/006_1_2/006_05562.jpg` (or the subject folders directly in PATH). The frame number is
the part after the last `_`, zero-padded or not (`006_05562`, `009_3577`).

Sheet: the official file has 13 rows of notes with the header on row 14; cleaned copies have
it on row 1: both are read (the header row is found by its column names). Columns `Subject,
Filename, Onset Frame, Apex Frame, Offset Frame, Action Units, Estimated Emotion, Objective
Classes`. `Subject` 6 or "006" becomes "006". Labels (lower-cased): anger, other, happiness,
surprise, contempt, disgust, fear, sadness.
"""

from __future__ import annotations

import re

from mebench.datasets.raw import metadata as md
from mebench.datasets.raw.build import raw_loader
from mebench.datasets.raw.tabular import TableSpec, scan_table

KIND = "samm"


def subject_id(value) -> str | None:
    n = md.subject_number(value)
    return None if n is None else f"{n:03d}"


SPEC = TableSpec(
    kind=KIND,
    metadata_globs=("SAMM_Micro_FACS_Codes*.xls*", "SAMM*.xlsx", "SAMM*.xls"),
    fields={
        "subject": ("Subject",), "clip": ("Filename", "File name"),
        "onset": ("Onset Frame", "OnsetFrame", "Onset"), "apex": ("Apex Frame", "ApexFrame", "Apex"),
        "offset": ("Offset Frame", "OffsetFrame", "Offset"),
        "label": ("Estimated Emotion", "Emotion"), "action_units": ("Action Units", "AU", "AUs"),
        "objective_class": ("Objective Classes", "Objective Class"), "notes": ("Notes",),
    },
    vocabulary=("anger", "other", "happiness", "surprise", "contempt", "disgust", "fear", "sadness"),
    frame_pattern=re.compile(r"^(?:reg_)?\d+_(?P<n>\d+)\.\w+$", re.I),
    frame_dirs=("SAMM", "SAMM_CROP", "samm", ""),
    subject_id=subject_id,
    clip_dir=lambda frames_root, row: (row.subject, row.filename),
)


def scan(path, *, fixes=None):
    return scan_table(SPEC, path, fixes=fixes)


load = raw_loader(scan, "SAMM (raw frames + FACS codes sheet): --data samm:PATH")
