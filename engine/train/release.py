"""Letting go of a `Training` when its run ends, before the terminal event: pending checkpoint
writes finished, DataLoader worker processes and pin-memory threads stopped, the preview writer
finished, the model, its EMA, the optimiser and device-resident data dropped, the CUDA cache
emptied. Never raises (a problem is logged): the run must still reach its end."""

from __future__ import annotations

from typing import Any, Callable

import torch


def release_training(t: Any, log: Callable[[str], None], emit_saved: Callable[[Any], None]) -> None:
    """Stop what the `Training` ``t`` runs besides the model; ``emit_saved(saver)`` reports the
    checkpoints written meanwhile. The caller then drops ``t`` and calls `free_device`."""
    from engine.data.loaders import shutdown_loader

    t.saver.close()
    try:
        t.saver.raise_error()
    except Exception as exc:
        log(f"warning: {exc}")
    emit_saved(t.saver)
    for name, loader in (("train loader", t.train_loader), ("valid loader", t.valid_loader)):
        try:
            shutdown_loader(loader)
        except Exception as exc:  # pragma: no cover - torch internals
            log(f"warning: could not stop the {name}'s workers: {exc}")
    t.previews.close()  # its writer thread finishes the last epoch's preview, then ends
    try:
        if t.compile_mode != "off":
            torch.compiler.reset()  # compiled graphs (and CUDA graph pools) hold device memory
    except Exception as exc:  # pragma: no cover - a broken device must not hide the run's end
        log(f"warning: releasing the device: {exc}")


def free_device(device: torch.device, log: Callable[[str], None]) -> None:
    """Empty the CUDA cache, once the model, EMA, optimiser and device-resident data are dropped."""
    try:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
    except Exception as exc:  # pragma: no cover - a broken device must not hide the run's end
        log(f"warning: releasing the device: {exc}")
