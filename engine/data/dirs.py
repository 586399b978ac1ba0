"""Where the data layer keeps things on disk: the cache root.

Cache root: ``$PETSEG_CACHE`` if set, else ``$XDG_CACHE_HOME/petseg``, else ``~/.cache/petseg``;
the generated dataset, a ``--download`` without a data path and the decoded-image cache live
under it. Which dataset a run trains on is decided in ``engine.data.layout``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Root of every petseg cache (not created here)."""
    env = os.environ.get("PETSEG_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "petseg"
