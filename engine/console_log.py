"""A run's console kept in its run folder (``train.log``, named in `engine.runs.layout`), however
the run was started: ``petseg train`` in a terminal, a detached launch from the TUI, a rank 0 of
``--devices N`` or ``torchrun``, a trainer in the TUI's own process.

* `ConsoleLog`: the file, appended as lines come, **bounded**: past `MAX_BYTES` it becomes
  ``train.log.1`` (replacing the older one) and a new ``train.log`` starts, so a run keeps at
  most twice that. Writing never raises: a full disk loses log lines, never the run.
* `CapturedConsole`: what ``petseg train`` prints with. Each line goes to the log file FIRST,
  then to the terminal; a terminal that breaks (closed tmux pane, EPIPE) is dropped and
  training carries on. Lines printed before the run folder exists are held and written when
  it does (`attach`). In ``petseg train`` the terminal is written by a thread of its own
  (`engine.cli.terminal_queue`): one that stops reading gets "… N lines not shown; see
  …/train.log" (`CapturedConsole.say_dropped`) and never holds training up.
* `CapturedConsole.stderr`: ``sys.stderr`` teed the same way while the run trains, so warnings
  and the tracebacks Python prints land in the log too.
* `RunLogConsole`: the console of a trainer with no terminal (the TUI's own process): its lines
  go to the log alone.
* `append_to_run_log`: a note written to a run's log without printing it (a crash's traceback:
  in the log and ``error.log``, never in the user's face).
* `logged_error`: the last ``petseg: error:`` line of a run's log, for a caller that started the
  run detached (a sweep): a run refused before its folder was settled said why there alone.

A detached launch (`engine.train.launch`) already points the child's stdout and stderr at
``train.log`` (so that an error before the run folder is settled is kept too); the child sees
that its stdout IS the log and writes each line once, through the bounded `ConsoleLog`.

No torch, no rich import here.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, TextIO

from engine.errors import PetsegError
from engine.runs.layout import LOG_BACKUP, LOG_FILE, open_run_file

MAX_BYTES = 2 * 1024 * 1024  # per file; with train.log.1 a run keeps at most 4 MiB of console
PENDING_LINES = 500  # lines held before the run folder exists
_MARKUP = re.compile(r"\[/?(?:bold|yellow|red|dim|green|magenta|italic)?\]")


def log_path(run_path: str | Path) -> Path:
    return Path(run_path) / LOG_FILE


class ConsoleLog:
    """Appends text to ``path`` (bounded, thread-safe, never raises)."""

    def __init__(self, path: str | Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.error = ""
        self._lock = threading.Lock()
        self._fh: TextIO | None = None
        self._writing = threading.local()  # .held: what this thread writes now, and what came meanwhile

    def write(self, text: str) -> None:
        if not text:
            return
        # A write can come while this same thread is inside one, the lock held: the garbage
        # collector runs a __del__ anywhere, and Python prints what it raised ("Exception ignored
        # in ...") on sys.stderr, which is this log's tee. Waited for, the lock was never let go
        # (the training thread froze); the text is written once the line it interrupted is.
        held: list[str] | None = getattr(self._writing, "held", None)
        if held is not None:
            held.append(text)
            return
        self._writing.held = held = [text]
        try:
            with self._lock:
                while held:
                    self._write_locked(held.pop(0))
        finally:
            self._writing.held = None

    def _write_locked(self, text: str) -> None:
        try:
            if self._fh is None:
                self._fh = self._open()
            self._fh.write(text)
            self._fh.flush()
            if os.fstat(self._fh.fileno()).st_size > self.max_bytes:
                self._rotate()
        except PetsegError as exc:  # not a file to write (a FIFO, a symlink out of the run): the run goes on
            self.error = str(exc)
            self._close()
        except (OSError, ValueError) as exc:  # a full disk, a closed file: the run goes on
            self.error = f"{self.path}: {getattr(exc, 'strerror', None) or exc}"
            self._close()

    def _open(self) -> TextIO:
        """The log opened to append, as any file of the run folder (`open_run_file`): a FIFO
        planted under its name hung the run at its first line, a symlink out of it was written through."""
        return io.TextIOWrapper(open_run_file(self.path, mode="ab"), encoding="utf-8", errors="replace")

    def _rotate(self) -> None:
        self._close()
        os.replace(self.path, self.path.with_name(LOG_BACKUP))
        self._fh = self._open()  # never a moment without the file

    def _close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError, ValueError):
                fh.close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def is_stream(self, stream: Any) -> bool:
        """Is ``stream`` this very file (a detached child's stdout)?"""
        try:
            return os.path.samestat(os.fstat(stream.fileno()), os.stat(self.path))
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            return False


class Tee(io.TextIOBase):
    """A text stream that writes to a `ConsoleLog` first, then to ``stream`` (None: the log only).
    A failing ``stream`` is dropped, never raised."""

    def __init__(self, log: ConsoleLog, stream: TextIO | None) -> None:
        super().__init__()
        self.log, self.stream = log, stream

    def write(self, text: str) -> int:
        self.log.write(text)
        self._to_stream(lambda s: s.write(text))
        return len(text)

    def flush(self) -> None:
        self._to_stream(lambda s: s.flush())

    def _to_stream(self, act: Any) -> None:
        if self.stream is not None:
            try:
                act(self.stream)
            except Exception:  # a closed terminal (EPIPE, EIO) must never stop training
                self.stream = None

    def isatty(self) -> bool:
        try:
            return self.stream is not None and self.stream.isatty()
        except Exception:
            return False

    def fileno(self) -> int:
        if self.stream is None:
            raise io.UnsupportedOperation("fileno")
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"


def escape_markup(text: object) -> str:
    """``text`` as rich shows it literally inside a ``markup=True`` line (a path with "[old]" in
    it); unchanged without rich, whose `PlainConsole` drops only petseg's own tags."""
    try:
        from rich.markup import escape
    except ImportError:
        return str(text)
    return escape(str(text))


def plain(text: object, markup: bool = False) -> str:
    """The text a console line shows: as written, or without rich markup for ``markup``."""
    if not markup or not isinstance(text, str):
        return str(text)
    try:
        from rich.text import Text

        return Text.from_markup(text, emoji=False).plain  # as the console shows it: no emoji codes
    except Exception:  # rich missing, or brackets that are not markup
        return _MARKUP.sub("", text)


def console_line(text: object, kw: dict[str, Any]) -> str:
    """The log line a console's ``print(text, **kw)`` writes: the text as written (its markup
    dropped where the call asks for markup, ``markup=True``, as petseg's consoles do) and its ``end``."""
    return plain(text, kw.get("markup", False)) + kw.get("end", "\n")


class CapturedConsole:
    """Wraps the console ``petseg train`` prints with (a rich Console or `PlainConsole`): every
    ``print`` goes to the run's log first, then to the console; everything else is the console's."""

    def __init__(self, console: Any) -> None:
        self.inner = console
        self.log: ConsoleLog | None = None
        self._pending: list[str] = []
        self._terminal_ok = True
        self._to_terminal = True
        self._log_error_said = False

    def __getattr__(self, name: str) -> Any:  # is_terminal, width, ...: the wrapped console's
        return getattr(self.inner, name)

    def attach(self, run_path: str | Path) -> "CapturedConsole":
        """From now on lines go to ``run_path``'s log; the lines held so far are written first
        (unless stdout is that log already: a detached child, whose lines are in it)."""
        if self.log is not None:
            return self
        self.log = ConsoleLog(log_path(run_path))
        if self.log.is_stream(sys.stdout):
            self._to_terminal = False  # the "terminal" is the log itself: one copy of each line
        else:
            self.log.write("".join(self._pending))
        self._pending = []
        self._say_log_error()
        return self

    def print(self, text: object = "", **kw: Any) -> None:
        line = console_line(text, kw)
        if self.log is not None:
            self.log.write(line)
        elif len(self._pending) < PENDING_LINES:
            self._pending.append(line)
        if self._to_terminal and self._terminal_ok:
            try:
                self.inner.print(text, **kw)
            except Exception:  # a closed terminal: the log still gets every line
                self._terminal_ok = False
        self._say_log_error()

    def _say_log_error(self) -> None:
        """Once, on the terminal: the log lost a line (a full disk, a FIFO or a symlink out of the
        run where train.log should be), so it is not the whole console."""
        if self.log is None or not self.log.error or self._log_error_said:
            return
        self._log_error_said = True
        if self._to_terminal and self._terminal_ok:
            with contextlib.suppress(Exception):
                self.inner.print(f"warning: {self.log.error}; this run's console is not kept there", markup=False)

    def say_dropped(self, count: int) -> None:
        """On the terminal alone: lines it did not take (it stopped reading) are in the log."""
        from engine.words import counted

        where = f"; see {self.log.path}" if self.log is not None else ""  # else they go there at `attach`
        if self._to_terminal and self._terminal_ok:
            self.inner.print(f"… {counted(count, 'line')} not shown{where}", markup=False)

    def error_line(self, text: str) -> None:
        """A line for stderr (the run's final error), logged first; call it outside `stderr`."""
        if self.log is not None:
            self.log.write(text + "\n")
        if self._to_terminal:
            with contextlib.suppress(Exception):
                print(text, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def stderr(self) -> Iterator[None]:
        """``sys.stderr`` teed into the log (nothing new if it already is, or before `attach`)."""
        current = sys.stderr
        if self.log is None or (isinstance(current, Tee) and current.log is self.log):
            yield
            return
        tee = Tee(self.log, current if self._to_terminal else None)
        sys.stderr = tee
        try:
            yield
        finally:
            if sys.stderr is tee:
                sys.stderr = current

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


class RunLogConsole:
    """The console of a run with no terminal (a trainer in the TUI's own process): what is printed
    to it goes to the run's log only, as a detached run's lines do."""

    is_terminal = False

    def __init__(self, run_path: str | Path) -> None:
        self.log = ConsoleLog(log_path(run_path))

    def print(self, text: object = "", **kw: Any) -> None:
        self.log.write(console_line(text, kw))

    def close(self) -> None:
        self.log.close()


def append_to_run_log(run_path: str | Path, text: str) -> None:
    """Add ``text`` to a run's console log without printing it (never raises)."""
    if not text.endswith("\n"):
        text += "\n"
    log = ConsoleLog(log_path(run_path))
    log.write(text)
    log.close()


ERROR_PREFIX = "petseg: error:"  # how a command's one-line error starts (`engine.cli.common.error_prefix`)
_ERROR_TAIL_BYTES = 16384


def logged_error(run_path: str | Path) -> str:
    """The last ``petseg: error: ...`` line of the run's log, without the prefix; "" if none (or
    the log cannot be read). Only the log's tail is read, as an untrusted run-folder file."""
    try:
        with open_run_file(log_path(run_path)) as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - _ERROR_TAIL_BYTES))
            text = fh.read(_ERROR_TAIL_BYTES).decode("utf-8", "replace")
    except (OSError, PetsegError):
        return ""
    for line in reversed(text.splitlines()):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX):].strip()
    return ""
