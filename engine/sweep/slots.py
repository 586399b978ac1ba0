"""Where a sweep's trials run: `Slot`s, each one trial at a time.

On a GPU box: for each group of ``devices_per_trial`` listed GPUs, ``per_device`` slots, each
child seeing only its group (CUDA_VISIBLE_DEVICES). On a CPU: ``parallel`` slots sharing the
cores, each child's thread pool sized to its share (OMP_NUM_THREADS, unless the user set it).
No torch, no Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.cores import threads_env
from engine.sweep.spec import SweepSpec
from engine.train.devices_request import child_visible_devices
from engine.train.devices_request import visible_gpu_count as shell_gpu_count


@dataclass(frozen=True)
class Slot:
    """One place a trial runs: ``label`` for messages and records, ``env`` for its child."""

    label: str
    env: dict[str, str] = field(default_factory=dict)


def make_slots(spec: SweepSpec, cpu_count: int | None = None) -> list[Slot]:
    """The sweep's slots, in the order trials fill them (one per GPU group before a second)."""
    if spec.devices is not None:
        k = spec.devices_per_trial
        groups = [spec.devices[i:i + k] for i in range(0, len(spec.devices), k)]
        # the indices are the GPUs as this shell sees them (under the user's CUDA_VISIBLE_DEVICES)
        return [Slot(f"gpu{','.join(map(str, g))}#{n}", {"CUDA_VISIBLE_DEVICES": child_visible_devices(g)})
                for n in range(spec.per_device) for g in groups]
    env = threads_env(spec.parallel * spec.devices_per_trial, cpu_count)
    return [Slot(f"cpu#{n}", env) for n in range(spec.parallel)]


def cpu_slots_warning(spec: SweepSpec, cores: int | None = None, gpus: int | None = None) -> str:
    """Why ``--parallel`` trials on the CPU will all be slow, or "": more training processes at once
    than the cores this process may use (`engine.cores.available_cores`) time-slice them (each
    child gets one thread, `threads_env`). Said, not refused: the user may want the spread of a
    search more than its speed (as --workers above the cores is capped with a word, not refused).
    Not on a GPU box: ``--devices`` places trials on GPUs, and without it a trial's ``auto`` device
    is a GPU whenever one is seen (``gpus``: their count, NVML's; None: asked)."""
    from engine.cores import available_cores

    if spec.devices is not None:
        return ""
    if spec.base.get("device") != "cpu" and (gpus if gpus is not None else visible_gpu_count()) > 0:
        return ""
    cores = cores if cores is not None else available_cores()
    processes = min(spec.parallel, spec.trials) * spec.devices_per_trial  # never more trials at once than trials
    if processes <= cores:
        return ""
    what = (f"--parallel {spec.parallel}" if spec.devices_per_trial == 1 else
            f"--parallel {spec.parallel} x --devices_per_trial {spec.devices_per_trial}")
    most = max(1, cores // spec.devices_per_trial)
    return (f"{what}: {processes} training processes at once on the {cores} CPU cores available here time-slice "
            f"them, so every trial trains slowly; --parallel {most} gives each one a core")


def draft_slots_warning(settings: dict[str, Any], cores: int | None = None, gpus: int | None = None) -> str:
    """`cpu_slots_warning` for a sweep's settings (as `engine.sweep.spec_build.build_spec` takes
    them) before the whole spec is checked: the TUI's sweep form as it is typed, its name maybe
    still blank. "" while the numbers it reads are not valid yet (the check at start says why)."""
    numbers = {key: settings[key] for key in ("trials", "parallel", "devices_per_trial") if settings.get(key) is not None}
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in numbers.values()):
        return ""
    # only whether the trials are placed on GPUs matters to the rule, not which ones
    devices = None if settings.get("devices") in (None, "") else (0,)
    spec = SweepSpec(name="", params=(), devices=devices, base=dict(settings.get("base") or {}), **numbers)
    return cpu_slots_warning(spec, cores, gpus)


def visible_gpu_count() -> int:
    """How many GPUs a sweep may list (``--devices 0,1``): the ones this shell sees, NVML's count
    with the user's ``CUDA_VISIBLE_DEVICES`` honoured (`engine.train.devices_request.visible_gpu_count`,
    the one owner); 0 without a GPU or its driver. It counted the machine's GPUs: under
    ``CUDA_VISIBLE_DEVICES=4,5`` a ``--devices 0,1,2,3`` was accepted and trials ran on GPUs the
    user had kept out."""
    return shell_gpu_count()
