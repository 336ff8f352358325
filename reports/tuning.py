"""The rows of hyperparameter searches (`mebench run --tuning`), assembled from ordinary cells.

Every configuration's outer trainings are ordinary cells: with `fixed` each is a result row of its own
(`tuning` = fixed). The `nested` and `test-scored` rows are synthesised here, as extra prediction rows with
their own variant, so that every table, confidence interval and test downstream treats them like any other row:

- test-scored (leaky): per seed and epoch selection, the configuration with the best UF1 on the test predictions
  pooled over all folds (ties: the first in grid order); its predictions are the row's. Only computed when
  every configuration has every fold.
- nested (honest): per seed and outer fold, the configuration with the best UF1 on its inner cell (trained on the
  fold's training subjects less K, predicting those K, last epoch; ties: the first); that configuration's outer
  cell, read with the row's epoch selection, gives the fold's predictions. The choice reads only inner cells.

Inner cells (training `inner:K`) and cells planned only for a rule (role `search`) are never rows of their own.
`apply_tuning` returns the visible predictions and cells with the synthesised ones, and every choice made
(`picks`: one row per result row, seed and fold for nested, per result row and seed for test-scored).
"""

from __future__ import annotations

import hashlib
import json
from typing import cast

import pandas as pd

from mebench.metrics import uf1
from mebench.tuning import TUNING_RULES, best_first, config_text, inner_training, is_inner, value_text

SHOWN_ROLES = {"run", "fixed"}
PICK_COLUMNS = ["search", "pseudo", "method", "protocol", "tuning", "epoch_selection", "seed", "fold", "config",
                "config_hash", "score", "scored_on", "scores", "grid_size", "grid", "source", "inner_subjects"]
PER_FOLD_NOTE = 12  # a nested row's footnote lists each fold's choice up to this many folds x seeds, else counts
SOURCE_TEXT = {"declared": "the method's declared search space", "grid": "the user's grid"}


def roles_of(value) -> list[str]:
    """A cell's stored roles; NULL (a database older than the column) is a plain run cell."""
    if isinstance(value, str) and value:
        try:
            roles = json.loads(value)
        except ValueError:
            roles = None
        if isinstance(roles, list) and roles:
            return [str(r) for r in roles]
    return ["run"]


def merge_searches(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The searches of several run folders, each once, with the rules asked of it in any of them."""
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return pd.DataFrame()
    both = pd.concat(frames, ignore_index=True)
    rules = both.groupby("id", sort=False)["rules"].agg(
        lambda col: json.dumps(list(dict.fromkeys(r for text in col for r in json.loads(text)))))
    out = both.drop_duplicates("id").copy()
    out["rules"] = out["id"].map(rules)
    return out.reset_index(drop=True)


def _n_classes(row) -> int:
    return len(json.loads(row["class_names"]))


def _worst(statuses) -> str:
    statuses = list(statuses)
    if any(s == "failed" for s in statuses):
        return "failed"
    return "pending"


def apply_tuning(preds: pd.DataFrame, cells: pd.DataFrame, searches: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(predictions, cells, picks): the visible rows with a `tuning` and a `search` column, plus the synthesised
    rows of every search's nested and test-scored rules. `cells` is one row per cell and epoch selection
    (reports.results.expand_cells), with the stored `roles`."""
    roles = {k: roles_of(r) for k, r in zip(cells["key"], cells["roles"] if "roles" in cells.columns else [None] * len(cells))}
    hidden = {k for k, r in roles.items() if not SHOWN_ROLES & set(r)}
    hidden |= set(cells.loc[cells["training"].map(is_inner), "key"])
    tuning_of = {k: "fixed" if "fixed" in r else "" for k, r in roles.items()}
    shown_cells = cells[~cells["key"].isin(hidden)].copy()
    shown_cells["tuning"] = shown_cells["key"].map(tuning_of).fillna("")
    shown_cells["search"] = ""
    shown_preds = preds[~preds["cell_key"].isin(hidden)].copy()
    shown_preds["tuning"] = shown_preds["cell_key"].map(tuning_of).fillna("")
    shown_preds["search"] = ""
    if searches is None or searches.empty:
        return shown_preds, shown_cells, pd.DataFrame(columns=PICK_COLUMNS)
    by_cell = {k: part for k, part in preds.groupby(["cell_key", "epoch_selection"], sort=False)}
    new_preds, new_cells, picks = [], [], []
    scored: set[str] = set()  # grids whose test-scored rows are made: two searches of one grid (another inner split
    for search in searches.to_dict("records"):  # for nested) read the same cells, so they give them once
        p, c, k = _synthesise(search, cells, by_cell, scored)
        new_preds += p
        new_cells += c
        picks += k
    out_preds = pd.concat([shown_preds, *new_preds], ignore_index=True) if new_preds else shown_preds
    out_cells = pd.concat([shown_cells, pd.DataFrame(new_cells)], ignore_index=True) if new_cells else shown_cells
    return out_preds, out_cells, pd.DataFrame(picks, columns=PICK_COLUMNS)


def grid_key(search: dict) -> str:
    """A search's grid, whatever its inner split: the method, what its cells are keyed by, the configurations in
    grid order. Searches of one grid share their outer cells, and their rows are paired in leakage.csv."""
    hashes = [h for h, _ in json.loads(search["configs"])]
    text = json.dumps([search["method"], search["preset"], search["protocol"], search["dataset_fingerprint"],
                       search["precision"], hashes])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _synthesise(search: dict, cells: pd.DataFrame, by_cell: dict, scored: set) -> tuple[list, list, list]:
    sid, rules = search["id"], [r for r in json.loads(search["rules"]) if r in ("nested", "test-scored")]
    key = grid_key(search)
    if "test-scored" in rules and key in scored:
        rules.remove("test-scored")
    elif "test-scored" in rules:
        scored.add(key)
    names = json.loads(search["names"])
    configs = json.loads(search["configs"])  # [[params hash, {name: value}], ...] in grid order
    hashes = [h for h, _ in configs]
    labels = [config_text(values, names) for _, values in configs]
    grid = json.loads(search["grid"])
    grid_text = " x ".join(f"{n} in {{{', '.join(value_text(v) for v in values)}}}" for n, values in zip(names, grid))
    mine = cells[(cells["method"] == search["method"]) & (cells["preset"] == search["preset"])
                 & (cells["protocol"] == search["protocol"]) & (cells["dataset_fingerprint"] == search["dataset_fingerprint"])
                 & (cells["precision"] == search["precision"]) & cells["params_hash"].isin(hashes)]
    outer = mine[~mine["training"].map(is_inner)]
    inner = mine[mine["training"] == inner_training(int(search["inner_subjects"]))].drop_duplicates("key")
    if not rules or (outer.empty and inner.empty):
        return [], [], []
    cell_of = {(r["params_hash"], int(r["seed"]), r["fold"], r["epoch_selection"]): r for r in outer.to_dict("records")}
    inner_of = {(r["params_hash"], int(r["seed"]), r["fold"]): r for r in inner.to_dict("records")}
    selections = list(dict.fromkeys(outer["epoch_selection"])) or ["final"]
    seeds = sorted({int(s) for s in pd.concat([outer["seed"], inner["seed"]])})
    folds = list(dict.fromkeys(pd.concat([inner["fold"], outer["fold"]])))
    common = dict(search=sid, method=search["method"], protocol=search["protocol"], grid_size=len(hashes), grid=grid_text,
                  source=search["source"], inner_subjects=int(search["inner_subjects"]))
    new_preds, new_cells, picks = [], [], []

    def pseudo_cell(template: dict, rule: str, sel: str, seed: int, fold: str, status: str, seconds: float,
                    trainings: int) -> dict:
        row = dict(template)
        row.update(key=f"{sid}/{rule}/{sel}/{seed}/{fold}", params_hash=f"{rule}@{sid}", tuning=rule, search=key,
                   epoch_selection=sel, selections=json.dumps([sel]), roles=json.dumps(["search"]), status=status,
                   seconds=seconds, search_trainings=trainings, fold=fold, seed=seed)
        if is_inner(row.get("training")):
            row["training"] = "validation" if sel == "validation" else "full"
        return row

    def seconds_of(rows) -> float:
        values = [float(r["seconds"]) for r in rows if r is not None and r["status"] == "done"
                  and r.get("seconds") is not None and not pd.isna(r["seconds"])]
        return float(sum(values))

    def predictions(row: dict, sel: str) -> pd.DataFrame | None:
        return by_cell.get((row["key"], sel))

    scores: list[float]  # each configuration's UF1, in grid order
    if "test-scored" in rules:
        for sel in selections:
            for seed in seeds:
                grid_rows = [[cell_of.get((h, seed, f, sel)) for f in folds] for h in hashes]
                flat = [r for rows in grid_rows for r in rows]
                n_folds = max((int(r["n_folds"]) for r in flat if r is not None), default=len(folds))
                complete = len(folds) >= n_folds and all(r is not None and r["status"] == "done"
                                                          and predictions(r, sel) is not None for r in flat)
                best, scores = None, []
                if complete:
                    for rows in grid_rows:  # complete: every cell and its predictions are there
                        pooled = pd.concat([cast(pd.DataFrame, predictions(cast(dict, r), sel)) for r in rows])
                        scores.append(uf1(pooled["y_true"].to_numpy(), pooled["y_pred"].to_numpy(), _n_classes(rows[0])))
                    best = best_first(scores)
                for i, f in enumerate(folds):
                    column = [grid_rows[c][i] for c in range(len(hashes))]
                    template = column[best] if best is not None else next((r for r in column if r is not None), None)
                    if template is None:
                        continue
                    status = "done" if best is not None else _worst(r["status"] if r is not None else "pending" for r in flat)
                    new_cells.append(pseudo_cell(template, "test-scored", sel, seed, f, status, seconds_of(column),
                                                 sum(r is not None for r in column)))
                    if best is not None:
                        new_preds.append(cast(pd.DataFrame, predictions(template, sel)).assign(  # complete
                            params_hash=f"test-scored@{sid}", tuning="test-scored", search=key))
                if best is not None:
                    picks.append(dict(common, inner_subjects=None, pseudo=f"test-scored@{sid}", tuning="test-scored",
                                      epoch_selection=sel,
                                      seed=seed, fold="", config=labels[best], config_hash=hashes[best],
                                      score=scores[best], scored_on="UF1 of the test predictions pooled over all folds",
                                      scores=json.dumps([round(s, 6) for s in scores])))
    if "nested" in rules:
        for seed in seeds:
            for f in folds:
                inner_rows = [inner_of.get((h, seed, f)) for h in hashes]
                best, scores = None, []
                if all(r is not None and r["status"] == "done" and predictions(r, "final") is not None for r in inner_rows):
                    for r in inner_rows:  # each one checked above
                        held = cast(pd.DataFrame, predictions(cast(dict, r), "final"))
                        scores.append(uf1(held["y_true"].to_numpy(), held["y_pred"].to_numpy(), _n_classes(r)))
                    best = best_first(scores)
                for sel in selections:
                    winner = cell_of.get((hashes[best], seed, f, sel)) if best is not None else None
                    template = winner or next((cell_of.get((h, seed, f, sel)) for h in hashes
                                               if cell_of.get((h, seed, f, sel)) is not None), None) \
                        or next((r for r in inner_rows if r is not None), None)
                    if template is None:
                        continue
                    if best is None:
                        status = _worst(r["status"] if r is not None else "pending" for r in inner_rows)
                    elif winner is None:
                        status = "pending"  # chosen, its outer training not run yet
                    else:  # expand_cells marks a done cell that cannot give this selection failed
                        status = winner["status"]
                        if status == "done" and predictions(winner, sel) is None:
                            status = "failed"
                    new_cells.append(pseudo_cell(template, "nested", sel, seed, f, status,
                                                 seconds_of([*inner_rows, winner]),
                                                 sum(r is not None for r in inner_rows) + (winner is not None)))
                    if status == "done":
                        new_preds.append(cast(pd.DataFrame, predictions(cast(dict, winner), sel)).assign(  # done
                            params_hash=f"nested@{sid}", tuning="nested", search=key))
                    if best is not None:
                        picks.append(dict(common, pseudo=f"nested@{sid}", tuning="nested", epoch_selection=sel,
                                          seed=seed, fold=f, config=labels[best], config_hash=hashes[best],
                                          score=scores[best],
                                          scored_on=f"UF1 on {search['inner_subjects']} training subjects held out "
                                                    "(last epoch)",
                                          scores=json.dumps([round(s, 6) for s in scores])))
    return new_preds, new_cells, picks


def rule_text(rule: str) -> str:
    return TUNING_RULES.get(rule, rule)


def search_notes(picks: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(protocol, variant) -> how its configuration was chosen and which it was: the rule, the grid and its size,
    and the choice (per seed for test-scored; for nested, each fold's choice, or with more than PER_FOLD_NOTE folds x
    seeds how often each configuration was chosen, the per-fold choices being in tuning.csv and report.md)."""
    notes: dict[tuple[str, str], str] = {}
    if picks is None or picks.empty or "variant" not in picks.columns:
        return notes
    for (protocol, variant), part in picks.groupby(["protocol", "variant"], sort=False):
        first = part.iloc[0]
        head = (f"grid of {first['grid_size']} configurations ({first['grid']}; "
                f"{SOURCE_TEXT.get(first['source'], first['source'])})")
        if first["tuning"] == "test-scored":
            chosen = "; ".join(f"seed {r.seed}: {r.config} (test UF1 {r.score:.4f})" for r in part.itertuples())
            text = (f"test-scored (leaky): the configuration with the best UF1 on the test predictions pooled over all "
                    f"folds, from a {head}: {chosen}")
        else:
            if len(part) <= PER_FOLD_NOTE:  # few folds: each one's choice
                chosen = "; ".join(f"fold {r.fold}" + (f" seed {r.seed}" if part["seed"].nunique() > 1 else "")
                                   + f": {r.config}" for r in part.itertuples())
            else:  # how often each configuration was chosen; each fold's choice is in tuning.csv and report.md
                counts = part["config"].value_counts(sort=False).sort_values(ascending=False, kind="stable")
                chosen = ("; ".join(f"{c} in {n}" for c, n in counts.items())
                          + f" of {len(part)} folds x seeds (each fold's choice: tuning.csv)")
            text = (f"nested: per outer fold, the configuration with the best UF1 (last epoch) on "
                    f"{first['inner_subjects']} of the fold's training subjects held out from its training, then "
                    f"trained on all of them, from a {head}; chosen: {chosen}")
        notes[(str(protocol), str(variant))] = text
    return notes


def picks_csv_frame(picks: pd.DataFrame) -> pd.DataFrame:
    """tuning.csv: one row per choice: the result row (method), its rule and epoch selection, seed, fold (empty
    for test-scored: one choice over all folds), the chosen configuration and its score, every configuration's
    score in grid order, the grid."""
    columns = ["method", "protocol", "tuning", "epoch_selection", "seed", "fold", "config", "score", "scored_on",
               "scores", "grid_size", "grid", "source", "inner_subjects", "config_hash", "search"]
    if picks is None or picks.empty:
        return pd.DataFrame(columns=columns)
    return picks.drop(columns="method").rename(columns={"variant": "method"})[columns]


__all__ = ["apply_tuning", "merge_searches", "search_notes", "picks_csv_frame", "roles_of", "grid_key", "PICK_COLUMNS"]
