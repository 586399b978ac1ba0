"""Keys as the user reads them: the app-wide bindings, a binding's key label and its one
description, and the key map's rules (one meaning per key).

**One meaning per key.** A key does the same thing on every screen that binds it (`meaning`:
the binding's action, with the few actions that are one meaning under several names folded
together in `SAME_MEANING`: Esc is "back" whether it leaves a screen, cancels a form or clears
the filter). The keys that destroy (`DESTRUCTIVE_ACTIONS`: ``x`` stops a run, ``D`` deletes
one) ask first and mean nothing else anywhere. Dialogs (modal screens: yes/no, the sort menu,
tags and note) answer with their own keys; no key reaches the screen beneath them, and they
never bind a destructive key. ``tests/tui/test_keymap.py`` checks all of this on every screen
it finds, so a new screen is checked with no edit there.

Keys other screens use, settled here so no two meanings meet: ``g`` sweeps (runs table), ``E``
export to ONNX (runs and run screens), ``L`` the log pane (live screen), ``f`` fit the chart's
y range to every point (chart screens; ``a`` is the runs table's select-all).

The help screen (``?``) and the command palette both describe keys through this module; it
imports no screen and not the app, so neither of them pulls the other in.
"""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS: list[Binding] = [
    Binding("q", "quit", "Quit", tooltip="Quit (asks first if a run trains in this process; in a form use ctrl+q)"),
    Binding("question_mark", "help", "Help", key_display="?", tooltip="Every key of every screen"),
    Binding("ctrl+q", "quit_anywhere", "Quit", show=False, priority=True,
            tooltip="Quit, forms too (asks first if a form has edits or a run trains in this process)"),
]
# A form's Tab / Shift+Tab: priority, so the focus moves as the app reads the key and the keys
# after it in the same burst (typed fast over SSH, or `tmux send-keys Tab 7`) go to the next field.
# Textual's own (the screen's, not priority) moved it only after the app had handed 7 to the field
# focused before, which dropped it. System: Textual's focus keys, not listed as the form's own.
FORM_FOCUS_BINDINGS: list[Binding] = [
    Binding("tab", "app.focus_next", "Focus next", show=False, priority=True, system=True),
    Binding("shift+tab", "app.focus_previous", "Focus previous", show=False, priority=True, system=True),
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


# actions that use a run's model: offered only for a run with a checkpoint (best.pt or last.pt)
USES_MODEL = frozenset({"infer", "worst", "export"})

# actions that destroy something; each has its key to itself, app-wide, and asks first
DESTRUCTIVE_ACTIONS = frozenset({"stop", "delete_run"})

# actions with different names on different screens that are one meaning for the user
SAME_MEANING: dict[str, str] = {
    "cancel": "back", "close": "back", "clear_filter": "back",  # Esc: back out of what is open
    "select_cursor": "open_run",  # Enter on the runs table
    "restart_run": "resume_run", "resume_refused": "resume_run",  # R: the store's resume rule decides
    "worst_refused": "worst",  # w: the gallery, or why the run's data has none
    "export_refused": "export",  # E: the export, or why the run has nothing to export
    "ema(1)": "more", "threshold(1)": "more",  # +: more of the screen's knob
    "ema(-1)": "less", "threshold(-1)": "less",  # -: less of it
    "save_sheet": "save",  # S: write the screen's picture(s) into the run folder
    "rerun": "run",  # r: run the model (again)
    "quit_anywhere": "quit",
    "open_trial": "open_run", "new_sweep": "new_run",  # the sweeps screen's rows are runs
    "compare_top": "compare", "compare_selected": "compare",  # c: the selected trials, or the best when none is
    "stop_sweep": "stop",  # x: stop (asks first), a sweep as a run
    "resume_sweep": "resume_run",  # R: resume (asks first), a sweep as a run
}


def meaning(action: str) -> str:
    """The one meaning of a binding's action: the action without its namespace
    (``app.quit_anywhere``), folded by `SAME_MEANING`."""
    name = action.split(".", 1)[1] if action.startswith(("app.", "screen.")) else action
    return SAME_MEANING.get(name, name)


def binding_keys(b: Binding) -> list[str]:
    """Each key a binding is on (``"plus,equals_sign"`` is two)."""
    return [k.strip() for k in b.key.split(",") if k.strip()]
