"""What CausalNet costs here: one leave-one-subject-out fold of the real composite at the quick preset,
and the paper preset's optimizer step (batch 1024: every fold's whole training set is one batch, so one
step per epoch) with the per-epoch test prediction and the peak memory, projected to one seed (68 folds x
200 epochs). Measures through mebench's own training loop (TorchMethod.fit); prints, asserts nothing.

    python benchmarks/causalnet_cost.py --data causalnet-release:../shared/data/causalnet-release \\
        [--threads 1] [--fold casme2/sub01] [--steps 3] [--device cpu|cuda] [--skip-quick] [--skip-paper]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from mebench import plugins
from mebench.engine import CellSpec, execute
from mebench.protocol import make_protocol
from mebench.plan import load_dataset
from mebench.runner import cell_inputs
from mebench.selection import FULL

FOLDS, PAPER_EPOCHS = 68, 200


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def quick_fold(dataset, fold, device: str) -> float:
    """Seconds of one quick-preset cell with every epoch's test predictions recorded (final,oracle-stop)."""
    cls = plugins.methods.get("causalnet")
    params = cls.check_params({**cls.info.presets["quick"], "num_classes": len(dataset.class_names)})
    spec = CellSpec("causalnet", "quick", params, "composite", fold.id, fold.train, fold.test, 0, FULL, True)
    outcome = execute(spec, cell_inputs(dataset, cls.info.input), method_class=cls, device=device)
    return outcome.seconds


def paper_steps(dataset, fold, steps: int, device: str) -> dict[str, float]:
    """Times the paper preset's epochs 2..steps+1 (epoch 1 also builds the network and warms up): each epoch
    is one optimizer step on the fold's training set, then the recorded prediction of the test subject."""
    cls = plugins.methods.get("causalnet")
    inputs = cell_inputs(dataset, cls.info.input)
    train, test = inputs.rows(fold.train), inputs.rows(fold.test)
    method = cls.from_preset("paper", epochs=steps + 1, num_classes=len(dataset.class_names))
    method.set_runtime(device=device)
    marks, evals = [], []
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def on_epoch(epoch: int, m) -> None:
        sync()
        start = time.perf_counter()
        m.predict_proba(inputs.features[test])
        sync()
        evals.append(time.perf_counter() - start)
        marks.append(time.perf_counter())

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    method.fit(inputs.features[train], inputs.labels[train], epoch_callback=on_epoch)
    epoch_seconds = np.diff(marks)  # one step and one prediction each
    out = {"n_train": len(train), "n_test": len(test), "first_epoch_s": marks[0] - started,
           "epoch_s": float(np.median(epoch_seconds)), "eval_s": float(np.median(evals[1:])),
           "peak_rss_gib": peak_rss_gib()}
    out["step_s"] = out["epoch_s"] - out["eval_s"]
    if device.startswith("cuda"):
        out["peak_cuda_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="causalnet-release:../shared/data/causalnet-release")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a local worker of 2 on 2 cores has 1)")
    parser.add_argument("--fold", default="casme2/sub01", help="the test subject (dataset/subject)")
    parser.add_argument("--steps", type=int, default=3, help="paper preset: epochs timed after the first")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-quick", action="store_true")
    parser.add_argument("--skip-paper", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    protocol = make_protocol("composite")
    dataset = protocol.prepare(load_dataset(args.data))
    fold = next(f for f in protocol.folds(dataset.samples) if f.id == args.fold)
    print(f"device {args.device}, {args.threads} torch thread(s), fold {fold.id}: {len(fold.train)} training and "
          f"{len(fold.test)} test samples; data loaded, peak RSS {peak_rss_gib():.2f} GiB")
    if not args.skip_quick:
        seconds = quick_fold(dataset, fold, args.device)
        print(f"quick preset: {seconds:.1f} s for the fold (training with every epoch's test predictions recorded); "
              f"one seed of {FOLDS} folds about {FOLDS * seconds / 60:.0f} min on one worker, "
              f"{FOLDS * seconds / 120:.0f} min on two")
    if not args.skip_paper:
        r = paper_steps(dataset, fold, args.steps, args.device)
        per_seed_h = FOLDS * PAPER_EPOCHS * r["epoch_s"] / 3600
        print(f"paper preset: first epoch (build + step + predict) {r['first_epoch_s']:.1f} s; then per epoch "
              f"{r['epoch_s']:.2f} s = optimizer step on {r['n_train']} samples {r['step_s']:.2f} s + test prediction "
              f"({r['n_test']} samples) {r['eval_s']:.2f} s; peak RSS {r['peak_rss_gib']:.2f} GiB"
              + (f", peak CUDA memory {r['peak_cuda_gib']:.2f} GiB" if "peak_cuda_gib" in r else ""))
        print(f"paper preset, one seed ({FOLDS} folds x {PAPER_EPOCHS} epochs, every epoch recorded): about "
              f"{per_seed_h:.1f} h on one worker ({args.threads} thread(s))")


if __name__ == "__main__":
    main()
