"""`--data casme3:PATH`: CAS(ME)^3 part A (Li et al., IEEE TPAMI 2022), micro-expressions, as distributed.

PATH holds `cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx` (any `cas(me)3*part_A*.xlsx`) and the
frames `part_A/data/part_A_split/part_A/spNO.1/b/color/166.jpg` (also accepted: the same tree
from `data/`, `part_A_split/` or `part_A/` down, the `spNO.*` folders directly in PATH, and clip
folders without `color/`). File names are the frame numbers of the sheet.

Sheet: header on row 1, `Subject` ("spNO.1"), `Filename` ("a".."m": repeated within a subject,
so the second `j` of a subject is clip "j2", the third "j3", all read from folder `j`), `Onset,
Apex, Offset, AU, Objective class, emotion`. Labels (lower-cased, so "Others" = "others"): happy,
disgust, fear, anger, sad, surprise, others. Frames are sometimes dropped: a missing onset, apex
or offset frame is replaced by the nearest frame present between onset and offset, with a warning.
"""

from __future__ import annotations

import re

from mebench.datasets.raw import metadata as md
from mebench.datasets.raw.build import raw_loader
from mebench.datasets.raw.tabular import Row, TableSpec, scan_table

KIND = "casme3"


def subject_id(value) -> str | None:
    text = md.cell_text(value)
    if not text:
        return None
    if re.fullmatch(r"\d+", text):
        return f"spNO.{int(text)}"
    m = re.fullmatch(r"(?i)sp\s*no\.?\s*(\d+)", text)
    return f"spNO.{int(m.group(1))}" if m else text


def clip_id(row: Row, seen: dict[str, int]) -> str:
    key = f"{row.subject}/{row.filename}"
    seen[key] = seen.get(key, 0) + 1
    return row.filename if seen[key] == 1 else f"{row.filename}{seen[key]}"


def clip_dir(frames_root, row: Row):
    parts = (row.subject, row.filename)
    color = frames_root.joinpath(*parts, "color") if parts[0] and parts[1] else None
    return (*parts, "color") if color is not None and color.is_dir() else parts


SPEC = TableSpec(
    kind=KIND,
    metadata_globs=("cas(me)3_part_A_ME_label*.xls*", "cas(me)3*part_A*.xls*", "*part_A*ME*label*.xls*"),
    fields={
        "subject": ("Subject",), "clip": ("Filename", "File name"),
        "onset": ("Onset", "OnsetFrame", "Onset Frame"), "apex": ("Apex", "ApexFrame", "Apex Frame"),
        "offset": ("Offset", "OffsetFrame", "Offset Frame"),
        "label": ("emotion", "Estimated Emotion"), "action_units": ("AU", "Action Units"),
        "objective_class": ("Objective class", "Objective Classes"),
    },
    vocabulary=("happy", "disgust", "fear", "anger", "sad", "surprise", "others"),
    frame_pattern=re.compile(r"^(?P<n>\d+)\.\w+$", re.I),
    frame_dirs=("part_A/data/part_A_split/part_A", "data/part_A_split/part_A", "part_A_split/part_A", "part_A", ""),
    subject_id=subject_id,
    clip_dir=clip_dir,
    clip_id=clip_id,
    nearest_frame_ok=True,
)


def scan(path, *, fixes=None):
    return scan_table(SPEC, path, fixes=fixes)


load = raw_loader(scan, "CAS(ME)^3 part A micro-expressions (raw frames + label sheet): --data casme3:PATH")
