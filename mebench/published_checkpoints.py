"""Load released checkpoints of a registered method into its network."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from mebench.errors import ConfigError, DataError
from mebench.method import PAPER_PRESET, Method
from mebench.training import TorchMethod


def check_published_config(cls: type[Method], published_config: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments of `cls`'s paper preset overridden by `published_config`, checked
    against the method's parameter declarations (ConfigError naming a bad or unknown one)."""
    if not (isinstance(cls, type) and issubclass(cls, TorchMethod)):
        raise ConfigError(f"method {cls.info.name!r} is not a torch method; it has no checkpoints to load")
    return cls.check_params({**cls.info.presets[PAPER_PRESET], **published_config})


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a .pth file, read with torch's safe loader only (never weights_only=False,
    which would run arbitrary code from the file); DataError naming the file and the cause."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise DataError(f"checkpoint {path} is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch's zip format, or a legacy pickle
        raise DataError(f"cannot read checkpoint {path}: not a torch checkpoint (neither torch's zip format nor a pickle)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever the file holds, it is not a readable checkpoint
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            why = "it holds Python objects besides tensors, which mebench does not unpickle (unsafe)"
        elif isinstance(exc, (EOFError, IndexError)) or "pop from empty list" in str(exc):
            why = "the file is truncated or not a torch checkpoint"
        else:
            why = f"not a torch checkpoint ({type(exc).__name__}: {first[:200]})"
        raise DataError(f"cannot read checkpoint {path}: {why}") from None
    if not _is_state_dict(obj):
        kind = f"a tensor of shape {tuple(obj.shape)}" if isinstance(obj, torch.Tensor) else f"a {type(obj).__name__}"
        raise DataError(f"checkpoint {path} holds {kind}, not a state dict (a mapping of names to tensors)")
    return dict(obj)


def load_published(method: str, state_dict: Mapping[str, torch.Tensor] | str | Path, **published_config: Any) -> nn.Module:
    """Build `method`'s network with its paper preset overridden by `published_config` (the released
    constructor arguments, e.g. `block_repeats=(2, 2, 8)`), load `state_dict` (a mapping or a .pth path)
    strictly, and return it in eval mode."""
    from mebench import plugins

    return load_published_network(plugins.methods.get(method), state_dict, published_config)


def load_published_network(cls: type[Method], state_dict: Mapping[str, torch.Tensor] | str | Path,
                           published_config: Mapping[str, Any]) -> nn.Module:
    """`load_published` for a method class (a worker has the class, not the registry)."""
    method = cls.info.name
    params = check_published_config(cls, published_config)
    assert issubclass(cls, TorchMethod)  # check_published_config refused any other
    where = "the state dict"
    if isinstance(state_dict, (str, Path)):
        where = f"checkpoint {state_dict}"
        state_dict = read_checkpoint(Path(state_dict))
    elif not _is_state_dict(state_dict):
        raise DataError(f"{where} is a {type(state_dict).__name__}, not a state dict (a mapping of names to tensors)")
    network = cls(**params).build_network()
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    extra = sorted(set(state_dict) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state_dict) if tuple(expected[k].shape) != tuple(state_dict[k].shape))
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if extra:
            parts.append(f"unexpected keys {extra[:5]}{' ...' if len(extra) > 5 else ''}")
        if wrong:
            parts.append("wrong shapes " + ", ".join(
                f"{k} {tuple(state_dict[k].shape)} != {tuple(expected[k].shape)}" for k in wrong[:5]))
        raise DataError(f"{where} does not fit {method!r} with configuration {dict(published_config)}: "
                        + "; ".join(parts))
    network.load_state_dict(state_dict, strict=True)
    return network.eval()
