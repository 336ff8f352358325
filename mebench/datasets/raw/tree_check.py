"""`mebench datasets check KIND:PATH`: validate a raw dataset tree against its metadata.

Lists every problem with its path: metadata that cannot be read or lacks columns, a clip
folder or an onset/apex/offset frame that is missing, an image that cannot be decoded or is
truncated, a frame count that disagrees with onset..offset, an unknown label, a duplicate
sample, a path that escapes the dataset root, an annotation fix that does not apply. With
`faces` (default), dlib runs on every onset frame (cached, as the pipeline does) and each clip
where no face is found, and so the documented fallback crop is used, is reported and counted.
Errors are fatal (the command exits 1); warnings are not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mebench.cache import ArrayCache
from mebench.errors import DataError
from mebench.datasets.raw import scanner
from mebench.datasets.raw.pipeline import PipelineConfig, ProgressCallback, compute_all
from mebench.datasets.raw.records import (ERROR, FACE_FALLBACK, METADATA, MISSING_FRAME, NO_APEX, UNREADABLE_IMAGE,
                                          WARNING, Problem, Scan)
from mebench.datasets.raw.stages import decode_gray
from mebench.features.landmarks import WHOLE_IMAGE


@dataclass
class CheckReport:
    kind: str
    path: str
    clips: int = 0
    usable: int = 0
    problems: list[Problem] = field(default_factory=list)
    faces_detected: int = 0
    face_fallbacks: int = 0
    faces_checked: bool = False
    no_apex: int = 0
    fallback: str = "whole-frame fallback crop used"  # what is done where no face is found
    checks: list[str] | None = None  # conformance checks passed (the kinds checked by mebench.checks instead)

    @property
    def fatal(self) -> bool:
        return any(p.severity == ERROR for p in self.problems)

    def counts(self) -> Counter:
        return Counter((p.severity, p.code) for p in self.problems)

    def summary(self) -> list[str]:
        errors = sum(1 for p in self.problems if p.severity == ERROR)
        warnings = len(self.problems) - errors
        lines = [f"{self.kind} at {self.path}: {self.clips} clips, {self.usable} usable; "
                 f"{errors} error(s), {warnings} warning(s)"]
        by_code = Counter((p.severity, p.code) for p in self.problems)
        if by_code:
            lines.append("  " + ", ".join(f"{code} {n} ({sev})" for (sev, code), n in sorted(by_code.items())))
        if self.checks is not None:  # a kind without checks of its own: the conformance checks ran instead
            lines.append(f"  conformance checks passed: {len(self.checks)}"
                         + (f" ({', '.join(self.checks)})" if self.checks else ""))
        elif self.faces_checked:
            lines.append(f"  faces: {self.faces_detected} detected, {self.face_fallbacks} not found ({self.fallback})")
        else:
            lines.append("  faces: not checked (--no-faces)")
        if self.no_apex:
            lines.append(f"  {self.no_apex} clip(s) without an annotated apex (the pipeline chooses one)")
        return lines


def check_tree(kind: str, path: str | None, *, faces: bool = True, cache_dir=None, config: PipelineConfig | None = None,
               workers: int | None = None, progress: ProgressCallback | None = None) -> CheckReport:
    report = CheckReport(kind, str(path))
    try:
        scan: Scan = scanner(kind)(path)
    except DataError as exc:
        report.problems.append(Problem(ERROR, METADATA, str(path), str(exc)))
        return report
    report.path = str(scan.root)
    report.clips = len(scan.records)
    report.problems.extend(scan.problems)
    broken = scan.broken_samples()
    readable = []
    for rec in scan.records:
        if rec.sample in broken:
            continue
        if rec.apex is None:
            report.no_apex += 1
            if scan.metadata is not None:
                report.problems.append(Problem(WARNING, NO_APEX, rec.source, "apex not annotated; the pipeline chooses one",
                                               rec.sample))
        ok = True
        for what in ("onset", "apex", "offset"):
            n = getattr(rec, what)
            if n is None:
                continue
            frame = rec.frame_path(n)
            if frame is None:  # the scan reports a missing frame and leaves the sample out; reported here if not
                report.problems.append(Problem(ERROR, MISSING_FRAME, str(rec.clip_dir), f"{what} frame {n} not found",
                                               rec.sample))
                ok = ok and what != "onset"
                continue
            img, why = decode_gray(frame)
            if img is None:
                report.problems.append(Problem(ERROR, UNREADABLE_IMAGE, str(frame), f"{what} frame: {why}", rec.sample))
                ok = ok and what != "onset"
        if ok:
            readable.append(rec)
    failing = {p.sample for p in report.problems if p.severity == ERROR}
    report.usable = sum(1 for r in scan.records if r.sample not in failing)
    if faces and readable:
        config = config or PipelineConfig()
        cache = ArrayCache(cache_dir)
        mtcnn = config.face == "mtcnn"
        pipe = compute_all(readable, config, cache, "faces" if mtcnn else "landmarks", workers=workers,
                           progress=progress)
        for rec in readable:
            found = bool(pipe.faces(rec)[:, 4].all()) if mtcnn else pipe.landmarks(rec)[1] != WHOLE_IMAGE
            if not found:
                report.face_fallbacks += 1
                where = "the onset or apex frame (MTCNN)" if mtcnn else "the onset frame"
                report.problems.append(Problem(WARNING, FACE_FALLBACK, str(pipe.frame(rec, pipe.onset_number(rec), "onset")),
                                               f"no face found on {where}; the whole-frame fallback crop is used",
                                               rec.sample))
            else:
                report.faces_detected += 1
        report.faces_checked = True
    return report


def report_lines(report: CheckReport) -> list[str]:
    order = {ERROR: 0, WARNING: 1}
    problems = sorted(report.problems, key=lambda p: (order.get(p.severity, 2), p.code, p.path))
    return [p.line() for p in problems] + report.summary()
