"""mebench: benchmark micro-expression recognition methods under honest, statistically tested protocols.

Light to import: torch and the models load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mebench.version import __version__

_LAZY = {
    "Method": "mebench.method",
    "MethodInfo": "mebench.method",
    "TorchMethod": "mebench.training",
    "Protocol": "mebench.protocol",
    "Fold": "mebench.protocol",
    "Dataset": "mebench.dataset",
    "load_published": "mebench.published",
    "register_method": "mebench.plugins",
    "methods": "mebench.plugins",
    "protocols": "mebench.plugins",
    "datasets": "mebench.plugins",
    "check_method": "mebench.checks",
    "RunConfig": "mebench.runner",
    "run_grid": "mebench.runner",
    "load_dataset": "mebench.runner",
    "MebenchError": "mebench.errors",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from mebench.checks import check_method
    from mebench.dataset import Dataset
    from mebench.errors import MebenchError
    from mebench.method import Method, MethodInfo
    from mebench.plugins import datasets, methods, protocols, register_method
    from mebench.protocol import Fold, Protocol
    from mebench.published import load_published
    from mebench.runner import RunConfig, load_dataset, run_grid
    from mebench.training import TorchMethod


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mebench' has no attribute {name!r}")
