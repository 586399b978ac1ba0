"""`?`: every key of every screen, built from the screens' own BINDINGS (never out of date).

The screens are found, not listed (`screen_classes`: every `PetsegScreen` in the
``petseg_tui.screens`` package that the app shows, not the bases they share), so a new screen is
in the help the day it exists. Each key is
said as `petseg_tui.keys` says it; keys bound to several actions (R: resume or start again)
list each.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from petseg_tui.exit_mount import NoMountAtExit
from petseg_tui.format import TEXT_CONTRAST, hex_colour, muted, on_background
from petseg_tui.keys import APP_BINDINGS, PALETTE_BINDING, describe, key_label


SCREEN_TITLES = {
    "RunsScreen": "Runs", "NewRunScreen": "New run", "LiveRunScreen": "Live run", "CompareScreen": "Compare",
    "InferenceScreen": "Inference", "WorstScreen": "Worst samples",
}


def screen_classes() -> list[type[Screen]]:
    """Every full screen of the app (`PetsegScreen` subclasses in ``petseg_tui.screens``), the
    runs screen first, then in `SCREEN_TITLES` order, then any other by name. A class another
    one found extends (`PetsegScreen`, `ImageScreen`) is a base the screens share, never shown
    itself: it is left out (it was a section "Petseg" listing only Textual's Tab and ^c)."""
    import petseg_tui.screens as package
    from petseg_tui.screens.base import PetsegScreen

    found: dict[str, type[Screen]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, PetsegScreen) and obj.__module__ == module.__name__:
                found[obj.__name__] = obj
    shown = [c for c in found.values() if not any(o is not c and issubclass(o, c) for o in found.values())]
    order = list(SCREEN_TITLES)
    return sorted(shown, key=lambda c: (order.index(c.__name__) if c.__name__ in order else len(order),
                                                 c.__name__))


def screen_title(cls: type) -> str:
    return SCREEN_TITLES.get(cls.__name__) or cls.__name__.removesuffix("Screen")


def screen_sections() -> list[tuple[str, str, list[Binding]]]:
    from petseg_tui.screens.runs import RunsScreen
    from petseg_tui.widgets.runs_table import RunsTable

    def keys(bindings: Iterable[object]) -> list[Binding]:
        # system: Textual's focus keys a form binds as priority keys (`FORM_FOCUS_BINDINGS`)
        return [b for b in bindings if isinstance(b, Binding) and not b.system]

    sections: list[tuple[str, str, list[Binding]]] = [("Everywhere", "", APP_BINDINGS + [PALETTE_BINDING])]
    for cls in screen_classes():
        # w's and E's other halves: "Worst" and "Export" once
        bindings = [b for b in keys(cls.BINDINGS) if b.action not in ("worst_refused", "export_refused")]
        if cls is RunsScreen:
            bindings = keys(RunsTable.BINDINGS) + [b for b in bindings if b.action not in ("open_run", "resume_refused")]
        sections.append((screen_title(cls), getattr(cls, "HELP", ""), bindings))
    return sections


class HelpScreen(NoMountAtExit, ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", tooltip="Close this help")]

    def __init__(self, current: Screen | None = None) -> None:
        super().__init__()
        self.current = type(current).__name__ if current is not None else ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(id="help-text")

    def on_mount(self) -> None:
        self._show()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._show())

    def _show(self) -> None:
        """(Re)draw the help in the colours of the box it is drawn on, as the theme is now."""
        text = self.query_one("#help-text", Static)
        _, _, background, foreground = text.colors
        text.update(self._render_help(background.rgb, foreground.rgb))

    def _render_help(self, background: tuple[int, int, int], foreground: tuple[int, int, int]) -> Table:
        """The keys table. Its keys and notes are text to read: drawn at `TEXT_CONTRAST` on
        ``background`` (the keys' cyan read at 3.0:1 on textual-light, the dim notes at 2.5:1 on
        solarized-light)."""
        note = hex_colour(muted(foreground, background))
        key_style = on_background("bold cyan", background, TEXT_CONTRAST)
        outer = Table.grid(padding=(0, 0))
        outer.add_column()
        outer.add_row(Text("petseg-tui — keys", style="bold underline"))
        outer.add_row(Text("Every key below works on its screen; in a narrow terminal the footer shows only the "
                           "main ones (Quit and Help always).", style=note))
        outer.add_row(Text("One meaning per key: a key does the same thing on every screen that has it. x (stop a "
                           "run) and D (delete a run) ask first and mean nothing else anywhere. Dialogs (yes/no, "
                           "the sort menu, tags and note) answer with their own keys.", style=note))
        here = SCREEN_TITLES.get(self.current, self.current.removesuffix("Screen"))
        for title, about, bindings in screen_sections():
            outer.add_row(Text(""))
            head = Text(title, style="bold reverse" if title == here else "bold")
            if about:
                head.append("  " + about, style=f"italic {note}")
            outer.add_row(head)
            t = Table.grid(padding=(0, 2))
            t.add_column(style=key_style, no_wrap=True, min_width=10)
            t.add_column()
            rows: dict[str, list[str]] = {}
            for b in bindings:
                text = describe(b)
                if text not in rows.setdefault(key_label(b), []):
                    rows[key_label(b)].append(text)
            for label, texts in rows.items():
                t.add_row(label, "; or: ".join(texts))
            outer.add_row(t)
        outer.add_row(Text(""))
        outer.add_row(Text("Esc / ? closes this help.", style=note))
        return outer

    def action_close(self) -> None:
        self.dismiss(None)
