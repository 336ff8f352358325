"""Every CSV a report writes goes through :func:`write_csv`, which neutralises spreadsheet formulas.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets, so a method's display name, a parameter, a group or
a sample id taken from a results database could run a formula on the reader's machine. As OWASP
recommends (CSV Injection), such text is written with a single quote in front (``'=HYPERLINK(...)``);
spreadsheets show it as text. Numbers stay numbers: only text cells (and column names) are
changed, and text that is a plain number (``-0.5``) or the lone ``-`` placeholder is left as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise(value):
    """``value`` with a leading ``'`` when it is text a spreadsheet would read as a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if value == "-" or _NUMBER.fullmatch(value):
        return value
    return "'" + value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot start a formula."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(neutralise)
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path | str) -> None:
    """``frame`` as CSV (no index), text cells neutralised (:func:`safe_frame`)."""
    safe_frame(frame).to_csv(path, index=False)
