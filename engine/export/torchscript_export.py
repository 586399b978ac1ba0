"""TorchScript export: ``torch.jit.trace`` of the probability network, frozen (weights inlined,
BatchNorm folded by freezing's conv-bn pass), with the petseg metadata as the extra file
`engine.export.metadata.TORCHSCRIPT_EXTRA`.

Traced, not scripted: ``torch.jit.script`` cannot compile the models (module-level stride
constants). The trace records the padding branch of `engine.models.padding` for its example, a
multiple of the stride, which is the right branch for every multiple of the stride: the parity
check runs a second size to show it (``--dynamic_size``). TorchScript is deprecated in torch
2.9+; it is here for runtimes that load it (LibTorch, PyTorch Mobile), ONNX is the main path.
"""

from __future__ import annotations

import io
import json
import warnings

from engine.errors import PetsegError, first_line
from engine.export.metadata import TORCHSCRIPT_EXTRA
from engine.export.model import LoadedModel


def export_torchscript(loaded: LoadedModel) -> bytes:
    """The saved TorchScript module of ``loaded`` (a zip), metadata included."""
    import torch

    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # deprecation and tracer notes: the parity check is the proof
            traced = torch.jit.freeze(torch.jit.trace(loaded.network, loaded.example(), check_trace=False))
            buffer = io.BytesIO()
            extra = {TORCHSCRIPT_EXTRA: json.dumps(loaded.metadata.to_props(), sort_keys=True)}
            torch.jit.save(traced, buffer, _extra_files=extra)
    except Exception as exc:
        raise PetsegError(f"{loaded.checkpoint}: the TorchScript trace failed ({type(exc).__name__}: {first_line(exc)[:200]})") from None
    return buffer.getvalue()


def load_torchscript(data: bytes):  # -> torch.jit.ScriptModule
    """A TorchScript export back from its bytes, on the CPU."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(io.BytesIO(data), map_location="cpu")
