"""petseg engine: data, models, training, run store, evaluation and inference.

Nothing in this package draws or imports Textual. Modules that the TUI imports on its
start-up path (``config``, ``events``, ``store``, ``errors``) must not import torch.
"""

__version__ = "0.1.0"
