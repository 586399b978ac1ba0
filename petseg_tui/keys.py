"""Keys as the user reads them: the app-wide bindings, a binding's key label and its one description.

The help screen (``?``) and the command palette both describe keys through this module; it
imports no screen and not the app, so neither of them pulls the other in.
"""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS: list[Binding] = [
    Binding("q", "quit", "Quit", tooltip="Quit (asks first if a run trains in this process; in a form use ctrl+q)"),
    Binding("question_mark", "help", "Help", key_display="?", tooltip="Every key of every screen"),
    Binding("ctrl+q", "quit_anywhere", "Quit", show=False, priority=True,
            tooltip="Quit from any screen, a form included (asks first if the form has edits)"),
]
PALETTE_BINDING = Binding("ctrl+p", "command_palette", "Palette", tooltip="Command palette: every action of this screen")

_KEY_NAMES = {
    "question_mark": "?", "slash": "/", "space": "space", "escape": "esc", "enter": "enter",
    "plus": "+", "minus": "-", "equals_sign": "=", "left_square_bracket": "[", "right_square_bracket": "]",
}


def key_label(b: Binding) -> str:
    """The key(s) of a binding as the help shows them: ``?``, ``+``, ``^q``, ``left/p``."""
    if b.key_display:
        return b.key_display
    keys = [_KEY_NAMES.get(k.strip(), k.strip()) for k in b.key.split(",")]
    return "/".join(keys).replace("ctrl+", "^")


def describe(b: Binding) -> str:
    """A binding's one description: its tooltip (the footer shows the short label)."""
    return b.tooltip or b.description
