"""What a run's ``config.json`` records beyond its `TrainConfig`: the software versions and argv
it started with, and what setup resolved (device, precision, data, workers, compile mode), which
a resume keeps so that it repeats an uninterrupted run."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any, Callable

import numpy as np
import torch

from engine.config import FULL_PRECISION, TrainConfig
from engine.version import petseg_version


def versions() -> dict[str, str]:
    # the installed distributions' versions, read without importing them: torchvision's models
    # and ops cost a UNet run ~0.3 s of CPU at start-up for one string
    def installed(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - both are hard dependencies
            return "?"

    return {
        "petseg": petseg_version(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": installed("torchvision"),
        "albumentations": installed("albumentations"),
        "numpy": np.__version__,
    }


def initial_record(config: TrainConfig) -> dict[str, Any]:
    """config.json as a new run is created, before setup resolves anything (and, for a trial of a
    sweep, which sweep and trial: `engine.sweep.record`)."""
    from engine.sweep.record import SWEEP_KEY, record_from_env

    sweep = record_from_env()
    return {**config.to_dict(), "versions": versions(), "argv": sys.argv, **({SWEEP_KEY: sweep} if sweep else {})}


def dtype_name(dtype: torch.dtype | None) -> str:
    """How config.json and the run's start line name a precision: bfloat16, float16, fp32."""
    return str(dtype).replace("torch.", "") if dtype is not None else FULL_PRECISION


def kept_from_record(record: dict[str, Any], key: str, *, resumed: bool, flag_given: bool,
                     device: torch.device) -> Any:
    """``record[key]`` (what a run resolved a flag to) when a resume keeps it: the same device type
    as recorded and no new flag given with --resume; else None."""
    if not resumed or flag_given:
        return None
    if str(record.get("device_resolved", "")).split(":")[0] != device.type:
        return None
    return record.get(key) or None


def resolved_record(record: dict[str, Any], t: Any, plan: Any = None,
                    log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """``record`` with what the data and the compute of the `Training` ``t`` actually were (and a
    resume's plan applied); written after a resume's restore, so one that failed changed nothing."""
    record = plan.updated_record(record) if plan is not None else dict(record)
    if plan is not None:
        for note in plan.notes():
            log(note)
    source = t.bundle.source
    record["data_source"] = {"path": str(source.path), "kind": source.kind, "description": source.description,
                             "train": len(t.bundle.train), "valid": len(t.bundle.valid)}
    record["device_resolved"] = str(t.device)
    record["amp_resolved"] = dtype_name(t.amp_dtype)
    if t.amp_probe is not None:
        record["amp_probe"] = t.amp_probe
    else:
        record.pop("amp_probe", None)  # no probe decided this precision (CUDA, an explicit --amp)
    record["workers_used"] = t.workers
    record["augment_on_resolved"] = t.augment_on
    record["compile_resolved"] = t.compile_mode
    if t.augment_on == "device":
        record["data_placement"] = t.train_loader.placement
    else:
        record.pop("data_placement", None)
    return record
