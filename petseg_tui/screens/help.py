"""`?`: every key of every screen, built from the screens' own BINDINGS (never out of date)."""

from __future__ import annotations

from typing import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def _key_label(b: Binding) -> str:
    if b.key_display:
        return b.key_display
    names = {
        "question_mark": "?", "slash": "/", "space": "space", "escape": "esc", "enter": "enter",
        "plus": "+", "minus": "-", "equals_sign": "=",
    }
    keys = [names.get(k.strip(), k.strip()) for k in b.key.split(",")]
    return "/".join(keys).replace("ctrl+", "^")


def screen_sections() -> list[tuple[str, str, Iterable[Binding]]]:
    from petseg_tui.app import PetsegApp
    from petseg_tui.screens.compare import CompareScreen
    from petseg_tui.screens.live_run import LiveRunScreen
    from petseg_tui.screens.new_run import NewRunScreen
    from petseg_tui.screens.runs import RunsScreen
    from petseg_tui.screens.worst import WorstScreen

    extra_runs = [Binding("enter", "", "Open the run (live view, or history when finished)")]
    return [
        ("Everywhere", "", list(PetsegApp.BINDINGS) + [Binding("ctrl+p", "", "Command palette (every action)")]),
        ("Runs", RunsScreen.HELP, extra_runs + [b for b in RunsScreen.BINDINGS if b.action != "open_run"]),  # type: ignore[list-item]
        ("New run", NewRunScreen.HELP, NewRunScreen.BINDINGS),  # type: ignore[arg-type]
        ("Live run", LiveRunScreen.HELP, LiveRunScreen.BINDINGS),  # type: ignore[arg-type]
        ("Compare", CompareScreen.HELP, CompareScreen.BINDINGS),  # type: ignore[arg-type]
        ("Worst samples", WorstScreen.HELP, WorstScreen.BINDINGS),  # type: ignore[arg-type]
    ]


DESCRIPTIONS = {
    "toggle_select": "Select / unselect the run (for compare)",
    "compare": "Compare the selected runs (1-7)",
    "infer": "Segment images with the highlighted run's model",
    "worst": "Worst samples: the run's lowest-Dice test images, with truth, prediction and errors",
    "step(1)": "Next image (higher Dice)",
    "step(-1)": "Previous image (lower Dice)",
    "toggle_border": "Ignore / score the trimap's border band (re-ranks the gallery)",
    "toggle_tta": "Flip TTA on / off (re-runs the evaluation)",
    "save_sheet": "Save the contact sheet PNG to <run>/eval/worst-test.png",
    "cycle_mode": "Image mode: halfcell, sixel, kitty",
    "rerun": "Evaluate again (after more training)",
    "focus_filter": "Filter runs (name, model, status)",
    "cycle_sort": "Sort by the next column (or click a header)",
    "reverse_sort": "Reverse the sort order",
    "select_all": "Select all shown runs / none",
    "rescan": "Rescan the runs folder now",
    "clear_filter": "Clear the filter",
    "stop": "Stop the run (asks first; saves last.pt)",
    "pause": "Pause / resume the run",
    "log_y": "Log scale on the y axis",
    "smoothing": "Smoothing on/off (EMA)",
    "ema(1)": "More smoothing (EMA factor up)",
    "ema(-1)": "Less smoothing (EMA factor down)",
    "next_metric": "Next metric",
    "quit": "Quit (asks if a run trains in this process)",
    "help": "This help",
    "back": "Back",
}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

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
        current_titles = {
            "RunsScreen": "Runs", "NewRunScreen": "New run", "LiveRunScreen": "Live run", "CompareScreen": "Compare",
            "WorstScreen": "Worst samples",
        }
        here = current_titles.get(self.current, "")
        for title, about, bindings in screen_sections():
            outer.add_row(Text(""))
            head = Text(title, style="bold reverse" if title == here else "bold")
            if about:
                head.append("  " + about, style="dim italic")
            outer.add_row(head)
            t = Table.grid(padding=(0, 2))
            t.add_column(style="bold cyan", no_wrap=True, min_width=10)
            t.add_column()
            seen = set()
            for b in bindings:
                label = _key_label(b)
                if label in seen:
                    continue
                seen.add(label)
                t.add_row(label, DESCRIPTIONS.get(b.action, b.description))
            outer.add_row(t)
        outer.add_row(Text(""))
        outer.add_row(Text("Esc / ? closes this help.", style="dim"))
        return outer

    def action_close(self) -> None:
        self.dismiss(None)
