"""`CheckpointSaver`: checkpoints written by one background thread, so training never waits on a disk.

On a GPU writing ``last.pt`` took longer than a short epoch (docs/PERFORMANCE.md, "What changed
for the GPU path"). Here the trainer only takes a `snapshot` (every tensor
cloned where it lives: a few ms on a GPU, a memory copy on a CPU), hands it over and trains on;
the saver thread copies it to the host and writes it with the same atomic temp-file + rename
as before (`engine.checkpoint.save_checkpoint`).

* Never two writes at once: one thread writes one file at a time.
* Newest wins: a snapshot submitted for a path whose previous snapshot is still waiting
  replaces it (the older state would be overwritten at once anyway); the one being written
  is finished first. So at most two snapshots per path are alive.
* Errors (a full disk) are kept and raised in the trainer's thread by the next `submit`,
  `raise_error` or `wait`, so the run fails with the usual one-line message.
* `completed` hands back what was written since the last call, for the trainer to emit
  ``CheckpointSaved`` from its own thread (events stay in one writer's order).

On CUDA the copy to the host runs on a side stream after an event recorded behind the clone,
so it overlaps the next training steps instead of queueing behind them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.checkpoint import save_checkpoint


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``obj`` (nested dicts/lists/tuples of tensors and primitives) with ``fn`` applied to each
    tensor; a dict keeps its class and the ``_metadata`` (state_dict versions) that
    load_state_dict reads."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        out = obj.__class__((k, map_tensors(v, fn)) for k, v in obj.items())
        meta = getattr(obj, "_metadata", None)
        if meta is not None:
            out._metadata = meta
        return out
    if isinstance(obj, (list, tuple)):
        return obj.__class__(map_tensors(v, fn) for v in obj)
    return obj


def snapshot(obj: Any) -> Any:
    """A copy of ``obj`` that later in-place updates of the originals cannot change: every tensor
    detached and cloned where it lives."""
    return map_tensors(obj, lambda t: t.detach().clone())


def _to_host(obj: Any) -> Any:
    return map_tensors(obj, lambda t: t.cpu() if t.device.type != "cpu" else t)


def _cuda_devices(obj: Any, found: set[torch.device]) -> set[torch.device]:
    if isinstance(obj, torch.Tensor):
        if obj.device.type == "cuda":
            found.add(obj.device)
    elif isinstance(obj, dict):
        for v in obj.values():
            _cuda_devices(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _cuda_devices(v, found)
    return found


@dataclass
class SavedCheckpoint:
    """One finished write: the caller's ``info``, and how long the trainer thread spent taking
    the snapshot and the saver thread spent writing it."""

    path: Path
    info: Any
    snapshot_seconds: float
    write_seconds: float


@dataclass
class _Job:
    path: Path
    state: dict[str, Any]
    info: Any
    snapshot_seconds: float
    ready: Any  # torch.cuda.Event recorded after the clones, or None


class CheckpointSaver:
    """The background writer (see the module docstring). Use `close` when done."""

    def __init__(self, name: str = "checkpoint-saver") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._pending: OrderedDict[Path, _Job] = OrderedDict()
        self._done: list[SavedCheckpoint] = []
        self._busy = False
        self._error: BaseException | None = None
        self._closing = False
        self._thread: threading.Thread | None = None
        self._streams: dict[torch.device, Any] = {}

    # ---- the trainer's side ---------------------------------------------------------------------
    def submit(self, path: str | Path, state: dict[str, Any], info: Any = None) -> float:
        """Snapshot ``state`` now and queue it for ``path``; returns the snapshot's seconds."""
        self.raise_error()
        t0 = time.perf_counter()
        snap = snapshot(state)
        ready = None
        devices = _cuda_devices(snap, set())
        if devices:
            ready = {}
            for dev in devices:
                ev = torch.cuda.Event()
                ev.record(torch.cuda.current_stream(dev))
                ready[dev] = ev
        seconds = time.perf_counter() - t0
        path = Path(path)
        with self._cond:
            if self._closing:
                raise RuntimeError("CheckpointSaver is closed")
            self._pending.pop(path, None)  # newest wins; re-queued at the end, behind older paths
            self._pending[path] = _Job(path, snap, info, seconds, ready)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return seconds

    def raise_error(self) -> None:
        """Raise (once) the error of a failed write, if any."""
        with self._cond:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def completed(self) -> list[SavedCheckpoint]:
        """The writes finished since the last call, in the order they finished."""
        with self._cond:
            done, self._done = self._done, []
        return done

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._busy

    def wait(self, timeout: float | None = None) -> bool:
        """Block until everything submitted is written (True) or ``timeout`` passes (False);
        raises the error of a failed write."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            finished = not self._pending and not self._busy
        self.raise_error()
        return finished

    def close(self) -> None:
        """Write what is pending, then stop the thread. Errors are left for `raise_error`."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # ---- the saver thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:  # closing and nothing left
                    return
                _, job = self._pending.popitem(last=False)
                self._busy = True
            try:
                t0 = time.perf_counter()
                save_checkpoint(self._host_state(job), job.path)
                saved = SavedCheckpoint(job.path, job.info, job.snapshot_seconds, time.perf_counter() - t0)
                error = None
            except BaseException as exc:  # kept for the trainer's thread
                saved, error = None, exc
            job = None  # free the snapshot before waking the trainer
            with self._cond:
                self._busy = False
                if saved is not None:
                    self._done.append(saved)
                if error is not None:
                    self._error = error
                    self._pending.clear()  # the disk is the problem; the run will fail
                self._cond.notify_all()

    def _host_state(self, job: _Job) -> dict[str, Any]:
        if not job.ready:
            return job.state
        for dev, ev in job.ready.items():
            ev.synchronize()  # the clones are complete
        dev = next(iter(job.ready))
        stream = self._streams.get(dev)
        if stream is None:
            stream = self._streams[dev] = torch.cuda.Stream(dev)
        with torch.cuda.stream(stream):  # off the training stream: overlaps the next steps
            return _to_host(job.state)
