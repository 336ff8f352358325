"""Known annotation errors, fixed as data: `annotation_fixes.csv` (dataset, sample, field, old, new, reason).

A fix names its sample by id, never by row position, and applies only when the metadata still
holds the `old` value; a fix whose `old` value does not match (another version of the metadata)
is reported as a warning and not applied.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mebench.errors import DataError
from mebench.datasets.raw.metadata import read_shipped_csv
from mebench.datasets.raw.records import FIX_NOT_APPLIED, WARNING, Scan

FIXES_FILE = Path(__file__).with_name("annotation_fixes.csv")
COLUMNS = ("dataset", "sample", "field", "old", "new", "reason")
FIELDS = ("onset", "apex", "offset", "label")


def read_fixes(path: Path | str | None = None) -> pd.DataFrame:
    path = Path(path) if path is not None else FIXES_FILE
    fixes = read_shipped_csv(path, COLUMNS, "annotation fixes")
    bad = sorted(set(fixes["field"]) - set(FIELDS))
    if bad:
        raise DataError(f"annotation fixes {path}: unknown field(s) {bad}; fields: {', '.join(FIELDS)}")
    return fixes


def _as_text(value) -> str:
    return "/" if value is None or value == "" else str(value)


def apply_fixes(scan: Scan, fixes: pd.DataFrame) -> list[str]:
    """Apply the fixes of `scan.kind` to its records in place; returns the applied fixes as text."""
    applied = []
    by_sample = {r.sample: r for r in scan.records}
    for fix in fixes[fixes["dataset"] == scan.kind].itertuples(index=False):
        rec = by_sample.get(str(fix.sample))  # read_shipped_csv: every cell a str
        if rec is None:
            continue  # the clip is not in this version of the metadata
        current = _as_text(getattr(rec, str(fix.field)))
        if current.lower() != _as_text(fix.old).strip().lower():
            scan.add(WARNING, FIX_NOT_APPLIED, rec.source or rec.clip_dir,
                     f"annotation fix of {fix.field} not applied: expected {fix.old!r}, the metadata has {current!r} "
                     f"({fix.reason})", rec.sample)
            continue
        new = str(fix.new).strip()
        value: str | int | None  # a label, or a frame number (None: not annotated)
        if fix.field == "label":
            value = new.lower()
        else:
            value = None if new in ("", "/") else int(new)
        setattr(rec, str(fix.field), value)
        rec.extra.setdefault("fixes", []).append(f"{fix.field} {fix.old}->{fix.new}: {fix.reason}")
        applied.append(f"{fix.sample} {fix.field} {fix.old} -> {fix.new}")
    return applied
