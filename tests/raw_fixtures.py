"""Tiny raw-dataset trees in each real layout, frames from the synthetic generator.

Each writer takes a list of clips and writes the frame folders and the metadata file with the
real column names and quirks (CASME II blank columns and "/" apex, SAMM's 13 note rows above
the header, SMIC's label folders, CAS(ME)^3's repeated Filenames, MMEW's emotion folders).
A clip's frames go from the onset (the synthetic onset frame) to the apex (its apex frame) and
back, so the flow between them is the generator's expression motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from openpyxl import Workbook

from mebench.datasets.synthetic import SyntheticConfig, render_sample

SIZE = 64
CONFIG = SyntheticConfig(image_size=SIZE)


@dataclass
class Clip:
    subject: object  # as written in the metadata (int or text)
    name: str  # Filename / folder name
    label: str
    onset: int
    apex: object  # int, or "/" for not annotated
    offset: int
    index: int = 0  # synthetic sample rendered


def clip_frames(clip: Clip) -> dict[int, np.ndarray]:
    onset, apex, _ = render_sample(CONFIG, clip.index)
    peak = clip.apex if isinstance(clip.apex, int) else (clip.onset + clip.offset) // 2
    out = {}
    for n in range(clip.onset, clip.offset + 1):
        if n <= peak:
            w = (n - clip.onset) / max(1, peak - clip.onset)
        else:
            w = (clip.offset - n) / max(1, clip.offset - peak)
        out[n] = onset if w == 0 else apex if w == 1 else cv2.addWeighted(onset, 1 - w, apex, w, 0)
    return out


def write_frames(folder: Path, frames: dict[int, np.ndarray], name) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, img in frames.items():
        assert cv2.imwrite(str(folder / name(n)), img)


def write_xlsx(path: Path, header: list, rows: list[list], notes: int = 0) -> Path:
    wb = Workbook()
    ws = wb.active
    for k in range(notes):
        ws.append([f"note {k + 1}: SAMM coding notes"] if k % 3 == 0 else [])
    ws.append(header)
    for row in rows:
        ws.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# -- CASME II -----------------------------------------------------------------------------------
CASME2_CLIPS = [
    Clip(1, "EP02_01f", "happiness", 10, 12, 14, 0),
    Clip(1, "EP19_05f", "disgust", 8, "/", 12, 1),  # frames img8..img12: numeric, not lexical, order
    Clip("02", "EP01_11f", "repression", 5, 7, 9, 2),
    Clip("02", "EP03_02", "others", 1, 2, 4, 3),
]


def write_casme2(root: Path, clips=CASME2_CLIPS, *, frames_dir="CASME2_RAW_selected",
                 name="CASME2-coding-20140508.xlsx") -> Path:
    rows = []
    for c in clips:
        sub = f"sub{int(c.subject):02d}"
        write_frames(root / frames_dir / sub / c.name, clip_frames(c), lambda n: f"img{n}.jpg")
        rows.append([c.subject, c.name, None, c.onset, c.apex, c.offset, None, "12", c.label])
    header = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
              "Estimated Emotion"]
    write_xlsx(root / name, header, rows)
    return root


# -- SAMM ---------------------------------------------------------------------------------------
SAMM_CLIPS = [
    Clip("006", "006_1_2", "Anger", 5562, 5564, 5566, 4),
    Clip("006", "006_1_3", "Happiness", 100, 101, 103, 5),
    Clip(9, "009_3_1", "Surprise", 3577, 3579, 3580, 6),
    Clip(9, "009_3_2", "Other", 40, 41, 43, 7),
]


def write_samm(root: Path, clips=SAMM_CLIPS, *, notes=13, padded=True, name="SAMM_Micro_FACS_Codes_v2.xlsx") -> Path:
    rows = []
    for c in clips:
        sub = f"{int(c.subject):03d}"
        write_frames(root / "SAMM" / sub / c.name, clip_frames(c),
                     (lambda n, s=sub: f"{s}_{n:05d}.jpg") if padded else (lambda n, s=sub: f"{s}_{n}.jpg"))
        rows.append([c.subject, c.name, "1", c.onset, c.apex, c.offset, c.offset - c.onset, "Micro - 1/2", "R12",
                     c.label, "1", ""])
    header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration", "Micro",
              "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
    write_xlsx(root / name, header, rows, notes=notes)
    return root


# -- SMIC-HS ------------------------------------------------------------------------------------
SMIC_CLIPS = [  # subject folder number, label folder, clip folder, first frame number, frames
    (1, "negative", "s1_ne_01", 559740, 5, 8),
    (1, "positive", "s1_po_01", 1200, 4, 9),
    (3, "surprise", "s3_sur_01", 99, 5, 10),
    (3, "negative", "s3_ne_02", 20010, 6, 11),
]


def write_smic(root: Path, clips=SMIC_CLIPS, *, hs="HS") -> Path:
    for sub, label, name, first, count, index in clips:
        c = Clip(sub, name, label, first, first + count // 2, first + count - 1, index)
        write_frames(root / hs / f"s{sub}" / "micro" / label / name, clip_frames(c), lambda n: f"image{n:06d}.bmp")
    (root / hs / "s1" / "non_micro" / "negative" / "s1_ne_99").mkdir(parents=True, exist_ok=True)
    return root


# -- CAS(ME)^3 part A ---------------------------------------------------------------------------
CASME3_CLIPS = [
    Clip("spNO.1", "a", "happy", 160, 162, 164, 8),
    Clip("spNO.1", "j", "disgust", 300, 302, 304, 9),
    Clip("spNO.1", "j", "Others", 310, 311, 313, 10),
    Clip("spNO.2", "b", "surprise", 166, 168, 170, 11),
]


def write_casme3(root: Path, clips=CASME3_CLIPS, *, drop: tuple[str, int] | None = None) -> Path:
    base = root / "part_A" / "data" / "part_A_split" / "part_A"
    for c in clips:
        write_frames(base / c.subject / c.name / "color", clip_frames(c), lambda n: f"{n}.jpg")
    if drop:
        (base / drop[0] / "color" / f"{drop[1]}.jpg").unlink()
    rows = [[c.subject, c.name, c.onset, c.apex, c.offset, "AU12", "I", c.label] for c in clips]
    write_xlsx(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
               ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"], rows)
    return root


# -- MMEW ---------------------------------------------------------------------------------------
MMEW_CLIPS = [
    Clip("S01", "S01_0101", "happiness", 1, 3, 5, 12),
    Clip("S01", "S01_0102", "surprise", 1, 2, 4, 13),
    Clip(2, "S02_0201", "disgust", 3, 4, 6, 14),
]


def write_mmew(root: Path, clips=MMEW_CLIPS) -> Path:
    for c in clips:
        write_frames(root / "Micro_Expression" / c.label / c.name, clip_frames(c), lambda n: f"{n}.jpg")
    rows = [[c.subject, c.name, c.onset, c.apex, c.offset, "AU12", c.label, ""] for c in clips]
    write_xlsx(root / "MMEW_Micro_Exp.xlsx",
               ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion",
                "remarks"], rows)
    return root


# -- CASME (CASME I) ----------------------------------------------------------------------------
CASME1_SECTIONS = {  # section -> clips; Filename EP01_5, frames EP01_5-113.jpg
    "A": [Clip(1, "EP01_5", "happiness", 113, 115, 117, 15), Clip(1, "EP03_2", "tense", 8, 10, 12, 16)],
    "B": [Clip(8, "EP05_1", "Disgust", 40, 42, 44, 17), Clip(12, "EP02_4", "repression", 7, 9, 11, 18)],
}


def write_xls(path: Path, header: list, rows: list[list]) -> Path:
    """A legacy Excel (.xls, BIFF) file, as CASME ships its sheets."""
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Sheet1")
    for r, row in enumerate([header, *rows]):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(str(path))
    return path


def write_casme1(root: Path, sections=CASME1_SECTIONS) -> Path:
    header = ["Subject", "Filename", None, "OnsetF", "ApexF1", "ApexF2", "OffsetF", None, "AU", "Emotion"]
    for section, clips in sections.items():
        rows = []
        for c in clips:
            write_frames(root / "CASME_raw_selected" / f"sub{int(c.subject):02d}" / c.name, clip_frames(c),
                         lambda n, name=c.name: f"{name}-{n}.jpg")
            rows.append([c.subject, c.name, None, c.onset, c.apex, None, c.offset, None, "12", c.label])
        write_xls(root / f"Section {section}.xls", header, rows)
    return root
