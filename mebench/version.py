"""The installed distribution's version (one source: pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mebench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
