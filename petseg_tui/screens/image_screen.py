"""`ImageScreen`: what the screens that draw pictures share (inference, worst samples): the image mode
and its ``M`` key, the red error line, and how a thread worker's failure reaches that line.

The image mode starts as the app's ``--image-mode`` (``auto`` resolved for this terminal) and ``M``
cycles through the modes this terminal can show; every `ImageView` of the screen follows it. A
failure is one line (`engine.errors.one_line`), shown on the screen's error line and, when asked, as
a notification; the screen stays usable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static
from textual.worker import Worker

from engine.errors import one_line
from petseg_tui.image_modes import in_multiplexer, next_mode, resolve_image_mode, usable_modes
from petseg_tui.screens.base import PetsegScreen
from petseg_tui.widgets.image_view import ImageView


class ImageScreen(PetsegScreen):
    """A screen of `ImageView` panes with one error line (a `Static` whose id is `ERROR_LINE`)."""

    ERROR_LINE: ClassVar[str] = ""  # selector of the Static that shows "✗ message"
    ERROR_TITLE: ClassVar[str] = ""  # title of the error's notification

    image_mode: var[str] = var("halfcell", init=False)  # how the panes draw: halfcell, sixel or kitty
    error: var[str] = var("", init=False)  # what the error line says ("" hides it)

    # ---- image mode ---------------------------------------------------------------------------
    def start_image_mode(self) -> None:
        """Draw in the app's image mode (``auto`` resolved here); call once the panes are mounted."""
        self.image_mode = resolve_image_mode(self.petseg_app.image_mode)
        for view in self.query(ImageView):
            view.set_mode(self.image_mode)

    def watch_image_mode(self, mode: str) -> None:
        """Subclasses that say the mode somewhere extend this (and call it)."""
        for view in self.query(ImageView):
            view.set_mode(mode)

    def action_cycle_mode(self) -> None:
        """The next image mode this terminal can show, or why there is none."""
        modes = usable_modes(self.petseg_app.image_mode)
        if modes == (self.image_mode,):
            where = ("inside tmux/screen, which do not pass sixel or kitty graphics through"
                     if in_multiplexer() else "this terminal answered neither the sixel nor the kitty query")
            self.notify(f"Only {self.image_mode} can be drawn here: {where}. "
                        "Start with --image-mode sixel (or kitty) to force one, e.g. with tmux allow-passthrough on.",
                        title="Image mode", timeout=8)
            return
        self.image_mode = next_mode(self.image_mode, modes)
        if self.image_mode != "halfcell" and in_multiplexer():
            self.notify(
                f"Image mode: {self.image_mode} (forced). tmux/screen drop {self.image_mode} graphics unless "
                "passthrough is on; press M to get back to halfcell if the panes stay empty.",
                severity="warning",
                timeout=6,
            )
        else:
            self.notify(f"Image mode: {self.image_mode}", timeout=2)

    # ---- the error line -----------------------------------------------------------------------
    def set_error(self, message: str, notify: bool = False) -> None:
        """Show ``message`` on the error line ("" clears it); with ``notify`` also as a notification."""
        self.error = message
        if message and notify:  # as written: a path "cat [copy].jpg" is not markup
            self.notify(message, title=self.ERROR_TITLE, severity="error", timeout=8, markup=False)

    def watch_error(self, message: str) -> None:
        line = self.query_one(self.ERROR_LINE, Static)
        line.update(Text(f"✗ {message}") if message else "")
        line.set_class(bool(message), "-shown")

    # ---- failures in thread workers -----------------------------------------------------------
    def fail_from_worker(self, worker: Worker[Any], exc: BaseException, failed: Callable[..., Any],
                         *args: Any, where: str = "") -> None:
        """From a thread worker: call ``failed(where + the exception as one line, *args)`` on the UI
        thread, unless the worker was cancelled (a newer one replaced it, or the screen went)."""
        if not worker.is_cancelled:
            self.app.call_from_thread(failed, where + one_line(exc), *args)
