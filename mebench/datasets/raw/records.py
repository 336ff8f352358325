"""The common clip table of every raw dataset: one ClipRecord per clip, and the problems found.

A loader's `scan(root)` returns a `Scan`: the clip records read from the metadata (or, for
SMIC, from the folders) and every problem met on the way, each with the path it concerns.
Frames are listed once per clip folder and sorted by the number in their file name, never
lexically (`img10.jpg` comes after `img9.jpg`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mebench.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

ERROR = "error"  # fatal: `datasets check` exits 1; the clip (or, for table problems, the load) fails
WARNING = "warning"

# Problem codes (the `code` of a Problem).
MISSING_CLIP = "missing-clip"
MISSING_FRAME = "missing-frame"
UNREADABLE_IMAGE = "unreadable-image"
FRAME_COUNT = "frame-count"
UNKNOWN_LABEL = "unknown-label"
DUPLICATE_SAMPLE = "duplicate-sample"
METADATA = "metadata"
PATH_ESCAPE = "path-escape"
NO_APEX = "no-apex"
FACE_FALLBACK = "face-fallback"
FIX_NOT_APPLIED = "fix-not-applied"
# Problems of these codes are about the table itself: loading raises; the others exclude a clip.
TABLE_CODES = (UNKNOWN_LABEL, DUPLICATE_SAMPLE, METADATA, PATH_ESCAPE)


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR or WARNING
    code: str
    path: str  # the file or folder concerned
    message: str
    sample: str | None = None

    def line(self) -> str:
        where = f" ({self.sample})" if self.sample else ""
        return f"{self.severity.upper():7} {self.code:16} {self.path}{where}: {self.message}"


@dataclass
class ClipRecord:
    """One clip: identity, native label, annotated frame numbers and its frames (number, path)."""

    dataset: str
    subject: str
    clip: str
    label: str
    clip_dir: Path
    onset: int | None
    apex: int | None
    offset: int | None
    frames: tuple[tuple[int, Path], ...] = ()
    source: str = ""  # where the record came from, e.g. "CASME2-coding-20140508.xlsx row 5"
    extra: dict = field(default_factory=dict)  # action units, objective class, ... (strings)

    @property
    def sample(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip}"

    def frame_path(self, number: int) -> Path | None:
        for n, p in self.frames:
            if n == number:
                return p
        return None

    def numbers(self) -> list[int]:
        return [n for n, _ in self.frames]


@dataclass
class Scan:
    kind: str
    root: Path
    metadata: Path | None
    records: list[ClipRecord]
    problems: list[Problem] = field(default_factory=list)
    vocabulary: tuple[str, ...] = ()  # the native labels, in class order

    def add(self, severity: str, code: str, path: Path | str, message: str, sample: str | None = None) -> None:
        self.problems.append(Problem(severity, code, str(path), message, sample))

    def fatal(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    def broken_samples(self) -> set[str]:
        """Samples with a fatal problem of their own (missing folder or frame, unreadable file)."""
        return {p.sample for p in self.problems if p.severity == ERROR and p.sample and p.code not in TABLE_CODES}


def number_in(name: str, pattern: re.Pattern[str]) -> int | None:
    m = pattern.match(name)
    return int(m.group("n")) if m else None


def list_frames(folder: Path, pattern: re.Pattern[str]) -> tuple[list[tuple[int, Path]], list[str]]:
    """Frames in `folder` whose name matches `pattern` (group `n` = frame number), sorted by number.

    Returns (frames, names of files sharing a number with another file)."""
    frames: dict[int, Path] = {}
    clashes = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"cannot list {folder}: {exc}") from None
    for entry in entries:
        if not entry.name.lower().endswith(IMAGE_SUFFIXES):
            continue
        n = number_in(entry.name, pattern)
        if n is None:
            continue
        if n in frames:
            clashes.append(entry.name)
            continue
        frames[n] = Path(entry.path)
    return sorted(frames.items()), clashes


def inside(root: Path, *parts: str) -> Path | None:
    """root/parts..., or None when the parts are absolute or climb out of root (`..`).

    Lexical (no symlink resolution), so a dataset whose folders are symlinks still loads."""
    for part in parts:
        if not part or os.path.isabs(part) or re.match(r"^[A-Za-z]:", part):
            return None
    joined = os.path.normpath(os.path.join(str(root), *parts))
    base = os.path.normpath(str(root))
    if joined != base and not joined.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return Path(joined)


def file_fingerprint(path: Path) -> list:
    """[path, size, mtime_ns]: part of every cache key that reads the file."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    return [str(path), st.st_size, st.st_mtime_ns]


def check_frames(scan: Scan, rec: ClipRecord, *, nearest_ok: bool = False) -> None:
    """Problems of one clip's frames against its annotation (records problems in `scan`).

    A missing onset/apex/offset frame is fatal, unless `nearest_ok` (CAS(ME)^3 drops frames):
    then the nearest frame inside onset..offset stands in for it, with a warning, and the
    record's number is changed to it."""
    if not rec.frames:
        scan.add(ERROR, MISSING_FRAME, rec.clip_dir, "no frame images in the clip folder", rec.sample)
        return
    numbers = rec.numbers()
    have = set(numbers)
    for name in ("onset", "apex", "offset"):
        n = getattr(rec, name)
        if n is None or n in have:
            continue
        lo = rec.onset if rec.onset is not None and rec.onset in have else numbers[0]
        hi = rec.offset if rec.offset is not None and rec.offset in have else numbers[-1]
        inside_range = [m for m in numbers if lo <= m <= hi] or numbers
        if nearest_ok:
            near = min(inside_range, key=lambda m: (abs(m - n), m))
            scan.add(WARNING, MISSING_FRAME, rec.clip_dir, f"{name} frame {n} missing (dropped); using frame {near}",
                     rec.sample)
            setattr(rec, name, near)
        else:
            scan.add(ERROR, MISSING_FRAME, rec.clip_dir,
                     f"{name} frame {n} not found (frames {numbers[0]}..{numbers[-1]} present)", rec.sample)
    if rec.onset is not None and rec.offset is not None:
        if rec.offset < rec.onset:
            scan.add(ERROR, METADATA, rec.clip_dir, f"offset {rec.offset} before onset {rec.onset}", rec.sample)
            return
        if rec.apex is not None and not rec.onset <= rec.apex <= rec.offset:
            scan.add(WARNING, METADATA, rec.clip_dir,
                     f"apex {rec.apex} outside onset..offset {rec.onset}..{rec.offset}", rec.sample)
        span = rec.offset - rec.onset + 1
        present = sum(1 for m in numbers if rec.onset <= m <= rec.offset)
        if present != span:
            gone = [m for m in range(rec.onset, rec.offset + 1) if m not in have]
            shown = ", ".join(map(str, gone[:8])) + (" ..." if len(gone) > 8 else "")
            scan.add(WARNING, FRAME_COUNT, rec.clip_dir,
                     f"onset..offset {rec.onset}..{rec.offset} spans {span} frames, the folder has {present} "
                     f"of them (missing {shown})", rec.sample)


def check_duplicates(scan: Scan) -> None:
    seen: dict[str, ClipRecord] = {}
    for rec in scan.records:
        if rec.sample in seen:
            scan.add(ERROR, DUPLICATE_SAMPLE, rec.clip_dir,
                     f"sample id also given by {seen[rec.sample].source or seen[rec.sample].clip_dir} "
                     f"(this one: {rec.source or rec.clip_dir})", rec.sample)
        else:
            seen[rec.sample] = rec
