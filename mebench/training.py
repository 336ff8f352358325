"""One training loop for every torch method.

Deterministic for a given seed on CPU: the network is built and trained inside a forked torch
RNG seeded from `seed`, batches come from a seeded permutation (or in order, as the published
code does), and tensors stay in memory (no DataLoader). A fresh network and optimizer are made
by every `fit`, so nothing leaks between folds.

The device and precision come from `set_runtime` (mebench sets them per cell): on CUDA, torch's
deterministic algorithms are requested (`torch.use_deterministic_algorithms(True, warn_only=True)`,
cuDNN benchmarking off), so a seed gives the same predictions on the same card and software; bf16
and fp16 train under autocast (fp16 with a gradient scaler).
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch
from torch import nn

from mebench.errors import ConfigError
from mebench.method import EpochCallback, Method, StopTraining

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


class TorchMethod(Method):
    """Base of torch methods: subclasses define `__init__` (keyword-only, storing parameters; must include
    num_classes, seed, epochs, lr, batch_size, shuffle) and `build_network()`."""

    network_: nn.Module

    def build_network(self) -> nn.Module:
        raise NotImplementedError

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr)

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
            loss_fn = nn.CrossEntropyLoss()
            order_rng = np.random.default_rng(self.seed)
            for epoch in range(1, self.epochs + 1):
                self.network_.train()
                order = order_rng.permutation(n) if self.shuffle else np.arange(n)
                for start in range(0, n, self.batch_size):
                    idx = torch.as_tensor(order[start : start + self.batch_size], device=self.device)
                    optimizer.zero_grad(set_to_none=True)
                    with self._autocast():
                        loss = loss_fn(self.network_(X_t[idx]).float(), y_t[idx])
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
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
