"""What the runs screen's two lines say: the status line over the table and the highlighted run's detail.

Plain functions of the table's state and a run's row, so the screen only decides when to redraw them.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

from engine.runs import RunState
from engine.runs.journal import skipped_lines
from engine.sweep.record import sweep_of
from engine.words import counted
from petseg_tui.format import (
    GONE_STYLE,
    fmt_duration,
    fmt_metric,
    on_background,
    state_text,
)
from petseg_tui.watch import RunRow
from petseg_tui.widgets.runs_table import COLUMN_LABELS, RunsTable


def status_text(t: RunsTable, width: int = 0) -> Text:
    """Runs, shown, archived, active, selected, the sort and the filter; the filter's warning instead when it has one.
    Where the line is wider than ``width`` (0: not known), its keys' hints in brackets go, the
    last first, until it fits: at 80 columns it was cut at the edge, "filtered (/ edits, esc",
    the key's meaning cut off."""
    if t.query.hint:
        return Text("⚠ " + t.query.hint, style=on_background("yellow", t.state_background))
    rows = t.rows_by_name.values()
    running = sum(1 for r in rows if r.active)
    parts = [(counted(len(t.rows_by_name), "run"), "")]
    if len(t.visible_names) != len(t.rows_by_name):
        parts.append((f"{len(t.visible_names)} shown", ""))
    if t.archived_hidden:
        parts.append((f"{t.archived_hidden} archived hidden", " (h shows)"))
    elif t.show_archived:
        parts.append(("archived shown", " (h hides)"))
    if running:
        parts.append((f"{running} active", ""))
    if t.selected:
        parts.append((f"{len(t.selected)} selected", ""))
    parts.append((f"sort: {COLUMN_LABELS[t.sort_column]} {'▼' if t.sort_reverse else '▲'}", ""))
    if t.filter_text:
        parts.append(("filtered", " (/ edits, esc clears)"))  # the filter shows its text above the table
    line = " · ".join(part + hint for part, hint in parts)
    for last in reversed(range(len(parts))):  # the last hint goes first: the others may then fit
        if not width or cell_len(line) <= width:
            break
        parts[last] = (parts[last][0], "")
        line = " · ".join(part + hint for part, hint in parts)
    return Text(line)


def detail_text(row: RunRow, background: tuple[int, int, int] | None = None, export: str = "") -> Text:
    """The highlighted run's line; its state's colours as drawn on ``background`` (`on_background`);
    ``export``: an export of it running here, how far it got; then the run's export, if it has one."""
    s = row.summary
    t = Text()
    t.append(row.name, style="bold")  # the full name: the table may show it shortened
    t.append("  ")
    t.append_text(state_text(row.state, background))
    if row.labels.archived:
        t.append("  archived", style="dim italic")
    if row.labels.tags:
        t.append("  " + " ".join(f"#{tag}" for tag in row.labels.tags), style="cyan")
    if s.best_epoch is not None:
        t.append(f"  best Dice {fmt_metric(s.best_dice)} @ epoch {s.best_epoch}")
    if s.duration is not None:
        t.append(f"  {fmt_duration(s.duration)}")
    if row.bad_lines:
        t.append(f"  ⚠ {skipped_lines(row.bad_lines)}",
                 style=on_background("yellow", background))
    if row.state == RunState.INTERRUPTED:  # the store's verdict: status says running, process gone
        t.append("  training process gone (dead pid or no heartbeat)", style=on_background(GONE_STYLE, background))
    trial = sweep_of(s.config)
    if row.resume.action and trial is not None:  # a trial goes on only with its sweep (R resumes that)
        t.append(f"  R: it resumes only with its sweep {trial.name}", style="dim")
    elif row.resume.action == "resume":
        t.append("  R resumes it from last.pt", style="dim")
    elif row.resume.action == "restart":
        t.append("  no last.pt: R starts it again from epoch 1", style="dim")
    elif row.resume.lost_last:
        t.append("  last.pt lost: it cannot be resumed", style="dim")
    if row.labels.note:
        t.append("\n")
        t.append("note: " + row.labels.note, style="italic")
    if s.message:
        style = "red" if row.state.is_error else "italic"
        t.append("\n")
        t.append(s.epoch_progress.noted(s.message), style=style)  # in the live screen's words
    if export:
        t.append("  " + export, style=on_background("cyan", background))
    if row.export:  # which file a deploy would take, and whether it is still the one exported
        t.append("\n")
        t.append(row.export, style=on_background("cyan", background))
    # the pane holds four lines: what the run was given (device, data, budget changes) comes
    # last, so that a long data description is what gets cut, never why the run ended or its note
    # (at 80 columns a description of three lines hid "stopped by user")
    from engine.train.resume_budget import describe_budget_changes

    given = [(row.device, ""), (row.data, "data: "), (describe_budget_changes(s.config), "")]
    given_text = "  ".join(f"{prefix}{value}" for value, prefix in given if value)
    if given_text:
        t.append("\n")
        t.append(given_text, style="dim")
    return t
