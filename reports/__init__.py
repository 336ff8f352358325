"""Reports over a run folder: tidy results, statistics, paper tables, figures and the report.md index."""
