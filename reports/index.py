"""report.md: the index of a report folder.

States what was run (protocols, datasets and their fingerprints, methods, seeds, epoch
selection, mebench versions), how the statistics were computed, and links every table and
figure, with the Friedman/Nemenyi result or the reason it was not computed.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mebench.reports.results import completeness
from mebench.reports.tables import p_value_statement, p_value_text
from mebench.version import __version__

if TYPE_CHECKING:
    from .analysis import FriedmanAnalysis  # relative: checked as reports.analysis, installed as mebench.reports

SELECTION_TEXT = {
    "final": "final (the model of the last epoch; honest)",
    "validation": "validation (best epoch on held-out training subjects; honest)",
    "oracle": "oracle (best epoch on the test subject; leaky, marked †)",
    "oracle-stop": "oracle-stop (first best epoch on the test subject, stopping at 100%: CausalNet's protocol; leaky, "
                   "marked †)",
}
@dataclass
class IndexContext:
    run_dir: Path | list  # several when folders are reported together
    cells: pd.DataFrame  # finished cells of the run (ResultStore.cells())
    preds: pd.DataFrame
    reference: str
    options: dict
    files: dict[str, str]  # every file written before report.md -> its description (reports.outputs)
    comparisons: pd.DataFrame
    comparison_notes: list[str] = field(default_factory=list)
    friedman: FriedmanAnalysis | None = None
    leakage: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    completeness: pd.DataFrame | None = None  # reports.results.completeness of every cell
    runs: pd.DataFrame | None = None  # the invocations that wrote the run folder, with their specifications
    incomplete: dict = field(default_factory=dict)  # (protocol, variant) -> what is missing
    picks: pd.DataFrame | None = None  # every choice of a hyperparameter search (reports.tuning), with `variant`


def _join(values) -> str:
    return ", ".join(str(v) for v in values)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _run_section(ctx: IndexContext) -> list[str]:
    cells, preds = ctx.cells, ctx.preds
    lines = ["## Run", ""]
    from mebench import plugins
    from mebench.protocol import parse_protocol_spec

    for protocol in pd.unique(cells["protocol"]):
        name, options = parse_protocol_spec(protocol)
        try:
            summary = plugins.protocols.get(name).summary
        except Exception:  # noqa: BLE001 - a report still describes runs of unregistered protocols
            summary = ""
        described = f" ({summary})" if summary else ""
        given = "; options: " + ", ".join(f"{k}={v}" for k, v in options.items()) if options else ""
        lines.append(f"- **Protocol**: `{protocol}`{described}{given}")
    for (data, source, fingerprint), _ in cells.groupby(["dataset", "dataset_source", "dataset_fingerprint"], sort=False):
        lines.append(f"- **Dataset** `{data}` (source `{source}`), fingerprint `{fingerprint}`")
    counts = preds.drop_duplicates(["dataset", "subject", "sample"]).groupby("dataset", sort=False).agg(
        subjects=("subject", "nunique"), samples=("sample", "size"))
    lines.append("- **Test samples**: " + "; ".join(f"{d}: {_n(r.subjects, 'subject')}, {_n(r.samples, 'sample')}"
                                                   for d, r in counts.iterrows()))
    lines.append(f"- **Seeds**: {_join(sorted(cells['seed'].unique()))}")
    selections = list(pd.unique(cells["epoch_selection"]))
    lines.append("- **Epoch selection**: " + "; ".join(SELECTION_TEXT.get(s, s) for s in selections))
    lines.append("- **Methods**:")
    for (method, preset, phash, sel), part in cells.groupby(["method", "preset", "params_hash", "epoch_selection"], sort=False):
        rule, _, search = str(phash).partition("@")
        what = (f"configuration chosen by the {rule} rule of search `{search}`" if search
                else f"parameters `{phash}`" + (" (a configuration of a search's grid)"
                                                if "tuning" in part.columns and (part["tuning"] == "fixed").any() else ""))
        lines.append(f"  - `{method}` preset `{preset}`, {what}, epoch selection {sel}, "
                     f"seeds {_join(sorted(part['seed'].unique()))}; {_n(part['fold'].nunique(), 'fold')}")
    lines.append(f"- **mebench version**: {__version__} (report); run by {_join(sorted(cells['mebench_version'].unique()))}")
    lines.append("")
    if ctx.incomplete:
        lines += ["### Incomplete results (‡)", "",
                  "These methods lack results for some folds: their scores pool fewer test samples than the protocol "
                  "has, and they are marked ‡ in every table. Rerun the same `mebench run` command to compute the "
                  "missing cells (failed cells keep their error in results.sqlite).", ""]
        lines += [f"- `{variant}` ({protocol}): {text}" for (protocol, variant), text in ctx.incomplete.items()]
        lines.append("")
    elif ctx.completeness is not None:
        lines += ["Every planned fold of every method and seed has a result.", ""]
    return lines


def _value(value) -> str:
    """A --param / --config value as the command line takes it: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def command_args(command: str, spec: dict, out: str | None = None) -> list[str]:
    """The arguments of the command that a stored run specification stands for (``out``: the run folder)."""
    if command != "run":
        args = ["mebench", command, "--method", str(spec.get("method")), "--weights", str(spec.get("weights")),
                "--protocol", str(spec.get("protocol"))]
        for d in spec.get("data", []):
            args += ["--data", str(d)]
        for k, v in spec.get("config", []):
            args += ["--config", f"{k}={_value(v)}"]
        if spec.get("pipeline"):
            args += ["--pipeline", str(spec["pipeline"])]
    else:
        sel = spec.get("epoch_selection", {})
        args = ["mebench", "run", "--methods", ",".join(map(str, spec.get("methods", []))),
                "--protocol", str(spec.get("protocol"))]
        for d in spec.get("data", []):
            args += ["--data", str(d)]
        args += ["--preset", str(spec.get("preset")), "--seeds", ",".join(map(str, spec.get("seeds", []))),
                 "--epoch-selection", str(sel.get("name", "final"))]
        if "validation" in str(sel.get("name", "")):
            args += ["--validation-subjects", str(sel.get("validation_subjects"))]
            if sel.get("patience") is not None:
                args += ["--patience", str(sel.get("patience"))]
        if sel.get("record_epochs"):
            args.append("--record-epochs")
        if spec.get("tuning"):
            args += ["--tuning", ",".join(map(str, spec["tuning"]))]
            if "validation" not in str(sel.get("name", "")) and "nested" in spec["tuning"]:
                args += ["--validation-subjects", str(sel.get("validation_subjects"))]
        for k, values in spec.get("grid", []):
            args += ["--grid", f"{k}=" + "|".join(_value(v) for v in values)]
        if spec.get("pipeline"):
            args += ["--pipeline", str(spec["pipeline"])]
        for k, v in spec.get("params", []):
            args += ["--param", f"{k}={_value(v)}"]
        if spec.get("precision", "fp32") != "fp32":
            args += ["--precision", str(spec["precision"])]
    if out is not None:
        args += ["--out", str(out)]
    return args


def command_line(command: str, spec: dict, out: str | None = None) -> str:
    """The command that a stored run specification stands for, each argument shell-quoted (``out``: the run
    folder it wrote, given as --out)."""
    return shlex.join(command_args(command, spec, out))


def _code(text: str) -> str:
    """``text`` as a Markdown code span, fenced by more backticks than it holds in a row."""
    import re

    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest else f"`{text}`"


def _spec_section(ctx: IndexContext) -> list[str]:
    """Every invocation that wrote the folder: its command, where and how it ran, with which versions."""
    if ctx.runs is None or ctx.runs.empty:
        return []
    lines = ["## Run specification", "",
             "Every `mebench run` / `evaluate` that wrote this folder, as stored in results.sqlite (`runs`):", ""]
    for r in ctx.runs.itertuples():
        spec, versions = json.loads(str(r.spec)), json.loads(str(r.versions))  # TEXT NOT NULL
        execution = spec.get("execution", {})
        how = ", ".join(f"{k} {v}" for k, v in execution.items()) or f"device {spec.get('device', '?')}"
        folder = f" (folder {r.folder})" if isinstance(ctx.run_dir, list) else ""
        # missing (NaN once folders are merged) when the run was interrupted or is still running
        ended = r.finished_at if isinstance(r.finished_at, str) and r.finished_at else "(not finished)"
        # --out: the folder the results are read from (rerunning the command there resumes them)
        out = getattr(r, "folder", None)
        out = out if isinstance(out, str) and out else spec.get("out")
        lines += [f"{r.id}. {_code(command_line(str(r.command), spec, out))}{folder}",
                  f"   on {r.host}, {r.started_at} to {ended}; {how}; "
                  + ", ".join(f"{k} {v}" for k, v in versions.items())]
    return lines + [""]


def _search_section(ctx: IndexContext) -> list[str]:
    """Every hyperparameter search: its rule, grid and size, and each configuration it chose (per fold for nested)."""
    picks = ctx.picks
    if picks is None or len(picks) == 0:
        return []
    from mebench.reports.tuning import rule_text

    lines = ["## Hyperparameter search", "",
             "Rows chosen from a grid of configurations (`mebench run --tuning`); every configuration's choice, with "
             "its score and every configuration's, is in [tuning.csv](tuning.csv).", ""]
    for (search, protocol), part in picks.groupby(["search", "protocol"], sort=False):
        first = part.iloc[0]
        space = "the method's declared search space" if first["source"] == "declared" else "`--grid`"
        lines += [f"### `{first['method']}` ({protocol}): {first['grid_size']} configurations", "",
                  f"- Grid ({space}): {first['grid']}"]
        for rule in dict.fromkeys(part["tuning"]):
            rows = part[part["tuning"] == rule]
            lines.append(f"- **{rule}**: {rule_text(rule)}; scored on: {rows['scored_on'].iloc[0]}; result rows: "
                         + ", ".join(f"`{v}`" for v in dict.fromkeys(rows["variant"])))
        lines.append("")
        test = part[part["tuning"] == "test-scored"]
        if len(test):
            lines += ["| result row | seed | chosen configuration | pooled test UF1 |", "|---|---|---|---|"]
            lines += [f"| {r.variant} | {r.seed} | {r.config} | {r.score:.4f} |" for r in test.itertuples()]
            lines.append("")
        nested = part[part["tuning"] == "nested"]
        if len(nested):  # one choice per seed and fold, whatever the epoch selection it is read with
            nested = nested.drop_duplicates(["seed", "fold"])
            counts = nested["config"].value_counts(sort=False).sort_values(ascending=False, kind="stable")
            lines.append("Nested choices over folds and seeds: " + "; ".join(f"{c}: {n}" for c, n in counts.items())
                         + f" (of {len(nested)}).")
            lines += ["", "<details><summary>Nested choice per outer fold</summary>", "",
                      "| seed | fold | chosen configuration | inner UF1 |", "|---|---|---|---|"]
            lines += [f"| {r.seed} | {r.fold} | {r.config} | {r.score:.4f} |" for r in nested.itertuples()]
            lines += ["", "</details>", ""]
    return lines


def _stats_section(ctx: IndexContext) -> list[str]:
    o = ctx.options
    pct = f"{o['level'] * 100:g}%"
    lines = ["## Statistics", "",
             "- Scores: UF1, UAR and accuracy on the predictions pooled over all folds, per seed; tables show the "
             "mean ± std over seeds.",
             f"- {pct} confidence intervals: bootstrap over subjects (whole subjects resampled with replacement, the "
             f"pooled metric recomputed; {o['n_resamples']} resamples, seed {o['seed']}), of the mean over seeds.",
             f"- Reference method: `{ctx.reference}` ({'chosen with --reference' if o.get('reference_given') else 'default: the first method named in the run'}).",
             f"- Against the reference, on the same samples and seeds, with the subject as the unit and every shared "
             f"seed at once: a paired permutation test on the seed-mean pooled UF1 difference, swapping a subject's "
             f"predictions between the two methods in all seeds together ({o['n_permutations']} random swaps, exact "
             f"enumeration for few subjects), and the Wilcoxon signed-rank test on each subject's seed-mean accuracy. "
             f"McNemar's exact test on per-sample correctness is given for single-seed comparisons only: across "
             f"seeds a sample is no longer one discordant pair, and samples of one subject are not independent. "
             f"p-values are Holm-adjusted across the compared methods (per protocol, group and test); the rows of "
             f"stats.csv with a seed number hold each seed's own tests, for inspection. Significance level "
             f"{o['alpha']:g}.", ""]
    summary = ctx.comparisons[ctx.comparisons["seed"] == "all"] if len(ctx.comparisons) else ctx.comparisons
    if len(summary):
        lines += ["| protocol | method | group | ΔUF1 | CI | p perm. (Holm) | p McNemar (Holm) | p Wilcoxon (Holm) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in summary.itertuples():
            lines.append(f"| {r.protocol} | {r.method} | {r.group} | {r.uf1_diff:+.4f} | "
                         f"[{r.uf1_diff_low:+.3f}, {r.uf1_diff_high:+.3f}] | {p_value_text(r.p_permutation_holm)} | "
                         f"{p_value_text(r.p_mcnemar_holm)} | {p_value_text(r.p_wilcoxon_holm)} |")
        lines.append("")
    else:
        lines += ["No method could be compared with the reference.", ""]
    lines += [f"- {n}" for n in ctx.comparison_notes]
    if ctx.comparison_notes:
        lines.append("")

    fr = ctx.friedman
    lines += ["### Several methods over several datasets or protocols", ""]
    if fr is None or fr.result is None:
        lines.append(f"Friedman test and critical-difference diagram not computed: {fr.reason if fr else 'disabled'}.")
    else:
        r = fr.result
        assert fr.scores is not None  # set whenever the test ran
        lines += [f"Friedman test on mean {fr.metric.upper()} over seeds, {r.n_blocks} blocks "
                  f"({_join(fr.scores.index)}) × {r.k_methods} methods (Demšar, JMLR 2006): "
                  f"χ² = {r.statistic:.3f}, {p_value_statement(r.pvalue)}; "
                  f"Iman–Davenport F = {r.iman_davenport:.3f}, "
                  f"{p_value_statement(r.iman_davenport_p)}. Nemenyi critical difference (α = {fr.alpha:g}): "
                  f"CD = {fr.cd:.3f}.", "", "| method | average rank |", "|---|---|"]
        lines += [f"| {m} | {v:.3f} |" for m, v in r.avg_ranks.items()]
        lines.append("")
    if fr is not None and fr.dropped:
        lines.append(f"Left out of the Friedman test (no result on every block): {_join(fr.dropped)}.")
    return lines + [""]


def _files_section(ctx: IndexContext) -> list[str]:
    lines = ["## Tables and data", ""]
    lines += [f"- [{name}]({name}): {text}" for name, text in ctx.files.items() if not name.startswith("fig_")]
    lines += ["", "## Figures", ""]
    pngs = [n for n in ctx.files if n.startswith("fig_") and n.endswith(".png")]
    if not pngs:
        lines.append("No figures (`--no-figures`)." if not ctx.options.get("figures", True) else "No figures.")
    for png in pngs:
        stem, caption = png[:-4], ctx.files[png]
        lines += [f"### {caption}", "", f"![{caption}]({png})", "", f"[PDF]({stem}.pdf)", ""]
    return lines


def index_context(parts) -> IndexContext:
    """What report.md (and report.html) say, from the report's parts (reports.outputs.ReportParts)."""
    run = parts.run
    cells = run.cells
    return IndexContext(run_dir=parts.run_dir, cells=cells[cells["status"] == "done"], preds=parts.preds,
                        completeness=completeness(cells), incomplete=parts.incomplete, runs=run.runs,
                        reference=parts.comparisons.reference, files=dict(parts.written),
                        comparisons=parts.comparisons.stats, comparison_notes=parts.comparisons.notes,
                        friedman=parts.friedman, leakage=parts.leakage, notes=parts.notes,
                        picks=parts.shown.frame(run.picks, "variant") if len(run.picks) else run.picks,
                        options=parts.options)


def title(ctx: IndexContext) -> str:
    return (", ".join(d.name or str(d) for d in ctx.run_dir) if isinstance(ctx.run_dir, list)
            else ctx.run_dir.name or str(ctx.run_dir))


MARKERS = ("Markers in the tables: **bold** best, underlined (LaTeX) / _italics_ (Markdown) second best; "
           "\\* UF1 significantly different from the reference; † leaky (oracle) epoch selection or test-scored "
           "configuration; § published figures.")


def render_body(ctx: IndexContext) -> str:
    """report.md's account of the run, in Markdown: what ran, the run specification, the searches, the statistics
    and the notes (everything but the file list)."""
    lines = _run_section(ctx) + _spec_section(ctx) + _search_section(ctx) + _stats_section(ctx)
    if ctx.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in ctx.notes] + [""]
    return "\n".join(lines)


def render_index(parts) -> str:
    ctx = index_context(parts)
    lines = [f"# mebench report: {title(ctx)}", "", MARKERS, "", render_body(ctx)] + _files_section(ctx)
    return "\n".join(lines).rstrip() + "\n"
