"""STSTNet: shallow triple-stream three-dimensional CNN.

Liong, Gan, See, Khor, Huang. "Shallow Triple Stream Three-dimensional CNN (STSTNet) for
micro-expression recognition." IEEE FG 2019 (MEGC2019).
Code: https://github.com/christy1206/STSTNet (PyTorch release: Adam, lr 5e-5, batch 256, 800 epochs).

Three parallel 3x3 convolutions (3, 5 and 8 filters) over the (strain, v, u) flow image, each
followed by ReLU, batch norm, 3x3/3 max-pooling and dropout; concatenated, 2x2 average-pooled
and classified by one linear layer. Module names follow the release, so its per-subject
checkpoints load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from mebench.method import MethodInfo
from mebench.params import BatchSize, DropoutRate, Epochs, LearningRate
from mebench.training import TorchMethod


class STSTNet(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 3, dropout: float = 0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 3, kernel_size=3, padding=2)
        self.conv2 = nn.Conv2d(in_channels, 5, kernel_size=3, padding=2)
        self.conv3 = nn.Conv2d(in_channels, 8, kernel_size=3, padding=2)
        self.bn1 = nn.BatchNorm2d(3)
        self.bn2 = nn.BatchNorm2d(5)
        self.bn3 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=3, padding=1)
        self.avgpool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(5 * 5 * 16, num_classes)

    def _stream(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        # ReLU before batch norm, as published
        return self.dropout(self.maxpool(bn(self.relu(conv(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        streams = [self._stream(c, b, x) for c, b in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3))]
        x = self.avgpool(torch.cat(streams, dim=1))
        return self.fc(x.flatten(1))


class STSTNetMethod(TorchMethod):
    info = MethodInfo(
        name="ststnet", display_name="STSTNet",
        summary="STSTNet (Liong et al., FG 2019): shallow triple-stream CNN on optical flow and strain",
        input="flow",
        citation="Liong, S.-T., Gan, Y. S., See, J., Khor, H.-Q., Huang, Y.-C. Shallow Triple Stream "
        "Three-dimensional CNN (STSTNet) for Micro-expression Recognition. IEEE FG 2019.",
        code_url="https://github.com/christy1206/STSTNet",
        tags=("baseline", "cnn"),
        presets={
            "paper": dict(epochs=800, lr=5e-5, batch_size=256, shuffle=False),
            # cheap, labelled [quick]: small batches learn the synthetic demo in 10 epochs (issue 23: was 40 x 64)
            "quick": dict(epochs=10, lr=1e-3, batch_size=16, shuffle=True),
        },
        # No grid is published (the paper gives one setting: lr 5e-5, 800 epochs). This is mebench's choice around
        # it, for `--tuning`: the learning rate halved and doubled, and half the epoch budget (6 configurations).
        search_space={"lr": (2.5e-5, 5e-5, 1e-4), "epochs": (400, 800)},
    )

    epochs: Epochs = 800
    lr: LearningRate = 5e-5
    batch_size: BatchSize = 256
    shuffle: bool = False
    dropout: DropoutRate = 0.5

    def build_network(self) -> nn.Module:
        return STSTNet(num_classes=self.num_classes, dropout=self.dropout)
