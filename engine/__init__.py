"""petseg engine: data, models, training, run store, evaluation and inference.

Nothing in this package draws or imports Textual. Modules that the TUI imports on its
start-up path (``config``, ``events``, ``store``, ``errors``) must not import torch.
"""

import os

# albumentations checks PyPI for a newer version on every import (2 s offline): not wanted
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
