"""`?`: every key of every screen, built from the screens' own BINDINGS (never out of date).

Each key is said as `petseg_tui.keys` says it; keys bound to several actions (R: resume or
start again) list each.
"""

from __future__ import annotations

from typing import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from petseg_tui.keys import APP_BINDINGS, PALETTE_BINDING, describe, key_label


def screen_sections() -> list[tuple[str, str, list[Binding]]]:
    from petseg_tui.screens.compare import CompareScreen
    from petseg_tui.screens.inference import InferenceScreen
    from petseg_tui.screens.live_run import LiveRunScreen
    from petseg_tui.screens.new_run import NewRunScreen
    from petseg_tui.screens.runs import RunsScreen
    from petseg_tui.screens.sweep import SweepScreen
    from petseg_tui.screens.worst import WorstScreen
    from petseg_tui.widgets.runs_table import RunsTable

    def keys(bindings: Iterable[object]) -> list[Binding]:
        return [b for b in bindings if isinstance(b, Binding)]

    return [
        ("Everywhere", "", APP_BINDINGS + [PALETTE_BINDING]),
        ("Runs", RunsScreen.HELP, keys(RunsTable.BINDINGS) + [b for b in keys(RunsScreen.BINDINGS)
                                                              if b.action not in ("open_run", "resume_refused")]),
        ("New run", NewRunScreen.HELP, keys(NewRunScreen.BINDINGS)),
        ("Live run", LiveRunScreen.HELP, keys(LiveRunScreen.BINDINGS)),
        ("Compare", CompareScreen.HELP, keys(CompareScreen.BINDINGS)),
        ("Inference", InferenceScreen.HELP, keys(InferenceScreen.BINDINGS)),
        ("Worst samples", WorstScreen.HELP, keys(WorstScreen.BINDINGS)),
        ("Sweeps", SweepScreen.HELP, keys(SweepScreen.BINDINGS)),
    ]


SCREEN_TITLES = {
    "RunsScreen": "Runs", "NewRunScreen": "New run", "LiveRunScreen": "Live run", "CompareScreen": "Compare",
    "InferenceScreen": "Inference", "WorstScreen": "Worst samples", "SweepScreen": "Sweeps",
}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", tooltip="Close this help")]

    def __init__(self, current: Screen | None = None) -> None:
        super().__init__()
        self.current = type(current).__name__ if current is not None else ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self._render_help(), id="help-text")

    def _render_help(self) -> Table:
        outer = Table.grid(padding=(0, 0))
        outer.add_column()
        outer.add_row(Text("petseg-tui — keys", style="bold underline"))
        outer.add_row(Text("Every key below works on its screen; in a narrow terminal the footer shows only the "
                           "main ones (Quit and Help always).", style="dim"))
        here = SCREEN_TITLES.get(self.current, "")
        for title, about, bindings in screen_sections():
            outer.add_row(Text(""))
            head = Text(title, style="bold reverse" if title == here else "bold")
            if about:
                head.append("  " + about, style="dim italic")
            outer.add_row(head)
            t = Table.grid(padding=(0, 2))
            t.add_column(style="bold cyan", no_wrap=True, min_width=10)
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
        outer.add_row(Text("Esc / ? closes this help.", style="dim"))
        return outer

    def action_close(self) -> None:
        self.dismiss(None)
