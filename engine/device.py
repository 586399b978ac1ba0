"""Picking the torch device and the mixed-precision mode for a run."""

from __future__ import annotations

import torch

from engine.errors import ConfigError


def resolve_device(requested: str = "auto") -> torch.device:
    """``auto`` picks cuda > mps > cpu; an explicit device that is not there is a ConfigError."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: CUDA is not available on this machine (use auto or cpu)")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: MPS is not available on this machine (use auto or cpu)")
    return torch.device(requested)


def resolve_amp(requested: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. AMP is only used on CUDA."""
    if device.type != "cuda" or requested == "off":
        if requested in ("bf16", "fp16") and device.type != "cuda":
            return None  # recorded in the run's events as fp32; CPU autocast is slower here
        return None
    if requested == "fp16":
        return torch.float16
    if requested == "bf16" or (requested == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16
