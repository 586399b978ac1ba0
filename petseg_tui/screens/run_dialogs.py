"""The runs screen's small dialogs: `SortMenu` (``s``: pick the sort column by one letter, every
column the table can sort by now, shown at this width or not) and `LabelsDialog` (``T``: a run's
tags and note).

Dialogs answer with their own keys (the letters of the sort menu, Enter, Esc); while one is
open no key reaches the screen beneath it (`petseg_tui.keys` says so for the key map).
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from engine.runs import RunLabels, parse_note, parse_tags
from petseg_tui.exit_mount import NoMountAtExit
from petseg_tui.format import on_background, theme_background
from petseg_tui.widgets.in_order_input import InOrderInput
from petseg_tui.widgets.runs_columns import COLUMN_LABELS

# the sort menu's letter for each column of the runs table (its keys: widgets.runs_columns.COLUMNS)
SORT_LETTERS: dict[str, str] = {
    "dice": "d", "epoch": "e", "state": "s", "name": "n", "started": "t", "duration": "u", "loss": "l",
    "vloss": "v", "iou": "i", "lr": "r", "model": "m", "ips": "p", "eps": "o",
    "gpu": "g",
}
_KEY_OF_LETTER = {letter: key for key, letter in SORT_LETTERS.items()}


class SortMenu(NoMountAtExit, ModalScreen[str | None]):
    """Dismisses with the chosen column key, or None (Esc). ``labels``: the columns offered (the
    table's `sort_refusal` decides); the letter of one not offered (g while no run has GPU figures)
    dismisses with its key too, for the screen to say why the order stays."""

    BINDINGS = [Binding("escape", "close", "Close", tooltip="Close the menu, the sort unchanged")] + [
        Binding(letter, f"pick('{key}')", f"Sort by {COLUMN_LABELS[key]}", show=False)
        for key, letter in SORT_LETTERS.items()
    ]

    def __init__(self, labels: dict[str, str], current: str, reverse: bool) -> None:
        super().__init__()
        self.labels, self.current, self.reverse = labels, current, reverse

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # a column not offered is not in the palette either (its letter: on_key)
        if action == "pick" and parameters and parameters[0] not in self.labels:
            return False
        return super().check_action(action, parameters)

    def on_key(self, event: events.Key) -> None:
        key = _KEY_OF_LETTER.get(event.key)
        if key is not None and key not in self.labels:
            event.stop()
            self.dismiss(key)

    def compose(self) -> ComposeResult:
        options = []
        background = theme_background(self.app)  # the letters' cyan is a dark theme's
        for key, letter in SORT_LETTERS.items():
            if key not in self.labels:
                continue
            line = Text()
            line.append(f" {letter} ", style=on_background("bold cyan", background))
            line.append(f" {self.labels[key]}")
            if key == self.current:
                line.append(f"  {'▼' if self.reverse else '▲'} now: again reverses", style="dim")
            options.append(Option(line, id=key))
        with Vertical(id="sort-menu"):
            yield Static("Sort runs by (a letter, or ↑↓ Enter; Esc closes)", id="sort-menu-title")
            yield OptionList(*options, id="sort-options")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        keys = [k for k in SORT_LETTERS if k in self.labels]
        if self.current in keys:
            ol.highlighted = keys.index(self.current)
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_pick(self, key: str) -> None:
        self.dismiss(key)

    def action_close(self) -> None:
        self.dismiss(None)


class _Field(InOrderInput):
    """An Input whose Tab moves on at once: the keys typed right after Tab (one burst from the
    terminal) were handed to this field before the Tab binding ran, and belong to the next one."""

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if event.key == "tab" and focused is self:
            event.stop()
            event.prevent_default()
            self.screen.focus_next()
        elif focused is not self and isinstance(focused, Input) and event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            focused.insert_text_at_cursor(event.character)
        # else Textual goes on down the MRO: InOrderInput's and Input's own handlers


class LabelsDialog(NoMountAtExit, ModalScreen[RunLabels | None]):
    """Edit a run's tags and note; dismisses with the new labels (Enter) or None (Esc)."""

    BINDINGS = [Binding("escape", "close", "Cancel", tooltip="Close without saving")]

    def __init__(self, run_name: str, labels: RunLabels) -> None:
        super().__init__()
        self.run_name, self.labels = run_name, labels

    def compose(self) -> ComposeResult:
        with Vertical(id="labels-box"):
            yield Static(Text.assemble(("Tags and note of ", ""), (self.run_name, "bold")), id="labels-title")
            yield Static("Tags (spaces or commas between them; filter with tag:NAME)", classes="labels-label")
            yield _Field(", ".join(self.labels.tags), id="labels-tags", compact=True)
            yield Static("Note (filter with note:WORD)", classes="labels-label")
            yield _Field(self.labels.note, id="labels-note", compact=True)
            yield Static("Enter saves · Tab next field · Esc cancels", classes="labels-label")

    def on_mount(self) -> None:
        self.query_one("#labels-tags", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        tags = parse_tags(self.query_one("#labels-tags", Input).value)
        note = parse_note(self.query_one("#labels-note", Input).value)
        self.dismiss(self.labels.with_(tags=tags, note=note))

    def action_close(self) -> None:
        self.dismiss(None)
