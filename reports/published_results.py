"""Published results shipped with mebench, to show beside measured ones (`mebench report --published`).

``published_composite.csv`` (next to this module) holds the MEGC2019 composite table of the HTNet
paper and CausalNet's published row; its ``#`` header lines give the sources. The rows come back in the shape of a report
summary (one row per method, group and metric) so the table writers treat them like measured
rows, marked as published.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

PUBLISHED_PROTOCOL = "composite"
PUBLISHED_FILE = "published_composite.csv"
# Epoch selections (as the papers report them) that choose the model on the test data.
LEAKY_PUBLISHED = {"best epoch on test subject",
                   "best epoch on test subject and configuration grid scored on test"}
_GROUPS = {"full": "Full", "smic": "SMIC", "casme2": "CASME II", "samm": "SAMM"}


def _text() -> str:
    return (resources.files(__package__) / PUBLISHED_FILE).read_text(encoding="utf-8")


def published_source() -> str:
    """The citations of the shipped table (its ``# Source:`` header lines, joined)."""
    sources = [line[len("# Source:"):].strip().rstrip(".") for line in _text().splitlines() if line.startswith("# Source:")]
    return "; ".join(sources) + "." if sources else "unknown source"


def published_table() -> pd.DataFrame:
    """The shipped table as published: method, <group>_<metric> columns, epoch_selection."""
    from io import StringIO

    return pd.read_csv(StringIO(_text()), comment="#")


def published_summary() -> pd.DataFrame:
    """Long form: method, protocol, group, metric, mean, std (NaN), seeds (NaN), epoch_selection,
    leaky, published (True). Method labels are the paper's names."""
    rows = []
    for rec in published_table().to_dict("records"):
        for key, group in _GROUPS.items():
            for metric in ("uf1", "uar"):
                rows.append(dict(method=rec["method"], protocol=PUBLISHED_PROTOCOL, group=group, metric=metric,
                                 mean=float(rec[f"{key}_{metric}"]), std=float("nan"), seeds=float("nan"),
                                 epoch_selection=rec["epoch_selection"],
                                 leaky=rec["epoch_selection"] in LEAKY_PUBLISHED, published=True))
    return pd.DataFrame(rows)
