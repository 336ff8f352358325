"""Every snippet of README.md works: the Python blocks run, in order, in a scratch folder (on the
synthetic data); every `mebench ...` command of the shell blocks parses with the real command line
(options and arguments checked, nothing run: their paths are placeholders); the install, main-job
and test blocks are what .ci/run executes."""

from __future__ import annotations

import re
import shlex

import pytest
import typer

from mebench import plugins
from mebench.cli import app
from tests.conftest import REPO

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def commands(block: str) -> list[list[str]]:
    """The `mebench ...` command lines of a shell block (continuations joined, comments and && split)."""
    text = block.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        for part in line.split("&&"):
            words = shlex.split(part.strip())
            if words and words[0] == "mebench":
                out.append(words[1:])
    return out


SHELL = [c for lang, block in BLOCKS if lang == "bash" for c in commands(block)]


def test_the_readme_has_snippets():
    assert sum(lang == "python" for lang, _ in BLOCKS) >= 5 and len(SHELL) >= 10


def remaining(ctx) -> list[str]:
    """A group context's unparsed arguments: the subcommand and what follows it."""
    protected = getattr(ctx, "protected_args", None)
    if protected is None:
        protected = getattr(ctx, "_protected_args", [])
    return [*protected, *ctx.args]


@pytest.mark.parametrize("words", SHELL, ids=lambda w: " ".join(w)[:60])
def test_every_shell_command_parses(words):
    command = typer.main.get_command(app)
    try:
        ctx = command.make_context("mebench", list(words), resilient_parsing=False)
        with ctx:
            sub_name, sub, rest = command.resolve_command(ctx, remaining(ctx))
            while hasattr(sub, "resolve_command"):  # a group: go down to the command
                sub_ctx = sub.make_context(sub_name, rest, parent=ctx)
                sub_name, sub, rest = sub.resolve_command(sub_ctx, remaining(sub_ctx))
                ctx = sub_ctx
            sub.make_context(sub_name, rest, parent=ctx)
    except typer.Exit:
        pass


def test_the_python_snippets_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    try:
        for lang, block in BLOCKS:
            if lang == "python":
                # as a reader's script runs: without this file's `from __future__ import annotations`
                code = compile(block, "README.md", "exec", dont_inherit=True)
                exec(code, namespace)  # noqa: S102 - the README's own examples
                if "test_mynet_conforms" in namespace:
                    from mebench.checks import method_checks

                    for check in method_checks(namespace["MyNet"]):
                        namespace["test_mynet_conforms"](check)
                    namespace.pop("test_mynet_conforms")
    finally:
        plugins.methods.unregister("mynet")
        plugins.protocols.unregister("subject-kfold")
        plugins.datasets.unregister("mine")
        plugins.methods.unregister("facenet-demo")
        plugins.inputs.unregister("face-difference")
    assert (tmp_path / "runs" / "notebook-demo" / "report.md").exists()
    for folder in ("mynet", "kfold", "mine", "faces"):
        assert (tmp_path / "runs" / folder / "results.sqlite").exists()
