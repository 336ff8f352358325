"""The three registries: methods, protocols and dataset loaders (entry-point groups mebench.*)."""

from __future__ import annotations

from typing import Callable

from mebench.errors import ConfigError, PluginLoadError
from mebench.method import Method, validate_method_class
from mebench.protocol import Protocol, validate_protocol_class
from mebench.registry import Registry

# A dataset loader: (path or None, cache root or None) -> mebench.dataset.Dataset
DatasetLoader = Callable[..., object]


def _validate_loader(name: str, obj: object) -> DatasetLoader:
    if not callable(obj):
        raise PluginLoadError(f"dataset plugin {name!r} is {obj!r}, not a callable loader")
    return obj


methods: Registry[type[Method]] = Registry("method", "mebench.methods", validate_method_class)
protocols: Registry[type[Protocol]] = Registry("protocol", "mebench.protocols", validate_protocol_class)
datasets: Registry[DatasetLoader] = Registry("dataset", "mebench.datasets", _validate_loader)


def register_method(cls: type[Method]) -> type[Method]:
    """Decorator registering a method class in-process under `cls.info.name` (entry points are the
    way to ship a plugin; this is for notebooks and tests)."""
    validate_method_class(getattr(getattr(cls, "info", None), "name", "?"), cls)
    methods.register(cls.info.name, cls, source=f"registered in-process by {cls.__module__}.{cls.__qualname__}")
    return cls


def register_protocol(cls: type[Protocol]) -> type[Protocol]:
    """Register a protocol class in-process under `cls.name` (entry points are the way to ship one)."""
    protocols.register(getattr(cls, "name", "?"), cls, source=f"registered in-process by {cls.__module__}.{cls.__qualname__}")
    return cls


def register_dataset(name: str, loader: DatasetLoader) -> DatasetLoader:
    """Register a dataset loader in-process as `--data NAME[:PATH]`."""
    return datasets.register(name, loader, source=f"registered in-process by {getattr(loader, '__module__', '?')}")


def expand_method_selection(selection: str) -> list[str]:
    """'htnet,baseline' -> method names; a tag expands to every method carrying it, 'all' to all.
    Names and tags match without regard to case (`STSTNet`, `Baseline`); an unknown one is an error that
    suggests the closest names and tags (`baselines` -> `baseline`). Order is kept and duplicates dropped."""
    import difflib

    from mebench.errors import UnknownNameError

    tokens = [t.strip() for t in selection.split(",") if t.strip()]
    if not tokens:
        raise ConfigError("--methods is empty: name methods or tags, e.g. htnet,baseline")
    names = methods.names()
    lower = {n.lower(): n for n in names}
    out: list[str] = []
    tag_index: dict[str, list[str]] | None = None
    for token in tokens:
        if token in names or token.lower() in lower:
            chosen = [token if token in names else lower[token.lower()]]
        elif token.lower() == "all":
            chosen = names
        else:
            if tag_index is None:  # tags need the classes: load them only when a token is not a name
                loaded, _broken = methods.load_all()
                tag_index = {}
                for n, cls in loaded.items():
                    for tag in cls.info.tags:
                        tag_index.setdefault(tag.lower(), []).append(n)
            if token.lower() in tag_index:
                chosen = sorted(tag_index[token.lower()])
            elif ":" in token:
                methods.get(token)  # a variant (timm:resnet18): its plugin checks the argument
                chosen = [token]
            else:
                candidates = list(dict.fromkeys([*lower, *tag_index, "all"]))
                close = difflib.get_close_matches(token.lower(), candidates, n=3, cutoff=0.6)
                if close:
                    raise UnknownNameError(f"unknown method {token!r}, did you mean "
                                           f"{' or '.join(repr(lower.get(c, c)) for c in close)}?")
                raise UnknownNameError(f"unknown method or tag {token!r} (`mebench methods list` shows the methods "
                                       "and their tags)")
        for n in chosen:
            if n not in out:
                out.append(n)
    return out


def method_version(name: str) -> str:
    """What a method's code is, recorded with every cell: the distribution that provides it and its version
    ("in-process" for a class registered in this process), and a hash of its class's source file, so that
    results of edited plugin code are told apart from the old ones."""
    import hashlib
    import inspect

    cls = methods.get(name)
    eps = methods._entry_points().get(name.split(":", 1)[0], [])
    dist = eps[0].dist if eps and eps[0].dist is not None else None
    text = f"{dist.name} {dist.version}" if dist is not None else "in-process"
    try:
        source = inspect.getsourcefile(cls)
        with open(source, "rb") as fh:
            text += f" src:{hashlib.sha256(fh.read()).hexdigest()[:8]}"
    except (TypeError, OSError):  # a class without a readable source file: the distribution alone
        pass
    return text
