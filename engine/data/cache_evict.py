"""What the decoded-image cache lets go, so that ``decoded/`` does not grow without bound.

An entry (``KEY.json`` + ``KEY-images.npy`` + ``KEY-trimaps.npy``, see `engine.data.cache`) is
removed after a new entry has been written when

* it is of an older cache format (its JSON has no ``"v"`` or a smaller one): no petseg of this
  version or later reads it again;
* it holds the same split of the same dataset folder at the same size as the new entry, under
  another key: a photo or trimap changed since (the key covers each file's size and mtime), so
  it can only be hit again if every changed file got its old bytes and mtime back;
* the cache is over its budget (``$PETSEG_CACHE_MAX_GB``, default `DEFAULT_BUDGET_GB`): the
  least recently used entries go first (a hit touches the entry's JSON), never the new entry.

Removing an entry another process has open is safe on the platforms petseg trains on: a memory
map keeps the unlinked file's pages, and a process about to open it finds it gone and decodes
the split again. Nothing here raises: a file that cannot be removed or read is left alone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_BUDGET_GB = 20.0  # ten times the whole dataset at 256 px (~1.9 GB)
BUDGET_ENV = "PETSEG_CACHE_MAX_GB"
_ENTRY_JSON = re.compile(r"^([0-9a-f]{32})\.json$")
MAX_META_BYTES = 64 << 20  # an entry's JSON beyond this is not ours: never read into memory


@dataclass(frozen=True)
class CachedEntry:
    """One complete entry on disk: its key, bytes, last use and what it holds (its JSON)."""

    key: str
    nbytes: int
    last_used: float
    meta: dict[str, Any]

    def paths(self, folder: Path) -> list[Path]:
        return [folder / f"{self.key}-images.npy", folder / f"{self.key}-trimaps.npy", folder / f"{self.key}.json"]


def budget_bytes() -> int | None:
    """The cache's budget from ``$PETSEG_CACHE_MAX_GB`` (unset or not a number: the default;
    ``off`` or a negative number: no budget; 0: only the entry just written is kept)."""
    text = os.environ.get(BUDGET_ENV, "").strip().lower()
    if text == "off":
        return None
    try:
        gb = float(text) if text else DEFAULT_BUDGET_GB
    except ValueError:
        gb = DEFAULT_BUDGET_GB
    return None if gb < 0 else int(gb * (1 << 30))


def mark_used(folder: Path, key: str) -> None:
    """Record that entry ``key`` was just read (its JSON's mtime: atime is often not kept)."""
    try:
        os.utime(folder / f"{key}.json")
    except OSError:
        pass  # a read-only cache still serves hits


def list_entries(folder: Path) -> list[CachedEntry]:
    """The complete entries in ``folder`` (an entry's JSON is written last)."""
    import json

    out = []
    try:
        names = os.listdir(folder)
    except OSError:
        return out
    for name in names:
        match = _ENTRY_JSON.match(name)
        if match is None:
            continue
        key = match.group(1)
        try:
            st = (folder / name).stat()
            meta = json.loads((folder / name).read_text(encoding="utf-8")) if st.st_size <= MAX_META_BYTES else {}
            nbytes = st.st_size + sum(_size(folder / f"{key}-{part}.npy") for part in ("images", "trimaps"))
        except (OSError, ValueError):
            continue
        out.append(CachedEntry(key, nbytes, st.st_mtime, meta if isinstance(meta, dict) else {}))
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def evict(folder: Path, new_key: str, new_meta: dict[str, Any], format_version: int,
          budget: int | None = None) -> list[str]:
    """Remove what the module docstring lists after entry ``new_key`` (JSON ``new_meta``) was
    written; returns the keys removed. ``budget``: bytes (default `budget_bytes`)."""
    budget = budget_bytes() if budget is None else budget
    entries = [e for e in list_entries(folder) if e.key != new_key]
    identity = _identity(new_meta)
    removed: list[str] = []
    kept: list[CachedEntry] = []
    for entry in entries:
        version = entry.meta.get("v")
        old_format = not isinstance(version, int) or version < format_version
        superseded = identity is not None and _identity(entry.meta) == identity
        if old_format or superseded:
            _remove(folder, entry)
            removed.append(entry.key)
        else:
            kept.append(entry)
    if budget is not None:
        total = sum(e.nbytes for e in kept) + sum(_size(p) for p in CachedEntry(new_key, 0, 0, {}).paths(folder))
        for entry in sorted(kept, key=lambda e: e.last_used):
            if total <= budget:
                break
            _remove(folder, entry)
            removed.append(entry.key)
            total -= entry.nbytes
    return removed


def _identity(meta: dict[str, Any]) -> tuple[Any, ...] | None:
    """What an entry holds regardless of its files' dates: folder, split and size."""
    if not all(k in meta for k in ("root", "split", "size")):
        return None
    return meta["root"], meta["split"], meta["size"]


def _remove(folder: Path, entry: CachedEntry) -> None:
    # the JSON first: an entry without it is already ignored by every reader
    for path in reversed(entry.paths(folder)):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            return
