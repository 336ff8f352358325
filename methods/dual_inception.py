"""Dual-Inception: two Inception streams over the horizontal and vertical optical flow.

Zhou, L., Mao, Q., Xue, L. "Dual-Inception Network for Cross-Database Micro-Expression
Recognition." IEEE FG 2019 (MEGC2019 cross-database challenge), pp. 642-646.
Code: https://github.com/xly135846/MEGC2019 (Keras 2.2 / TensorFlow 1.11; `dual_inception.py`).

Architecture (as published and in the released model): each stream takes a 28x28x3 flow image and
runs two Inception blocks, each followed by 2x2 max-pooling. A block has four branches, all with
ReLU and 'same' padding: 1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3/1 max-pool then 1x1. Every
convolution of the first block has 6 filters (24 channels out), of the second 16 (64 channels out),
so a stream ends at 64x7x7. Both streams are flattened and concatenated (6272 features), then
Dense 1024 (ReLU) and Dense 3 (softmax, here folded into the loss). No dropout. 6,449,963
parameters for three classes.

Training in the release: Adam (lr 1e-4, betas 0.9/0.999, eps 1e-8), categorical cross-entropy,
batch size 3, 40 epochs, shuffled; those are the `paper` preset. (`parameters.py` also defines
lr 5e-5, batch 100 and 100 epochs, but the model and the training call do not use them.) The
release's `class_weight='auto'` is a string, which Keras 2.2 does not apply (it takes a dict), so
no class weighting; its choice of the checkpoint with the best validation loss is a protocol
matter left to mebench's epoch selection.

Input mapping: the release reads each sample's horizontal ("x") and vertical ("y") flow pictures
with `cv2.imread` (so three channels each), resizes them to 28x28 and divides by 255. We take the
horizontal stream's image as the `flow` representation's u channel (channel 2) repeated three
times and the vertical stream's as v (channel 1) repeated three times, i.e. a grey picture of one
flow component read as BGR; the released flow pictures are not public, so that they were single-
component grey images is our reading. Inputs are divided by 255 (`input_scale`), as released.
Weights get the Keras defaults (Glorot-uniform kernels, zero biases). `hidden` is the dense layer's width
(1024 as published); the cheap `quick` preset narrows it to 128.
"""

from __future__ import annotations

import torch
from torch import nn

from mebench.method import MethodInfo
from mebench.params import BatchSize, Epochs, LearningRate, PositiveFloat, PositiveInt
from mebench.training import TorchMethod

U_CHANNEL = 2  # flow channels are (strain, v, u): u is the horizontal component
V_CHANNEL = 1


def keras_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def conv_relu(c_in: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU())


class InceptionBlock(nn.Module):
    """Four branches of `width` filters each, concatenated (4 * width channels out)."""

    def __init__(self, c_in: int, width: int):
        super().__init__()
        self.branch1 = conv_relu(c_in, width, 1)
        self.branch3 = nn.Sequential(conv_relu(c_in, width, 1), conv_relu(width, width, 3))
        self.branch5 = nn.Sequential(conv_relu(c_in, width, 1), conv_relu(width, width, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_relu(c_in, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


class InceptionStream(nn.Module):
    """3 x 28 x 28 -> 64 x 7 x 7."""

    def __init__(self, c_in: int = 3, widths: tuple[int, int] = (6, 16)):
        super().__init__()
        self.block1 = InceptionBlock(c_in, widths[0])
        self.block2 = InceptionBlock(4 * widths[0], widths[1])
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.block2(self.pool(self.block1(x))))


class DualInception(nn.Module):
    def __init__(self, num_classes: int = 3, hidden: int = 1024, image_size: int = 28,
                 input_scale: float = 1.0 / 255.0):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size {image_size} must be a multiple of 4 (two 2x2 poolings)")
        self.input_scale = input_scale
        self.stream_x = InceptionStream()
        self.stream_y = InceptionStream()
        features = 2 * 64 * (image_size // 4) ** 2
        self.dense = nn.Sequential(nn.Linear(features, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, num_classes)
        keras_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.input_scale
        horizontal = x[:, U_CHANNEL : U_CHANNEL + 1].expand(-1, 3, -1, -1)
        vertical = x[:, V_CHANNEL : V_CHANNEL + 1].expand(-1, 3, -1, -1)
        features = torch.cat([self.stream_x(horizontal).flatten(1), self.stream_y(vertical).flatten(1)], dim=1)
        return self.out(self.dense(features))


class DualInceptionMethod(TorchMethod):
    info = MethodInfo(
        name="dual-inception", display_name="Dual-Inception",
        summary="Dual-Inception (Zhou et al., FG 2019 MEGC): two Inception streams on horizontal and vertical flow",
        input="flow",
        citation="Zhou, L., Mao, Q., Xue, L. Dual-Inception Network for Cross-Database Micro-Expression "
        "Recognition. IEEE FG 2019, 642-646.",
        code_url="https://github.com/xly135846/MEGC2019",
        tags=("baseline", "cnn"),
        presets={
            "paper": dict(epochs=40, lr=1e-4, batch_size=3, shuffle=True),
            # cheap, labelled [quick]: a 128-wide dense layer (Adam's step over the published 6.4M parameters
            # outweighs the convolutions), 5 epochs of small batches (issue 23: was 1024 wide, 12 epochs x 64, lr 1e-3)
            "quick": dict(hidden=128, epochs=5, lr=2e-3, batch_size=16, shuffle=True),
        },
    )

    epochs: Epochs = 40
    lr: LearningRate = 1e-4
    batch_size: BatchSize = 3
    shuffle: bool = True
    input_scale: PositiveFloat = 1.0 / 255.0
    hidden: PositiveInt = 1024  # the dense layer's width: 1024 as published

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr, betas=(0.9, 0.999), eps=1e-8)

    def build_network(self) -> nn.Module:
        return DualInception(num_classes=self.num_classes, hidden=self.hidden, input_scale=self.input_scale)
