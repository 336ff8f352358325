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

Hangs: `cell_timeout` (`--cell-timeout SECONDS`; default none) fails a cell that runs longer, and it
is tried again under `retries` like a dead worker's. Local workers send a heartbeat every second;
one silent for `HEARTBEAT_TIMEOUT` seconds (stopped, e.g. by SIGSTOP, or frozen) is killed and its
cell tried again. Without a timeout, a cell running far longer than the others (`StallWatch`) is
named in a warning, once, while the run goes on.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import statistics
import threading
import time
import traceback
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from mebench.allocator import keep_freed_memory
from mebench.engine import CellInputs, CellOutcome, CellSpec, MethodRef, execute
from mebench.errors import ConfigError, MebenchError

EXECUTORS = ("auto", "serial", "local", "ray")
HEARTBEAT_TIMEOUT = 60.0  # seconds a local worker may stay silent before it is taken for stopped or frozen
STALL_AFTER = 600.0  # seconds, at least, before a cell is named as possibly stuck (see StallWatch)
RAY_CONNECT_TIMEOUT = 10.0  # seconds to reach --ray-address before the run is refused

Started = Callable[[CellSpec], None]
Finished = Callable[[CellSpec, "CellOutcome | None", "str | None"], None]  # outcome, or the error text


class Interrupted(MebenchError):
    """The run was stopped (Ctrl-C) before every cell was computed; finished cells are stored."""


class CellTimeout(BaseException):
    """A cell ran past --cell-timeout. A BaseException, so that a method's `except Exception` cannot swallow it."""


class StallWatch:
    """Names, once, each cell that has run far longer than the others: more than `after` seconds and five
    times the median of the cells finished so far. Only a warning: the cell goes on (--cell-timeout ends it)."""

    def __init__(self, after: float = STALL_AFTER):
        self.after = after
        self.seconds: list[float] = []
        self.warned: set[str] = set()

    def finished(self, seconds: float) -> None:
        self.seconds.append(seconds)

    def check(self, spec: CellSpec, running_for: float) -> None:
        median = statistics.median(self.seconds) if self.seconds else 0.0
        if running_for > max(self.after, 5 * median) and spec.key not in self.warned:
            self.warned.add(spec.key)
            typical = f" (the median cell took {median:.0f} s)" if self.seconds else ""
            warnings.warn(f"cell {spec.describe()} has run for {running_for:.0f} s{typical} and may be stuck; it goes "
                          "on. --cell-timeout SECONDS fails such a cell (and retries it); stopping the run keeps every "
                          "finished cell", stacklevel=2)


@dataclass(frozen=True)
class Task:
    spec: CellSpec
    method: MethodRef  # how the worker loads the method's class (no registry on workers)
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


def placements(device: str, workers: int | str, cells_per_gpu: int, *, warn: bool = True) -> list[Placement]:
    """The workers of a local pool (or the cells in flight on Ray): one per GPU times `cells_per_gpu`
    on CUDA, else `workers` (auto: one per core) sharing the cores; more workers than cores are capped
    at one per core, with a warning."""
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
    if n > cores:
        if warn:
            warnings.warn(f"--workers {n}: this machine gives mebench {cores} core(s); using {cores} workers (more "
                          "would only share the cores and multiply the memory)", stacklevel=2)
        n = cores
    return [Placement(device, max(1, cores // n))] * n


def run_task(task: Task, inputs: CellInputs, device: str) -> tuple[CellOutcome | None, str | None]:
    """Execute one task; a method's exception becomes the cell's error text."""
    try:
        return execute(task.spec, inputs, method_class=task.method.load(), device=device), None
    except Exception as exc:  # noqa: BLE001 - a failing cell is stored, never fatal to the grid
        return None, f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=8)


class Executor:
    name = "executor"

    def run(self, tasks: Sequence[Task], inputs: dict[str, CellInputs], started: Started, finished: Finished) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name}


def _timed_out(spec: CellSpec, seconds: float, how: str) -> str:
    return f"CellTimeout: cell {spec.describe()} ran past --cell-timeout {seconds:g} s ({how})"


class SerialExecutor(Executor):
    name = "serial"

    def __init__(self, device: str, cell_timeout: float | None = None, retries: int = 1, stall_after: float = STALL_AFTER):
        self.device = device
        self.cell_timeout = cell_timeout
        self.retries = retries
        self.stall = StallWatch(stall_after)

    def run(self, tasks, inputs, started, finished) -> None:
        keep_freed_memory()
        if self.cell_timeout is not None and threading.current_thread() is not threading.main_thread():
            raise ConfigError("--cell-timeout with the serial executor needs the main thread (it uses SIGALRM); "
                              "run from the main thread or use --executor local")
        for task in tasks:
            started(task.spec)
            for attempt in range(self.retries + 1):
                outcome, error = self._one(task, inputs[task.representation])
                if error is None or not error.startswith("CellTimeout") or attempt == self.retries:
                    break
            if outcome is not None:
                self.stall.finished(outcome.seconds)
            finished(task.spec, outcome, error)

    def _one(self, task: Task, inputs: CellInputs) -> tuple[CellOutcome | None, str | None]:
        """One attempt, under the time limit (SIGALRM) and the stall watch (a timer thread)."""
        begun = time.monotonic()
        watch = threading.Timer(self.stall.after, lambda: self.stall.check(task.spec, time.monotonic() - begun))
        watch.daemon = True
        watch.start()
        previous = None
        if self.cell_timeout is not None:
            def expire(signum, frame):
                raise CellTimeout()

            previous = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, self.cell_timeout)
        try:
            return run_task(task, inputs, self.device)
        except CellTimeout:
            return None, _timed_out(task.spec, self.cell_timeout or 0, "stopped in this process")
        finally:
            watch.cancel()
            if self.cell_timeout is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    def describe(self) -> dict[str, Any]:
        return {"executor": "serial", "device": self.device, "cell_timeout": self.cell_timeout}


# -- local worker processes --------------------------------------------------------------------------
def _exit_when_orphaned(driver_pid: int, heartbeat=None, interval: float = 1.0) -> None:
    """A worker whose driver died (killed, crashed) stops at once instead of training for nobody. The same
    thread beats the worker's heartbeat (a shared timestamp) every `interval` seconds."""

    def watch() -> None:
        while True:
            if heartbeat is not None:
                heartbeat.value = time.time()
            time.sleep(interval)
            if os.getppid() != driver_pid:
                os._exit(1)  # no cleanup: the results queue has no reader left

    threading.Thread(target=watch, name="mebench-orphan-watch", daemon=True).start()


def _worker_main(index: int, placement: Placement, inputs: dict[str, CellInputs], tasks, results,
                 driver_pid: int, heartbeat=None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _exit_when_orphaned(driver_pid, heartbeat)
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

    def __init__(self, slots: list[Placement], retries: int = 1, cell_timeout: float | None = None,
                 heartbeat_timeout: float = HEARTBEAT_TIMEOUT, stall_after: float = STALL_AFTER):
        self.slots = slots
        self.retries = retries
        self.cell_timeout = cell_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.stall = StallWatch(stall_after)

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": len(self.slots), "devices": [s.device for s in self.slots],
                "threads_per_worker": self.slots[0].threads, "retries": self.retries, "cell_timeout": self.cell_timeout}

    def run(self, tasks, inputs, started, finished) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        workers: dict[int, tuple[Any, Any]] = {}
        heartbeats: dict[int, Any] = {}
        since: dict[int, float] = {}  # when each worker's current task was handed to it
        kill_cause: dict[int, str] = {}  # why the driver killed a worker (a timeout, a stall)

        def spawn(i: int) -> None:
            task_queue = ctx.Queue()
            heartbeats[i] = ctx.Value("d", time.time(), lock=False)
            process = ctx.Process(target=_worker_main, args=(i, self.slots[i], inputs, task_queue, results, os.getpid(),
                                                             heartbeats[i]),
                                  name=f"mebench-worker-{i}", daemon=True)
            process.start()
            workers[i] = (process, task_queue)

        def police(i: int, process) -> None:
            """Kill a worker whose cell ran out of time or whose heartbeat stopped; its death is handled below."""
            if not process.is_alive() or i in kill_cause:
                return
            task = running.get(i)
            if task is not None and self.cell_timeout is not None and time.time() - since[i] > self.cell_timeout:
                kill_cause[i] = _timed_out(task.spec, self.cell_timeout, f"worker process {process.pid} killed")
            elif time.time() - heartbeats[i].value > self.heartbeat_timeout:
                kill_cause[i] = (f"WorkerStalled: worker process {process.pid} on {socket.gethostname()} sent no "
                                 f"heartbeat for {self.heartbeat_timeout:g} s (stopped, e.g. by SIGSTOP, or frozen); "
                                 "killed")
            else:
                if task is not None:
                    self.stall.check(task.spec, time.time() - since[i])
                return
            process.kill()
            process.join(timeout=5)

        pending = deque(tasks)
        by_key = {t.spec.key: t for t in tasks}
        running: dict[int, Task] = {}
        attempts: dict[str, int] = {}
        done: set[str] = set()

        def dispatch() -> None:
            """Hand every idle worker its next cell; the worker starts before the driver writes anything."""
            for i, (process, task_queue) in workers.items():
                if i not in running and pending and process.is_alive():
                    task = pending.popleft()
                    running[i] = task
                    since[i] = time.time()
                    task_queue.put(task)
                    started(task.spec)

        try:
            for i in range(min(len(self.slots), len(pending))):
                spawn(i)
            while pending or running:
                dispatch()
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
                    dispatch()  # the freed worker trains its next cell while this one's outcome is stored
                    if outcome is not None:
                        self.stall.finished(outcome.seconds)
                    finished(by_key[key].spec, outcome, error)
                for i, (process, _) in list(workers.items()):
                    police(i, process)
                    if process.is_alive():
                        continue
                    task = running.pop(i, None)
                    cause = kill_cause.pop(i, None)
                    if task is not None and task.spec.key not in done:
                        cause = cause or (f"WorkerDied: worker process {process.pid} on {socket.gethostname()} "
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

    def __init__(self, address: str | None, slots: list[Placement], retries: int = 1, cell_timeout: float | None = None,
                 stall_after: float = STALL_AFTER):
        self.address = address
        self.slots = slots
        self.retries = retries
        self.cell_timeout = cell_timeout
        self.stall = StallWatch(stall_after)

    def describe(self) -> dict[str, Any]:
        return {"executor": "ray", "address": self.address or "local", "max_in_flight": len(self.slots),
                "device": self.slots[0].device, "threads_per_cell": self.slots[0].threads, "retries": self.retries,
                "cell_timeout": self.cell_timeout}

    def run(self, tasks, inputs, started, finished) -> None:
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            import logging

            quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            if self.address:
                probe_ray_address(self.address)
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
        since: dict[Any, float] = {}
        timed_out: dict[Any, str] = {}
        attempts: dict[str, int] = {}
        while pending or in_flight:
            while pending and len(in_flight) < len(self.slots):
                task = pending.popleft()
                started(task.spec)
                ref = remote.remote(task, inputs_ref, "cuda" if gpu else slot.device, slot.threads)
                in_flight[ref], since[ref] = task, time.time()
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref, task in list(in_flight.items()):
                running_for = time.time() - since[ref]
                if self.cell_timeout is not None and running_for > self.cell_timeout and ref not in timed_out:
                    timed_out[ref] = _timed_out(task.spec, self.cell_timeout, "Ray task cancelled")
                    ray.cancel(ref, force=True)
                elif self.cell_timeout is None:
                    self.stall.check(task.spec, running_for)
            for ref in ready:
                task = in_flight.pop(ref)
                try:
                    outcome, error = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the worker or its node died (or was cancelled): a system failure
                    cause = timed_out.pop(ref, None) or \
                        f"WorkerDied: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    attempts[task.spec.key] = attempts.get(task.spec.key, 0) + 1
                    if attempts[task.spec.key] <= self.retries:
                        pending.appendleft(task)
                        continue
                    outcome, error = None, cause
                if outcome is not None:
                    self.stall.finished(outcome.seconds)
                finished(task.spec, outcome, error)


def probe_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """ConfigError naming `address` unless something accepts a connection there within `timeout` seconds
    (Ray itself would retry for minutes). `auto` (Ray finds the local cluster) is left to Ray."""
    target = address.split("://", 1)[1] if "://" in address else address
    if target == "auto":
        return
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--ray-address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379) or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ConfigError(f"--ray-address {address}: cannot reach a Ray cluster there within {timeout:g} s ({why}); "
                          "is its head node running (`ray start --head`)?") from None


def check_executor(name: str, device: str, workers: int | str = "auto", cells_per_gpu: int = 1, retries: int = 1,
                   ray_address: str | None = None) -> None:
    """The executor options checked before a run touches its folder (make_executor builds it later)."""
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name!r}: one of {', '.join(EXECUTORS)}")
    if retries < 0:
        raise ConfigError(f"--retries {retries}: at least 0")
    if name != "serial":
        placements(device, workers, cells_per_gpu, warn=False)
    if name == "ray":
        import_ray()
        if ray_address:
            probe_ray_address(ray_address)


def make_executor(name: str, device: str, workers: int | str = "auto", cells_per_gpu: int = 1, retries: int = 1,
                  ray_address: str | None = None, n_tasks: int | None = None,
                  cell_timeout: float | None = None) -> Executor:
    """The executor of `--executor NAME`; `auto` is a local pool when there are more cells than one worker
    takes and more than one worker to give them to, else serial."""
    check_executor(name, device, workers, cells_per_gpu, retries)  # the address was probed by check_executor
    if name == "serial":
        return SerialExecutor(device, cell_timeout, retries)
    slots = placements(device, workers, cells_per_gpu)
    if name == "ray":
        import_ray()
        return RayExecutor(ray_address, slots, retries, cell_timeout)
    if name == "auto" and (len(slots) < 2 or (n_tasks is not None and n_tasks < 2 * len(slots))):
        return SerialExecutor(device, cell_timeout, retries)
    return LocalExecutor(slots, retries, cell_timeout)


__all__ = ["EXECUTORS", "CellTimeout", "Executor", "Interrupted", "LocalExecutor", "Placement", "RayExecutor",
           "SerialExecutor", "StallWatch", "Task", "check_executor", "make_executor", "placements", "probe_ray_address"]
