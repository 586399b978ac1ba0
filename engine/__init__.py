"""petseg engine: data, models, training, run store, evaluation and inference.

Nothing in this package draws or imports Textual. Modules that the TUI imports on its
start-up path (``config``, ``events``, ``runs``, ``errors``) must not import torch.
"""

import os

# Albumentations asks PyPI for a newer version on import (a 2 s network call, a warning
# offline); a training tool must not phone home. Set here, before any engine module can
# import it (bench scripts import engine first too). setdefault: a user may still opt in.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def __getattr__(name: str) -> str:
    """``engine.__version__``: the installed distribution's (`engine.version`), read when asked."""
    if name == "__version__":
        from engine.version import petseg_version

        return petseg_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
