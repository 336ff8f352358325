"""Where cells run: in this process, in a pool of worker processes, or on a Ray cluster.

The driver (mebench.runner) plans the cells, computes every method input once and stores each
outcome; an executor only runs `mebench.engine.execute` on tasks and reports back. Workers receive
the inputs once (at start, or `ray.put`), never per cell.

- `serial`: one cell after another in this process (debugging; the Python API's default).
- `local`: `--workers N` processes on this machine. Without a GPU the cores are split between
  them (each worker gets cores // N torch threads); with GPUs each gets a device, `cells_per_gpu`
  workers per GPU.
- `ray`: Ray tasks on a local instance (started and stopped here, sized by `--workers`) or on the
  cluster at `--ray-address`; each cell asks for 1 GPU (or 1 / cells_per_gpu) when the device is
  CUDA, else for its threads' CPUs. `--workers` caps the cells in flight.

A worker that dies mid-cell (killed, out of memory, node lost) fails that cell with the cause; the
cell is tried again up to `retries` times and the grid goes on. A method that raises fails its
cell at once (it would raise again).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from mebench.allocator import keep_freed_memory
from mebench.engine import CellInputs, CellOutcome, CellSpec, execute
from mebench.errors import ConfigError, MebenchError, PluginLoadError, UnknownNameError

EXECUTORS = ("auto", "serial", "local", "ray")

Started = Callable[[CellSpec], None]
Finished = Callable[[CellSpec, "CellOutcome | None", "str | None"], None]  # outcome, or the error text


class Interrupted(MebenchError):
    """The run was stopped (Ctrl-C) before every cell was computed; finished cells are stored."""


@dataclass(frozen=True)
class Task:
    spec: CellSpec
    method: Any  # the method's name (an entry point every worker has) or its class (registered in-process)
    representation: str  # which of the shipped inputs it reads


@dataclass(frozen=True)
class Placement:
    """Where one worker runs cells: its device and torch thread count."""

    device: str
    threads: int


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def placements(device: str, workers: int | str, cells_per_gpu: int) -> list[Placement]:
    """The workers of a local pool (or the cells in flight on Ray): one per GPU times `cells_per_gpu`
    on CUDA, else `workers` (auto: one per core) sharing the cores."""
    import torch

    if cells_per_gpu < 1:
        raise ConfigError(f"--cells-per-gpu {cells_per_gpu}: at least 1")
    cores = cpu_count()
    if device.startswith("cuda"):
        gpus = [device] if ":" in device else [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        slots = [g for g in gpus for _ in range(cells_per_gpu)]
        if workers != "auto":
            slots = slots[: int(workers)] or slots[:1]
        threads = max(1, cores // len(slots))
        return [Placement(g, threads) for g in slots]
    n = cores if workers == "auto" else int(workers)
    if n < 1:
        raise ConfigError(f"--workers {workers}: at least 1")
    return [Placement(device, max(1, cores // n))] * n


def resolve_method(ref: Any):
    """A task's method class: its own class, or the plugin of that name on this worker."""
    if not isinstance(ref, str):
        return ref
    from mebench import plugins

    try:
        return plugins.methods.get(ref)
    except (UnknownNameError, PluginLoadError) as exc:
        raise PluginLoadError(f"method plugin {ref!r} is not installed on worker {socket.gethostname()} "
                              f"(pid {os.getpid()}): {exc}") from None


def run_task(task: Task, inputs: CellInputs, device: str) -> tuple[CellOutcome | None, str | None]:
    """Execute one task; a method's exception becomes the cell's error text."""
    try:
        return execute(task.spec, inputs, method_class=resolve_method(task.method), device=device), None
    except Exception as exc:  # noqa: BLE001 - a failing cell is stored, never fatal to the grid
        return None, f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=8)


class Executor:
    name = "executor"

    def run(self, tasks: Sequence[Task], inputs: dict[str, CellInputs], started: Started, finished: Finished) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name}


class SerialExecutor(Executor):
    name = "serial"

    def __init__(self, device: str):
        self.device = device

    def run(self, tasks, inputs, started, finished) -> None:
        keep_freed_memory()
        for task in tasks:
            started(task.spec)
            outcome, error = run_task(task, inputs[task.representation], self.device)
            finished(task.spec, outcome, error)

    def describe(self) -> dict[str, Any]:
        return {"executor": "serial", "device": self.device}


# -- local worker processes --------------------------------------------------------------------------
def _exit_when_orphaned(driver_pid: int, interval: float = 1.0) -> None:
    """A worker whose driver died (killed, crashed) stops at once instead of training for nobody."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != driver_pid:
                os._exit(1)  # no cleanup: the results queue has no reader left

    threading.Thread(target=watch, name="mebench-orphan-watch", daemon=True).start()


def _worker_main(index: int, placement: Placement, inputs: dict[str, CellInputs], tasks, results,
                 driver_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _exit_when_orphaned(driver_pid)
    keep_freed_memory()
    import torch

    torch.set_num_threads(placement.threads)
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # noqa: BLE001 - OpenCV's threads only matter for speed
        pass
    while True:
        task = tasks.get()
        if task is None:
            return
        outcome, error = run_task(task, inputs[task.representation], placement.device)
        results.put((index, task.spec.key, outcome, error))


def _death(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, slots: list[Placement], retries: int = 1):
        self.slots = slots
        self.retries = retries

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": len(self.slots), "devices": [s.device for s in self.slots],
                "threads_per_worker": self.slots[0].threads, "retries": self.retries}

    def run(self, tasks, inputs, started, finished) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        workers: dict[int, tuple[Any, Any]] = {}

        def spawn(i: int) -> None:
            task_queue = ctx.Queue()
            process = ctx.Process(target=_worker_main, args=(i, self.slots[i], inputs, task_queue, results, os.getpid()),
                                  name=f"mebench-worker-{i}", daemon=True)
            process.start()
            workers[i] = (process, task_queue)

        pending = deque(tasks)
        by_key = {t.spec.key: t for t in tasks}
        running: dict[int, Task] = {}
        attempts: dict[str, int] = {}
        done: set[str] = set()
        try:
            for i in range(min(len(self.slots), len(pending))):
                spawn(i)
            while pending or running:
                for i, (process, task_queue) in workers.items():
                    if i not in running and pending and process.is_alive():
                        task = pending.popleft()
                        running[i] = task
                        started(task.spec)
                        task_queue.put(task)
                try:
                    index, key, outcome, error = results.get(timeout=0.2)
                except queue.Empty:
                    index = None
                if index is not None and key not in done:
                    if running.get(index) is not None and running[index].spec.key == key:
                        del running[index]
                    elif by_key[key] in pending:  # it was retried after its worker seemed dead
                        pending.remove(by_key[key])
                    done.add(key)
                    finished(by_key[key].spec, outcome, error)
                for i, (process, _) in list(workers.items()):
                    if process.is_alive():
                        continue
                    task = running.pop(i, None)
                    if task is not None and task.spec.key not in done:
                        cause = (f"WorkerDied: worker process {process.pid} on {socket.gethostname()} "
                                 f"{_death(process)} while computing this cell")
                        attempts[task.spec.key] = attempts.get(task.spec.key, 0) + 1
                        if attempts[task.spec.key] <= self.retries:
                            pending.appendleft(task)
                        else:
                            done.add(task.spec.key)
                            finished(task.spec, None, cause)
                    if pending:
                        spawn(i)
                    else:
                        del workers[i]
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted: {len(done)} of {len(tasks)} cells of this run finished and are stored") from None
        finally:
            for process, task_queue in workers.values():
                if process.is_alive():
                    try:
                        task_queue.put(None)
                    except Exception:  # noqa: BLE001 - the queue may be broken after a death
                        pass
            deadline = time.time() + 5
            for process, _ in workers.values():
                process.join(timeout=max(0.0, deadline - time.time()))
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=5)


# -- Ray ---------------------------------------------------------------------------------------------
def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'mebench[ray]'") from None
    return ray


def _ray_cell(task: Task, inputs: dict[str, CellInputs], device: str, threads: int):
    """The Ray task: one cell on whichever worker Ray picks."""
    import torch

    keep_freed_memory()
    torch.set_num_threads(threads)
    return run_task(task, inputs[task.representation], device)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None, slots: list[Placement], retries: int = 1):
        self.address = address
        self.slots = slots
        self.retries = retries

    def describe(self) -> dict[str, Any]:
        return {"executor": "ray", "address": self.address or "local", "max_in_flight": len(self.slots),
                "device": self.slots[0].device, "threads_per_cell": self.slots[0].threads, "retries": self.retries}

    def run(self, tasks, inputs, started, finished) -> None:
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            import logging

            quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                cpus = max(len(self.slots) * self.slots[0].threads, len(self.slots))
                ray.init(num_cpus=cpus, **quiet)
        try:
            self._run(ray, tasks, inputs, started, finished)
        except KeyboardInterrupt:
            raise Interrupted("interrupted: the cells finished before Ctrl-C are stored") from None
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray, tasks, inputs, started, finished) -> None:
        slot = self.slots[0]
        gpu = slot.device.startswith("cuda")
        per_gpu = sum(1 for s in self.slots if s.device == slot.device)
        remote = ray.remote(_ray_cell).options(
            num_cpus=0 if gpu else slot.threads, num_gpus=(1.0 / per_gpu) if gpu else 0, max_retries=0)
        inputs_ref = ray.put(inputs)  # shipped once to the object store, not per cell
        pending = deque(tasks)
        in_flight: dict[Any, Task] = {}
        attempts: dict[str, int] = {}
        while pending or in_flight:
            while pending and len(in_flight) < len(self.slots):
                task = pending.popleft()
                started(task.spec)
                in_flight[remote.remote(task, inputs_ref, "cuda" if gpu else slot.device, slot.threads)] = task
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref in ready:
                task = in_flight.pop(ref)
                try:
                    outcome, error = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the worker or its node died: a system failure
                    cause = f"WorkerDied: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    attempts[task.spec.key] = attempts.get(task.spec.key, 0) + 1
                    if attempts[task.spec.key] <= self.retries:
                        pending.appendleft(task)
                        continue
                    outcome, error = None, cause
                finished(task.spec, outcome, error)


def make_executor(name: str, device: str, workers: int | str = "auto", cells_per_gpu: int = 1, retries: int = 1,
                  ray_address: str | None = None, n_tasks: int | None = None) -> Executor:
    """The executor of `--executor NAME`; `auto` is a local pool when there are more cells than one worker
    takes and more than one worker to give them to, else serial."""
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name!r}: one of {', '.join(EXECUTORS)}")
    if retries < 0:
        raise ConfigError(f"--retries {retries}: at least 0")
    if name == "serial":
        return SerialExecutor(device)
    slots = placements(device, workers, cells_per_gpu)
    if name == "ray":
        import_ray()
        return RayExecutor(ray_address, slots, retries)
    if name == "auto" and (len(slots) < 2 or (n_tasks is not None and n_tasks < 2 * len(slots))):
        return SerialExecutor(device)
    return LocalExecutor(slots, retries)


__all__ = ["EXECUTORS", "Executor", "Interrupted", "LocalExecutor", "Placement", "RayExecutor", "SerialExecutor",
           "Task", "make_executor", "placements"]
