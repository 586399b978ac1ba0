"""`FileProxy`: a test's stand-in for an open file, which overrides only what it watches (a
read counted, a write that finds the disk full) and hands everything else to the real file."""

from __future__ import annotations

from typing import IO, Any


class FileProxy:
    """The open file ``fh`` with what a subclass overrides: every other attribute is the file's,
    and a ``with`` block closes the proxy (its own ``close`` where it has one) as it would the file."""

    def __init__(self, fh: IO[Any]) -> None:
        self._fh = fh

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> FileProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
