"""Any timm architecture on the optical-flow image: `timm:<model name>`.

timm (PyTorch Image Models): Wightman, R. "PyTorch Image Models." 2019,
https://github.com/huggingface/pytorch-image-models. The settings follow the MEB toolkit
(Varanka, T., Li, Y., Peng, W., Zhao, G. "Data Leakage and Evaluation Issues in Micro-Expression
Analysis." IEEE Transactions on Affective Computing, 2023; code: https://github.com/tvaranka/meb),
which benchmarks timm models on onset-to-apex optical flow resized to 112x112.

One family plugin serves every architecture timm knows: `timm:resnet18`, `timm:efficientnet_b0`,
`timm:mobilenetv3_small_050`, ... (`TimmFlowMethod.for_variant`). The name is checked against
`timm.is_model`; an unknown one raises UnknownNameError with the closest names timm knows. Plain
`timm` is `timm:resnet18`.

The network is `timm.create_model(model_name, pretrained=False, in_chans=3, num_classes=...)`
behind two fixed steps: the (strain, v, u) flow is multiplied by `input_scale` (1/255, so [0, 1])
and resized to `image_size` x `image_size` (bilinear). Architectures with a fixed input size
(ViTs and the like) are built for `image_size`. Weights are never downloaded (no network access
is assumed), so every architecture trains from scratch.

`paper` preset, the MEB toolkit's defaults for its timm runs: 112x112, Adam with lr 1e-4 and
weight decay 1e-3, batch size 32, 50 epochs, shuffled batches. MEB starts from ImageNet weights
(`pretrained=True`); here training starts from random weights, so that difference is deliberate.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mebench.errors import UnknownNameError
from mebench.method import MethodInfo
from mebench.params import BatchSize, Epochs, LearningRate, NonNegativeFloat, PositiveFloat, PositiveInt
from mebench.training import TorchMethod

DEFAULT_MODEL = "resnet18"
_VARIANTS: dict[str, type["TimmFlowMethod"]] = {}


def check_model_name(model_name: str) -> None:
    """Raise UnknownNameError, with close matches, unless timm knows the architecture."""
    import timm

    if isinstance(model_name, str) and model_name and timm.is_model(model_name):
        return
    known = timm.list_models()
    close = difflib.get_close_matches(str(model_name), known, n=3, cutoff=0.6)
    hint = f", did you mean {' or '.join(repr(c) for c in close)}?" if close else " (see timm.list_models())"
    raise UnknownNameError(f"unknown timm model {model_name!r}{hint}")


class TimmFlowNet(nn.Module):
    def __init__(self, model_name: str, num_classes: int, image_size: int = 112, input_scale: float = 1.0 / 255.0):
        super().__init__()
        import timm
        from timm.models import get_pretrained_cfg_value

        check_model_name(model_name)
        self.image_size = image_size
        self.input_scale = input_scale
        kwargs: dict[str, Any] = {}
        if get_pretrained_cfg_value(model_name, "fixed_input_size"):
            kwargs["img_size"] = image_size
        self.model = timm.create_model(model_name, pretrained=False, in_chans=3, num_classes=num_classes, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.input_scale
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return self.model(x)


def _restore(name: str, state: dict[str, Any]) -> "TimmFlowMethod":
    """Unpickling helper: variant classes are made at run time, so they pickle by name."""
    _, _, argument = name.partition(":")
    cls = TimmFlowMethod.for_variant(argument) if argument else TimmFlowMethod
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


class TimmFlowMethod(TorchMethod):
    info = MethodInfo(
        name="timm",
        summary="any timm architecture trained from scratch on the 112x112-resized flow image (timm:<model name>)",
        input="flow",
        citation="Wightman, R. PyTorch Image Models (timm), 2019, https://github.com/huggingface/pytorch-image-models; "
        "settings after Varanka, T., Li, Y., Peng, W., Zhao, G. Data Leakage and Evaluation Issues in "
        "Micro-Expression Analysis. IEEE Transactions on Affective Computing (2023).",
        code_url="https://github.com/huggingface/pytorch-image-models",
        # Not tagged `baseline`: the family stands for every timm architecture, so `--methods baseline` keeps
        # to the published MER baselines; name architectures explicitly (timm:resnet18,timm:efficientnet_b0).
        tags=("timm",),
        presets={
            "paper": dict(image_size=112, epochs=50, lr=1e-4, weight_decay=1e-3, batch_size=32, shuffle=True),
            "quick": dict(image_size=112, epochs=10, lr=1e-3, weight_decay=1e-3, batch_size=32, shuffle=True),
        },
    )

    # Listed before the training parameters, which are re-declared below them (mebench.params.Parameterised).
    model_name: str = DEFAULT_MODEL
    image_size: PositiveInt = 112
    input_scale: PositiveFloat = 1.0 / 255.0
    epochs: Epochs = 50
    lr: LearningRate = 1e-4
    weight_decay: NonNegativeFloat = 1e-3
    batch_size: BatchSize = 32
    shuffle: bool = True

    @classmethod
    def for_variant(cls, model_name: str) -> type["TimmFlowMethod"]:
        """The method class of `timm:<model_name>` (made once, then cached): same parameters and presets,
        with `model_name` defaulting to the given architecture."""
        if model_name in _VARIANTS:
            return _VARIANTS[model_name]
        check_model_name(model_name)
        base = TimmFlowMethod
        name = f"timm:{model_name}"
        info = MethodInfo(
            name=name,
            display_name=model_name,
            summary=f"timm {model_name} trained from scratch on the 112x112-resized flow image",
            input=base.info.input,
            citation=base.info.citation,
            code_url=base.info.code_url,
            tags=base.info.tags,
            presets=base.info.presets,
        )
        # model_name re-declared with the architecture as its default: the same parameters, in the same order
        model_name_type = typing.get_type_hints(base, include_extras=True)["model_name"]
        variant = type(f"TimmFlowMethod[{model_name}]", (base,), {
            "info": info, "__annotations__": {"model_name": model_name_type}, "model_name": model_name,
            "__module__": __name__, "__doc__": f"{name}: {info.summary}.",
        })
        _VARIANTS[model_name] = variant
        return variant

    def __reduce_ex__(self, protocol):
        if type(self) is TimmFlowMethod or type(self) in _VARIANTS.values():
            return (_restore, (type(self).info.name, dict(self.__dict__)))
        return super().__reduce_ex__(protocol)

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def build_network(self) -> nn.Module:
        return TimmFlowNet(self.model_name, self.num_classes, image_size=self.image_size, input_scale=self.input_scale)
