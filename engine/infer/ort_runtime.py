"""Importing ONNX Runtime the way petseg uses it: `onnxruntime`, the one place it is imported.

ONNX Runtime (1.2x and later) starts Microsoft's 1DS telemetry client when it is imported,
and that client writes a session file, ``$TMPDIR/.ses``, which nothing removes: every
``petseg export`` or ``petseg eval`` / ``infer`` of an ``.onnx`` file left it in the user's temp
folder (a private ``TMPDIR`` per job, as on a cluster, collected one per job). petseg sends
nothing anywhere, so ``ORT_DISABLE_TELEMETRY=1`` is set before the import (unless the user set
the variable), which stops the client and its file. No torch.
"""

from __future__ import annotations

import os
from types import ModuleType

TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def onnxruntime() -> ModuleType:
    """The ``onnxruntime`` module, imported with its telemetry off (no ``$TMPDIR/.ses``)."""
    os.environ.setdefault(TELEMETRY_ENV, "1")  # read once, when the module loads
    import onnxruntime as ort

    return ort
