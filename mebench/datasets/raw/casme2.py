"""`--data casme2:PATH`: CASME II (Yan et al., PLoS ONE 2014) as distributed.

PATH holds the coding sheet `CASME2-coding-*.xlsx` (20140508 or the 2019 update; with both,
the later date is read, or name the file itself as PATH) and one frame folder:
`CASME2_RAW_selected/` (onset..offset), `CASME2-RAW/` (whole clips from img1) or `Cropped/`
(`reg_img46.jpg`), each `sub01/EP02_01f/img46.jpg`; or the subject folders directly in PATH.

Sheet: header on row 1, `Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units,
Estimated Emotion` (blank columns ignored). `Subject` as 1 or "01" becomes "sub01";
`ApexFrame` "/" means not annotated (the pipeline then picks the apex). Frame numbers in the
file names are those of the sheet and not zero-padded. Labels: happiness, surprise, disgust,
repression, fear, sadness, others.
"""

from __future__ import annotations

import re

from mebench.datasets.raw import metadata as md
from mebench.datasets.raw.build import raw_loader
from mebench.datasets.raw.tabular import TableSpec, scan_table

KIND = "casme2"


def subject_id(value) -> str | None:
    n = md.subject_number(value)
    return None if n is None else f"sub{n:02d}"


SPEC = TableSpec(
    kind=KIND,
    metadata_globs=("CASME2-coding-*.xlsx", "CASME2*coding*.xls*", "CASME2*.xlsx"),
    fields={
        "subject": ("Subject",), "clip": ("Filename", "File name"),
        "onset": ("OnsetFrame", "Onset Frame", "Onset"), "apex": ("ApexFrame", "Apex Frame", "Apex"),
        "offset": ("OffsetFrame", "Offset Frame", "Offset"),
        "label": ("Estimated Emotion", "Emotion"), "action_units": ("Action Units", "AU", "AUs"),
    },
    vocabulary=("happiness", "surprise", "disgust", "repression", "fear", "sadness", "others"),
    frame_pattern=re.compile(r"^(?:reg_)?img(?P<n>\d+)\.\w+$", re.I),
    frame_dirs=("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "Cropped", "CASME2_Cropped", ""),
    subject_id=subject_id,
    clip_dir=lambda frames_root, row: (row.subject, row.filename),
)


def scan(path, *, fixes=None):
    return scan_table(SPEC, path, fixes=fixes)


load = raw_loader(scan, "CASME II (raw frames + coding sheet): --data casme2:PATH")
