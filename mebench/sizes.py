"""A method's size and cost as reviewers ask: trainable parameters and forward FLOPs per sample.

Counted on one sample of the method's input ((1, 3, 28, 28) for most) with torch's FlopCounterMode. A run stores the
counts with each finished cell (so a report lists them after the method's plugin is gone); a report counts them for
older folders, within budgets (a results database is data, and must not make the report build whatever it names).
"""

from __future__ import annotations

import functools
import json
import math

NOT_COUNTED = (math.nan, math.nan)


def network_size(cls, params: dict, max_parameters: float = math.inf, max_flops: float = math.inf,
                 sample_shape: tuple[int, ...] | None = None) -> tuple[tuple[float, float], str | None]:
    """((parameters, FLOPs per sample), why not counted) of ``cls(**params).build_network()`` on one sample of
    `sample_shape` (default: its registered input's): NaN without a reason when the method has no torch network
    (or it cannot be built); NaN with the reason above a budget."""
    if not hasattr(cls, "build_network"):
        return NOT_COUNTED, None
    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from mebench.representations import input_of

        sample = tuple(sample_shape) if sample_shape is not None else input_of(cls.info.input).shape
        with torch.device("meta"):  # sized first without memory or compute
            network = cls(**params).build_network().eval()
            count = sum(p.numel() for p in network.parameters() if p.requires_grad)
        if count > max_parameters:
            return (float(count), math.nan), (f"{count:,} parameters, above the report's budget of "
                                               f"{max_parameters:,} for building a network")
        try:
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                network(torch.zeros(1, *sample, device="meta"))
            estimate = counter.get_total_flops()
        except Exception:  # noqa: BLE001 - an operation without a meta kernel: the real pass is bounded by the size
            estimate = 0
        if estimate > max_flops:
            return (float(count), math.nan), (f"about {estimate:.3g} FLOPs per sample, above the report's budget of "
                                               f"{max_flops:.3g} for running a network")
        network = cls(**params).build_network().eval()
        count = sum(p.numel() for p in network.parameters() if p.requires_grad)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            network(torch.zeros(1, *sample))
        return (float(count), float(counter.get_total_flops())), None
    except Exception:  # noqa: BLE001 - a network that cannot be built on one sample is reported uncounted
        return NOT_COUNTED, None


@functools.lru_cache(maxsize=64)
def stored_size(cls, params_json: str, sample_shape: tuple[int, ...]) -> dict[str, float | None]:
    """The `parameters` and `flops` a run stores with a finished cell of method class ``cls`` with these (canonical
    JSON) parameters, on one sample of `sample_shape` (the cell's input), counted once per configuration and
    process; None for a method without a torch network."""
    (parameters, flops), _ = network_size(cls, json.loads(params_json), sample_shape=sample_shape)
    return dict(parameters=None if math.isnan(parameters) else parameters, flops=None if math.isnan(flops) else flops)
