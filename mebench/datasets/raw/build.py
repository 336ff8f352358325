"""From a Scan to a Dataset: the sample table with native labels, features from the pipeline.

Loading raises one DataError naming every problem of the table itself (unreadable or
malformed metadata, unknown label, duplicate sample, a path escaping the root). Clips whose
folder or onset/apex/offset frame is missing are left out with a warning (run `mebench
datasets check KIND:PATH` for the list), so that the composite protocol can name every listed
clip that is missing.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Callable

import pandas as pd

from mebench.cache import ArrayCache, fingerprint
from mebench.dataset import CONTENT, Dataset, make_sample_table, table_fingerprint
from mebench.errors import DataError
from mebench.datasets.raw.pipeline import PIPELINE_VERSION, PipelineConfig, RawFeatures
from mebench.datasets.raw.records import TABLE_CODES, Scan

MAX_LISTED = 200


def problem_error(scan: Scan, problems, what: str) -> DataError:
    lines = [p.line() for p in problems]
    more = f"\n  ... and {len(lines) - MAX_LISTED} more" if len(lines) > MAX_LISTED else ""
    return DataError(f"{scan.kind} at {scan.root}: {len(lines)} {what}:\n  " + "\n  ".join(lines[:MAX_LISTED]) + more)


def record_table(scan: Scan, records) -> pd.DataFrame:
    rows = []
    for r in records:
        rows.append(dict(dataset=r.dataset, subject=r.subject, clip=r.clip, label=r.label, native_label=r.label,
                         onset=r.onset, apex=r.apex, offset=r.offset, n_frames=len(r.frames),
                         clip_dir=str(r.clip_dir.relative_to(scan.root)) if r.clip_dir.is_relative_to(scan.root)
                         else str(r.clip_dir),
                         source=r.source, **{k: v for k, v in r.extra.items() if isinstance(v, str)}))
    table = pd.DataFrame(rows)
    for col in ("onset", "apex", "offset"):
        table[col] = table[col].astype("Int64")
    return table


def dataset_from_scan(scan: Scan, *, cache_dir=None, config: PipelineConfig | None = None,
                      workers: int | None = None) -> Dataset:
    table_problems = [p for p in scan.fatal() if p.code in TABLE_CODES]
    if table_problems:
        raise problem_error(scan, table_problems, "problem(s) with the metadata")
    broken = scan.broken_samples()
    records = [r for r in scan.records if r.sample not in broken]
    if broken:
        shown = ", ".join(sorted(broken)[:8]) + (" ..." if len(broken) > 8 else "")
        warnings.warn(f"{scan.kind}: {len(broken)} clip(s) left out, their folder or onset/apex/offset frame is "
                      f"missing ({shown}); `mebench datasets check {scan.kind}:{scan.root}` lists them", stacklevel=3)
    if not records:
        raise problem_error(scan, scan.fatal(), "problem(s); no clip is usable") if scan.fatal() else \
            DataError(f"{scan.kind} at {scan.root}: no clips")
    config = config or PipelineConfig()
    present = {r.label for r in records}
    class_names = tuple(c for c in scan.vocabulary if c in present) + tuple(sorted(present - set(scan.vocabulary)))
    table = make_sample_table(record_table(scan, records), class_names)
    annotations = json.dumps([[r.sample, r.onset, r.apex, r.offset, len(r.frames)] for r in records])
    pipeline_key = fingerprint({"version": PIPELINE_VERSION, "config": config.as_dict()})
    features = RawFeatures(records, config, ArrayCache(cache_dir), workers)
    table[CONTENT] = [frames_digest(features.pipeline, r) for r in records]
    counts = table["label"].value_counts()
    ds = Dataset(
        name=scan.kind,
        source=f"{scan.kind}:{scan.root}",
        class_names=class_names,
        samples=table,
        fingerprint=table_fingerprint(table, fingerprint({"annotations": annotations}), pipeline_key),
        feature_function=features,
        flow_channels=config.channels,
        provides=features.provides(),
        description=f"{scan.kind} raw frames at {scan.root}: {len(table)} clips, {table['subject'].nunique()} subjects ("
        + ", ".join(f"{c} {int(counts.get(c, 0))}" for c in class_names) + ")",
    )
    ds.scan = scan  # type: ignore[attr-defined]  # problems and all records, for reports
    return ds


def frames_digest(pipeline, rec) -> str:
    """A digest of the bytes of every frame the pipeline reads for a clip (the files its cache keys name)."""
    paths: list[str] = []

    def collect(value) -> None:
        if isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            if len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int):  # records.file_fingerprint
                paths.append(value[0])
            else:
                for v in value:
                    collect(v)

    collect({stage: pipeline.key(stage, rec) for stage in ("image", "points")})
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        try:
            digest.update(path.encode() + b"\0" + hashlib.sha256(Path(path).read_bytes()).digest())
        except OSError as exc:
            raise DataError(f"sample {rec.sample}: cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()[:16]


def raw_loader(scan: Callable[[str | None], Scan], doc: str) -> Callable[..., Dataset]:
    """The dataset plugin (entry point) of a raw kind: `load(path, *, cache_dir, pipeline, workers)`."""

    def load(path: str | None, *, cache_dir=None, pipeline: PipelineConfig | None = None,
             workers: int | None = None) -> Dataset:
        return dataset_from_scan(scan(path), cache_dir=cache_dir, config=pipeline, workers=workers)

    load.__doc__ = doc
    load.__module__ = scan.__module__  # the kind's module: its docstring documents the layouts it reads
    return load
