"""Typed, lazy plugin registries backed by entry points.

Names come from entry-point metadata, so listing them imports no plugin code. A plugin is
imported the first time it is asked for; one that fails to import is reported as broken
without affecting the others. Objects can also be registered in-process (notebooks, tests).
"""

from __future__ import annotations

import difflib
import importlib.metadata
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, TypeVar

from mebench.errors import DuplicateNameError, PluginLoadError, UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class PluginOrigin:
    """Where a registered name comes from, for error messages and `methods list`."""

    name: str
    source: str  # "entry point methods.htnet:HTNetMethod (mebench 0.1.0)" or "registered in-process by module x"


class Registry(Generic[T]):
    """Names to plugin objects of one kind (methods, protocols or dataset loaders)."""

    def __init__(self, kind: str, group: str, validate: Callable[[str, object], T] | None = None):
        self.kind = kind
        self.group = group
        self._validate = validate
        self._local: dict[str, tuple[T, PluginOrigin]] = {}
        self._loaded: dict[str, T] = {}

    # -- discovery -------------------------------------------------------------------
    def _entry_points(self) -> dict[str, list[importlib.metadata.EntryPoint]]:
        found: dict[str, list[importlib.metadata.EntryPoint]] = {}
        seen: set[tuple[str, str]] = set()
        for ep in importlib.metadata.entry_points(group=self.group):
            dist = ep.dist.name if ep.dist is not None else "?"
            if (ep.value, dist) in seen:  # the same distribution found twice on sys.path
                continue
            seen.add((ep.value, dist))
            found.setdefault(ep.name, []).append(ep)
        return found

    @staticmethod
    def _ep_origin(ep: importlib.metadata.EntryPoint) -> str:
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown distribution"
        return f"entry point {ep.value} ({dist})"

    def origins(self) -> dict[str, list[str]]:
        """Every name with all the places that declare it (more than one is a conflict)."""
        out: dict[str, list[str]] = {}
        for name, eps in self._entry_points().items():
            out.setdefault(name, []).extend(self._ep_origin(ep) for ep in eps)
        for name, (_, origin) in self._local.items():
            out.setdefault(name, []).append(origin.source)
        return out

    def targets(self) -> dict[str, str]:
        """Name -> its entry point's object reference (`package.module:attr`), for the names declared by exactly
        one entry point; imports nothing."""
        return {name: eps[0].value for name, eps in self._entry_points().items() if len(eps) == 1}

    def names(self) -> list[str]:
        """Sorted names; imports nothing."""
        return sorted(self.origins())

    # -- registration ----------------------------------------------------------------
    def register(self, name: str, obj: T, *, source: str | None = None) -> T:
        existing = self.origins().get(name)
        origin = source or f"registered in-process by {getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)!s}"
        if existing:
            raise DuplicateNameError(
                f"{self.kind} name {name!r} is declared twice: by {existing[0]} and by {origin}"
            )
        if self._validate is not None:
            obj = self._validate(name, obj)
        self._local[name] = (obj, PluginOrigin(name, origin))
        return obj

    def unregister(self, name: str) -> None:
        self._local.pop(name, None)
        self._loaded.pop(name, None)

    # -- lookup ----------------------------------------------------------------------
    def _unknown(self, name: str) -> UnknownNameError:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f", did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = f" (known: {', '.join(names)})" if names and not close else ""
        return UnknownNameError(f"unknown {self.kind} {name!r}{hint}{listing}")

    def get(self, name: str) -> T:
        if name in self._local:
            return self._local[name][0]
        if name in self._loaded:
            return self._loaded[name]
        origins = self.origins()
        if name not in origins and ":" in name and name.split(":", 1)[0] in origins:
            return self._variant(name)
        if name not in origins:
            raise self._unknown(name)
        if len(origins[name]) > 1:
            raise DuplicateNameError(
                f"{self.kind} name {name!r} is declared twice: by {origins[name][0]} and by {origins[name][1]}"
            )
        (ep,) = self._entry_points()[name]
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            raise PluginLoadError(
                f"{self.kind} plugin {name!r} ({self._ep_origin(ep)}) failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        if self._validate is not None:
            obj = self._validate(name, obj)
        self._loaded[name] = obj
        return obj

    def _variant(self, name: str) -> T:
        """'family:argument' names, e.g. 'timm:resnet18': the family plugin makes the variant with
        its `for_variant(argument)` class method (one plugin serves every argument)."""
        family, argument = name.split(":", 1)
        base = self.get(family)
        make = getattr(base, "for_variant", None)
        if make is None:
            raise UnknownNameError(f"unknown {self.kind} {name!r}: {family!r} takes no ':' argument")
        obj = make(argument)
        if self._validate is not None:
            obj = self._validate(name, obj)
        self._loaded[name] = obj
        return obj

    def load_all(self) -> tuple[dict[str, T], dict[str, str]]:
        """(loaded plugins, broken plugins with their error); never raises for a single plugin."""
        ok: dict[str, T] = {}
        broken: dict[str, str] = {}
        for name in self.names():
            try:
                ok[name] = self.get(name)
            except (PluginLoadError, DuplicateNameError) as exc:
                broken[name] = str(exc)
        return ok, broken

    def __contains__(self, name: str) -> bool:
        return name in self.origins()

    def __iter__(self) -> Iterable[str]:
        return iter(self.names())
