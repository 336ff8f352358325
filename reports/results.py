"""From the results database to tidy tables: one row per prediction, one row per metric value.

UF1 and UAR are computed on the predictions pooled over all folds of a protocol (the MEGC
convention), for every reporting group the protocol names (e.g. Full, SMIC, CASME II, SAMM),
separately for each seed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import SupportsInt, cast

import pandas as pd

from mebench import plugins
from mebench.errors import DataError
from mebench.metrics import scores
from mebench.protocol import dataset_display_name
from mebench.selection import LEAKY, derive
from mebench.store import ResultStore
from mebench.tuning import LEAKY_TUNING
from mebench.reports.tuning import apply_tuning, merge_searches

METRICS = ("uf1", "uar", "accuracy")
METRIC_LABELS = {"uf1": "UF1", "uar": "UAR", "accuracy": "Acc"}
VARIANT_KEYS = ["method", "preset", "params_hash", "precision", "data", "epoch_selection"]


@dataclass
class RunResults:
    """What a report reads from a run folder: the predictions of finished cells and every cell
    (pending, done or failed), both with the `variant` label of their method configuration."""

    preds: pd.DataFrame
    cells: pd.DataFrame
    records: dict = field(default_factory=dict)  # cell key -> (test sample ids, EpochRecord)
    runs: pd.DataFrame | None = None  # every invocation with its whole specification
    # every configuration a hyperparameter search's rule chose (reports.tuning.apply_tuning), with its `variant`
    picks: pd.DataFrame = field(default_factory=pd.DataFrame)
    # every training epoch of the reported torch cells (ResultStore.training_epochs), with the cell's `variant`s
    training: pd.DataFrame = field(default_factory=pd.DataFrame)

    def first_method(self) -> str | None:
        """The first method of the first `mebench run` that stored its specification."""
        if self.runs is None:
            return None
        for command, spec in zip(self.runs["command"], self.runs["spec"]):
            methods = json.loads(spec).get("methods") if command == "run" else None
            if methods:
                return methods[0]
        return None


def load_run(run_dir: Path | str | list, seeds: Sequence[int] | None = None) -> RunResults:
    """Everything a report reads from a run folder, or from several together (their cells, predictions,
    epoch records and specifications merged; a cell stored in two folders counts once). ``seeds``: only
    the cells of these seeds (e.g. the seeds that have finished while others still run)."""
    dirs = list(run_dir) if isinstance(run_dir, (list, tuple)) else [run_dir]
    cell_parts, raw_parts, records, runs, searches, training = [], [], {}, [], [], []
    for i, folder in enumerate(dirs):
        store = ResultStore(folder)
        c = store.cells()  # DataError when there is no database
        p = store.predictions()
        if p.empty:
            counts = c["status"].value_counts()
            status = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no cells"
            raise DataError(f"{store.path} holds no finished cells yet ({status})")
        _check_cells(c, store.path)
        p = attach_groups(p, store.groups())
        p["cell_order"] = p["cell_order"] + i * 10**12  # the folders' order, then each one's planned order
        cell_parts.append(c)
        raw_parts.append(p)
        stored = store.epoch_records()
        _check_records(stored, c, p, store.path)
        records.update(stored)
        r = store.runs()
        _check_runs(r, store.path)
        runs.append(r.assign(folder=str(folder)))
        searches.append(store.searches())
        training.append(store.training_epochs())
    cells = pd.concat(cell_parts, ignore_index=True).drop_duplicates("key")
    raw = pd.concat(raw_parts, ignore_index=True).drop_duplicates(["cell_key", "sample"])
    if seeds is not None:
        cells, raw = _of_seeds(cells, raw, seeds, dirs)
    preds, available = expand_selections(raw, cells, records)
    cells = expand_cells(cells, available)
    # hyperparameter searches: inner and rule-only cells leave, the nested and test-scored rows join
    preds, cells, picks = apply_tuning(preds, cells, merge_searches(searches))
    if preds.empty:
        raise DataError(f"{', '.join(str(d) for d in dirs)} holds no finished result row yet (only the inner "
                        "trainings of a nested search, or cells a search has not chosen from yet)")
    versions = data_versions(cells)
    for frame in (cells, preds):  # cells of two versions of the same data never pool: each version is its own row
        frame["data"] = [versions.get(k, k[0]) for k in zip(frame["data"], frame["protocol"], frame["dataset_fingerprint"])]
    overrides = parameter_overrides(cells, pd.concat(runs, ignore_index=True))
    for frame in (cells, preds):  # what each row ran with beyond its preset (--param), for the tables and CSVs
        frame["overrides"] = [overrides.get(k, "") for k in zip(frame["method"], frame["params_hash"])]
    labels, shown = variant_labels(cells), variant_labels(cells, display=True)
    for frame in (cells, preds):
        keys = [tuple(r) for r in frame[VARIANT_KEYS].itertuples(index=False)]
        frame["variant"] = [labels[k] for k in keys]
        frame["display_name"] = [shown[k] for k in keys]
    preds["leaky"] = preds["epoch_selection"].isin(LEAKY) | preds["tuning"].isin(LEAKY_TUNING)
    if len(picks):
        variant_of = dict(zip(zip(preds["params_hash"], preds["epoch_selection"]), preds["variant"]))
        picks["variant"] = [variant_of.get(k) for k in zip(picks["pseudo"], picks["epoch_selection"])]
        picks = picks[picks["variant"].notna()].reset_index(drop=True)
    return RunResults(preds, cells, records, pd.concat(runs, ignore_index=True), picks,
                      training_frame(pd.concat(training, ignore_index=True), preds))


def training_frame(epochs: pd.DataFrame, preds: pd.DataFrame) -> pd.DataFrame:
    """training.csv: the stored training epochs of the cells whose predictions are reported (one training can
    give several rows, e.g. final and oracle: `variants` names them all), in the store's order."""
    epochs = epochs.drop_duplicates(["cell_key", "epoch"])
    reported = preds.drop_duplicates(["cell_key", "variant"]).groupby("cell_key", sort=False)["variant"]
    variants = reported.agg(lambda v: ", ".join(dict.fromkeys(v)))
    epochs = epochs[epochs["cell_key"].isin(variants.index)]
    out = epochs.assign(variants=epochs["cell_key"].map(variants))
    columns = ["method", "variants", "preset", "params_hash", "precision", "protocol", "fold", "seed", "training",
               "epoch", "train_loss", "train_accuracy", "lr"]
    return out[columns].reset_index(drop=True)


def _cell_text(row, path) -> str:
    return f"{path}: the cell (method {row.method!r}, fold {row.fold!r}, seed {row.seed})"


def _json_names(text) -> list | None:
    """A JSON list of names (strings), or None."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, list) and value and all(isinstance(v, str) for v in value) else None


def _check_cells(cells: pd.DataFrame, path: Path) -> None:
    """Every cell's selections and class names are JSON lists of names (a DataError naming the cell and the
    file, rather than a traceback later)."""
    for row in cells.itertuples(index=False):
        for column in ("selections", "class_names"):
            if _json_names(getattr(row, column)) is None:
                raise DataError(f"{_cell_text(row, path)} has {column} that are not a JSON list of names: "
                                f"{getattr(row, column)!r}; rerun that cell (`mebench run ... --rerun`) or leave its "
                                "folder out of the report")


def _check_records(records: dict, cells: pd.DataFrame, preds: pd.DataFrame, path: Path) -> None:
    """Each epoch record belongs to a stored cell, covers the test samples of its cell's predictions, and has
    as many classes as the cell's class names."""
    by_key = {row.key: row for row in cells.itertuples(index=False)}
    samples = preds.groupby("cell_key", sort=False)["sample"].agg(set).to_dict()
    for key, (ids, record) in records.items():
        row = by_key.get(key)
        if row is None:  # a record left behind by a deleted cell: never read
            continue
        where = _cell_text(row, path)
        names = _json_names(row.class_names)
        assert names is not None  # _check_cells ran first
        n_classes = len(names)
        if record.proba.shape[2] != n_classes:
            raise DataError(f"{where} has an epoch record of {record.proba.shape[2]} classes, but {n_classes} class "
                            "names; rerun that cell (`mebench run ... --rerun`)")
        if key in samples and set(ids) != samples[key]:
            raise DataError(f"{where} has an epoch record of other test samples than its predictions "
                            f"({len(ids)} against {len(samples[key])}); rerun that cell (`mebench run ... --rerun`)")


def _check_runs(runs: pd.DataFrame, path: Path) -> None:
    """Every stored run specification is a JSON object."""
    for row in runs.itertuples(index=False):
        try:
            spec = json.loads(row.spec)  # type: ignore[arg-type]  # not a str (NULL): TypeError, caught below
        except (TypeError, ValueError):
            spec = None
        if not isinstance(spec, dict):
            raise DataError(f"{path}: the specification of invocation {row.id} (`mebench {row.command}`) is not a "
                            f"JSON object: {str(row.spec)[:80]!r}; the database is damaged")


def version_notes(cells: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(protocol, variant) -> which versions its finished cells were computed by, for every result row whose
    cells disagree in `method_version` (the method's distribution, version and source hash; "not recorded"
    in databases older than the column) or in `mebench_version`: such a row pools results of different code."""
    done = cells[cells["status"] == "done"].drop_duplicates(["key", "variant"])
    notes: dict[tuple[str, str], str] = {}
    for (variant, protocol), part in done.groupby(["variant", "protocol"], sort=False):
        parts = []
        for column in ("method_version", "mebench_version"):
            if column not in part.columns:
                continue
            values = part[column].map(lambda v: v if isinstance(v, str) and v else "not recorded")
            counts = values.value_counts(sort=False)
            if len(counts) > 1:
                parts.append(f"{column} " + ", ".join(f"{v} ({n} cell{'' if n == 1 else 's'})"
                                                      for v, n in sorted(counts.items())))
        if parts:
            notes[(str(protocol), str(variant))] = "; ".join(parts)
    return notes


def _of_seeds(cells: pd.DataFrame, raw: pd.DataFrame, seeds: Sequence[int], dirs: list) -> tuple:
    """The cells and predictions of ``seeds``; an error naming the stored seeds when one has no result."""
    stored = sorted(set(cells.loc[cells["status"] == "done", "seed"].astype(int)))
    absent = [s for s in seeds if s not in stored]
    if absent:
        where = ", ".join(str(d) for d in dirs)
        raise DataError(f"--seeds: no finished cell of seed {', '.join(map(str, absent))} in {where} "
                        f"(finished seeds: {', '.join(map(str, stored)) or 'none'})")
    cells = cells[cells["seed"].astype(int).isin(seeds)]
    return cells, raw[raw["cell_key"].isin(set(cells["key"]))]


def data_versions(cells: pd.DataFrame) -> dict[tuple, str]:
    """(data name, protocol, fingerprint) -> `name#fingerprint-prefix` where one data name under one protocol
    has cells of several fingerprints (the data changed between runs, or a folder was written before mebench
    refused that): the rows of each version stay apart, and their labels say which is which."""
    out = {}
    for (name, protocol), part in cells.groupby(["data", "protocol"], sort=False):
        fingerprints = list(dict.fromkeys(part["dataset_fingerprint"]))
        if len(fingerprints) > 1:
            out.update({(name, protocol, f): f"{name}#{f[:8]}" for f in fingerprints})
    return out


def expand_selections(raw: pd.DataFrame, cells: pd.DataFrame, records: dict) -> tuple[pd.DataFrame, set]:
    """The stored predictions read with every selection their cell is planned with: a full training's
    final predictions as stored, `oracle` and `epoch:E` derived from its epoch record
    (mebench.selection.derive); validation and checkpoint cells as stored. Returns the predictions with
    an `epoch_selection` column and the (cell key, selection) pairs that could be derived."""
    selections = {k: json.loads(v) for k, v in zip(cells["key"], cells["selections"])}
    training = dict(zip(cells["key"], cells["training"]))
    parts, available = [], set()
    for key, part in raw.groupby("cell_key", sort=False):
        for sel in selections.get(key, []):
            if sel in ("final", "validation", "checkpoint") or training.get(key) == sel:  # stored as they are
                parts.append(part.assign(epoch_selection=sel))
            elif key in records:
                samples, record = records[key]
                order = part.set_index("sample").loc[samples]
                subjects = (order["dataset"].astype(str) + "/" + order["subject"].astype(str)).to_numpy()
                try:
                    pred, epochs = derive(sel, record, order["y_true"].to_numpy(), subjects)
                except DataError:
                    continue  # an epoch the training did not reach: reported as missing
                rows = order.reset_index().assign(y_pred=pred, epoch=epochs, epoch_selection=sel)
                rows["proba"] = [json.dumps([round(float(x), 4) for x in record.proba[e - 1, i]])
                                 for i, e in enumerate(epochs)]
                parts.append(rows[part.columns.tolist() + ["epoch_selection"]])
            else:
                continue
            available.add((key, sel))
    preds = pd.concat(parts, ignore_index=True) if parts else raw.assign(epoch_selection=[])
    return preds, available


def expand_cells(cells: pd.DataFrame, available: set) -> pd.DataFrame:
    """One row per cell and selection it is read with; a selection the cell cannot give yet (not run, failed,
    no epoch record) keeps the cell's status unless the cell is done, when it counts as failed."""
    rows = []
    for row in cells.to_dict("records"):
        for sel in json.loads(row["selections"]):
            status = row["status"]
            if status == "done" and (row["key"], sel) not in available:
                status = "failed"
            rows.append({**row, "epoch_selection": sel, "status": status})
    out = pd.DataFrame(rows, columns=[*cells.columns, "epoch_selection"])
    out["data"] = out["dataset"]  # the name predictions use for the cell's dataset
    return out


def load_predictions(run_dir: Path | str) -> pd.DataFrame:
    """Every stored prediction of finished cells, with a `variant` label per method configuration."""
    return load_run(run_dir).preds


def parameter_overrides(cells: pd.DataFrame, runs: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(method, params_hash) -> the parameters set on the command line (`--param`, `--config`) with the values the
    cells ran with, e.g. ``lr=0.001, epochs=10``; a configuration without any is left out."""
    names: set[str] = set()
    for spec in runs["spec"] if "spec" in runs.columns else ():
        spec = json.loads(spec) if isinstance(spec, str) else {}
        names |= {str(pair[0]) for key in ("params", "config") for pair in spec.get(key, []) if pair}
    out = {}
    for method, phash, params in cells[["method", "params_hash", "params"]].drop_duplicates(["method", "params_hash"]) \
            .itertuples(index=False):
        try:
            values = json.loads(params) if isinstance(params, str) else {}
        except ValueError:
            values = {}
        given = [(k, v) for k, v in sorted(values.items()) if k in names] if isinstance(values, dict) else []
        if given:
            out[(method, phash)] = ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in given)
    return out


def variant_labels(cells: pd.DataFrame, display: bool = False) -> dict[tuple, str]:
    """Method name (or, with `display`, its display name: HTNet, OFF-ApexNet), qualified only as far as
    needed to tell configurations in the same report apart: preset (on every row once presets differ), the
    parameters that differ
    (`ststnet (lr=0.001)`), precision, data, epoch selection. Keyed by the VARIANT_KEYS values."""
    combos = cells.drop_duplicates(VARIANT_KEYS)
    params = {(r.method, r.params_hash): json.loads(r.params) if isinstance(r.params, str) else {}
              for r in combos[["method", "params_hash", "params"]].itertuples(index=False)} \
        if "params" in combos.columns else {}
    tuned = combos["tuning"].isin(("nested", "test-scored")) if "tuning" in combos.columns \
        else pd.Series(False, index=combos.index)
    plain = combos[~tuned]
    labels = {}
    for row, is_tuned in zip(combos.itertuples(index=False), tuned):
        label = _display_name(row) if display else str(row.method)
        if combos["preset"].nunique() > 1:  # a cheap configuration beside a paper one says so on every row
            label += f" [{row.preset}]"
        if is_tuned:  # a search's chosen configuration: the rule names it (and the search, where a method has several)
            rule, search = str(row.params_hash).split("@", 1)
            others = combos[tuned & (combos["method"] == row.method) & (combos["preset"] == row.preset)
                            & combos["params_hash"].str.startswith(rule + "@")]
            several = others["params_hash"].nunique() > 1
            qualifier = rule + (f" #{search[:6]}" if several else "")
        else:
            same = plain[plain["method"] == row.method]
            hashes = list(dict.fromkeys(same.loc[same["preset"] == row.preset, "params_hash"]))
            if len(hashes) > 1:
                label += f" ({_differing(params, str(row.method), hashes, str(row.params_hash))})"
        if row.precision != "fp32":
            label += f" [{row.precision}]"
        if combos["data"].nunique() > 1:
            label += f" @{row.data}"
        if is_tuned:
            label += f" ({qualifier}{'' if row.epoch_selection == 'final' else ', ' + str(row.epoch_selection)})"
        elif row.epoch_selection != "final":
            label += f" ({row.epoch_selection})"
        labels[tuple(getattr(row, k) for k in VARIANT_KEYS)] = label
    return labels


def _display_name(row) -> str:
    name = getattr(row, "display_name", None)
    if isinstance(name, str) and name:
        return name
    try:  # a run stored before display names were recorded
        return plugins.methods.get(row.method).info.display_name
    except Exception:  # noqa: BLE001 - the plugin may be gone; its name still labels it
        return row.method


def _differing(params: dict, method: str, hashes: list[str], mine: str) -> str:
    """`lr=0.001, epochs=10`: this variant's values of the parameters on which the method's variants differ."""
    mine_params = params.get((method, mine), {})
    others = [params.get((method, h), {}) for h in hashes]
    keys = sorted({k for p in others for k in p if any(q.get(k) != p.get(k) for q in others)})
    if not keys:
        return f"#{mine[:6]}"
    return ", ".join(f"{k}={json.dumps(mine_params.get(k)) if not isinstance(mine_params.get(k), str) else mine_params.get(k)}"
                     for k in keys)


def completeness(cells: pd.DataFrame) -> pd.DataFrame:
    """Per variant, protocol and seed: folds planned, done, failed and pending; `complete` when every
    planned fold is done."""
    frame = cells.assign(done=cells["status"].eq("done"), failed=cells["status"].eq("failed"),
                         pending=cells["status"].isin(["pending", "running"]))
    out = frame.groupby(["variant", "protocol", "seed"], sort=False).agg(
        n_folds=("n_folds", "max"), done=("done", "sum"), failed=("failed", "sum"), pending=("pending", "sum")
    ).reset_index()
    out["complete"] = out["done"] >= out["n_folds"]
    return out


def finished_seeds_only(run: RunResults) -> tuple[RunResults, list[str]]:
    """Per variant and protocol with at least one seed whose every fold is done, only those seeds: a
    partly run seed pools fewer subjects, so averaging it with finished ones compares unlike scores.
    A variant with no finished seed keeps what it has (marked incomplete). Returns the filtered run
    and one note per variant whose unfinished seeds were left out."""
    drop, notes = set(), []
    for (variant, protocol), part in completeness(run.cells).groupby(["variant", "protocol"], sort=False):
        if part["complete"].all() or not part["complete"].any():
            continue
        finished = [str(s) for s in part.loc[part["complete"], "seed"]]
        kept = ("seeds " if len(finished) > 1 else "seed ") + ", ".join(finished)
        unfinished = part[~part["complete"]]
        drop |= {(variant, protocol, int(seed)) for seed in unfinished["seed"]}
        left = "; ".join(f"seed {r.seed}: {r.done} of {r.n_folds} folds done" for r in unfinished.itertuples())
        notes.append(f"`{variant}` ({protocol}) is reported on {kept} (every fold done); its unfinished seeds "
                     f"are left out until they finish ({left})")
    if not drop:
        return run, notes

    def kept_rows(frame: pd.DataFrame) -> pd.Series:
        keys = zip(frame["variant"], frame["protocol"], frame["seed"].astype(int))
        return pd.Series([k not in drop for k in keys], index=frame.index, dtype=bool)

    picks = run.picks[kept_rows(run.picks)] if len(run.picks) else run.picks
    return RunResults(run.preds[kept_rows(run.preds)], run.cells[kept_rows(run.cells)], run.records, run.runs,
                      picks), notes


def incomplete_notes(cells: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(protocol, variant) -> what is missing, for every variant with a fold not done under some seed,
    e.g. "61 of 68 folds (seed 0: 5 failed, 2 not run)"."""
    notes: dict[tuple[str, str], str] = {}
    for (variant, protocol), part in completeness(cells).groupby(["variant", "protocol"], sort=False):
        if part["complete"].all():
            continue
        planned, done = int(part["n_folds"].sum()), int(part["done"].sum())
        seeds = []
        for r in part[~part["complete"]].itertuples():
            what = [f"{r.failed!s} failed" if r.failed else "", f"{r.pending!s} not run" if r.pending else ""]
            seeds.append(f"seed {r.seed}: " + ", ".join(w for w in what if w))
        unit = "folds" if len(part) == 1 else "fold-seed cells"
        notes[(str(protocol), str(variant))] = f"{done} of {planned} {unit} done ({'; '.join(seeds)})"
    return notes


def attach_groups(preds: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """A `groups` column: the stored reporting groups of each prediction's sample under its protocol,
    encoded "0:Full|1:SMIC" (position in table order, name); missing where none were stored."""
    if stored.empty:
        return preds.assign(groups=None)
    stored = stored.sort_values(["position"])
    encoded = (stored.assign(item=stored["position"].astype(str) + ":" + stored["grp"])
               .groupby(["protocol", "dataset_fingerprint", "sample"], sort=False)["item"].agg("|".join)
               .rename("groups").reset_index())
    return preds.merge(encoded, on=["protocol", "dataset_fingerprint", "sample"], how="left")


def group_masks(protocol: str, frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Reporting groups (name -> mask over `frame`'s rows, in table order): as stored with the run, or,
    for runs that stored none, from the protocol plugin."""
    if "groups" in frame.columns and frame["groups"].notna().all() and len(frame):
        items = frame["groups"].str.split("|")
        names = {}
        for row in items:
            for item in row:
                position, name = item.split(":", 1)
                names[int(position)] = name
        # a run stored before groups took the datasets' display names still reports CASME II, not casme2
        return {dataset_display_name(name): items.map(lambda row, n=name: any(i.split(":", 1)[1] == n for i in row))
                .astype(bool) for _, name in sorted(names.items())}
    from mebench.errors import PluginLoadError, UnknownNameError
    from mebench.protocol import make_protocol

    try:
        return make_protocol(protocol).groups(frame)
    except (UnknownNameError, PluginLoadError) as exc:
        raise DataError(f"the run stored no reporting groups for protocol {protocol!r} and its plugin cannot be "
                        f"loaded ({exc})") from None


def tidy_results(preds: pd.DataFrame) -> pd.DataFrame:
    """Columns: method (variant label), protocol, data, preset and overrides (the --param values; where the
    predictions have them), epoch_selection, tuning (nested, test-scored, fixed, or empty when no search ran), leaky,
    group, seed, metric, value, n."""
    rows = []
    if "tuning" not in preds.columns:
        preds = preds.assign(tuning="")
    for (variant, protocol, data, selection, seed), part in preds.groupby(
        ["variant", "protocol", "data", "epoch_selection", "seed"], sort=False
    ):
        n_classes = len(json.loads(part["class_names"].iloc[0]))
        tuning = str(part["tuning"].iloc[0])
        leaky = bool(part["leaky"].iloc[0]) if "leaky" in part.columns else selection in LEAKY
        made = {k: str(part[k].iloc[0]) for k in ("preset", "overrides") if k in part.columns}  # what produced it
        for group, mask in group_masks(str(protocol), part).items():
            sel = part[mask.to_numpy()]
            if sel.empty:
                continue
            values = scores(sel["y_true"].to_numpy(), sel["y_pred"].to_numpy(), n_classes)
            for metric in METRICS:
                rows.append(dict(method=variant, protocol=protocol, data=data, **made, epoch_selection=selection,
                                 tuning=tuning, leaky=leaky, group=group, seed=int(cast(SupportsInt, seed)),
                                 metric=metric, value=float(values[metric]), n=len(sel)))
    return pd.DataFrame(rows)


def predictions_csv_frame(preds: pd.DataFrame) -> pd.DataFrame:
    """One row per test sample and seed, with the class names beside the indices and one `p_<class>` column per
    class name of the report: the sample's stored class probability (empty for a class its cell does not have)."""
    names = preds["class_names"].map(json.loads)
    out = preds[["variant", "protocol", "epoch_selection", "seed", "fold", "dataset", "subject", "sample", "y_true", "y_pred"]].copy()
    out = out.rename(columns={"variant": "method"})
    out["label_true"] = [n[i] for n, i in zip(names, preds["y_true"])]
    out["label_pred"] = [n[i] for n, i in zip(names, preds["y_pred"])]
    out.insert(cast(int, out.columns.get_loc("epoch_selection")) + 1, "tuning",  # a unique column: its position
               preds["tuning"].to_numpy() if "tuning" in preds.columns else "")
    out["leaky"] = preds["leaky"].to_numpy()
    classes = list(dict.fromkeys(c for n in dict.fromkeys(preds["class_names"]) for c in json.loads(n)))
    probabilities = pd.DataFrame(
        [_class_probabilities(row, n) for row, n in zip(preds.get("proba", [None] * len(preds)), names)],
        columns=classes, index=out.index, dtype=float)
    return pd.concat([out, probabilities.add_prefix("p_")], axis=1)


def _class_probabilities(proba, names: list[str]) -> dict[str, float]:
    """class name -> stored probability; nothing where the database holds none for the sample (an empty list)."""
    values = json.loads(proba) if isinstance(proba, str) and proba else []
    return dict(zip(names, values)) if isinstance(values, list) and len(values) == len(names) else {}


def fold_results(preds: pd.DataFrame) -> pd.DataFrame:
    """One row per method variant, seed and fold: its test subjects (`dataset`, `subject`; several joined by
    ", "), the number of test samples and the fold's own accuracy, UF1 and UAR."""
    if "tuning" not in preds.columns:
        preds = preds.assign(tuning="")
    rows = []
    for (variant, protocol, selection, tuning, seed, fold), part in preds.groupby(
            ["variant", "protocol", "epoch_selection", "tuning", "seed", "fold"], sort=False):
        values = scores(part["y_true"].to_numpy(), part["y_pred"].to_numpy(),
                        len(json.loads(part["class_names"].iloc[0])))
        rows.append(dict(method=variant, protocol=protocol, epoch_selection=selection, tuning=tuning,
                         leaky=bool(part["leaky"].iloc[0]) if "leaky" in part.columns else selection in LEAKY,
                         seed=int(cast(SupportsInt, seed)), fold=fold,
                         dataset=", ".join(dict.fromkeys(part["dataset"].astype(str))),
                         subject=", ".join(dict.fromkeys(part["subject"].astype(str))), n=len(part),
                         accuracy=float(values["accuracy"]), uf1=float(values["uf1"]), uar=float(values["uar"])))
    return pd.DataFrame(rows, columns=["method", "protocol", "epoch_selection", "tuning", "leaky", "seed", "fold",
                                       "dataset", "subject", "n", "accuracy", "uf1", "uar"])
