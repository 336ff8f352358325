"""Reports over a run folder: tidy results, predictions, paper tables."""
