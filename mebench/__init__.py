"""mebench: benchmark micro-expression recognition methods under honest, statistically tested protocols.

Light to import: torch and the models load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mebench.version import __version__

_LAZY = {
    "run": "mebench.api",
    "plan_run": "mebench.api",
    "execute": "mebench.api",
    "evaluate": "mebench.api",
    "report": "mebench.api",
    "study": "mebench.api",
    "status": "mebench.api",
    "training_history": "mebench.api",
    "Method": "mebench.method",
    "MethodInfo": "mebench.method",
    "TorchMethod": "mebench.training",
    "Protocol": "mebench.protocol",
    "Fold": "mebench.protocol",
    "Dataset": "mebench.dataset",
    "load_published": "mebench.published_checkpoints",
    "register_method": "mebench.plugins",
    "register_protocol": "mebench.plugins",
    "register_dataset": "mebench.plugins",
    "method_checks": "mebench.checks",
    "protocol_checks": "mebench.checks",
    "dataset_checks": "mebench.checks",
    "check_method": "mebench.checks",
    "check_protocol": "mebench.checks",
    "check_dataset": "mebench.checks",
    "RunSummary": "mebench.runner",
    "RunConfig": "mebench.plan",
    "RunPlan": "mebench.plan",
    "run_grid": "mebench.runner",
    "load_dataset": "mebench.plan",
    "MebenchError": "mebench.errors",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from mebench.api import evaluate, execute, plan_run, report, run, status, study, training_history
    from mebench.checks import (check_dataset, check_method, check_protocol, dataset_checks, method_checks,
                                protocol_checks)
    from mebench.dataset import Dataset
    from mebench.errors import MebenchError
    from mebench.method import Method, MethodInfo
    from mebench.plugins import register_dataset, register_method, register_protocol
    from mebench.protocol import Fold, Protocol
    from mebench.plan import RunConfig, RunPlan, load_dataset
    from mebench.published_checkpoints import load_published
    from mebench.runner import RunSummary, run_grid
    from mebench.training import TorchMethod


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"__version__"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mebench' has no attribute {name!r}")
