"""One training loop for every torch method.

Deterministic for a given seed on CPU: the network is built and trained inside a forked torch
RNG seeded from `seed`, batches come from a seeded permutation (or in order, as the published
code does), and tensors stay in memory (no DataLoader). A fresh network and optimizer are made
by every `fit`, so nothing leaks between folds.

The device and precision come from `set_runtime` (mebench sets them per cell): on CUDA, torch's
deterministic algorithms are requested (`torch.use_deterministic_algorithms(True, warn_only=True)`,
cuDNN benchmarking off), so a seed gives the same predictions on the same card and software; bf16
and fp16 train under autocast (fp16 with a gradient scaler).

A method changes the training through hooks instead of rewriting `fit`: `make_loss` (class weights, focal
loss), `augment` (a training batch), `make_scheduler` (the learning rate per epoch) and `make_optimizer`.
Every `fit` records each epoch's training loss, accuracy and learning rate in `epoch_metrics_`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mebench.errors import ConfigError
from mebench.method import EpochCallback, Method, StopTraining
from mebench.params import BatchSize, Epochs, LearningRate

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; other names are checked against what torch has."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = device.split(":", 1)[0]
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: torch sees no CUDA device (torch {torch.__version__}, "
                              f"built for CUDA {torch.version.cuda or 'none'})")
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    elif kind == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"--device {device}: torch has no MPS (Apple GPU) backend here")
    elif kind != "cpu":
        raise ConfigError(f"--device {device!r}: auto, cpu, cuda, cuda:N or mps")
    return device


@dataclass(frozen=True)
class EpochMetrics:
    """One training epoch as the network trained on it: the mean loss and the accuracy over its batches (as the
    hooks made them: augmented, with the method's loss) and the learning rate it used."""

    epoch: int  # 1-based
    train_loss: float
    train_accuracy: float
    lr: float


class TorchMethod(Method):
    """Base of torch methods. Declares the training loop's parameters (beside Method's num_classes and seed):
    `epochs`, `lr`, `batch_size` and `shuffle` (batches in a seeded random order, else in the data's order).
    A subclass re-declares those whose defaults it changes, declares its own (`dropout: DropoutRate = 0.5`),
    and defines `build_network()`; it may override the training hooks `make_optimizer`, `make_loss`, `augment`
    and `make_scheduler`, whose defaults are the plain loop (Adam at `lr`, cross-entropy, batches as they are, a
    constant learning rate). A hand-written keyword-only `__init__` works too; it must take and store all six.

    After `fit`, `network_` is the trained network and `epoch_metrics_` the record of its epochs."""

    epochs: Epochs = 100
    lr: LearningRate = 1e-3  # Adam's own default
    batch_size: BatchSize = 64
    shuffle: bool = True

    def build_network(self) -> nn.Module:
        raise NotImplementedError

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr)

    def make_loss(self, y_train: np.ndarray) -> nn.Module:
        """The training loss, made once per `fit` from the training fold's labels (N,) int, e.g. class weights
        from their counts. Called as `loss(logits (B, num_classes) float32, targets)`, the targets as `augment`
        returns them. Default: `nn.CrossEntropyLoss()`."""
        return nn.CrossEntropyLoss()

    def augment(self, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch (X (B, C, H, W) float32 on `self.device`, y (B,) int64) as the network trains on it.
        Runs inside the seeded torch RNG of `fit`, so torch's random functions give the same batches for the same
        seed. May return soft targets y (B, num_classes) for a loss that takes them (mixup). Default: unchanged."""
        return X, y

    def make_scheduler(self, optimizer: torch.optim.Optimizer, *, epochs: int,
                       steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The learning-rate schedule, stepped once after every epoch (e.g.
        `torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)`). Default: None, a constant rate."""
        return None

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=self.device)

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        if self.precision not in AUTOCAST_DTYPES:
            raise ConfigError(f"precision {self.precision!r}: fp32, bf16 or fp16")
        return torch.autocast(device_type=torch.device(self.device).type, dtype=AUTOCAST_DTYPES[self.precision])

    def _deterministic(self) -> None:
        if torch.device(self.device).type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism needs it
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True

    def fit(self, X: np.ndarray, y: np.ndarray, *, epoch_callback: EpochCallback | None = None) -> "TorchMethod":
        self._deterministic()
        X_t = self._tensor(X)
        y_t = torch.as_tensor(np.array(y, dtype=np.int64), device=self.device)
        n = len(y_t)
        devices = [torch.device(self.device).index or 0] if torch.device(self.device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=torch.device(self.device).type):
            torch.manual_seed(self.seed)
            self.network_ = self.build_network().to(self.device)
            optimizer = self.make_optimizer(self.network_.parameters())
            scaler = torch.amp.GradScaler(torch.device(self.device).type, enabled=self.precision == "fp16")
            loss_fn = self.make_loss(np.array(y, dtype=np.int64))
            if isinstance(loss_fn, nn.Module):  # class weights live on the module
                loss_fn = loss_fn.to(self.device)
            scheduler = self.make_scheduler(optimizer, epochs=self.epochs, steps_per_epoch=-(-n // self.batch_size))
            order_rng = np.random.default_rng(self.seed)
            self.epoch_metrics_: list[EpochMetrics] = []
            for epoch in range(1, self.epochs + 1):
                self.network_.train()
                order = order_rng.permutation(n) if self.shuffle else np.arange(n)
                # summed on the device and read once per epoch: a per-batch .item() would stall a GPU
                loss_sum = torch.zeros((), device=self.device)
                correct = torch.zeros((), device=self.device, dtype=torch.int64)
                seen = 0
                lr = float(optimizer.param_groups[0]["lr"])
                for start in range(0, n, self.batch_size):
                    idx = torch.as_tensor(order[start : start + self.batch_size], device=self.device)
                    X_batch, y_batch = self.augment(X_t[idx], y_t[idx])
                    optimizer.zero_grad(set_to_none=True)
                    with self._autocast():
                        logits = self.network_(X_batch).float()
                        loss = loss_fn(logits, y_batch)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    with torch.no_grad():
                        target = y_batch if y_batch.ndim == 1 else y_batch.argmax(dim=1)
                        loss_sum += loss.detach().float() * len(target)
                        correct += (logits.argmax(dim=1) == target).sum()
                        seen += len(target)
                self.epoch_metrics_.append(EpochMetrics(epoch, float(loss_sum) / max(seen, 1),
                                                        int(correct) / max(seen, 1), lr))
                if scheduler is not None:
                    scheduler.step()
                if epoch_callback is not None:
                    try:
                        epoch_callback(epoch, self)
                    except StopTraining:
                        break
        self.network_.eval()
        return self

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "network_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit first")
        was_training = self.network_.training
        self.network_.eval()
        X_t = self._tensor(X)
        with self._autocast():
            chunks = [torch.softmax(self.network_(X_t[i : i + 512]).float(), dim=1) for i in range(0, len(X_t), 512)]
        self.network_.train(was_training)
        return torch.cat(chunks).cpu().numpy().astype(np.float64)
