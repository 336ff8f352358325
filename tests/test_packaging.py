"""A fresh install must have everything mebench imports: every third-party import of the package
and its tests is declared in pyproject.toml, and CI reads its commands from README.md."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import subprocess
import sys
import tomllib

from tests.conftest import REPO

PACKAGES = ("mebench", "methods", "protocols", "reports", "tests", "benchmarks")


def declared_distributions() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project.get("optional-dependencies", {}).values() for r in extra]
    return {re.split(r"[\s<>=!~\[;(]", r.strip(), maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def imported_modules() -> dict[str, set[str]]:
    """Top-level module name -> files importing it, over the project's Python files."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO)))
    return found


def owners_of(module: str, mapping: dict[str, list[str]]) -> set[str]:
    """Distributions providing a top-level module; extension modules (dlib's .so) are often missing
    from packages_distributions, so look through the installed files too."""
    if module in mapping:
        return {d.lower().replace("_", "-") for d in mapping[module]}
    pattern = re.compile(rf"^{re.escape(module)}(/|\.[^/]*\.(so|pyd)$|\.py$)")
    return {dist.metadata["Name"].lower().replace("_", "-") for dist in md.distributions()
            if any(pattern.match(str(f)) for f in (dist.files or ()))}


def test_every_third_party_import_is_declared():
    declared = declared_distributions()
    mapping = md.packages_distributions()
    undeclared = {}
    for module, files in imported_modules().items():
        if module in sys.stdlib_module_names or module in PACKAGES or module == "__future__":
            continue
        dists = owners_of(module, mapping)
        if not dists and module.lower() in declared:  # an optional extra not installed here (mlflow)
            continue
        assert dists, f"{module} (imported by {sorted(files)}) is not installed"
        if not dists & declared:
            undeclared[module] = (sorted(dists), sorted(files))
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_spreadsheet_readers_are_declared():
    """openpyxl (.xlsx) and python-calamine (.xls) read the raw datasets' metadata sheets."""
    assert {"openpyxl", "python-calamine"} <= declared_distributions()


def readme_block(name: str) -> str:
    script = (REPO / ".ci" / "run").read_text()
    function = script[script.index("readme_block() {"):script.index("\n}\n", script.index("readme_block() {")) + 3]
    done = subprocess.run(["bash", "-c", f"{function}\nreadme_block {name}"], cwd=REPO, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_ci_runs_exactly_the_readme_commands_in_a_fresh_environment():
    assert readme_block("install") == 'pip install "torch===2.13.0" "torchvision===0.28.0" -e ".[dev,ray]"'
    assert readme_block("main").startswith("mebench run --methods htnet,baseline --protocol composite")
    assert readme_block("test") == "python -m pytest"
    script = (REPO / ".ci" / "run").read_text()
    assert 'python3 -m venv "$envdir/venv"' in script and 'mktemp -d "${TMPDIR:-/tmp}/' in script
    assert "pip check" in script
