"""The sweeps screen: one sweep's trials live (a leaderboard, best valid Dice against the trial
number, each searched parameter against Dice), opening any trial's live screen (enter) or the
comparison of the trials selected with space (c; none selected: the top `TOP_K`), starting a
sweep (n, the form in `sweep_form`), stopping and resuming the one shown (x, R: `sweep_control`).

Everything shown comes from the trials' run folders (`engine.sweep.board`), polled in a thread
worker, except the trials that failed before their run wrote config.json and those whose run
folder was deleted (no run folder shows them: their rows are the study's), the best trial's test Dice, the budget ("3 of 8 trials") and the draws the config
refused before they started (no run folder: a line under the title) and why a sweep stopped
before its budget (its first trials all failed alike: a line under the title), read from the study
every STUDY_POLL_S in that thread (`petseg_tui.sweep_facts`; Optuna imported there, never on the
UI thread): its journal in the runs folder, or the ``--storage`` the sweep recorded (`engine.sweep.where`).
``petseg sweep --show`` adds the parameter importances. A failed trial's reason is cut with an
ellipsis to the table's width (its status column takes what the others leave: `TrialTable`, in
`petseg_tui.widgets.trial_table`); the highlighted trial's whole reason is a line under the table.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from engine.sweep.board import SweepBoard, TrialRun
from petseg_tui.format import MAX_COMPARE, run_colour, theme_background
from petseg_tui.sweep_facts import StudyFacts, resume_refusal_text, study_facts
from petseg_tui.screens.base import PetsegFooter, PetsegScreen, footer_is_narrow
from petseg_tui.screens.sweep_control import SweepControlActions
from petseg_tui.widgets.header import PetsegHeader
from petseg_tui.widgets.sweep_plot import SweepPlot, scatter_for_best, scatter_for_param
from petseg_tui.widgets.trial_table import TrialTable, status_text

POLL_S = 1.0
STUDY_POLL_S = 10.0  # the study (its journal replayed by Optuna) is read this seldom, for the test Dice
TOP_K = 4  # c compares this many of the best trials when none is selected
# the footer leaves these out, first to last, until its keys fit the row with Quit and Help (they
# still work; ? and ctrl+p list them): n starts a sweep seldom, > is in the title ("> next")
FOOTER_DROPS = ("new_sweep", "next_sweep", "toggle_select")
PALETTE_CELLS = 12  # "▏^p palette ", right of the full footer's keys


@dataclass
class SweepUpdated(Message):
    """From the poll thread: the sweep's board and every sweep name in the runs folder."""

    board: SweepBoard
    names: list[str]
    best_eval: dict | None = None  # the study's record of the best trial's test evaluation
    progress: str = ""  # the study's count against its budget ("3 of 8 trials"), "" if unread
    refused: str = ""  # the study's refused draws, in a line (`engine.sweep.results.refused_text`)
    stopped: str = ""  # why the sweep stopped before its budget, in a line (`engine.sweep.results.gave_up_text`)
    running: bool = False  # a process runs the sweep now (its pid file): x can stop it
    resume: str = ""  # what R would do, in words; "" when it does nothing (`StudyFacts.plan`)
    unresumable: str = ""  # why R cannot resume it (`StudyFacts.unresumable`)
    refusal: str = ""  # why R does nothing now: the sweep runs, or nothing is left (petseg sweep --resume's words)


class SweepScreen(SweepControlActions, PetsegScreen):
    """A sweep's trials: leaderboard, best Dice vs trial, a parameter vs Dice."""

    HELP = (f"A sweep's trials, best valid Dice first; enter opens a trial, space selects trials (✓), c compares "
            f"the selected ones (more than {MAX_COMPARE}: the best {MAX_COMPARE} by Dice; none: the {TOP_K} best).")
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the runs"),
        Binding("enter", "open_trial", "Open trial", tooltip="Open the highlighted trial's run (live view)"),
        Binding("space", "toggle_select", "Select", tooltip="Select / unselect the highlighted trial (for compare)"),
        # c: one of the two, as the selection says (its label in the footer says which)
        Binding("c", "compare_selected", "Compare selected",
                tooltip=f"Compare the selected trials (more than {MAX_COMPARE}: the best {MAX_COMPARE} by Dice)"),
        Binding("c", "compare_top", "Compare top",
                tooltip=f"Compare the {TOP_K} best trials (none selected; space selects the ones to compare)"),
        Binding("P", "next_param", "Next plot", tooltip="Plot the next searched parameter against Dice (below 120 "
                "columns: best Dice, then each parameter)"),
        Binding("greater_than_sign", "next_sweep", "Next sweep", key_display=">", tooltip="Show the next sweep of this runs folder"),
        Binding("n", "new_sweep", "New sweep", tooltip="Start a sweep (the same fields as petseg sweep)"),
        Binding("x", "stop_sweep", "Stop sweep", tooltip="Stop the sweep shown (asks first): its running trials "
                "save last.pt and stop; R resumes them (or the same petseg sweep command)"),
        Binding("R", "resume_sweep", "Resume sweep", tooltip="Resume the sweep shown, stopped or killed (asks first): "
                "its unfinished trials go on where they stopped and it runs the budget left, in the background, with the "
                "settings its study recorded"),
    ]
    DEFAULT_CSS = """
    /* auto: at 80 columns the best trial's test Dice, last on the line, wraps instead of being cut */
    SweepScreen #sweep-title { height: auto; padding: 0 1; }
    SweepScreen #sweep-refused { height: auto; padding: 0 1; color: $warning; }
    SweepScreen #sweep-stopped { height: auto; padding: 0 1; color: $error; }
    SweepScreen #sweep-body { height: 1fr; }
    SweepScreen #sweep-left { width: 1fr; height: 1fr; }
    SweepScreen #sweep-table { width: 1fr; height: 1fr; }
    SweepScreen #sweep-why { height: auto; max-height: 4; padding: 0 1; }
    SweepScreen #sweep-plots { width: 1fr; height: 1fr; }
    SweepScreen.-narrow #sweep-body, SweepScreen.-medium #sweep-body { layout: vertical; }
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.sweep_name = name
        self.board = SweepBoard(name or "")
        self.names: list[str] = []
        self.best_eval: dict | None = None
        self.progress = ""  # "3 of 8 trials" from the study, "" until read
        self.refused = ""  # the study's refused draws in a line, "" if none (or unread)
        self.stopped = ""  # why the sweep stopped before its budget, "" if it did not (or unread)
        self.running = False  # a process runs the sweep shown (the poll thread reads its pid file)
        self.resume = ""  # what R would do, "" when it does nothing (the poll thread reads the study)
        self.unresumable = ""  # why R cannot resume the sweep from its study, "" if it can
        self.refusal = ""  # why R does nothing now (it runs, nothing is left), "" if it may resume
        self.param_index = 0
        self.selected: dict[str, None] = {}  # the trials' run names ticked for compare, in the order ticked
        self.status_width = 0  # the status column's width as last drawn (a longer status is cut)
        self.fitted_width = -1  # the table's width the status column was fitted to
        self.loaded = False
        self._stop = threading.Event()
        self._wake = threading.Event()

    def compose(self) -> ComposeResult:
        yield PetsegHeader()
        yield Static("", id="sweep-title")
        yield Static("", id="sweep-stopped", markup=False)
        yield Static("", id="sweep-refused", markup=False)
        with Horizontal(id="sweep-body"):
            with Vertical(id="sweep-left"):
                yield TrialTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
                # the highlighted trial's whole reason, when its status cell is cut to fit
                yield Static("", id="sweep-why", markup=False)
            with Vertical(id="sweep-plots"):
                yield SweepPlot(id="sweep-best")
                yield SweepPlot(id="sweep-param")
        yield PetsegFooter()

    def on_mount(self) -> None:
        self.sub_title = "sweeps"
        self.query_one("#sweep-table", DataTable).focus()
        self.redraw()
        # a theme chosen from the palette: the trials' states in colours for its background
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())
        self._poll()

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()

    @work(thread=True, exclusive=True, group="sweep-poll")
    def _poll(self) -> None:
        from engine.runs import RunFollower, RunState, RunStore, RunSummary
        from engine.sweep.board import board, sweep_names
        from engine.sweep.launch import sweep_running

        runs_dir = self.petseg_app.runs_dir
        store = RunStore(runs_dir)
        followers: dict[Path, RunFollower] = {}  # kept between passes: a pass reads only what grew
        worker = get_current_worker()
        last = None
        evaluated: tuple[str, StudyFacts, float] = ("", StudyFacts(), 0.0)  # (sweep, its study's facts, when read)
        was_running = False
        while not (worker.is_cancelled or self._stop.is_set()):
            summaries = []
            try:
                dirs = store.run_dirs()
            except OSError:
                dirs = []
            followers = {d: followers.get(d) or RunFollower(d, keep_batches=0) for d in dirs}
            for d, f in followers.items():
                try:
                    f.poll()
                    summaries.append(f.summary())
                except Exception as exc:  # one bad folder never hides the others
                    summaries.append(RunSummary(name=d.name, path=d, state=RunState.BROKEN, message=str(exc)))
            names = sweep_names(runs_dir, summaries)
            name = self.sweep_name or (names[0] if names else "")
            running = bool(name) and sweep_running(runs_dir, name)
            # read again at once when its process starts or ends: what R resumes changes then
            if name and (name != evaluated[0] or time.monotonic() - evaluated[2] > STUDY_POLL_S
                         or running != was_running):
                evaluated = (name, study_facts(runs_dir, name, summaries), time.monotonic())
            was_running = running
            facts = evaluated[1] if evaluated[0] == name else StudyFacts()
            current = (board(name, summaries, facts.searched, facts.log_scaled).with_unwritten(facts.unwritten)
                       .with_study_words(facts.said))
            refusal = resume_refusal_text(runs_dir, name, facts.plan, running) if name else ""
            resume = facts.plan.text() if facts.plan is not None and not refusal else ""
            key = (current, tuple(names), repr(evaluated[1]), running, refusal)
            if key != last:
                last = key
                self.post_message(SweepUpdated(current, names, facts.best_eval, facts.progress, facts.refused,
                                               facts.stopped, running, resume, facts.unresumable, refusal))
            self._wake.wait(POLL_S)
            self._wake.clear()

    def on_sweep_updated(self, message: SweepUpdated) -> None:
        self.board, self.names, self.best_eval = message.board, message.names, message.best_eval
        self.progress = message.progress
        self.refused = message.refused
        self.stopped = message.stopped
        self.running = message.running
        self.resume, self.unresumable, self.refusal = message.resume, message.unresumable, message.refusal
        if self.sweep_name is None and message.board.name:
            self.sweep_name = message.board.name
        # a selected trial whose run folder was deleted since (or of the sweep shown before) is
        # no longer one to compare: its ✓ goes with it
        comparable = {t.name for t in message.board.trials if not t.deleted}
        self.selected = {n: None for n in self.selected if n in comparable}
        self.loaded = True
        self.redraw()
        self._refresh_keys()

    def _refresh_keys(self) -> None:
        self.refresh_bindings()  # the keys that need a sweep, a trial, a selection or a parameter
        for footer in self.query(PetsegFooter):
            footer.hidden = self.footer_hides()

    def footer_hides(self) -> frozenset[str]:
        hides = super().footer_hides()
        if not self.is_mounted:
            return hides
        # what the footer would show: each key "k Label" and a space (compact, below 120 columns),
        # or " k Label " and a space beside the palette's key; x, R, > and a selection's longer c
        # label come and go, so it is counted, not set per width
        compact = footer_is_narrow(self.width_class, self.FULL_FOOTER_FROM)
        shown = {b.action: len(self.app.get_key_display(b)) + len(b.description) + (2 if compact else 3)
                 for _node, b, _enabled, _tip in self.active_bindings.values() if b.show and b.action not in hides}
        room = (self.size.width or self.app.size.width) - (0 if compact else PALETTE_CELLS)
        for action in FOOTER_DROPS:
            if sum(shown.values()) <= room:
                break
            if action in shown:
                hides |= {action}
                del shown[action]
        return hides

    # ---- drawing ------------------------------------------------------------------------------
    def title_text(self) -> Text:
        b = self.board
        t = Text()
        if not b.name:
            t.append("no sweep in this runs folder yet: n starts one (or petseg sweep)", style="dim")
            return t
        t.append(f"sweep {b.name}", style="bold")
        if len(self.names) > 1:  # next to the name: the end of the line is cut first at 80 columns
            i = self.names.index(b.name) + 1 if b.name in self.names else "?"
            t.append(f" ({i} of {len(self.names)}: > next)", style="dim")
        # below 120 columns the trials' states are the table's status column, not the title's
        counts = ", ".join(f"{n} {s}" for s, n in sorted(b.counts().items())) if self.at_least("-wide") else ""
        n = len(b.trials)  # run folders; the study's count against its budget once read
        shown = self.progress or f"{n} trial{'' if n == 1 else 's'}"
        t.append(f"  {shown}" + (f" ({counts})" if counts else ""))
        if b.best is not None:
            t.append(f"  best valid Dice {b.best.best_dice:.4f} (trial {b.best.trial})", style="bold green")
        ev = self.best_eval
        if ev and isinstance(ev.get("test_dice"), float):
            t.append(f"  test Dice {ev['test_dice']:.4f} (trial {ev.get('trial')}, photo size)", style="bold")
        return t

    def redraw(self) -> None:
        self.query_one("#sweep-title", Static).update(self.title_text())
        refused = self.query_one("#sweep-refused", Static)
        refused.update(self.refused)
        refused.display = bool(self.refused)
        stopped = self.query_one("#sweep-stopped", Static)
        stopped.update(self.stopped)
        stopped.display = bool(self.stopped)
        table = self.query_one("#sweep-table", TrialTable)
        self.fitted_width = table.size.width
        self.status_width = table.show(self.board, theme_background(self.app), self.size.width, self.selected_colours())
        self.show_why()
        names = self.board.param_names
        best, param = self.query_one("#sweep-best", SweepPlot), self.query_one("#sweep-param", SweepPlot)
        # from 120 columns both plots, p cycling the parameter; narrower, one plot at a time:
        # p steps best -> each parameter -> best
        both = self.at_least("-wide")
        step = self.param_index % (len(names) + (0 if both else 1)) if names else 0
        shown = step if both else step - 1  # the parameter shown, -1: none (the best-so-far plot)
        best.display = both or shown < 0
        param.display = both or shown >= 0
        best.show(scatter_for_best(self.board))
        if names and shown >= 0:
            name = names[shown]
            points = [v for v, _ in self.board.param_points(name)]
            # log-searched (a learning rate drawn from 1e-4..1e-2): a log axis even while the draws
            # so far span less than a decade; else one when they span a decade or more
            log = bool(points) and all(isinstance(v, float) and v > 0 for v in points) and \
                (name in self.board.log_scaled or max(points) >= 10 * min(points))
            param.show(scatter_for_param(self.board, name, log=log))
        elif both:
            param.show(scatter_for_param(self.board, ""))

    def watch_width_class(self) -> None:
        super().watch_width_class()
        if self.is_mounted:
            self.redraw()

    # ---- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # keys that cannot act here are not offered, as on the runs table: with no sweep there is
        # nothing to stop, no trial to open or compare, no parameter to plot
        b = self.board
        if action == "stop_sweep":  # x on a sweep no process runs says so (on_key), never asks
            return bool(b.name) and self.running
        if action == "resume_sweep":  # R on a sweep that runs or has nothing left says so (on_key)
            return self.can_resume()
        if action == "next_param":
            return bool(b.param_names)
        if action == "open_trial":
            return bool(b.trials)
        if action == "toggle_select":
            return bool(b.trials)
        if action == "compare_selected":
            return bool(self.selected_trials())
        if action == "compare_top":
            return not self.selected_trials() and len(b.top(min(TOP_K, MAX_COMPARE))) >= 2
        if action == "next_sweep":
            return len(self.names) > 1
        return True

    def _highlighted(self):
        table = self.query_one("#sweep-table", DataTable)
        if not self.board.trials or table.cursor_row < 0:
            return None
        return self.board.trials[min(table.cursor_row, len(self.board.trials) - 1)]

    def show_why(self) -> None:
        """Under the table, the highlighted trial's status whole when its cell is cut to fit."""
        t = self._highlighted()
        status = status_text(t, theme_background(self.app)) if t is not None else Text()
        why = self.query_one("#sweep-why", Static)
        why.update(Text(f"trial {t.trial} ").append_text(status) if t is not None else "")
        why.display = status.cell_len > self.status_width

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_why()

    def on_trial_table_resized(self, event: TrialTable.Resized) -> None:
        if self.is_mounted and self.query_one("#sweep-table", DataTable).size.width != self.fitted_width:
            self.redraw()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_trial()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_open_trial(self) -> None:
        t = self._highlighted()
        if t is None:
            self.notify("No trial yet", severity="warning")
            return
        if t.deleted:  # nothing on disk to show: its row is all that is left (the study's)
            self.notify(f"trial {t.trial}: its run folder {t.name} was deleted; its values and Dice are the study's",
                        severity="warning", markup=False)
            return
        # a trial that failed before its run wrote anything: the study's reason, as its row says
        self.petseg_app.open_run(t.path, unwritten_reason=t.why if t.state.is_error else "")

    def action_compare_top(self) -> None:
        top = self.board.top(min(TOP_K, MAX_COMPARE))
        if len(top) < 2:
            self.notify("Compare needs two trials with a valid Dice", severity="warning")
            return
        self.petseg_app.open_compare([t.path for t in top])

    def selected_trials(self) -> list[TrialRun]:
        """The selected trials the board shows with a run folder, in the order they were ticked."""
        on_board = {t.name: t for t in self.board.trials if not t.deleted}
        return [on_board[n] for n in self.selected if n in on_board]

    def selected_colours(self) -> dict[str, str]:
        """Each selected trial's ✓ colour: its colour in the comparison, as the runs table's ✓."""
        background = theme_background(self.app)
        return {n: run_colour(i, background) if i < MAX_COMPARE else "" for i, n in enumerate(self.selected)}

    def _cannot_compare(self, t: TrialRun) -> str:
        """Why trial ``t`` cannot be compared (no run folder to read), "" if it can."""
        if t.deleted:  # as its row and enter say it
            return f"trial {t.trial}: its run folder {t.name} was deleted; there is no run to compare"
        if not t.path.is_dir():  # failed before its run was written (the study's row)
            return f"trial {t.trial}: it has no run folder ({t.status}); there is no run to compare"
        return ""

    def action_toggle_select(self) -> None:
        t = self._highlighted()
        if t is None:
            self.notify("No trial yet", severity="warning")
            return
        if t.name in self.selected:
            del self.selected[t.name]
        else:
            why = self._cannot_compare(t)
            if why:
                self.notify(why, severity="warning", markup=False)
                return
            self.selected[t.name] = None
        self.redraw()
        table = self.query_one("#sweep-table", DataTable)
        if table.cursor_row < len(self.board.trials) - 1:  # on to the next, as the runs table's space
            table.move_cursor(row=table.cursor_row + 1)
        self._refresh_keys()  # c: the selected, or the best when none is

    def action_compare_selected(self) -> None:
        chosen = self.selected_trials()
        if not chosen:
            self.action_compare_top()
            return
        self.petseg_app.compare_selected(
            [(t.name, t.path) for t in chosen],
            # the board's order: best valid Dice first
            lambda: [(t.name, t.path) for t in self.board.trials if t in chosen], "trials")

    def action_next_param(self) -> None:
        names = self.board.param_names
        if len(names) == 1 and self.at_least("-wide"):  # both plots shown: there is no other to step to
            self.notify(f"This sweep searches one parameter ({names[0]}): its plot is the one shown",
                        severity="information")
            return
        self.param_index += 1
        self.redraw()

    def action_next_sweep(self) -> None:
        if len(self.names) < 2:
            self.notify("This runs folder has one sweep" if self.names else "No sweep yet", severity="information")
            return
        i = self.names.index(self.sweep_name) if self.sweep_name in self.names else -1
        self.sweep_name = self.names[(i + 1) % len(self.names)]
        self.param_index = 0
        self._wake.set()

    def action_new_sweep(self) -> None:
        from petseg_tui.screens.sweep_form import SweepFormScreen

        def started(name: str | None) -> None:
            if name:
                self.sweep_name = name
                self._wake.set()

        self.app.push_screen(SweepFormScreen(self.petseg_app.runs_dir), started)
