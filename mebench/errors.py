"""One exception family: the CLI maps every MebenchError to one stderr line and exit code 2."""

from __future__ import annotations


class MebenchError(Exception):
    """Base of every error mebench raises on purpose (bad input, bad option, bad plugin)."""


class UnknownNameError(MebenchError, KeyError):
    """A method, protocol or dataset name that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(MebenchError):
    """Two plugins claim the same name."""


class PluginLoadError(MebenchError):
    """A plugin's entry point could not be imported or is not of the expected kind."""


class DataError(MebenchError):
    """A dataset file, sample or feature is missing, unreadable or inconsistent."""


class ConfigError(MebenchError):
    """An option or parameter value is invalid."""


class ConformanceError(AssertionError):
    """A plugin breaks the contract a `mebench.checks` check verifies (an AssertionError, as pytest expects of
    a failed check; raised explicitly, so the checks hold under `python -O` too)."""
