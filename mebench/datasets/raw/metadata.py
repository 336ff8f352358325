"""Reading the datasets' metadata spreadsheets (.xlsx with openpyxl, .xls with calamine).

The header row is found, not assumed: SAMM's official file has 13 rows of notes above it,
cleaned copies have it on row 1. Column names are matched ignoring case, spaces and
underscores ("Onset Frame" = "OnsetFrame" = "onset_frame"), with per-field aliases.
Cells are read as they are (an int subject stays an int); `cell_text`, `frame_number` and
`is_missing` turn them into what a loader needs, `/` and empty cells meaning "not annotated".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import pandas as pd

from mebench.errors import DataError

HEADER_SEARCH_ROWS = 40
MISSING_MARKS = {"", "/", "-", "nan", "none", "n/a", "na", "null"}


def column_key(name: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass
class Sheet:
    """A metadata table: `rows` with one column per field found, and each row's Excel row number."""

    path: Path
    rows: pd.DataFrame  # columns = field names of `fields`
    excel_rows: list[int]
    header_row: int  # Excel row number of the header

    def where(self, i: int) -> str:
        return f"{self.path.name} row {self.excel_rows[i]}"


def read_raw(path: Path) -> pd.DataFrame:
    """Every cell of the first sheet, no header, dtype object."""
    engine: Literal["calamine", "openpyxl"] = "calamine" if path.suffix.lower() == ".xls" else "openpyxl"
    try:
        return pd.read_excel(path, header=None, dtype=object, engine=engine)
    except ImportError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl/calamine raise many kinds on a broken file
        raise DataError(f"cannot read metadata file {path}: {type(exc).__name__}: {exc}") from None


def read_shipped_csv(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """A CSV that mebench ships as data (text cells, `#` comment lines), with its columns checked."""
    def read(**kw) -> pd.DataFrame:
        return pd.read_csv(path, dtype=str, keep_default_na=False, comment="#", skipinitialspace=True, **kw)

    def check_columns(found) -> None:
        missing = [c for c in columns if c not in found]
        if missing:
            header = ",".join(map(str, found))
            raise DataError(f"{what} {path} lacks column(s) {', '.join(missing)} (its header: "
                            f"{header[:80] + ('...' if len(header) > 80 else '')!r})")

    try:
        table = read()
    except pd.errors.ParserError as exc:  # rows of varying width: a file of another kind, most likely
        try:
            check_columns(read(nrows=0).columns)
        except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
            pass
        raise DataError(f"cannot read {what} {path}: {' '.join(str(exc).split())}") from None
    except (OSError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read {what} {path}: {' '.join(str(exc).split())}") from None
    check_columns(table.columns)
    return table


def read_sheet(path: Path, fields: Mapping[str, Sequence[str]], required: Sequence[str]) -> Sheet:
    """Find the header row (the first of the top rows holding every required field's name) and
    return the rows below it with one column per field found. `fields` maps a field to the
    column names it may have (first = the official name)."""
    raw = read_raw(path)
    if raw.empty:
        raise DataError(f"metadata file {path} is empty")
    aliases = {f: {column_key(a) for a in names} for f, names in fields.items()}
    best: tuple[int, int, dict[str, int]] = (-1, -1, {})
    for r in range(min(HEADER_SEARCH_ROWS, len(raw))):
        found: dict[str, int] = {}
        for c, cell in enumerate(raw.iloc[r].tolist()):
            key = column_key(cell) if not is_missing(cell) else ""
            for f, names in aliases.items():
                if key and key in names and f not in found:
                    found[f] = c
        score = sum(1 for f in required if f in found)
        if score > best[0]:
            best = (score, r, found)
        if score == len(required):
            break
    score, header, found = best
    if score < len(required):
        missing = [fields[f][0] for f in required if f not in found]
        cells = [str(c) for c in raw.iloc[max(header, 0)].tolist() if not is_missing(c)]
        raise DataError(
            f"metadata file {path}: missing column(s) {', '.join(missing)} (no header row in the first "
            f"{HEADER_SEARCH_ROWS} rows has them; closest, row {header + 1}: {', '.join(cells) or 'empty'})"
        )
    body = raw.iloc[header + 1:]
    rows = pd.DataFrame({f: body.iloc[:, c].tolist() for f, c in found.items()})
    excel_rows = [int(i) + 1 for i in body.index]  # pandas row i (0-based, header=None) is Excel row i+1
    keep = [i for i in range(len(rows)) if not all(is_missing(v) for v in rows.iloc[i].tolist())]
    return Sheet(path, rows.iloc[keep].reset_index(drop=True), [excel_rows[i] for i in keep], header + 1)


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        pass
    return str(value).strip().lower() in MISSING_MARKS


def cell_text(value: Any) -> str:
    """A cell as text: 6.0 -> "6", " EP02_01f " -> "EP02_01f", missing -> ""."""
    if is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def frame_number(value: Any) -> int | None:
    """A frame-number cell -> int, None when not annotated (`/`, empty); ValueError when not a number."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueError(repr(value))
    if isinstance(value, (int,)):
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(repr(value))
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.0+)?", text):
        return int(float(text))
    raise ValueError(repr(value))


def subject_number(value: Any) -> int | None:
    """The integer in a subject cell: 6, "006", "sub06", "S06" -> 6; None when there is none."""
    text = cell_text(value)
    m = re.fullmatch(r"[A-Za-z_. ]*0*(\d+)", text)
    return int(m.group(1)) if m else None
