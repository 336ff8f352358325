#!/usr/bin/env python3
"""Fail on a new mypy error, accept the known ones.

mypy (configured in pyproject.toml, [tool.mypy]) still reports errors that the code cannot be typed out of
cheaply or without changing what it does (the header of .ci/mypy-baseline.txt says which and why). Failing on
all of them would keep the check off; ignoring them would let new ones in unseen. So the accepted errors are
listed in .ci/mypy-baseline.txt, each as (file, error code, message) without its line number, so that editing
a file does not invalidate its entries, and compared as a multiset: CI fails when an error occurs more often
than the baseline accepts, and notes errors that are gone so that the baseline only ever shrinks.

    python .ci/mypy_check.py            # exit 1 on a new error
    python .ci/mypy_check.py --update   # rewrite the baseline from the errors mypy reports now

Standard library only; mypy runs with the interpreter that runs this script.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".ci" / "mypy-baseline.txt"
# Output flags that pin the line format parsed below, whatever the configuration says about display.
MYPY = [sys.executable, "-m", "mypy", "--no-pretty", "--no-color-output", "--hide-error-context",
        "--hide-column-numbers", "--hide-absolute-path", "--show-error-codes", "--no-error-summary"]
ERROR_LINE = re.compile(r"^(?P<path>[^:\s][^:]*):(?P<line>\d+)(?::\d+)*: error: (?P<message>.*?)"
                        r"(?:  \[(?P<code>[a-z0-9-]+)\])?$")
BASELINE_LINE = re.compile(r"^(?P<path>[^:\s][^:]*): error: (?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$")
DEFAULT_HEADER = """\
# mypy errors accepted for now (.ci/mypy_check.py): one per line, without line numbers, sorted.
# CI fails on any error not listed here (or listed fewer times). Fix errors rather than add them; once
# fixed, shrink this file with `python .ci/mypy_check.py --update`.
"""


class Error(NamedTuple):
    path: str
    line: int
    code: str
    message: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.path, self.code, self.message

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: error: {self.message}" + (f"  [{self.code}]" if self.code else "")


def normalise(message: str) -> str:
    """The message without the line numbers it names ("... defined on line 12")."""
    return re.sub(r" on line \d+", "", message.strip())


def parse(output: str) -> list[Error]:
    """The errors of mypy's text output (notes and the summary are skipped)."""
    errors = []
    for text in output.splitlines():
        m = ERROR_LINE.match(text.rstrip())
        if m:
            errors.append(Error(m["path"].replace("\\", "/"), int(m["line"]), m["code"] or "",
                                normalise(m["message"])))
    return errors


def key_text(key: tuple[str, str, str]) -> str:
    path, code, message = key
    return f"{path}: error: {message}" + (f"  [{code}]" if code else "")


def read_baseline(text: str) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = BASELINE_LINE.match(line.rstrip())
        if m is None:
            raise ValueError(f"{BASELINE.name}: not an error line: {line!r}")
        counts[(m["path"], m["code"] or "", normalise(m["message"]))] += 1
    return counts


def baseline_text(errors: list[Error], header: str = DEFAULT_HEADER) -> str:
    return header + "".join(line + "\n" for line in sorted(key_text(e.key) for e in errors))


def header_of(text: str) -> str:
    """The leading comment lines of a baseline (kept by --update)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines) or DEFAULT_HEADER


def compare(errors: list[Error], baseline: Counter[tuple[str, str, str]]
            ) -> tuple[list[tuple[int, list[Error]]], Counter[tuple[str, str, str]]]:
    """(new: per error that exceeds its accepted count, (how many more, all its occurrences),
    fixed: accepted errors that no longer occur, with how many times)."""
    found: dict[tuple[str, str, str], list[Error]] = {}
    for e in errors:
        found.setdefault(e.key, []).append(e)
    new = [(len(found[k]) - baseline[k], found[k]) for k in sorted(found) if len(found[k]) > baseline[k]]
    fixed = baseline - Counter({k: len(v) for k, v in found.items()})
    return new, fixed


def report(new: list[tuple[int, list[Error]]], fixed: Counter[tuple[str, str, str]], baseline_name: str) -> int:
    """Print what changed against the baseline; the exit status (1 when there is a new error)."""
    if new:
        print(f"mypy: {sum(n for n, _ in new)} new error(s), not accepted by {baseline_name}:")
        for extra, occurrences in new:
            if len(occurrences) > extra:
                print(f"  ({extra} more than the {len(occurrences) - extra} accepted; one of these lines is new)")
            for e in occurrences:
                print(f"  {e}")
        print("Fix them (see the header of the baseline for the accepted kinds).")
    if fixed:
        print(f"mypy: {sum(fixed.values())} accepted error(s) no longer occur; shrink the baseline with "
              "`python .ci/mypy_check.py --update`:")
        for k in sorted(fixed.elements()):
            print(f"  {key_text(k)}")
    if not new and not fixed:
        print(f"mypy: no new error ({baseline_name} accepts the ones left)")
    return 1 if new else 0


def run_mypy() -> list[Error]:
    done = subprocess.run(MYPY, cwd=ROOT, capture_output=True, text=True)
    errors = parse(done.stdout)
    # 0: clean, 1: errors found; anything else (or 1 with nothing parsed) is mypy failing to run
    if done.returncode not in (0, 1) or (done.returncode == 1 and not errors):
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        raise SystemExit(f"mypy did not run (exit status {done.returncode})")
    return errors


def main(argv: list[str]) -> int:
    if argv not in ([], ["--update"]):
        print(__doc__)
        return 2
    errors = run_mypy()
    old = BASELINE.read_text(encoding="utf-8") if BASELINE.exists() else ""
    if argv == ["--update"]:
        BASELINE.write_text(baseline_text(errors, header_of(old)), encoding="utf-8")
        print(f"{BASELINE.relative_to(ROOT)}: {len(errors)} accepted error(s)")
        return 0
    new, fixed = compare(errors, read_baseline(old))
    return report(new, fixed, str(BASELINE.relative_to(ROOT)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
