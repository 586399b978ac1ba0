"""``--devices``: what it asks for (a count, ``all`` or GPU indices), checked against the GPUs this
process sees, and the GPUs a process and the children it starts see (``CUDA_VISIBLE_DEVICES``).

Torch-free (NVML counts the GPUs): the TUI's new-run form lists its ``--devices`` choices from
here on the UI thread (`devices_choices`), and TrainConfig's validation asks `devices_problem`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from engine.errors import ConfigError
from engine.train.distributed import LAUNCHED_ENV


def visible_entries(visible: str | None = None) -> list[str]:
    """The entries of ``CUDA_VISIBLE_DEVICES`` (``visible``; default: the environment's), in the
    order torch numbers them: machine indices or GPU UUIDs; [] when it is not set."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    return [v.strip() for v in (visible or "").split(",") if v.strip()]


def child_visible_devices(indices: tuple[int, ...] | list[int], visible: str | None = None) -> str:
    """``CUDA_VISIBLE_DEVICES`` for a child process that is to see the GPUs torch numbers
    ``indices`` in this one: under a ``CUDA_VISIBLE_DEVICES`` of the user's, its entries at those
    positions (``--devices 0,2`` under ``3,5,6`` is GPUs 3 and 6, not the machine's 0 and 2);
    an index past the list, as it is."""
    listed = visible_entries(visible)
    return ",".join(listed[i] if i < len(listed) else str(i) for i in indices)


@dataclass(frozen=True)
class DevicesRequest:
    """What ``--devices`` asked for: a count of processes, and the GPU indices when listed."""

    count: int
    indices: tuple[int, ...] | None = None  # CUDA_VISIBLE_DEVICES for a listed set

    def __str__(self) -> str:
        return ",".join(map(str, self.indices)) + "," * (len(self.indices) == 1) if self.indices else str(self.count)


_EXPECTED = "expected a count, 'all' or GPU indices such as 0,2"


def devices_problem(spec: str) -> str:
    """What is wrong with the text of ``--devices`` whatever the machine, or "" (TrainConfig's
    validation and `parse_devices` both ask this)."""
    text = str(spec).strip().lower()
    if text == "all":
        return ""
    if "," in text:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            return "no GPU index given"
        if not all(p.isdigit() for p in parts):
            return _EXPECTED
        return "a GPU is listed twice" if len({int(p) for p in parts}) != len(parts) else ""
    if not text.isdigit():
        return _EXPECTED
    return "give at least 1 device ('0,' means GPU 0 alone)" if int(text) < 1 else ""


def parse_devices(spec: str, available: int | None, cores: int | None = None) -> DevicesRequest:
    """``--devices``, as Lightning reads it: ``N`` (N devices), ``all``, or GPU indices ``0,2``
    (``0,`` for GPU 0 alone). ``available`` is the number of CUDA devices torch sees, or None when
    the run is on the CPU: then at most one gloo process a core (``cores``, default this
    machine's), since each rank is a whole training process (~300 MB, its own threads) and a
    mistyped count must not start a hundred. ConfigError with one line otherwise."""
    problem = devices_problem(spec)
    if problem:
        raise ConfigError(f"--devices {spec}: {problem}")
    text = str(spec).strip().lower()
    where = "CUDA devices" if available is not None else ""
    cores = (os.cpu_count() or 1) if cores is None else cores
    if text == "all":
        if available is None:
            return DevicesRequest(cores)
        if available == 0:
            raise ConfigError("--devices all: torch sees no CUDA device on this machine")
        return DevicesRequest(available)
    if "," in text:
        indices = tuple(int(p) for p in text.split(",") if p.strip())
        if available is None:
            raise ConfigError(f"--devices {spec}: GPU indices need CUDA; on the CPU give a count of processes")
        bad = [i for i in indices if not 0 <= i < available]
        if bad:
            raise ConfigError(f"--devices {spec}: GPU {bad[0]} does not exist (torch sees {available} {where}: "
                              f"{', '.join(map(str, range(available))) or 'none'})")
        return DevicesRequest(len(indices), indices)
    count = int(text)
    if available is not None and count > available:
        raise ConfigError(f"--devices {spec}: torch sees only {available} {where} on this machine")
    if available is None and count > cores:
        raise ConfigError(f"--devices {spec}: on the CPU each process needs a core, and this machine has "
                          f"{cores}: give at most --devices {cores} (or all)")
    return DevicesRequest(count)


def torchrun_devices_problem(spec: str | None, env: dict[str, str] | None = None) -> str:
    """Why a ``--devices`` typed for a rank of the user's own torchrun disagrees with what torchrun
    started ("" when it agrees, was not typed, or petseg's launcher started the rank, which passes
    the user's own flag on). torchrun decides the processes: a --devices 4 under
    ``--nproc_per_node 2`` trained on 2 while config.json said 4, and a resume then started 4;
    GPU indices were never applied (each rank uses the GPU of its LOCAL_RANK)."""
    env = os.environ if env is None else env
    local = str(env.get("LOCAL_WORLD_SIZE", "")).strip()
    if spec is None or "WORLD_SIZE" not in env or env.get(LAUNCHED_ENV) or not local.isdigit():
        return ""
    text = str(spec).strip().lower()
    if text == "all" or devices_problem(text):  # "all" is what torchrun started; bad syntax is said elsewhere
        return ""
    if "," in text:
        return (f"--devices {spec}: under torchrun each rank uses the GPU of its LOCAL_RANK; choose the GPUs "
                f"with CUDA_VISIBLE_DEVICES={text.strip(',')} and leave --devices out")
    if int(text) != int(local):
        return (f"--devices {spec}: torchrun started {local} process{'es' * (local != '1')} on this node "
                f"(--nproc_per_node); give --devices {local} or leave it out")
    return ""


def visible_gpu_count() -> int:
    """The CUDA devices this process would see, counted by NVML (``nvidia-ml-py``) without
    importing torch: the machine's GPUs, as many as ``CUDA_VISIBLE_DEVICES`` lists when set;
    0 without the library or an NVIDIA driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            count = int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no library, no driver: no GPU to offer
        return 0
    if os.environ.get("CUDA_VISIBLE_DEVICES") is None:
        return count
    return min(count, len(visible_entries()))


# the most gloo processes the form offers on a machine without a GPU (a check, not a speed-up)
CPU_FORM_PROCESSES = 4


def devices_choices() -> tuple[tuple[str, ...], str]:
    """The new-run form's choices of --devices and their hint: 1..N for the N GPUs of this box;
    without a GPU, 1 and a few gloo processes on the CPU (TrainConfig's `suggest_from`)."""
    gpus = visible_gpu_count()
    if gpus:
        return tuple(str(n) for n in range(1, gpus + 1)), (
            f"{gpus} GPU{'s' * (gpus != 1)} on this box: one process each; --batch_size is per process")
    cpus = max(1, min(CPU_FORM_PROCESSES, os.cpu_count() or 1))
    return tuple(str(n) for n in range(1, cpus + 1)), "no GPU: 1, or N gloo processes on the CPU (a check, not faster)"
