"""Where the data layer keeps things on disk: the cache root and the shared data folders.

* cache root: ``$PETSEG_CACHE`` if set, else ``$XDG_CACHE_HOME/petseg``, else ``~/.cache/petseg``;
  the generated dataset and the decoded-image cache live under it.
* shared data: ``$PETSEG_SHARED_DATA`` if set, else ``shared/data`` beside the repository
  (the parent of the folder holding the ``engine`` package) and ``../shared/data`` of the
  working directory, in that order, those that exist.
"""

from __future__ import annotations

import os
from pathlib import Path

# engine/data/dirs.py -> engine/data -> engine -> repository root
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def cache_root() -> Path:
    """Root of every petseg cache (not created here)."""
    env = os.environ.get("PETSEG_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "petseg"


def shared_data_dirs() -> list[Path]:
    """Existing shared data folders, most specific first, without duplicates."""
    env = os.environ.get("PETSEG_SHARED_DATA")
    if env:
        candidates = [Path(env).expanduser()]
    else:
        candidates = [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    seen: list[Path] = []
    for c in candidates:
        try:
            r = c.resolve()
        except OSError:
            continue
        if r.is_dir() and r not in seen:
            seen.append(r)
    return seen
