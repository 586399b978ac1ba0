"""Error types that carry a one-line, user-facing message naming the file and the problem.

The CLI and the TUI print ``str(error)`` of a ``PetsegError`` and nothing else (no traceback).
"""

from __future__ import annotations

from pathlib import Path


class PetsegError(Exception):
    """Base for every error we expect a user to see; ``str()`` is the one-line message."""


class BadImageError(PetsegError):
    """An image file that cannot be used (missing, not an image, truncated, unsupported)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class DatasetError(PetsegError):
    """A dataset folder that does not follow the Oxford-IIIT Pet layout or holds nothing usable."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class CheckpointError(PetsegError):
    """A checkpoint that is missing, corrupt, unsafe to unpickle, or of another architecture."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class RunStoreError(PetsegError):
    """A run folder that is missing or malformed."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ConfigError(PetsegError):
    """A training/inference option with an invalid value."""
