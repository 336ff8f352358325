"""Load released checkpoints of a registered method into its network."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from mebench.errors import ConfigError, DataError
from mebench.method import PAPER_PRESET
from mebench.training import TorchMethod


def load_published(method: str, state_dict: Mapping[str, torch.Tensor] | str | Path, **published_config: Any) -> nn.Module:
    """Build `method`'s network with its paper preset overridden by `published_config` (the released
    constructor arguments, e.g. `block_repeats=(2, 2, 8)`), load `state_dict` (a mapping or a .pth path)
    strictly, and return it in eval mode."""
    from mebench import plugins

    cls = plugins.methods.get(method)
    if not issubclass(cls, TorchMethod):
        raise ConfigError(f"method {method!r} is not a torch method; it has no checkpoints to load")
    params = {**cls.info.presets[PAPER_PRESET], **published_config}
    unknown = sorted(set(params) - set(cls.param_names()))
    if unknown:
        raise ConfigError(f"load_published({method!r}): unknown configuration {unknown}; parameters: {cls.param_names()}")
    if isinstance(state_dict, (str, Path)):
        try:
            state_dict = torch.load(state_dict, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a data error
            raise DataError(f"cannot read checkpoint {state_dict}: {exc}") from exc
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
        raise DataError(f"checkpoint does not fit {method!r} with configuration {published_config}: " + "; ".join(parts))
    network.load_state_dict(state_dict, strict=True)
    return network.eval()
