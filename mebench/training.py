"""One training loop for every torch method.

Deterministic for a given seed on CPU: the network is built and trained inside a forked torch
RNG seeded from `seed`, batches come from a seeded permutation (or in order, as the published
code does), and tensors stay in memory (no DataLoader). A fresh network and optimizer are made
by every `fit`, so nothing leaks between folds.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mebench.method import EpochCallback, Method, StopTraining


class TorchMethod(Method):
    """Base of torch methods: subclasses define `__init__` (keyword-only, storing parameters; must include
    num_classes, seed, epochs, lr, batch_size, shuffle, device) and `build_network()`."""

    network_: nn.Module

    def build_network(self) -> nn.Module:
        raise NotImplementedError

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.lr)

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=self.device)

    def fit(self, X: np.ndarray, y: np.ndarray, *, epoch_callback: EpochCallback | None = None) -> "TorchMethod":
        X_t = self._tensor(X)
        y_t = torch.as_tensor(np.array(y, dtype=np.int64), device=self.device)
        n = len(y_t)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.network_ = self.build_network().to(self.device)
            optimizer = self.make_optimizer(self.network_.parameters())
            loss_fn = nn.CrossEntropyLoss()
            order_rng = np.random.default_rng(self.seed)
            for epoch in range(1, self.epochs + 1):
                self.network_.train()
                order = order_rng.permutation(n) if self.shuffle else np.arange(n)
                for start in range(0, n, self.batch_size):
                    idx = torch.as_tensor(order[start : start + self.batch_size], device=self.device)
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(self.network_(X_t[idx]), y_t[idx])
                    loss.backward()
                    optimizer.step()
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
        chunks = [torch.softmax(self.network_(X_t[i : i + 512]), dim=1) for i in range(0, len(X_t), 512)]
        self.network_.train(was_training)
        return torch.cat(chunks).cpu().numpy().astype(np.float64)
