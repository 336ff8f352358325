"""From the results database to tidy tables: one row per prediction, one row per metric value.

UF1 and UAR are computed on the predictions pooled over all folds of a protocol (the MEGC
convention), for every reporting group the protocol names (e.g. Full, SMIC, CASME II, SAMM),
separately for each seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mebench import plugins
from mebench.errors import DataError
from mebench.metrics import scores
from mebench.selection import LEAKY
from mebench.store import ResultStore

METRICS = ("uf1", "uar", "accuracy")
METRIC_LABELS = {"uf1": "UF1", "uar": "UAR", "accuracy": "Acc"}
VARIANT_KEYS = ["method", "preset", "params_hash", "data", "epoch_selection"]


def load_predictions(run_dir: Path | str) -> pd.DataFrame:
    """Every stored prediction of finished cells, with a `variant` label per method configuration."""
    store = ResultStore(run_dir)
    if not store.path.exists():
        raise DataError(f"{run_dir} holds no results database ({store.path.name}); run `mebench run --out {run_dir}` first")
    preds = store.predictions()
    if preds.empty:
        raise DataError(f"{store.path} holds no finished cells yet")
    preds["variant"] = variant_labels(preds)
    preds["leaky"] = preds["epoch_selection"].isin(LEAKY)
    return preds


def variant_labels(frame: pd.DataFrame) -> pd.Series:
    """Method name, qualified only as far as needed to tell configurations in the same run apart."""
    combos = frame[VARIANT_KEYS].drop_duplicates()
    labels = {}
    for row in combos.itertuples(index=False):
        same = combos[combos["method"] == row.method]
        label = row.method
        if same["preset"].nunique() > 1:
            label += f" [{row.preset}]"
        if same[same["preset"] == row.preset]["params_hash"].nunique() > 1:
            label += f" #{row.params_hash[:6]}"
        if combos["data"].nunique() > 1:
            label += f" @{row.data}"
        if row.epoch_selection != "final":
            label += f" ({row.epoch_selection})"
        labels[tuple(row)] = label
    return pd.Series([labels[tuple(r)] for r in frame[VARIANT_KEYS].itertuples(index=False)], index=frame.index)


def group_masks(protocol: str, frame: pd.DataFrame) -> dict[str, pd.Series]:
    return plugins.protocols.get(protocol)().groups(frame)


def tidy_results(preds: pd.DataFrame) -> pd.DataFrame:
    """Columns: method (variant label), protocol, data, epoch_selection, leaky, group, seed, metric, value, n."""
    rows = []
    for (variant, protocol, data, selection, seed), part in preds.groupby(
        ["variant", "protocol", "data", "epoch_selection", "seed"], sort=False
    ):
        n_classes = len(json.loads(part["class_names"].iloc[0]))
        for group, mask in group_masks(protocol, part).items():
            sel = part[mask.to_numpy()]
            if sel.empty:
                continue
            values = scores(sel["y_true"].to_numpy(), sel["y_pred"].to_numpy(), n_classes)
            for metric in METRICS:
                rows.append(dict(method=variant, protocol=protocol, data=data, epoch_selection=selection,
                                 leaky=selection in LEAKY, group=group, seed=int(seed), metric=metric,
                                 value=float(values[metric]), n=len(sel)))
    return pd.DataFrame(rows)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (over seeds, ddof=1; NaN for one seed) and number of seeds per method, group and metric."""
    keys = ["method", "protocol", "data", "epoch_selection", "leaky", "group", "metric"]
    out = results.groupby(keys, sort=False)["value"].agg(mean="mean", std="std", seeds="count").reset_index()
    return out


def predictions_csv_frame(preds: pd.DataFrame) -> pd.DataFrame:
    """One row per test sample and seed, with the class names beside the indices."""
    names = preds["class_names"].map(json.loads)
    out = preds[["variant", "protocol", "epoch_selection", "seed", "fold", "dataset", "subject", "sample", "y_true", "y_pred"]].copy()
    out = out.rename(columns={"variant": "method"})
    out["label_true"] = [n[i] for n, i in zip(names, preds["y_true"])]
    out["label_pred"] = [n[i] for n, i in zip(names, preds["y_pred"])]
    out["leaky"] = preds["leaky"].to_numpy()
    return out
