"""How images are drawn in the terminal: ``--image-mode auto|kitty|sixel|halfcell``.

textual-image picks a protocol when ``textual_image.renderable`` is first imported: if stdout
is a tty it writes two queries (``ESC [ c`` for sixel, a kitty graphics query) and reads the
answers from stdin with a 0.1 s timeout each, and ``textual_image.widget`` then asks for the
cell size (ioctl, else ``ESC [ 16 t``). That only works *before* Textual starts: once the app
runs, Textual's input thread owns stdin, so a late import would race it for the replies (they
would arrive in the app as stray keys) and write escapes into the middle of a frame.

So:

* `prepare_image_mode` is called by the entry point before ``App.run()``. For ``auto`` outside a
  multiplexer it lets textual-image probe the terminal and remembers the answer; in every
  other case it imports textual-image *quietly* (stdout presented as not-a-tty: no query is
  written) and takes the cell size from the ioctl alone.
* `resolve_image_mode` never touches the terminal; it is what the screens call at runtime.
  ``auto`` inside tmux/screen is ``halfcell`` (graphics escapes do not reach the outer terminal
  without passthrough), otherwise the probed protocol, otherwise ``halfcell``.
* `make_image_widget` builds the textual-image widget for a concrete mode; if nobody called
  `prepare_image_mode` (tests, ``App.run_test()``), the first call imports quietly.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

IMAGE_MODES = ("auto", "kitty", "sixel", "halfcell")
CONCRETE_MODES = ("halfcell", "sixel", "kitty")  # the order `m` cycles through
_ALIASES = {"tgp": "kitty", "half": "halfcell", "halfcells": "halfcell", "unicode": "halfcell"}

_detected: str | None = None  # what textual-image's probe found, when prepare_image_mode ran it
_imported = False


def normalize_mode(requested: str | None) -> str:
    """``requested`` lower-cased with aliases applied; ValueError if it is not a mode."""
    mode = (requested or "auto").strip().lower()
    mode = _ALIASES.get(mode, mode)
    if mode not in IMAGE_MODES:
        raise ValueError(f"--image-mode {requested}: must be one of {', '.join(IMAGE_MODES)}")
    return mode


def in_multiplexer(env: Mapping[str, str] | None = None) -> bool:
    """True inside tmux or GNU screen, which swallow kitty/sixel escapes without passthrough."""
    env = os.environ if env is None else env
    term = env.get("TERM", "")
    return bool(env.get("TMUX")) or term.startswith(("screen", "tmux"))


def resolve_image_mode(requested: str | None, *, env: Mapping[str, str] | None = None) -> str:
    """The concrete mode (``kitty``, ``sixel`` or ``halfcell``) for a requested one.

    A forced mode is returned as is (the user knows their terminal, e.g. tmux with
    ``allow-passthrough on``). ``auto``: ``halfcell`` inside tmux/screen; else what the
    pre-start probe found; else ``halfcell``, which works in every truecolor terminal.
    Never writes to or reads from the terminal.
    """
    mode = normalize_mode(requested)
    if mode != "auto":
        return mode
    if in_multiplexer(env):
        return "halfcell"
    return _detected or "halfcell"


def usable_modes(requested: str | None, *, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The concrete modes that can show here, in `CONCRETE_MODES` order: halfcell always; the
    protocol the terminal answered to the start-up probe (not inside tmux/screen, which drop
    graphics escapes); and a mode forced with ``--image-mode`` (the user knows their terminal,
    e.g. tmux with allow-passthrough)."""
    modes = {"halfcell"}
    forced = normalize_mode(requested)
    if forced != "auto":
        modes.add(forced)
    if _detected and not in_multiplexer(env):
        modes.add(_detected)
    return tuple(m for m in CONCRETE_MODES if m in modes)


def next_mode(current: str, modes: tuple[str, ...] = CONCRETE_MODES) -> str:
    """The mode after ``current`` in the cycle through ``modes`` (halfcell → sixel → kitty → …)."""
    try:
        i = modes.index(current)
    except ValueError:
        return modes[0]
    return modes[(i + 1) % len(modes)]


class _NotATTY:
    """Wraps a stream and says it is not a terminal, so textual-image does not probe it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    original = sys.__stdout__
    sys.__stdout__ = _NotATTY(original) if original is not None else None  # type: ignore[misc]
    try:
        yield
    finally:
        sys.__stdout__ = original  # type: ignore[misc]


def _ioctl_cell_size() -> tuple[int, int] | None:
    """Cell size in pixels from TIOCGWINSZ (no escape sequence), or None if unknown."""
    stream = sys.__stdout__
    if stream is None or not stream.isatty() or sys.platform == "win32":
        return None
    try:
        import fcntl
        import struct
        import termios

        raw = fcntl.ioctl(stream.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        rows, cols, xpix, ypix = struct.unpack("HHHH", raw)
    except (OSError, ValueError):
        return None
    if rows and cols and xpix and ypix:
        return xpix // cols, ypix // rows
    return None


def _import_textual_image(probe: bool) -> None:
    """Import textual-image once; with ``probe`` it may query the terminal (pre-start only)."""
    global _imported, _detected
    if _imported:
        return
    if probe:
        import textual_image.widget  # noqa: F401  (probes sixel, kitty, cell size)
        from textual_image import renderable

        # textual-image's renderables are all named `Image`: compare the classes
        from textual_image.renderable.sixel import Image as SixelR
        from textual_image.renderable.tgp import Image as TGPR

        _detected = "sixel" if renderable.Image is SixelR else "kitty" if renderable.Image is TGPR else None
    else:
        with _quiet_stdout():
            import textual_image.widget  # noqa: F401
        cell = _ioctl_cell_size()
        if cell is not None:
            from textual_image._terminal import CellSize, get_cell_size

            setattr(get_cell_size, "_result", CellSize(*cell))
    _imported = True


def prepare_image_mode(requested: str | None) -> str:
    """Call before ``App.run()``: import textual-image safely and return the concrete mode.

    Only ``auto`` in a real terminal outside tmux/screen lets textual-image probe the
    terminal (two 0.1 s queries); forced modes, multiplexers and non-tty output import it
    without writing anything to the terminal.
    """
    mode = normalize_mode(requested)
    stdout = sys.__stdout__
    probe = (
        mode == "auto"
        and not in_multiplexer()
        and "textual_image" not in sys.modules
        and stdout is not None
        and stdout.isatty()
    )
    _import_textual_image(probe)
    return resolve_image_mode(mode)


def cell_pixels() -> tuple[int, int]:
    """A terminal cell's (width, height) in pixels, as textual-image measured it (its VT340
    default, 10x20, when there is no terminal to ask: tests, pipes)."""
    _import_textual_image(probe=False)
    from textual_image._terminal import get_cell_size

    try:
        cell = get_cell_size()
    except Exception:
        return (10, 20)
    return (cell.width, cell.height) if cell.width and cell.height else (10, 20)


def image_widget_class(mode: str) -> type:
    """The textual-image widget class that draws with a concrete mode."""
    _import_textual_image(probe=False)
    from textual_image.widget import TGPImage

    from petseg_tui.widgets.halfcell import HalfcellImage  # textual-image's drawing, no layout per picture
    from petseg_tui.widgets.sixel import SixelImage  # textual-image's, sent once, palette first

    mode = resolve_image_mode(mode)
    return {"kitty": TGPImage, "sixel": SixelImage, "halfcell": HalfcellImage}[mode]


def make_image_widget(mode: str, image: Any = None, **kwargs: Any) -> Any:
    """A textual-image widget for ``mode`` showing ``image`` (a PIL image, path or None)."""
    return image_widget_class(mode)(image, **kwargs)
