"""The scan shared by every dataset with a metadata spreadsheet (CASME II, SAMM, CAS(ME)^3, MMEW, CASME).

A `TableSpec` says where the metadata file and the frame folders are, which columns to read,
the label vocabulary and how a row names its subject, clip and clip folder. `scan_table` reads
the sheet, checks every row and clip folder, applies the annotation fixes and returns a Scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, cast

from mebench.errors import ConfigError, DataError
from mebench.datasets.raw import metadata as md
from mebench.datasets.raw.fixes import apply_fixes, read_fixes
from mebench.datasets.raw.records import (ERROR, METADATA, MISSING_CLIP, PATH_ESCAPE, UNKNOWN_LABEL, ClipRecord, Scan,
                                          check_duplicates, check_frames, inside, list_frames)

CORE_FIELDS = ("subject", "clip", "onset", "apex", "offset", "label")


@dataclass(frozen=True)
class Row:
    """One metadata row, parsed: what a spec's `clip_dir` gets to find the clip folder."""

    subject: str  # normalised id
    subject_cell: str  # as written
    filename: str  # the Filename cell as written
    label: str
    onset: str = ""  # the onset and offset cells as written (for ids that name a clip by its frames)
    offset: str = ""


@dataclass(frozen=True)
class TableSpec:
    kind: str
    metadata_globs: tuple[str, ...]  # searched in the root, then one folder down; first match wins
    fields: Mapping[str, Sequence[str]]  # field -> column names (first = official), CORE_FIELDS + extras
    vocabulary: tuple[str, ...]  # native labels, lower-case, in class order
    frame_pattern: re.Pattern[str]  # group "n" = frame number
    frame_dirs: tuple[str, ...]  # candidate frame roots relative to the dataset root ("" = the root)
    subject_id: Callable[[Any], str | None]
    clip_dir: Callable[[Path, Row], Sequence[str]]  # (frames root, row) -> path parts below the frames root
    # every row's clip id at once (an id may depend on the other rows): default the Filename
    clip_ids: Callable[[Sequence[Row]], Sequence[str]] = lambda rows: [row.filename for row in rows]
    probe: Callable[[Row], str | None] = lambda row: row.subject  # a folder directly under the frames root
    nearest_frame_ok: bool = False
    label_aliases: Mapping[str, str] = field(default_factory=dict)
    every_metadata_file: bool = False  # read every file the first matching glob finds (one per section), in name order


def resolve_root(kind: str, path: str | Path | None, globs: Sequence[str], *,
                 every: bool = False) -> tuple[Path, list[Path]]:
    """(dataset root, metadata files) from PATH = the root folder or a metadata file itself. Of several
    files matching a glob, the latest name (dated versions) is read, or all of them with `every`."""
    if path is None or not str(path).strip():
        raise ConfigError(f"--data {kind}:PATH needs a path: the folder holding the metadata file "
                          f"({', '.join(globs)}) and the frame folders")
    p = Path(str(path).strip()).expanduser()
    if not p.exists():
        raise DataError(f"{kind}: {p} does not exist")
    if p.is_file():
        return p.parent.absolute(), [p.absolute()]
    root = p.absolute()
    for where in (root, *sorted(d for d in root.iterdir() if d.is_dir())):
        for pattern in globs:
            found = sorted(f for f in where.glob(pattern) if f.is_file() and not f.name.startswith("~$"))
            if found:
                return root, found if every else found[-1:]
    raise DataError(f"{kind}: no metadata file in {root} (looked for {', '.join(globs)} there and one folder down)")


def pick_frames_root(root: Path, candidates: Sequence[str], probe: Sequence[str] | None) -> Path | None:
    """The first candidate holding the probe path (e.g. the first subject's folder), else the first
    candidate that exists."""
    existing = [root / c if c else root for c in candidates if (root / c if c else root).is_dir()]
    if probe:
        for d in existing:
            if (d.joinpath(*probe)).exists():
                return d
    return existing[0] if existing else None


def scan_table(spec: TableSpec, path: str | Path | None, *, fixes=None) -> Scan:
    root, metas = resolve_root(spec.kind, path, spec.metadata_globs, every=spec.every_metadata_file)
    required = [f for f in CORE_FIELDS if f != "apex"] + ["apex"]
    sheets = [md.read_sheet(meta, spec.fields, required) for meta in metas]
    scan = Scan(spec.kind, root, metas[0], [], vocabulary=spec.vocabulary)

    parsed: list[tuple[md.Sheet, int, Row, dict[str, Any]]] = []
    for sheet in sheets:
        for i in range(len(sheet.rows)):
            cells = cast(dict[str, Any], sheet.rows.iloc[i].to_dict())  # the sheet's columns are field names
            subject = spec.subject_id(cells["subject"])
            filename = md.cell_text(cells["clip"])
            if subject is None or not filename:
                message = (f"{spec.fields['subject'][0]} {md.cell_text(cells['subject'])!r} not understood"
                           if subject is None else f"{spec.fields['clip'][0]} is empty")
                scan.add(ERROR, METADATA, f"{sheet.path} row {sheet.excel_rows[i]}", message)
                continue
            raw_label = md.cell_text(cells["label"]).lower()
            label = spec.label_aliases.get(raw_label, raw_label)
            parsed.append((sheet, i, Row(subject, md.cell_text(cells["subject"]), filename, label,
                                         md.cell_text(cells["onset"]), md.cell_text(cells["offset"])), cells))

    probe = spec.probe(parsed[0][2]) if parsed else None
    frames_root = pick_frames_root(root, spec.frame_dirs, [probe] if probe else None)
    if frames_root is None:
        scan.add(ERROR, MISSING_CLIP, root, "no frame folder found (looked for "
                 + ", ".join(c or "subject folders in the root" for c in spec.frame_dirs) + ")")
        frames_root = root

    clips = list(spec.clip_ids([row for _, _, row, _ in parsed]))
    sheet_of: dict[int, Path] = {}  # id(record) -> its metadata file, for messages
    for (sheet, i, row, cells), clip in zip(parsed, clips, strict=True):
        where = sheet.where(i)
        sample = f"{spec.kind}/{row.subject}/{clip}"
        numbers = {}
        bad = False
        for name in ("onset", "apex", "offset"):
            try:
                numbers[name] = md.frame_number(cells[name])
            except ValueError as exc:
                scan.add(ERROR, METADATA, f"{sheet.path} row {sheet.excel_rows[i]}",
                         f"{spec.fields[name][0]} {exc} is not a frame number", sample)
                bad = True
        for name in ("onset", "offset"):
            if not bad and numbers[name] is None:
                scan.add(ERROR, METADATA, f"{sheet.path} row {sheet.excel_rows[i]}", f"{spec.fields[name][0]} is empty",
                         sample)
                bad = True
        parts = [str(p) for p in spec.clip_dir(frames_root, row)]
        clip_dir = inside(frames_root, *parts)
        if clip_dir is None:
            scan.add(ERROR, PATH_ESCAPE, f"{sheet.path} row {sheet.excel_rows[i]}",
                     f"clip folder {'/'.join(parts)!r} escapes the dataset root {root}", sample)
            continue
        if bad:
            continue
        extra = {f: md.cell_text(cells[f]) for f in spec.fields if f not in CORE_FIELDS and f in cells}
        scan.records.append(ClipRecord(spec.kind, row.subject, clip, row.label, clip_dir, numbers["onset"],
                                       numbers["apex"], numbers["offset"], source=where, extra=extra))
        sheet_of[id(scan.records[-1])] = sheet.path

    apply_fixes(scan, read_fixes(fixes) if not hasattr(fixes, "columns") else fixes)
    for rec in scan.records:
        if rec.label not in spec.vocabulary:  # the record stays, so that its folder is checked too
            scan.add(ERROR, UNKNOWN_LABEL, f"{sheet_of[id(rec)]} row {rec.source.rsplit(' ', 1)[-1]}",
                     f"unknown label {rec.label!r} (known: {', '.join(spec.vocabulary)})", rec.sample)
        if not rec.clip_dir.is_dir():
            scan.add(ERROR, MISSING_CLIP, rec.clip_dir, f"clip folder not found (metadata {rec.source})", rec.sample)
            continue
        frames, clashes = list_frames(rec.clip_dir, spec.frame_pattern)
        if clashes:
            scan.add(ERROR, METADATA, rec.clip_dir, f"several files give the same frame number: {', '.join(clashes)}",
                     rec.sample)
        rec.frames = tuple(frames)
        check_frames(scan, rec, nearest_ok=spec.nearest_frame_ok)
    check_duplicates(scan)
    return scan
