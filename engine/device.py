"""Picking the torch device and the mixed-precision mode for a run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from engine.cores import available_cores
from engine.errors import ConfigError


def check_device_name(requested: str) -> None:
    """ConfigError (one line) unless ``requested`` is a device name `engine.config` knows: torch's
    own message for ``--device gpu`` listed 20 device types, and ONNX Runtime ran on the CPU for
    any name it did not know."""
    from engine.config import DEVICES, is_device_name

    if not is_device_name(requested):
        raise ConfigError(f"--device {requested}: not a device; use {', '.join(DEVICES)} or cuda:N")


def resolve_device(requested: str = "auto") -> torch.device:
    """``auto`` picks cuda > mps > cpu; an explicit device that is not there is a ConfigError."""
    check_device_name(requested)
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: CUDA is not available on this machine (use auto or cpu)")
    if requested.startswith("cuda:") and int(requested.split(":", 1)[1]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()  # an index past them failed inside the run ("invalid device ordinal")
        raise ConfigError(f"--device {requested}: torch sees {count} CUDA device{'s' * (count != 1)} here "
                          f"({', '.join(f'cuda:{i}' for i in range(count))})")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: MPS is not available on this machine (use auto or cpu)")
    return torch.device(requested)


def resolve_amp(requested: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32, for every case but ``auto`` on a CPU (that one is
    measured: ``engine.train.precision.cpu_autocast_dtype``; here it raises ValueError).

    CUDA: bf16 where supported, else fp16 (with a GradScaler). CPU: bf16 when asked; fp16
    autocast is not used on CPU (no GradScaler there and no speed-up). MPS: always fp32.
    """
    if requested == "off" or device.type not in ("cuda", "cpu"):
        return None
    if device.type == "cpu":
        if requested == "auto":
            raise ValueError("amp auto on a CPU is decided by engine.train.precision.cpu_autocast_dtype")
        return torch.bfloat16 if requested == "bf16" else None
    if requested == "fp16":
        return torch.float16
    if requested == "bf16" or (requested == "auto" and cuda_native_bf16(device)):
        return torch.bfloat16
    return torch.float16


def cuda_native_bf16(device: torch.device) -> bool:
    """Whether the GPU ``device`` computes in bf16 natively (compute capability 8.0 on, or ROCm).

    Not ``torch.cuda.is_bf16_supported()``: by default that is also True where bf16 is only
    emulated (a T4 or V100, where it is slower than fp16 on the tensor cores), and it asks the
    current device, not the run's (``--device cuda:1``)."""
    if torch.version.hip:
        return True
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.cuda.get_device_properties(index).major >= 8


def cap_workers(requested: int) -> tuple[int, str]:
    """(DataLoader workers to use, note or ""): at most one worker per available core.

    More workers than cores only time-slice the same cores (docs/RELIABILITY.md, "Validation
    before a run folder exists")."""
    cores = available_cores()
    if requested <= cores:
        return requested, ""
    return cores, f"--workers {requested} capped at {cores}, the number of CPU cores available here"


def leave_a_core_for_the_ui() -> None:
    """Cap torch's intra-op threads one below the cores, when a process also draws a UI.

    In-process training (and the TUI's evaluations) share the process with Textual's event loop:
    torch's threads on every core starve it (docs/PERFORMANCE.md, "Threads on a shared 2-core
    CPU")."""
    cores = available_cores()
    if cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


_benchmark_lock = threading.Lock()
_benchmark_runs = 0  # runs of this process inside `kept_cudnn_benchmark`
_benchmark_before = False  # the flag as it was before the first of them


@contextmanager
def kept_cudnn_benchmark() -> Iterator[None]:
    """A run in this process: ``torch.backends.cudnn.benchmark`` as it was before, once the last
    run that started inside this ends. A CUDA run turns cuDNN's autotuner on for training
    (`engine.train.setup`); in the TUI's own process that setting outlived the run and changed
    what the dashboard's own evaluations and inferences ran with. Counted, so that two runs
    training at once in one process never put it back under each other."""
    global _benchmark_runs, _benchmark_before
    with _benchmark_lock:
        if _benchmark_runs == 0:
            _benchmark_before = torch.backends.cudnn.benchmark
        _benchmark_runs += 1
    try:
        yield
    finally:
        with _benchmark_lock:
            _benchmark_runs -= 1
            if _benchmark_runs == 0:
                torch.backends.cudnn.benchmark = _benchmark_before
