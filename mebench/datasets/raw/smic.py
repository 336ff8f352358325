"""`--data smic:PATH`: SMIC-HS (Li et al., FG 2013) as distributed: no metadata file, the folders are the annotation.

PATH is the folder holding `HS/` (also accepted: `SMIC_all_raw/HS/`, `SMIC_all_cropped/HS/`, or
PATH = the `HS` folder itself). Layout `HS/s1/micro/negative/s1_ne_01/image559740.bmp`
(cropped copies: `reg_image559740.bmp`); a subject's label folders may also sit directly in
`s1/`. The sibling `non_micro/` folders are not read.

- label: the folder name, `negative`, `positive` or `surprise`;
- onset and offset: the first and last frame of the clip folder (by the number in the name),
  which holds exactly onset..offset; the apex is not annotated (the pipeline picks it);
- ids: subject folder `s1` becomes "s01", clip `s1_ne_01` becomes "s01_ne_01", as in the
  MEGC2019 list and the HTNet release (the folder names stay in `clip_dir`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

from mebench.errors import ConfigError, DataError
from mebench.datasets.raw.build import raw_loader
from mebench.datasets.raw.fixes import apply_fixes, read_fixes
from mebench.datasets.raw.records import (ERROR, FRAME_COUNT, METADATA, MISSING_FRAME, UNKNOWN_LABEL, WARNING,
                                          ClipRecord, Scan, check_duplicates, list_frames)

KIND = "smic"
VOCABULARY = ("negative", "positive", "surprise")
FRAME_PATTERN = re.compile(r"^(?:reg_)?image(?P<n>\d+)\.\w+$", re.I)
HS_DIRS = ("HS", "SMIC_all_raw/HS", "SMIC_all_cropped/HS", "SMIC/HS", "")
SUBJECT = re.compile(r"^s(\d+)$", re.I)
CLIP = re.compile(r"^s(\d+)_(.+)$", re.I)
IGNORED = {"non_micro", "nonmicro", "non-micro"}


def subject_id(folder: str) -> str | None:
    m = SUBJECT.match(folder)
    return f"s{int(m.group(1)):02d}" if m else None


def clip_id(folder: str) -> str:
    m = CLIP.match(folder)
    return f"s{int(m.group(1)):02d}_{m.group(2)}" if m else folder


def find_hs(root: Path) -> Path | None:
    for c in HS_DIRS:
        d = root / c if c else root
        if d.is_dir() and any(subject_id(p.name) for p in d.iterdir() if p.is_dir()):
            return d
    return None


def scan(path, *, fixes=None) -> Scan:
    if path is None or not str(path).strip():
        raise ConfigError("--data smic:PATH needs a path: the folder holding HS/ (s1/micro/negative/s1_ne_01/...)")
    root = Path(str(path).strip()).expanduser()
    if not root.is_dir():
        raise DataError(f"smic: {root} {'is not a directory' if root.exists() else 'does not exist'}")
    root = root.absolute()
    hs = find_hs(root)
    if hs is None:
        raise DataError(f"smic: no subject folders (s1, s2, ...) in {root} or in its "
                        + ", ".join(c for c in HS_DIRS if c) + " folders")
    scan = Scan(KIND, root, None, [], vocabulary=VOCABULARY)
    for subject_dir in sorted((d for d in hs.iterdir() if d.is_dir() and subject_id(d.name)),
                              key=lambda d: int(cast(re.Match, SUBJECT.match(d.name)).group(1))):
        subject = subject_id(subject_dir.name)
        assert subject is not None  # the folders are filtered by subject_id
        base = subject_dir / "micro" if (subject_dir / "micro").is_dir() else subject_dir
        for label_dir in sorted(d for d in base.iterdir() if d.is_dir()):
            if label_dir.name.lower() in IGNORED:
                continue
            label = label_dir.name.lower()
            for clip_dir in sorted(d for d in label_dir.iterdir() if d.is_dir()):
                rec = ClipRecord(KIND, subject, clip_id(clip_dir.name), label, clip_dir, None, None, None,
                                 source=str(clip_dir.relative_to(root)))
                if label not in VOCABULARY:
                    scan.add(ERROR, UNKNOWN_LABEL, label_dir,
                             f"unknown label folder {label_dir.name!r} (known: {', '.join(VOCABULARY)})", rec.sample)
                frames, clashes = list_frames(clip_dir, FRAME_PATTERN)
                if clashes:
                    scan.add(ERROR, METADATA, clip_dir, f"several files give the same frame number: {', '.join(clashes)}",
                             rec.sample)
                rec.frames = tuple(frames)
                if not frames:
                    scan.add(ERROR, MISSING_FRAME, clip_dir, "no frame images (image<number>.bmp) in the clip folder",
                             rec.sample)
                else:
                    rec.onset, rec.offset = frames[0][0], frames[-1][0]
                    span = rec.offset - rec.onset + 1
                    if span != len(frames):
                        scan.add(WARNING, FRAME_COUNT, clip_dir,
                                 f"frames {rec.onset}..{rec.offset} span {span} numbers but the folder has {len(frames)} "
                                 "frames (gaps in the numbering)", rec.sample)
                scan.records.append(rec)
    if not scan.records:
        raise DataError(f"smic: no clip folders under {hs} (expected s1/micro/negative/s1_ne_01/image*.bmp)")
    apply_fixes(scan, read_fixes(fixes) if not hasattr(fixes, "columns") else fixes)
    check_duplicates(scan)
    return scan


load = raw_loader(scan, "SMIC-HS (raw frames; labels from the folders): --data smic:PATH")
