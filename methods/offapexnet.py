"""OFF-ApexNet: optical flow features from the apex frame, classified by a two-stream CNN.

Gan, Y. S., Liong, S.-T., Yau, W.-C., Huang, Y.-C., Tan, L.-K. "OFF-ApexNet on micro-expression
recognition system." Signal Processing: Image Communication 74 (2019) (arXiv:1805.08699).
No official code was released; the MEB toolkit (https://github.com/tvaranka/meb,
`meb/models/me_networks.py` and `experiments/benchmarks/Optical flow networks.ipynb`) carries a
reimplementation, which we consulted for the training settings only: its network (one stream over
stacked u and v, 3x3 convolutions, one hidden FC layer) is not the published one.

Architecture (as published): the horizontal (u) and vertical (v) onset-to-apex optical flow at 28x28
each go through their own stream, conv 5x5 with 6 filters, max-pool 2, conv 5x5 with 16 filters,
max-pool 2 (ReLU after each convolution, 'same' padding, so each stream ends at 16x7x7); the two
streams are flattened and concatenated (1568 features) and classified by FC 1024, FC 1024 and FC 3
with dropout 0.5. That is 2,664,475 parameters for three classes, 3.8% below the 2.77M that the
STSTNet paper (Liong et al., FG 2019) lists for OFF-ApexNet; 'valid' padding would give 4x4 maps
and about 1.6M, far from it, which is why the convolutions pad.

Input: the `flow` representation's channels are (strain, v, u), so u is channel 2 and v channel 1;
the strain channel is not used, as in the publication.

Training (`paper` preset): Adam, lr 1e-4, 3000 epochs: the values the MEB reimplementation trains
OFF-ApexNet with, which we take to be the paper's (we could not check the paper's full text with
the tools at hand, so treat them as the MEB toolkit's reading of it).

What we had to choose, since neither the paper's abstract nor any released code says it:
- input scaling: flow images are divided by 255 (`input_scale`) so that both streams see [0, 1];
- where the dropout sits: after each of the two hidden FC layers (after the ReLU);
- initialisation: Glorot-uniform weights and zero biases (TensorFlow's defaults);
- batch size: 256, as the same group's STSTNet release uses; shuffled batches.
"""

from __future__ import annotations

import torch
from torch import nn

from mebench.method import MethodInfo
from mebench.params import BatchSize, DropoutRate, Epochs, LearningRate, PositiveFloat
from mebench.training import TorchMethod

U_CHANNEL = 2  # flow channels are (strain, v, u)
V_CHANNEL = 1


def glorot_init(module: nn.Module) -> None:
    """TensorFlow/Keras defaults: Glorot-uniform kernels, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ApexStream(nn.Module):
    """One flow component (1 x 28 x 28) -> 16 x 7 x 7."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, padding=2)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        return self.pool(self.relu(self.conv2(x)))


class OFFApexNet(nn.Module):
    def __init__(self, num_classes: int = 3, dropout: float = 0.5, hidden: int = 1024, image_size: int = 28,
                 input_scale: float = 1.0 / 255.0):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size {image_size} must be a multiple of 4 (two 2x2 poolings)")
        self.input_scale = input_scale
        self.stream_u = ApexStream()
        self.stream_v = ApexStream()
        features = 2 * 16 * (image_size // 4) ** 2
        self.classifier = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        glorot_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.input_scale
        u = self.stream_u(x[:, U_CHANNEL : U_CHANNEL + 1])
        v = self.stream_v(x[:, V_CHANNEL : V_CHANNEL + 1])
        return self.classifier(torch.cat([u.flatten(1), v.flatten(1)], dim=1))


class OFFApexNetMethod(TorchMethod):
    info = MethodInfo(
        name="offapexnet", display_name="OFF-ApexNet",
        summary="OFF-ApexNet (Gan et al., SPIC 2019): two-stream CNN on horizontal and vertical apex optical flow",
        input="flow",
        citation="Gan, Y. S., Liong, S.-T., Yau, W.-C., Huang, Y.-C., Tan, L.-K. OFF-ApexNet on micro-expression "
        "recognition system. Signal Processing: Image Communication 74 (2019).",
        code_url="https://github.com/tvaranka/meb (reimplementation; no official code)",
        tags=("baseline", "cnn"),
        presets={
            "paper": dict(epochs=3000, lr=1e-4, batch_size=256, shuffle=True, dropout=0.5),
            # cheap, labelled [quick] (issue 23: was 20 epochs x 64)
            "quick": dict(epochs=8, lr=1e-3, batch_size=32, shuffle=True, dropout=0.5),
        },
    )

    epochs: Epochs = 3000
    lr: LearningRate = 1e-4
    batch_size: BatchSize = 256
    shuffle: bool = True
    dropout: DropoutRate = 0.5
    input_scale: PositiveFloat = 1.0 / 255.0

    def build_network(self) -> nn.Module:
        return OFFApexNet(num_classes=self.num_classes, dropout=self.dropout, input_scale=self.input_scale)
