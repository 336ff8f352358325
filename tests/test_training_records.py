"""Training records and hooks (issue 23 §2-3): every torch training's per-epoch loss, accuracy and learning rate
in the run folder, read back through the API, written through TensorBoard or MLflow on request; older run
folders migrate; TorchMethod's loss, augmentation and schedule hooks, whose defaults are the plain loop."""

from __future__ import annotations

import sqlite3
import sys

import numpy as np
import pytest
import torch
from torch import nn

import mebench
from mebench import plugins
from mebench.api import training_history
from mebench.errors import ConfigError
from mebench.method import MethodInfo
from mebench.params import BatchSize, Epochs, LearningRate, NumClasses, Seed
from mebench.store import DB_NAME
from mebench.training import EpochMetrics, TorchMethod
from tests.conftest import make_tiny_dataset

FOLDS = 6  # the tiny dataset's subjects: loso folds


class TinyNet(TorchMethod):
    info = MethodInfo(name="tinynet", summary="a test network", input="flow", citation="-",
                      presets={"paper": dict(epochs=3, lr=1e-2, batch_size=8, shuffle=True),
                               "quick": dict(epochs=3, lr=1e-2, batch_size=8, shuffle=True)})

    def __init__(self, *, num_classes: NumClasses = 3, seed: Seed = 0, epochs: Epochs = 3, lr: LearningRate = 1e-2,
                 batch_size: BatchSize = 8, shuffle: bool = True):
        self.num_classes, self.seed, self.epochs, self.lr = num_classes, seed, epochs, lr
        self.batch_size, self.shuffle = batch_size, shuffle

    def build_network(self) -> nn.Module:
        return nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(3 * 7 * 7, 16), nn.ReLU(),
                             nn.Dropout(0.2), nn.Linear(16, self.num_classes))


@pytest.fixture
def tiny_net(tiny_data):
    plugins.register_method(TinyNet)
    yield "tinynet"
    plugins.methods.unregister("tinynet")


def arrays(n: int = 30):
    rng = np.random.default_rng(1)
    y = np.arange(n) % 3
    X = rng.uniform(0, 255, (n, 3, 28, 28)).astype(np.float32)
    for i, c in enumerate(y):
        X[i, :, c * 9:c * 9 + 9] = np.minimum(X[i, :, c * 9:c * 9 + 9] + 100, 255)
    return X, y


# -- hooks ---------------------------------------------------------------------------------------------------
def plain_loop_predictions(method: TorchMethod, X, y) -> np.ndarray:
    """The training loop as it was before the hooks (cross-entropy, batches as they are, constant rate)."""
    X_t, y_t = torch.as_tensor(X), torch.as_tensor(np.array(y, dtype=np.int64))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(method.seed)
        method.network_ = method.build_network()
        optimizer = method.make_optimizer(method.network_.parameters())
        loss_fn = nn.CrossEntropyLoss()
        order_rng = np.random.default_rng(method.seed)
        for _ in range(method.epochs):
            method.network_.train()
            order = order_rng.permutation(len(y)) if method.shuffle else np.arange(len(y))
            for start in range(0, len(y), method.batch_size):
                idx = torch.as_tensor(order[start:start + method.batch_size])
                optimizer.zero_grad(set_to_none=True)
                loss_fn(method.network_(X_t[idx]).float(), y_t[idx]).backward()
                optimizer.step()
    method.network_.eval()
    return method.predict_proba(X)


@pytest.mark.parametrize("name", ["tinynet", "ststnet"])
def test_the_default_hooks_train_exactly_as_the_plain_loop(name):
    X, y = arrays()
    cls = TinyNet if name == "tinynet" else plugins.methods.get(name)
    params = {"epochs": 2, "seed": 3, **({"batch_size": 8} if name != "tinynet" else {})}
    fitted = cls.from_preset("quick", **params).fit(X, y).predict_proba(X)
    assert np.array_equal(fitted, plain_loop_predictions(cls.from_preset("quick", **params), X, y))


def test_every_fit_records_each_epochs_loss_accuracy_and_learning_rate():
    X, y = arrays()
    net = TinyNet(epochs=4).fit(X, y)
    assert [m.epoch for m in net.epoch_metrics_] == [1, 2, 3, 4]
    assert all(isinstance(m, EpochMetrics) and m.lr == 1e-2 and 0 <= m.train_accuracy <= 1 for m in net.epoch_metrics_)
    assert all(np.isfinite(m.train_loss) and m.train_loss > 0 for m in net.epoch_metrics_)
    assert net.epoch_metrics_[-1].train_loss < net.epoch_metrics_[0].train_loss  # an easy signal: it learns
    assert len(TinyNet(epochs=2).fit(X, y).epoch_metrics_) == 2  # a new fit starts a new record


def test_the_loss_hook_gets_the_training_labels_and_its_loss_trains():
    X, y = arrays()
    seen = []

    class Weighted(TinyNet):
        def make_loss(self, y_train):
            seen.append(y_train.copy())
            return nn.CrossEntropyLoss(weight=torch.tensor([10.0, 1.0, 1.0]))

    weighted = Weighted().fit(X[:20], y[:20])
    assert len(seen) == 1 and np.array_equal(seen[0], y[:20]) and seen[0].dtype == np.int64
    assert not np.array_equal(weighted.predict_proba(X), TinyNet().fit(X[:20], y[:20]).predict_proba(X))


def test_the_augment_hook_sees_every_batch_reproducibly():
    X, y = arrays()
    batches = []

    class Noisy(TinyNet):
        def augment(self, X_batch, y_batch):
            batches.append(len(X_batch))
            return X_batch + 20 * torch.randn_like(X_batch), y_batch

    first = Noisy(epochs=2).fit(X, y).predict_proba(X)
    assert batches == [8, 8, 8, 6] * 2  # 30 samples in batches of 8, two epochs
    assert np.array_equal(first, Noisy(epochs=2).fit(X, y).predict_proba(X))  # fit's seeded RNG
    assert not np.array_equal(first, TinyNet(epochs=2).fit(X, y).predict_proba(X))


def test_soft_targets_from_augment_train_and_count_their_accuracy():
    X, y = arrays()

    class Mixup(TinyNet):
        def augment(self, X_batch, y_batch):
            soft = nn.functional.one_hot(y_batch, self.num_classes).float()
            perm = torch.randperm(len(X_batch))
            return 0.8 * X_batch + 0.2 * X_batch[perm], 0.8 * soft + 0.2 * soft[perm]

    net = Mixup(epochs=2).fit(X, y)
    assert all(0 <= m.train_accuracy <= 1 and np.isfinite(m.train_loss) for m in net.epoch_metrics_)


def test_the_schedule_hook_is_stepped_after_every_epoch():
    X, y = arrays()
    asked = {}

    class Decaying(TinyNet):
        def make_scheduler(self, optimizer, *, epochs, steps_per_epoch):
            asked.update(epochs=epochs, steps_per_epoch=steps_per_epoch)
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    net = Decaying(epochs=3).fit(X, y)
    assert asked == {"epochs": 3, "steps_per_epoch": 4}
    assert [m.lr for m in net.epoch_metrics_] == pytest.approx([1e-2, 5e-3, 2.5e-3])


# -- the record in the run folder -----------------------------------------------------------------------------
def test_a_run_records_every_epoch_of_every_torch_cell_and_the_api_reads_them(tmp_path, tiny_net, tiny_data):
    out = tmp_path / "run"
    summary = mebench.run([tiny_net, "majority"], protocol="loso", data=[tiny_data], preset="quick", out=out,
                          epoch_selection=["final", "validation"], validation_subjects=1, params={"epochs": 3})
    assert not summary.failed
    history = training_history(out)
    assert list(history.columns) == ["cell_key", "method", "display_name", "preset", "params_hash", "precision",
                                     "protocol", "fold", "seed", "training", "epoch", "train_loss", "train_accuracy",
                                     "lr"]
    assert set(history["method"]) == {"tinynet"}  # the majority floor does not train in epochs
    per_cell = history.groupby(["training", "fold"])["epoch"].apply(list)
    assert len(per_cell) == 2 * FOLDS and all(epochs == [1, 2, 3] for epochs in per_cell)
    assert set(history["training"]) == {"full", "validation:1:None"}
    assert history["train_loss"].gt(0).all() and history["train_accuracy"].between(0, 1).all()
    assert (history["lr"] == 1e-2).all()
    # the same numbers as a fit of the same cell outside the runner
    cell = history[(history["training"] == "full")].iloc[0]
    data = make_tiny_dataset()
    train = ~data.samples["subject_key"].eq(cell["fold"])
    X = data.feature_function("flow")[train.to_numpy()]
    net = TinyNet(epochs=3, seed=0).fit(X, data.samples.loc[train, "label_index"].to_numpy())
    stored = history[history["cell_key"] == cell["cell_key"]]
    assert stored["train_loss"].tolist() == pytest.approx([m.train_loss for m in net.epoch_metrics_], rel=1e-6)


def test_the_report_exports_the_training_epochs_of_the_reported_rows(tmp_path, tiny_net, tiny_data):
    out = tmp_path / "run"
    mebench.run([tiny_net, "majority"], protocol="loso", data=[tiny_data], preset="quick", out=out,
                epoch_selection=["final", "oracle"], params={"epochs": 3})
    rep = mebench.report(out, write=False, resamples=20, permutations=20)
    training = rep.tables["training"]
    assert list(training.columns) == ["method", "display_name", "variants", "preset", "params_hash", "precision",
                                      "protocol", "fold", "seed", "training", "epoch", "train_loss",
                                      "train_accuracy", "lr"]
    assert len(training) == FOLDS * 3 and set(training["method"]) == {"tinynet"}
    assert set(training["variants"]) == {"tinynet, tinynet (oracle)"}  # one training gives both rows
    history = training_history(out)
    assert sorted(training["train_loss"]) == pytest.approx(sorted(history["train_loss"]))
    mebench.report(out, figures=False, resamples=20, permutations=20)
    assert (out / "training.csv").exists() and "training.csv" in (out / "report.md").read_text()


def test_workers_send_the_records_back(tmp_path, tiny_net, tiny_data):
    out = tmp_path / "local"
    mebench.run([tiny_net], protocol="loso", data=[tiny_data], preset="quick", out=out, executor="local", workers=2)
    assert len(training_history(out)) == FOLDS * 3


def test_an_older_run_folder_reads_empty_and_resumes_with_records(tmp_path, tiny_net, tiny_data):
    out = tmp_path / "old"
    mebench.run([tiny_net], protocol="loso", data=[tiny_data], preset="quick", out=out, params={"epochs": 2})
    with sqlite3.connect(out / DB_NAME) as conn:  # as a mebench before the records wrote it (same schema version)
        conn.execute("DROP TABLE training_epochs")
    assert training_history(out).empty and "epoch" in training_history(out).columns
    resumed = mebench.run([tiny_net], protocol="loso", data=[tiny_data], preset="quick", out=out, seeds=[0, 1],
                          params={"epochs": 2})
    assert (resumed.skipped, resumed.done) == (FOLDS, FOLDS)  # the old cells are kept, not trained again
    history = training_history(out)
    assert set(history["seed"]) == {1} and len(history) == FOLDS * 2
    mebench.report(out, figures=False, resamples=20, permutations=20)  # the migrated folder still reports


# -- trackers -------------------------------------------------------------------------------------------------
def test_tensorboard_gets_every_epoch_of_every_cell(tmp_path, tiny_net, tiny_data):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    mebench.run([tiny_net], protocol="loso", data=[tiny_data], preset="quick", out=out, tracker="tensorboard")
    history = training_history(out)
    folders = sorted(p.parent for p in (out / "tensorboard").rglob("events.out.tfevents.*"))
    assert len(folders) == FOLDS
    for folder in folders:
        events = EventAccumulator(str(folder)).Reload()
        assert set(events.Tags()["scalars"]) == {"train/loss", "train/accuracy", "train/lr"}
        fold = folder.name.removeprefix("fold-").replace("_", "/")
        stored = history[history["fold"] == fold]
        loss = events.Scalars("train/loss")
        assert [e.step for e in loss] == [1, 2, 3]
        assert [e.value for e in loss] == pytest.approx(stored["train_loss"].tolist(), rel=1e-6)
        assert [e.value for e in events.Scalars("train/accuracy")] == pytest.approx(stored["train_accuracy"].tolist())


def test_mlflow_gets_every_epoch_of_every_cell(tmp_path, tiny_net, tiny_data):
    mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'mebench[mlflow]')")
    pytest.importorskip("sqlalchemy", reason="mlflow's local store needs the full mlflow package, not mlflow-skinny")
    from mlflow.tracking import MlflowClient

    before = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        out = tmp_path / "ml"
        mebench.run([tiny_net], protocol="loso", data=[tiny_data], preset="quick", out=out, tracker="mlflow",
                    params={"epochs": 2})
        client = MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name("mebench").experiment_id])
        history = training_history(out)
        assert len(runs) == FOLDS
        for run in runs:
            key = run.data.tags["mebench.cell_key"]
            losses = client.get_metric_history(run.info.run_id, "train_loss")
            assert sorted(m.step for m in losses) == [1, 2]
            stored = history[history["cell_key"] == key].sort_values("epoch")["train_loss"].tolist()
            assert [m.value for m in sorted(losses, key=lambda m: m.step)] == pytest.approx(stored)
    finally:
        mlflow.set_tracking_uri(before)


@pytest.mark.parametrize(("tracker", "module"), [("tensorboard", "torch.utils.tensorboard"), ("mlflow", "mlflow")])
def test_a_tracker_without_its_library_is_refused_before_anything_runs(tmp_path, tiny_data, monkeypatch, tracker,
                                                                       module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=rf'--tracker {tracker} needs the {tracker} package.*pip install '
                                          rf'"mebench\[{tracker}\]"'):
        mebench.run(["majority"], protocol="loso", data=[tiny_data], out=tmp_path / "run", tracker=tracker)
    assert not (tmp_path / "run").exists()


def test_an_unknown_tracker_is_refused(tmp_path, tiny_data):
    with pytest.raises(ConfigError, match="--tracker 'wandb': choose tensorboard or mlflow"):
        mebench.run(["majority"], protocol="loso", data=[tiny_data], out=tmp_path / "run", tracker="wandb")


def test_the_command_line_takes_a_tracker(tmp_path, tiny_net, tiny_data):
    from typer.testing import CliRunner

    from mebench.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["run", "--methods", tiny_net, "--protocol", "loso", "--data", tiny_data,
                                      "--preset", "quick", "--executor", "serial", "--tracker", "tensorboard",
                                      "--param", "epochs=1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(list((out / "tensorboard").rglob("events.out.tfevents.*"))) == FOLDS
