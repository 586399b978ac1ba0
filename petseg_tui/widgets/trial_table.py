"""`TrialTable`: the sweeps screen's leaderboard, one row a trial (its number, ✓ before it when
it is selected for compare, each searched value, best valid Dice, epochs, status), built from a
`engine.sweep.board.SweepBoard`; nothing here reads files.

The status column takes what the others leave of the table's width: a failed trial's reason is
cut with an ellipsis (its screen shows the highlighted trial's whole reason under the table), and
the table says when its width changes (`TrialTable.Resized`) so that its screen fits it again.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

from engine.runs.epoch_progress import EpochProgress
from engine.sweep.board import SweepBoard, TrialRun
from petseg_tui.format import state_text

STATUS_MIN = 16  # the status column is never cut narrower than this ("failed: --pretr…")


def _value_text(name: str, params: dict) -> Text:
    """A searched value as the leaderboard shows it (`value_text`: none as the flag takes it, as
    ``petseg sweep --show`` does; "-" if the trial did not draw it): never read as markup."""
    from engine.sweep.spec import value_text

    return Text(value_text(name, params[name], digits=3) if name in params else "-")


def status_text(t: TrialRun, background: tuple[int, int, int] | None = None) -> Text:
    """A trial's status in the words `petseg sweep --show` uses (`TrialRun.status`: "failed:
    --pretrained imagenet: could not fetch ...", "stopped (its sweep process ended)"), its state
    in the state's colour as drawn on ``background`` (`on_background`), the rest in the text's."""
    state = str(t.state)
    words = t.status
    text = state_text(t.state, background)
    text.append(words[len(state):] if words.startswith(state) else f" ({words})")
    return text


def _fitted(text: Text, width: int) -> Text:
    """``text`` cut to ``width`` cells with an ellipsis: a long failure message widened the table
    past the screen (a horizontal scroll at 80 columns, the reason cut mid-word with no sign)."""
    if text.cell_len <= width:
        return text
    cut = text.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


class TrialTable(DataTable):
    """The leaderboard; its screen fits the status column to its width, so it says when that changes."""

    class Resized(Message):
        """The table's width changed (a terminal resize, or the first layout)."""

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())

    def show(self, board: SweepBoard, background: tuple[int, int, int] | None, screen_width: int,
             selected: Mapping[str, str] | None = None) -> int:
        """The board's trials as rows, the cursor kept on its row number; the states' colours as
        drawn on ``background``; ``screen_width`` stands for the table's width before its first
        layout; ``selected``: the trials' run names ticked for compare, each with its ✓'s colour
        (its colour in the comparison, as the runs table's ✓). Returns the status column's width
        (a longer status is cut to it)."""
        names = board.param_names
        selected = selected or {}
        cursor = self.cursor_row
        self.clear(columns=True)
        headers = [Text("trial"), *(Text(n) for n in names), Text("valid Dice"), Text("epoch"), Text("status")]
        rows = []
        for t in board.trials:
            dice = f"{t.best_dice:.4f}" if t.best_dice is not None else "-"
            # the ✓ before the trial's number, in the column "trial" already makes wide enough
            # (a column of its own took 3 cells from the status, a failure's reason, at 80 columns)
            mark = Text("✓", style=f"bold {selected[t.name]}".strip()) if t.name in selected else Text(" ")
            rows.append((t.name, [Text.assemble(mark, f" {t.trial}"), *(_value_text(n, t.params) for n in names),
                                  Text(dice), Text(EpochProgress(t.epoch, t.total_epochs).count), status_text(t, background)]))
        # explicit widths, each its column's widest cell: an auto width is widened only on the next
        # idle pass after the rows, so a frame drawn in between cut "finished" to "finish"
        widths = [max([header.cell_len, *(cells[j].cell_len for _, cells in rows)]) for j, header in enumerate(headers)]
        # the status column takes what the others leave (each cell has 1 of padding a side; 2 for
        # the vertical scrollbar): a failure message is cut with an ellipsis, #sweep-why has it whole
        room = (self.size.width or screen_width or 80) - 2 - sum(w + 2 for w in widths[:-1]) - 2
        widths[-1] = min(widths[-1], max(room, STATUS_MIN, headers[-1].cell_len))
        for header, width in zip(headers, widths):
            self.add_column(header, width=width)
        for key, cells in rows:
            self.add_row(*cells[:-1], _fitted(cells[-1], widths[-1]), key=key)
        if board.trials:
            self.move_cursor(row=min(cursor, len(board.trials) - 1))
        return widths[-1]
