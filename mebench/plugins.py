"""The registries: methods, protocols, dataset loaders, method inputs and dataset primitives (entry-point
groups mebench.*)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol as TypingProtocol, cast

from mebench.errors import ConfigError, PluginLoadError
from mebench.method import Method, validate_method_class
from mebench.protocol import Protocol, validate_protocol_class
from mebench.registry import Registry

if TYPE_CHECKING:
    from mebench.dataset import Dataset
    from mebench.engine import MethodRef

# A dataset loader: (path or None, cache root or None) -> mebench.dataset.Dataset
DatasetLoader = Callable[..., "Dataset"]


def _validate_loader(name: str, obj: object) -> DatasetLoader:
    if not callable(obj):
        raise PluginLoadError(f"dataset plugin {name!r} is {obj!r}, not a callable loader")
    return cast(DatasetLoader, obj)  # what it returns is the loader's contract (mebench.checks.dataset_checks)


class _Named(TypingProtocol):
    """A plugin that carries the name it is registered under (inputs, primitives)."""

    @property
    def name(self) -> str: ...


def _named_instance(kind: str, expected: Callable[[], type[_Named]]) -> Callable[[str, object], object]:
    """A registry hook: the plugin is an instance of `expected()` (imported late: no cycle) named as registered."""

    def validate(name: str, obj: object) -> object:
        cls = expected()
        if not isinstance(obj, cls):
            raise PluginLoadError(f"{kind} plugin {name!r} is {obj!r}, not a {cls.__module__}.{cls.__name__} instance")
        if obj.name != name:
            raise PluginLoadError(f"{kind} plugin registered as {name!r} calls itself {obj.name!r}")
        return obj

    return validate


def _input_type() -> type[_Named]:
    from mebench.representations import Input

    return Input


def _primitive_type() -> type[_Named]:
    from mebench.primitives import PrimitiveSpec

    return PrimitiveSpec


methods: Registry[type[Method]] = Registry("method", "mebench.methods", validate_method_class)
protocols: Registry[type[Protocol]] = Registry("protocol", "mebench.protocols", validate_protocol_class)
datasets: Registry[DatasetLoader] = Registry("dataset", "mebench.datasets", _validate_loader)
inputs: Registry = Registry("input", "mebench.inputs", _named_instance("input", _input_type))
primitives: Registry = Registry("primitive", "mebench.primitives", _named_instance("primitive", _primitive_type))


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


def register_input(inp):
    """Register a method input (a mebench.representations.Input) in-process under its name."""
    return inputs.register(getattr(inp, "name", "?"), inp, source=f"registered in-process by {type(inp).__module__}")


def register_primitive(spec):
    """Register a dataset primitive (a mebench.primitives.PrimitiveSpec) in-process under its name."""
    return primitives.register(getattr(spec, "name", "?"), spec, source="registered in-process")


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


def method_ref(name: str) -> "MethodRef":
    """How a worker loads method `name` without this registry (mebench.engine.MethodRef): the entry point's
    `module:attribute` (with the variant argument of a family:argument name), or the class registered in this
    process."""
    from mebench.engine import MethodRef

    family, sep, argument = name.partition(":")
    if name in methods._local or name not in methods._entry_points() and family not in methods._entry_points():
        return MethodRef(name, cls=methods.get(name))
    methods.get(name)  # loads and validates it here, so a broken plugin fails before any cell
    entry = methods._entry_points().get(name) or methods._entry_points()[family]
    return MethodRef(name, entry[0].value, argument if sep and name not in methods._entry_points() else None)


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
        with open(source, "rb") as fh:  # type: ignore[arg-type]  # None (no source file): TypeError, caught below
            text += f" src:{hashlib.sha256(fh.read()).hexdigest()[:8]}"
    except (TypeError, OSError):  # a class without a readable source file: the distribution alone
        pass
    return text
