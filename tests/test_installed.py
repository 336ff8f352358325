"""mebench as installed, outside the checkout: every module imports under the `mebench` namespace
(never a top-level `reports`, `methods` or `protocols` that exists only when the working directory is
the repository), and the data files shipped inside packages are found."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO

SCRIPT = textwrap.dedent("""
    import importlib, pkgutil, sys
    import mebench
    import mebench.methods, mebench.protocols, mebench.reports
    failed, names = [], []
    for package in (mebench, mebench.methods, mebench.protocols, mebench.reports):
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    for name in sorted(set(names)):
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional extra (Ray) may be absent
            if getattr(exc, "name", "") not in ("ray",):
                failed.append(f"{name}: {exc}")
    stray = sorted(n for n in ("reports", "methods", "protocols") if n in sys.modules)
    from mebench.reports.published_results import published_table
    assert len(published_table()) == 14, published_table()  # the HTNet paper's 13 rows and CausalNet's
    from mebench.protocols.lists.class_sets import class_sets
    from mebench.protocols.lists.megc2019 import MEGC2019
    assert len(MEGC2019.table) == 442 and len(class_sets()) == 4  # the protocols' shipped lists
    print("modules:", len(set(names)), "reports.writer:", "mebench.reports.writer" in names)
    print("failed:", failed)
    print("stray:", stray)
""")


def test_every_module_imports_from_outside_the_checkout(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "failed: []" in result.stdout, result.stdout
    assert "stray: []" in result.stdout, result.stdout
    assert "reports.writer: True" in result.stdout, result.stdout
    assert str(REPO) != str(tmp_path)
