"""`LogPane`: the live screen's view of a run's console log (``train.log``, `engine.console_log`),
following the file as the run writes it, with warnings in yellow and errors and tracebacks in red.

A thread worker reads only what was appended (from the last `START_BYTES` of the file when it
opens or when it fell far behind) and starts again from the top when the log was rotated; while
the pane is hidden it reads nothing.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from pathlib import Path

from rich.text import Text
from textual import events, work
from textual.widgets import RichLog
from textual.worker import get_current_worker

from engine.errors import RunStoreError, first_line
from engine.runs.layout import LOG_FILE, RunFileMissing, open_run_file
from petseg_tui.format import on_background, theme_background

POLL_S = 0.5
START_BYTES = 64 * 1024  # what the pane shows of a long log when it opens: its end
MAX_LINES = 2000
MISSING = (f"(no {LOG_FILE} in this run folder yet; runs of an older petseg kept one only when started in the "
           "background)")
# an exception's line may name it with its module: torch.OutOfMemoryError: CUDA out of memory
_ERROR = re.compile(r"\b(error|traceback|exception|failed|killed)\b|^\s+File \"|^[\w.]*(Error|Exception)\b",
                    re.IGNORECASE)
# Python's warnings are a class name: "x.py:12: UserWarning: ...", FutureWarning, RuntimeWarning
_WARNING = re.compile(r"\b\w*warning\b|\bdiverged\b", re.IGNORECASE)
TRACEBACK = "Traceback (most recent call last)"


def line_style(line: str) -> str:
    """How a log line is drawn: errors and tracebacks red, warnings yellow."""
    if _ERROR.search(line):
        return "bold red"
    if _WARNING.search(line):
        return "yellow"
    return ""


def styled_lines(lines: list[str], in_traceback: bool = False) -> tuple[list[tuple[str, str]], bool]:
    """Each line with its style, a traceback's lines red as a whole: its code lines and carets,
    and the exception line that ends it whatever the exception is called (``KeyboardInterrupt``,
    ``engine.faults.InjectedFault: ...``). Returns the lines and whether a traceback is still open."""
    out = []
    for line in lines:
        style = line_style(line)
        if in_traceback:
            if line[:1].isspace():
                style = style or "red"
            elif line.strip():  # the exception line: the traceback ends here
                style, in_traceback = "bold red", False
        if line.startswith(TRACEBACK):
            in_traceback = True
        out.append((line, style))
    return out, in_traceback


class LogPane(RichLog):
    """Follows ``run_path``'s train.log."""

    DEFAULT_CSS = """
    LogPane { height: 1fr; min-height: 5; border-top: solid $primary-darken-2; padding: 0 1; }
    """

    def __init__(self, run_path: Path, **kwargs: object) -> None:
        # wrapped at the pane's width (`write(width=...)`): not at RichLog's min_width, 78 cells (wider than the
        # pane at 80 columns), nor at the width of the terminal Rich's console measures
        super().__init__(max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, min_width=1,
                         **kwargs)  # type: ignore[arg-type]
        self.run_path = Path(run_path)
        self.path = self.run_path / LOG_FILE
        self.border_title = LOG_FILE
        self.lines_read = 0
        self._stop = threading.Event()
        self._offset = 0
        self._ident: tuple[int, int] | None = None
        self._partial = b""
        self._in_traceback = False
        # the lines shown, as read: RichLog keeps them wrapped at the width they were written at,
        # so a resize writes them again at the new width
        self._shown: deque[tuple[str, str]] = deque(maxlen=MAX_LINES)
        self._wrapped_at = 0

    def on_mount(self) -> None:
        # a theme chosen from the palette: the lines written again in colours for its background
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self._follow()

    def _theme_changed(self, _theme: object) -> None:
        self._wrapped_at = 0  # written again, as after a resize
        self._rewrap()

    def on_unmount(self) -> None:
        self._stop.set()

    @work(thread=True, exclusive=True, group="log-pane")
    def _follow(self) -> None:
        worker = get_current_worker()
        while not (worker.is_cancelled or self._stop.is_set()):
            if self.display:
                reset, lines = self._read()
                if reset or lines:
                    try:
                        self.app.call_from_thread(self._show, reset, lines)
                    except Exception:  # the app is closing
                        return
            self._stop.wait(POLL_S)

    def _read(self) -> tuple[bool, list[str]]:
        """(start again from an empty pane, the new complete lines)."""
        try:
            st = self.path.stat()
        except OSError:
            said = self._ident == (-1, -1)
            self._ident, self._offset, self._partial = (-1, -1), 0, b""
            return (False, []) if said else (True, [MISSING])
        ident = (st.st_dev, st.st_ino)
        reset = ident != self._ident or st.st_size < self._offset
        if not reset and st.st_size == self._offset:
            return False, []
        if reset or st.st_size - self._offset > START_BYTES:
            self._ident, self._partial = ident, b""
            self._offset = max(0, st.st_size - START_BYTES)
            reset = True
        start = self._offset
        try:  # as untrusted input: a FIFO planted under the name waited for a writer for good
            with open_run_file(self.path, self.run_path) as fh:
                fh.seek(start)
                data = fh.read()
        except RunFileMissing:
            return False, []
        except RunStoreError as exc:  # not a file to read: said once, again only when it changes
            self._ident, self._offset = ident, st.st_size  # (a symlink out or a folder has a size: said every poll)
            return True, [first_line(exc)]
        except OSError:
            return False, []
        self._offset += len(data)
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        text = data[:end].decode("utf-8", "replace")
        lines = text.splitlines()
        if reset and start > 0 and lines:
            lines = lines[1:]  # started mid-file: the first line is cut
        return reset, lines

    def _show(self, reset: bool, lines: list[str]) -> None:
        if reset:
            self.clear()
            self._shown.clear()
            self._in_traceback = False
        styled, self._in_traceback = styled_lines(lines, self._in_traceback)
        self._shown.extend(styled)
        self._wrapped_at = width = self.scrollable_content_region.width
        self._write_lines(styled, width)
        self.lines_read += len(lines)

    def _write_lines(self, styled: list[tuple[str, str]], width: int, scroll_end: bool | None = None) -> None:
        """One write of many lines: one Rich render, not one per line (a resize writes them all again)."""
        if not styled:
            return
        text = Text()
        background = theme_background(self.app)  # the styles are a dark theme's (`line_style`)
        for i, (line, style) in enumerate(styled):
            if i:
                text.append("\n")
            text.append(line, style=on_background(style, background) if style else None)
        self.write(text, width=width or None, scroll_end=scroll_end)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._rewrap)  # once the new size is laid out (scrollbars too)

    def _rewrap(self) -> None:
        """Write the lines shown again, wrapped at the pane's width now (it changed)."""
        width = self.scrollable_content_region.width
        if not self._shown or width == self._wrapped_at or width <= 0:
            return
        self._wrapped_at = width
        # Reading back: scrolled into the middle. Not at 0: that is also where the pane stands before a
        # write's lazy scroll to the end has run (the first layout writes, its scrollbar resizes, again).
        back = 0 < self.scroll_y < self.max_scroll_y - 1
        fraction = self.scroll_y / self.max_scroll_y if back else 1.0
        self.clear()
        self._write_lines(list(self._shown), width, scroll_end=False)
        if back:  # about where the reader was
            self.call_after_refresh(lambda: self.scroll_to(y=round(fraction * self.max_scroll_y), animate=False))
        else:  # following the log: at its end, as each new line puts it
            self.scroll_end(animate=False, immediate=False, x_axis=False)
