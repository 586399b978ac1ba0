"""Error types that carry a one-line, user-facing message naming the file and the problem.

The CLI and the TUI print ``str(error)`` of a ``PetsegError`` and nothing else (no traceback).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PetsegError(Exception):
    """Base for every error we expect a user to see; ``str()`` is the one-line message."""


class PathError(PetsegError):
    """A problem with one file or folder: ``path`` and ``reason``, shown as ``path: reason``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class BadImageError(PathError):
    """An image file that cannot be used (missing, not an image, truncated, unsupported)."""


class DatasetError(PathError):
    """A dataset folder that does not follow the Oxford-IIIT Pet layout or holds nothing usable."""


class CheckpointError(PathError):
    """A checkpoint that is missing, corrupt, unsafe to unpickle, or of another architecture."""


class RunStoreError(PathError):
    """A run folder that is missing or malformed."""


class ConfigError(PetsegError):
    """A training/inference option with an invalid value."""


def describe_error(exc: BaseException) -> str | None:
    """A one-sentence message for an OS or text-decoding error: the path, what is wrong and
    what to do; None for any other exception (the caller falls back to its type and text)."""
    import errno

    if isinstance(exc, UnicodeDecodeError):
        return (f"a file that should be UTF-8 text is not ({exc.reason} at byte {exc.start}); "
                "re-save it as UTF-8")
    if not isinstance(exc, OSError) or not exc.filename:
        return None
    path = exc.filename
    if isinstance(exc, FileExistsError):
        return f"{path}: already exists and is in the way (a file where a folder is needed?); move it or choose another path"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied; fix its permissions or choose another location"
    if isinstance(exc, IsADirectoryError):
        return f"{path}: is a folder where a file is needed; give a file path"
    if isinstance(exc, NotADirectoryError):
        return f"{path}: part of this path is a file, not a folder; check the path"
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file or folder; check the path"
    if exc.errno == errno.ENOSPC:
        return f"{path}: no space left on the device; free some space and try again"
    if exc.errno == errno.EROFS:
        return f"{path}: the file system is read-only; choose a writable location"
    return f"{path}: {exc.strerror or exc}"


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``str(exc)``, or the exception's type name when it has no text."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def one_line(exc: BaseException) -> str:
    """What a user sees of an exception, on one line: a `PetsegError`'s own message, a sentence for
    an OS or decoding error (`describe_error`), else ``Type: first line``."""
    if isinstance(exc, PetsegError):
        return first_line(exc)
    return describe_error(exc) or f"{type(exc).__name__}: {first_line(exc)}"


_reading = threading.local()


@contextmanager
def reading_file(path: str | Path) -> Iterator[None]:
    """While this thread reads ``path``: a library's warning in that time names no file (Pillow's
    "Corrupt EXIF data. Expecting to read 12 bytes but only got 2."); the CLI shows it with
    `file_being_read`. Per thread: folder inference decodes in several at once."""
    previous = getattr(_reading, "path", None)
    _reading.path = Path(path)
    try:
        yield
    finally:
        _reading.path = previous


def file_being_read() -> Path | None:
    """The file this thread is reading inside `reading_file`, else None."""
    return getattr(_reading, "path", None)
