"""The CLI's terminal writes can never stop a command: `SafeStream` and `safe_std_streams`.

A user pipes ``petseg train … | head -4``, closes the SSH window, starts petseg with stdout or
stderr closed (``>&-``), or runs it on an ASCII-only terminal (``LANG=C``,
``PYTHONIOENCODING=ascii``). None of that may fail a run or a listing:

* a write or flush that fails (``BrokenPipeError``, ``EIO`` of a vanished terminal, a closed
  file) is dropped, and every later write to that stream is dropped too — training carries on,
  its events and checkpoints still go to the run folder;
* a character the stream cannot encode is replaced (``?``), never a ``UnicodeEncodeError``;
* a stream that was closed at start-up (``sys.stdout is None``) writes nowhere;
* a stream whose terminal stopped reading (`SafeStream.stall`: the command's writer thread,
  `engine.cli.terminal_queue`, gave up on it) takes no more writes: each would wait for good.

`safe_std_streams` installs the wrappers for the length of a command and, when stdout's pipe
broke, points file descriptor 1 at /dev/null before the interpreter's final flush, so a
listing cut short by ``head`` exits quietly (status 0, no "Exception ignored" traceback), as
Unix tools do.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator


class SafeStream:
    """A text stream whose writes never raise: see the module docstring."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.broken = stream is None
        self.stalled = False  # its terminal stopped reading: see `stall`

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, … of the real stream
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    def stall(self) -> None:
        """Its terminal stopped reading (a write to it is waiting in another thread): later writes
        are dropped, and the process must end without flushing it (``end_process(flush=False)``)."""
        self.stalled = True

    def isatty(self) -> bool:
        if self.broken:
            return False
        try:
            return bool(self._stream.isatty())
        except (OSError, ValueError, AttributeError):
            return False

    def write(self, text: str) -> int:
        if self.broken or self.stalled:
            return len(text)
        try:
            try:
                self._stream.write(text)
            except UnicodeEncodeError:
                encoding = self.encoding
                self._stream.write(text.encode(encoding, "replace").decode(encoding, "replace"))
        except (OSError, ValueError):  # broken pipe, vanished terminal, closed file
            self.broken = True
        return len(text)

    def flush(self) -> None:
        if self.broken or self.stalled:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self.broken = True


def _silence_fd(fd: int) -> None:
    """Point ``fd`` at /dev/null, so the interpreter's last flush of a broken pipe is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


@contextlib.contextmanager
def safe_std_streams() -> Iterator[tuple[SafeStream, SafeStream]]:
    """``sys.stdout`` and ``sys.stderr`` as `SafeStream` for the block, restored after it."""
    saved = sys.stdout, sys.stderr
    out = saved[0] if isinstance(saved[0], SafeStream) else SafeStream(saved[0])
    err = saved[1] if isinstance(saved[1], SafeStream) else SafeStream(saved[1])
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved
        for stream, real, fd in ((out, saved[0], 1), (err, saved[1], 2)):
            # stalled: a C-level write (a library's warning at exit) then cannot wait on it either
            if (stream.broken or stream.stalled) and real is not None and _fileno(real) == fd:
                _silence_fd(fd)


def _fileno(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None
