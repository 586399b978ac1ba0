"""`PreviewPanel`: a run's epoch previews on the live screen.

The trainer writes the predicted masks of four fixed validation images every few seconds
(``engine.train.previews``); the panel shows one epoch of them: each photo with the predicted pet
tinted red and the true outline in green, with each image's Dice in the header. The screen
chooses the epoch (`[`/`]`); the picture is composed from the PNG files in a thread worker and
handed to an `ImageView`, which sends it to the terminal only when it changed. The four images
are a row of four in a wide panel and 2x2 in a tall one, laid out again when the panel is resized.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual.worker import get_current_worker

from engine.errors import PetsegError
from engine.runs.epoch_progress import EpochProgress
from engine.train.previews import Previews
from petseg_tui.format import packed_lines
from petseg_tui.widgets.image_view import ImageView

HEADER_MAX_ROWS = 3  # the header wraps to at most this many rows


def preview_header(previews: Previews | None, epoch: int | None, following: bool, error: str = "",
                   progress: EpochProgress | None = None, width: int = 0) -> Text:
    """The panel's header: which epoch of the run (``progress``: its budget) the predictions are
    of, and, when an older one is chosen, where it stands among the epochs kept ("preview 2 of 5").

    ``width``: the header's width in cells (0: not known, one line). Its parts (the epoch shown,
    the Dice, the colours' legend) each stay whole on a line, the lines broken between them:
    wrapped at its spaces, half of an 80-column screen read "epoch 15 of 300 · newest" over
    "preview". Where that takes more than `HEADER_MAX_ROWS` rows, the panel's name goes (the
    legend says what the pictures show)."""
    title = Text("Predictions", style="bold")
    if error:
        return Text.assemble(title, ("  " + error, "red"))
    if previews is None or not previews.epochs or epoch is None:
        return Text.assemble(title, ("  none yet: the trainer writes them after each validation", "dim"))
    numbers = [e.epoch for e in previews.epochs]
    # the previews kept are counted apart from the run's epochs, in words: "(15/15, newest)"
    # beside the epoch row's "15/300 done" read as a second count of the same epochs
    where = "newest preview" if following else f"preview {numbers.index(epoch) + 1} of {len(numbers)}"
    parts = [Text.assemble(((progress or EpochProgress(0, 0)).of_total(epoch), "bold"), (f" · {where}", "dim"))]
    entry = previews.epoch(epoch)
    if entry is not None and entry.dice:
        parts.append(Text("Dice " + " ".join(f"{d:.2f}" for d in entry.dice)))
    parts.append(Text.assemble(("red", "bold red"), (" predicted · ", "dim"), ("green", "bold green"),
                               (" true", "dim")))
    header = packed_lines([title, *parts], width)
    if width and _rows(header, width) > HEADER_MAX_ROWS:
        header = packed_lines(parts, width)
    return header


def _rows(text: Text, width: int) -> int:
    """The rows ``text`` takes at ``width`` (a line longer than it: as if wrapped anywhere)."""
    return sum(max(1, -(-line.cell_len // width)) for line in text.split("\n"))


def in_run_words(message: str, run_path: Path) -> str:
    """A preview's error with its file named inside the run ("previews/epoch_0002.png: …"): the
    panel's header has three rows of half the screen, and at 80 columns the run folder's path
    took them, the problem ("unreadable preview (image file is truncated)") cut off. The run is
    named in the screen's title."""
    return message.replace(f"{run_path}{os.sep}", "", 1)


class PreviewPanel(Vertical):
    """One epoch of a run's previews; `show` says which."""

    DEFAULT_CSS = f"""
    PreviewPanel {{ height: 1fr; min-width: 24; }}
    PreviewPanel > .previews--header {{ height: auto; max-height: {HEADER_MAX_ROWS}; padding: 0 1; }}
    PreviewPanel > ImageView {{ height: 1fr; border: none; }}
    """

    def __init__(self, *, mode: str = "halfcell", id: str | None = None) -> None:
        super().__init__(id=id)
        self._mode = mode
        self._shown: tuple[Any, ...] | None = None  # (folder, epoch, file, columns) on screen
        self._args: tuple[Any, ...] | None = None  # the last `show` call, redone on resize
        self._header: tuple[Any, ...] | None = None  # (the `show` args, width) of the header shown
        self._header_rows: int | None = None  # the header's height in rows for the text shown

    def compose(self) -> ComposeResult:
        yield Static(preview_header(None, None, True), classes="previews--header")
        yield ImageView("", mode=self._mode, hint="no previews yet")

    @property
    def view(self) -> ImageView:
        return self.query_one(ImageView)

    def set_mode(self, mode: str) -> None:
        self._mode = mode
        self.view.set_mode(mode)

    def on_resize(self) -> None:
        self._header_rows = None  # the header wraps anew at the new width
        if self._args is not None:
            self.show(*self._args)

    def _set_header(self) -> None:
        """The header's text for the last `show` at the header's width, made again only when one
        of them changed; the screen is laid out again only if its height changes (a layout
        re-renders every widget on the screen, and the header changes every epoch)."""
        header = self.query_one(".previews--header", Static)
        width = header.content_size.width
        if self._args is None or (self._args, width) == self._header:
            return
        self._header = (self._args, width)
        text = preview_header(*self._args, width=width)
        rows = min(HEADER_MAX_ROWS, len(text.wrap(self.app.console, width))) if width > 0 else None
        header.update(text, layout=rows is None or rows != self._header_rows)
        self._header_rows = rows

    def show(self, previews: Previews | None, epoch: int | None, following: bool, error: str = "",
             progress: EpochProgress | None = None) -> None:
        self._args = (previews, epoch, following, error, progress)
        self._set_header()
        entry = previews.epoch(epoch) if previews is not None and epoch is not None else None
        if previews is None or entry is None:
            self._shown = None
            self.view.set_hint(error or "no previews yet")
            self.view.set_image(None)
            return
        # four images: 2x2 in a tall panel, a row of four in a wide one (a cell is ~2x as tall as wide)
        size = self.view.content_size
        columns = len(previews.names) if size.width >= 4 * size.height else 2
        key = (previews.folder, entry.epoch, entry.file, columns)
        if key != self._shown:
            self._shown = key
            self._draw_grid(previews, entry.epoch, columns)

    @work(thread=True, exclusive=True, group="previews", exit_on_error=False)
    def _draw_grid(self, previews: Previews, epoch: int, columns: int) -> None:
        worker = get_current_worker()
        try:
            image = previews.grid(epoch, columns=columns)
        except PetsegError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, in_run_words(str(exc), previews.folder.parent))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self.view.set_image, image)

    def _failed(self, message: str) -> None:
        self._shown = self._header = None
        self.query_one(".previews--header", Static).update(preview_header(None, None, True, message))
        self.view.set_image(None)
        self.view.set_hint(message)
