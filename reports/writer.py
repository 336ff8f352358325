"""`mebench report RUN_DIR`: write results.csv, predictions.csv and table.tex into the run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports.results import load_predictions, predictions_csv_frame, summarise, tidy_results
from reports.tables import latex_table


@dataclass
class Report:
    folder: Path
    files: list[Path]
    summary: pd.DataFrame
    protocols: list[str]


def write_report(run_dir: Path | str, out_dir: Path | str | None = None) -> Report:
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)
    preds = load_predictions(run_dir)
    results = tidy_results(preds)
    summary = summarise(results)
    protocols = list(dict.fromkeys(results["protocol"]))
    files = [out / "results.csv", out / "predictions.csv"]
    results.to_csv(files[0], index=False)
    predictions_csv_frame(preds).to_csv(files[1], index=False)
    tex = "\n".join(latex_table(summary, p) for p in protocols)
    files.append(out / "table.tex")
    files[-1].write_text(tex)
    return Report(out, files, summary, protocols)
