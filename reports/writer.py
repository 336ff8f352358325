"""`mebench report RUN_DIR`: write the results section of a paper into the run folder.

Orchestration only: the numbers come from ``reports.results`` / ``reports.analysis``; what is written, and how, is
the registry of ``reports.outputs`` (tables from ``reports.tables``, figures from ``reports.figures``, the index from
``reports.index``, the page from ``reports.html``).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from mebench.errors import ConfigError, DataError
from mebench.reports import analysis
from mebench.reports.csvsafe import write_csv
from mebench.reports import outputs
from mebench.reports.outputs import Output, ReportParts, Shown
from mebench.reports.published_results import PUBLISHED_PROTOCOL, published_source, published_summary
from mebench.reports.results import finished_seeds_only, incomplete_notes, load_run, tidy_results, version_notes
from mebench.reports.tables import LABEL_PREFIX, NumberFormat, check_label_prefix
from mebench.reports.tuning import search_notes

SEED_MAX = 2**32 - 1  # as for a run's seeds


@dataclass
class Report:
    folder: Path | None  # None for a report computed with write=False
    files: list[Path]
    summary: pd.DataFrame
    protocols: list[str]
    reference: str = ""
    incomplete: dict[tuple[str, str], str] = field(default_factory=dict)
    stats: pd.DataFrame | None = None
    friedman: analysis.FriedmanAnalysis | None = None
    notes: list[str] = field(default_factory=list)
    shown_summary: pd.DataFrame | None = None  # `summary` with display names, as the tables show it
    shown_incomplete: dict[tuple[str, str], str] = field(default_factory=dict)
    fmt: NumberFormat = field(default_factory=NumberFormat)
    shown_mixed: dict[tuple[str, str], str] = field(default_factory=dict)  # rows computed by different versions
    # every CSV output's frame by its stem: results, predictions, folds, summary, stats, methods, ...
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def predictions(self) -> pd.DataFrame:
        """One row per test sample and seed, with each class's probability (predictions.csv)."""
        return self.tables["predictions"]


def write_report(run_dir: Path | str | list, out_dir: Path | str | None = None, *, reference: str | None = None,
                 published: bool = False, n_resamples: int = 2000, n_permutations: int = 10000, seed: int = 0,
                 level: float = 0.95, alpha: float = 0.05, figures: bool = True, digits: int = 4,
                 percent: bool = False, seeds: Sequence[int] | None = None, write: bool = True,
                 label_prefix: str = LABEL_PREFIX) -> Report:
    """The report of one run folder or several; ``write=False`` computes its tables (``Report.tables``) and writes
    nothing, no figure included."""
    check_seed(seed)
    check_label_prefix(label_prefix)
    several = isinstance(run_dir, (list, tuple))
    if several and out_dir is None and write:
        raise DataError("a report of several run folders needs --out: the folder to write it into")
    if out_dir is not None and not write:
        raise ConfigError(f"out={str(out_dir)!r} with write=False: a report that writes nothing has no folder")
    run_dir = [Path(d) for d in run_dir] if isinstance(run_dir, (list, tuple)) else Path(run_dir)
    # run_dir is one folder wherever `out` is used: a written report of several folders has --out (refused above)
    out = Path(out_dir) if out_dir is not None else cast(Path, run_dir)
    run = load_run(run_dir, seeds)  # DataError, before anything is created, when there is nothing to report
    run, notes = finished_seeds_only(run)
    if published:
        check_published_data(run)
    if seeds is not None:
        notes.append(f"seeds reported: {', '.join(map(str, seeds))} (report --seeds); cells of other seeds in the "
                     "run folder are left out")
    parts = _parts(run, run_dir, reference=reference, published=published, n_resamples=n_resamples,
                   n_permutations=n_permutations, seed=seed, level=level, alpha=alpha, figures=figures and write,
                   fmt=NumberFormat(digits, percent), notes=notes, label_prefix=label_prefix)
    if not write:
        return _report(parts, None, [], _tables(parts))
    created = _missing_folders(out)
    try:
        return _write(parts, out)
    except BaseException:
        for folder in created:  # a failed report leaves no folder of its own behind
            shutil.rmtree(folder, ignore_errors=True)
        raise


# The data the shipped published figures were measured on: the MEGC2019 composite's 442 clips, as the HTNet and
# CausalNet releases ship them, or built from the raw datasets by the composite protocol.
PUBLISHED_DATA = ("htnet-release", "causalnet-release", "smic", "casme2", "samm")


def check_published_data(run) -> None:
    """--published beside results on other data (synthetic, a plugin's) would compare unlike things: refused."""
    names = {part for name in run.preds["data"].astype(str).unique() for part in name.split("#")[0].split("+")}
    other = sorted(names - set(PUBLISHED_DATA))
    if other:
        raise ConfigError(f"--published: the shipped published figures were measured on the MEGC2019 composite "
                          f"({', '.join(PUBLISHED_DATA[:2])} or the raw SMIC, CASME II and SAMM); this report holds "
                          f"results on {', '.join(other)}, so they would sit beside unlike figures")


def check_seed(seed) -> int:
    """The report's --seed (bootstrap and permutation test), checked before anything is read."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= SEED_MAX:
        raise ConfigError(f"--seed {seed!r}: the seed of the bootstrap and the permutation test is an integer from 0 "
                          f"to {SEED_MAX}")
    return int(seed)


def _missing_folders(path: Path) -> list[Path]:
    """The folders `path.mkdir(parents=True)` would create, deepest first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _parts(run, run_dir, *, reference, published, n_resamples, n_permutations, seed, level, alpha, figures,
           fmt: NumberFormat, notes: list[str], label_prefix: str = LABEL_PREFIX) -> ReportParts:
    """Every number, table and test the report's outputs are built from."""
    preds = run.preds
    incomplete = incomplete_notes(run.cells)
    mixed = version_notes(run.cells)
    results = tidy_results(preds)
    complete = {(p, m): (p, m) not in incomplete for p, m in results[["protocol", "method"]].itertuples(index=False)}
    results["complete"] = [complete[k] for k in results[["protocol", "method"]].itertuples(index=False, name=None)]
    results["mixed_versions"] = [mixed.get(k, "") for k in results[["protocol", "method"]].itertuples(index=False, name=None)]
    protocols = list(dict.fromkeys(results["protocol"]))
    comparisons = analysis.compare(preds, reference, n_resamples=n_resamples, n_permutations=n_permutations,
                                   seed=seed, level=level, first_method=run.first_method())
    summary = analysis.summary_table(preds, n_resamples=n_resamples, seed=seed, level=level)
    summary["complete"] = [(p, m) not in incomplete for p, m in summary[["protocol", "method"]].itertuples(index=False)]
    summary["mixed_versions"] = [mixed.get((p, m), "") for p, m in summary[["protocol", "method"]].itertuples(index=False)]
    leakage = analysis.leakage_gaps(preds, results, n_resamples=n_resamples, n_permutations=n_permutations,
                                    seed=seed, level=level)
    pub, source = None, ""
    if published:
        pub, source = published_summary(), published_source()
        if PUBLISHED_PROTOCOL not in protocols:
            notes.append(f"--published: the shipped published figures are for the {PUBLISHED_PROTOCOL} protocol, "
                         "which this run does not hold; no published rows shown")
    costs = analysis.method_costs(run.cells, run.runs, notes)
    notes += [f"`{variant}` ({protocol}) pools cells computed by different versions (¶ in the tables): {text}"
              for (protocol, variant), text in mixed.items()]
    # Tables and figures name methods as a paper does (HTNet, OFF-ApexNet); CSVs keep the plugin name in
    # `method` and add `display_name`.
    return ReportParts(
        run=run, run_dir=run_dir, preds=preds, results=results, summary=summary, comparisons=comparisons,
        significant=comparisons.significant(alpha), friedman=analysis.friedman_analysis(summary, "uf1", alpha),
        leakage=leakage, costs=costs, shown=Shown(dict(zip(preds["variant"], preds["display_name"]))),
        protocols=protocols, incomplete=incomplete, mixed=mixed, searches=search_notes(run.picks), notes=notes,
        options=dict(n_resamples=n_resamples, n_permutations=n_permutations, seed=seed, level=level, alpha=alpha,
                     figures=figures, reference_given=reference is not None, label_prefix=label_prefix),
        fmt=fmt, published=pub, published_source=source)


def _report(parts: ReportParts, folder: Path | None, files: list[Path], tables: dict[str, pd.DataFrame]) -> Report:
    c = parts.comparisons
    marks = parts.table_marks()
    return Report(folder, files, parts.summary, parts.protocols, c.reference, parts.incomplete, c.stats,
                  parts.friedman, c.notes + parts.notes, parts.table_summary, marks["incomplete"], parts.fmt,
                  marks["mixed"], tables)


def _tables(parts: ReportParts) -> dict[str, pd.DataFrame]:
    """The CSV outputs' frames, by stem (``predictions``), without writing anything."""
    return {o.stem: frame for o in outputs.OUTPUTS if o.table is not None and (frame := o.table(parts)) is not None}


def _build(output: Output, parts: ReportParts, out: Path, tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Write one output into ``out``; the paths written (none where it does not apply)."""
    if output.draw is not None:
        return output.draw(parts, out) if parts.options["figures"] else []
    path = out / output.name
    if output.table is not None:
        frame = output.table(parts)
        if frame is None:
            return []
        tables[output.stem] = frame
        write_csv(frame, path)  # every CSV through write_csv: spreadsheet formulas are neutralised
    else:
        text = output.text(parts)
        if text is None:
            return []
        path.write_text(text, encoding="utf-8")
    return [path]


def _write(parts: ReportParts, out: Path) -> Report:
    """Every output of the registry, in its order; an optional output's file that this report does not write (left
    by an earlier report) is removed."""
    if out.exists() and not out.is_dir():
        raise DataError(f"report folder {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the report folder {out}: {exc.strerror or exc}") from None
    parts.folder = out
    files: list[Path] = []
    tables: dict[str, pd.DataFrame] = {}
    for output in outputs.OUTPUTS:  # the registry: adding an output touches reports.outputs only
        paths = _build(output, parts, out, tables)
        files += paths
        parts.written.update((p.name, output.description) for p in paths)
    optional = [o for o in outputs.OUTPUTS if o.optional]
    for stale in sorted(out.iterdir()):
        if stale not in files and stale.is_file() and any(o.matches(stale) for o in optional):
            stale.unlink()
    return _report(parts, out, files, tables)
