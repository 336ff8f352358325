"""`--data casme3:PATH`: CAS(ME)^3 part A (Li et al., IEEE TPAMI 2022), micro-expressions, as distributed.

PATH holds `cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx` (any `cas(me)3*part_A*.xlsx`) and the
frames `part_A/data/part_A_split/part_A/spNO.1/b/color/166.jpg` (also accepted: the same tree
from `data/`, `part_A_split/` or `part_A/` down, the `spNO.*` folders directly in PATH, and clip
folders without `color/`). File names are the frame numbers of the sheet.

Sheet: header on row 1, `Subject` ("spNO.1"), `Filename` ("a".."m": the video, repeated within a
subject, one row per expression in it), `Onset, Apex, Offset, AU, Objective class, emotion`. A clip
is named by its Filename and onset frame: `j-300` is the expression of video `j` starting at frame
300, read from folder `j`; the sample id is `casme3/spNO.1/j-300`. The name does not depend on the
sheet's other rows or their order (v1 of the sheet has 921 rows, v2 860: a position among the
repeats of a Filename, "the third j", names another clip in each). Rows of a subject sharing Filename
and onset are each named with the offset too, `j-300-310`. Labels (lower-cased, so "Others" =
"others"): happy, disgust, fear, anger, sad, surprise, others. Frames are sometimes dropped: a
missing onset, apex or offset frame is replaced by the nearest frame present between onset and
offset, with a warning.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

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


def frame_text(cell: str) -> str:
    """A frame-number cell as it names a clip: "0300" and "300.0" -> "300"; anything else as written ("?" if empty)."""
    try:
        number = md.frame_number(cell)
    except ValueError:
        return cell
    return "?" if number is None else str(number)


def clip_ids(rows: Sequence[Row]) -> list[str]:
    """`<Filename>-<onset>` for every row (see the module docstring); `<Filename>-<onset>-<offset>` for the
    rows of a subject that share Filename and onset."""
    key = [(row.subject, row.filename, frame_text(row.onset)) for row in rows]
    shared = Counter(key)
    return [f"{row.filename}-{k[2]}" + (f"-{frame_text(row.offset)}" if shared[k] > 1 else "")
            for row, k in zip(rows, key)]


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
    clip_ids=clip_ids,
    nearest_frame_ok=True,
)


def scan(path, *, fixes=None):
    return scan_table(SPEC, path, fixes=fixes)


load = raw_loader(scan, "CAS(ME)^3 part A micro-expressions (raw frames + label sheet): --data casme3:PATH")
