"""`mebench datasets check KIND[:PATH]` for every dataset kind, as one CheckReport.

The raw kinds and the HTNet release have checks of their own that list every bad file and every face
not found; any other kind (synthetic, causalnet-release, a plugin's) is loaded and run through the
dataset conformance checks (mebench.checks.DATASET_CHECKS: sample table, every declared primitive
with its registered shape and dtype, landmarks, faces, a stable fingerprint).
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

from mebench.dataset import parse_data_spec
from mebench.datasets.raw.tree_check import CheckReport
from mebench.errors import ConfigError, ConformanceError, DataError

CONFORMANCE = "conformance"
LOAD = "load"


def check_data(spec: str, *, faces: bool = True, cache_dir: Path | None = None, pipeline: str | None = None,
               workers: int | None = None) -> CheckReport:
    """Every problem of the data named by `spec` (KIND or KIND:PATH); `report.fatal` when one is an error."""
    from mebench.datasets.htnet_release import NAME as HTNET_RELEASE
    from mebench.datasets.htnet_release import check_release
    from mebench.datasets.raw import raw_kinds
    from mebench.datasets.raw.tree_check import check_tree
    from mebench.datasets.raw.pipeline import PipelineConfig

    kind, path = parse_data_spec(spec)
    kinds = raw_kinds()
    if kind in kinds:
        config = PipelineConfig.from_text(pipeline) if pipeline is not None else None
        return check_tree(kind, path, faces=faces, cache_dir=cache_dir, config=config, workers=workers)
    if pipeline is not None:
        raise ConfigError(f"--pipeline applies to the raw kinds ({', '.join(kinds)}), not to {kind!r}")
    if kind == HTNET_RELEASE:
        return check_release(path, faces=faces, cache_dir=cache_dir)
    return check_conformance(kind, path, cache_dir=cache_dir)


def check_conformance(kind: str, path: str | None, *, cache_dir: Path | None = None) -> CheckReport:
    """Load a registered dataset kind and run the conformance checks on it; each failure is one error."""
    from mebench import plugins
    from mebench.checks import dataset_checks
    from mebench.datasets.raw.records import ERROR, Problem

    loader = plugins.datasets.get(kind)
    if "cache_dir" in inspect.signature(loader).parameters:
        loader = functools.partial(loader, cache_dir=cache_dir)
    where = f"{kind}:{path}" if path is not None else kind
    report = CheckReport(kind, path if path is not None else "(no path)", checks=[])
    try:
        dataset = loader(path)
    except DataError as exc:  # the loader's own list of bad files
        report.problems.append(Problem(ERROR, LOAD, where, str(exc)))
        return report
    report.clips = len(dataset)
    assert report.checks is not None  # given above
    for check in dataset_checks(loader, path):
        try:
            check()
        except (ConformanceError, DataError) as exc:
            report.problems.append(Problem(ERROR, CONFORMANCE, where, f"{check.__name__}: {exc}"))
        else:
            report.checks.append(check.__name__)
    report.usable = 0 if report.fatal else report.clips
    return report
