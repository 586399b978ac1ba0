"""Home screen: every run under the runs folder, live-updating."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static
from textual.timer import Timer
from textual.worker import get_current_worker

from petseg_tui.widgets.header import PetsegHeader
from petseg_tui.screens.base import PetsegFooter, PetsegScreen
from petseg_tui.format import theme_background
from petseg_tui.keys import USES_MODEL
from petseg_tui.messages import RunsUpdated
from petseg_tui.watch import HeldRows, RunRow, RunsWatcher
from petseg_tui.screens.run_dialogs import SortMenu
from petseg_tui.screens.run_labels import RunLabelActions
from petseg_tui.screens.run_open import RunOpenActions
from petseg_tui.screens.runs_lines import detail_text, status_text
from petseg_tui.widgets.in_order_input import InOrderInput
from petseg_tui.widgets.runs_table import COLUMN_LABELS, RunsTable

ACTIVE_POLL_S = 1.0  # running/paused runs
DISCOVER_EVERY = 2  # list the folder (new runs, finished runs' status) every 2nd tick
FILTER_DEBOUNCE_S = 0.08


def _train_command(root: Path) -> str:
    """The shell command that trains a first run into ``root``: ``--runs`` named unless ``root`` is
    the folder petseg train writes to by default (a bare ``petseg train`` from a dashboard started
    with ``--runs /data/runs`` trained into ./runs, where this screen never showed it)."""
    from engine.config import default_runs_dir  # torch-free

    if root.resolve() == default_runs_dir().resolve():
        return "petseg train --epochs 5"
    return f"petseg train --runs {shlex.quote(str(root))} --epochs 5"


class RunsScreen(RunOpenActions, RunLabelActions, PetsegScreen):
    """The runs table, a filter and a detail line for the highlighted run."""

    HELP = ("Every run under the runs folder (runs started elsewhere appear within ~2 s). Filter: name words and "
            "lr<1e-3 dice>0.8 model:unet tag:best sweep:NAME (key:text, key=value, key<num, key>num). img/s and "
            "s/epoch: the median of the run's epochs; Time: its whole training time, pauses left out (time>5m).")
    BINDINGS = [
        Binding("n", "new_run", "New run", tooltip="New run with the engine's defaults"),
        Binding("N", "new_run_like", "Copy", tooltip="New run starting from the highlighted run's settings"),
        Binding("enter", "open_run", "Open", show=False, tooltip="Open the run (live view, or history when finished)"),
        Binding("space", "toggle_select", "Select", tooltip="Select / unselect the run (for compare)"),
        Binding("c", "compare", "Compare", tooltip="Compare the selected runs (more than 7: the best 7 by Dice)"),
        Binding("i", "infer", "Infer", tooltip="Segment images with the highlighted run's model"),
        Binding("w", "worst", "Worst", tooltip="The highlighted run's lowest-Dice test images"),
        Binding("w", "worst_refused", "Worst", show=False,
                tooltip="Say why the highlighted run has no worst samples (no checkpoint yet, or no test photos)"),
        Binding("E", "export", "Export", show=False, tooltip="Export the highlighted run to ONNX, checked against PyTorch"),
        Binding("E", "export_refused", "Export", show=False, tooltip="Say why the highlighted run cannot be exported "
                                                                     "(it has no checkpoint yet)"),
        Binding("slash", "focus_filter", "Filter", key_display="/",
                tooltip="Filter runs: words match the name; lr<1e-3 dice>0.8 model:unet tag:best sweep:NAME"),
        Binding("s", "sort_menu", "Sort", tooltip="Sort by any column: a menu, one letter each (d Dice, e Epoch, "
                "n name, t started...); again reverses; or click a header"),
        Binding("a", "select_all", "Select all/none", show=False, tooltip="Select all shown runs / none"),
        Binding("T", "edit_labels", "Tags/note", show=False, tooltip="Tags and a note for the highlighted run"),
        Binding("A", "toggle_archive", "Archive", show=False,
                tooltip="Archive / unarchive the highlighted run (hidden from the table, still on disk)"),
        Binding("h", "toggle_show_archived", "Show archived", show=False,
                tooltip="Show / hide the archived runs"),
        Binding("D", "delete_run", "Delete", show=False,
                tooltip="Delete the highlighted run's folder from disk (asks first; never a run that trains)"),
        Binding("ctrl+r", "rescan", "Rescan", show=False, tooltip="Rescan the runs folder now"),
        # R: one of the three, as the store's resume rule says for the highlighted run
        Binding("R", "resume_run", "Resume", tooltip="Continue the stopped, failed or interrupted run from its last.pt (a sweep's trial: "
                "resume its sweep, which tells Optuna how the trial ends)"),
        Binding("R", "restart_run", "Start again",
                tooltip="Train again from epoch 1 a run that ended before its first epoch (it has no last.pt)"),
        Binding("R", "resume_refused", "Resume", show=False, tooltip="Say why the highlighted run cannot be resumed"),
        Binding("escape", "clear_filter", "Clear filter", show=False, tooltip="Clear the filter"),
        Binding("g", "sweeps", "Sweeps", show=False, tooltip="The sweeps screen (the highlighted trial's sweep)"),
    ]
    NARROW_FOOTER_HIDES = frozenset({"focus_filter", "sort_menu", "new_run_like"})
    FULL_FOOTER_FROM = "-wider"  # 140 columns: its full footer is ~125

    def footer_hides(self) -> frozenset[str]:
        hides = super().footer_hides()
        return hides if self.at_least("-medium") else hides | {"worst"}  # 80 columns: Quit and Help first

    def watch_width_class(self) -> None:
        super().watch_width_class()
        self.table.fit_columns(self.at_least)

    def __init__(self) -> None:
        super().__init__()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.loaded = False
        self._filter_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield PetsegHeader()
        yield InOrderInput(placeholder="/ filter: name words, lr<1e-3 dice>0.8 model:unet tag:best", id="filter",
                    compact=True)
        yield RunsTable(id="runs-table")
        yield Static(id="runs-status")
        yield Static("Scanning runs …", id="run-detail")
        yield PetsegFooter()

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    def on_mount(self) -> None:
        self.table.focus()
        self._update_status()
        # a theme chosen from the palette: the detail line's state in colours for its background
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._update_detail())
        self._watch()

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()

    # ---- polling (thread) -------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="runs-watch")
    def _watch(self) -> None:
        watcher = RunsWatcher(self.petseg_app.runs_dir)
        worker = get_current_worker()
        tick = 0
        first = True
        held = HeldRows()
        while not (worker.is_cancelled or self._stop.is_set()):
            discover = tick % DISCOVER_EVERY == 0 or self._wake.is_set()
            self._wake.clear()
            try:
                changed, removed = watcher.poll(discover=discover)
            except Exception as exc:  # never let the watcher die silently
                self.app.call_from_thread(self.notify, f"Cannot read runs: {exc}", severity="error", markup=False)
                changed, removed = [], []
            held.add(changed, removed)
            # Held while another screen covers this one: any message this hidden screen handles
            # makes Textual repaint the whole screen on top (a background screen's repaint goes
            # through the top one), which redrew the live screen's charts on every poll (#20).
            if first or (held and self.is_active):
                self.post_message(RunsUpdated(*held.take(), first=first))
                first = False
            tick += 1
            self._wake.wait(ACTIVE_POLL_S)

    def rescan(self) -> None:
        """Look at the runs folder now (after starting a run, or on `r`)."""
        self._wake.set()

    def on_runs_updated(self, message: RunsUpdated) -> None:
        self.table.apply_updates(message.changed, message.removed)
        if message.first:
            self.loaded = True
        if not self.is_active:  # under the live screen (#20): its footer would be rebuilt every second
            self._lines_stale = True
            return
        self._update_status()
        self._update_detail()

    def on_screen_resume(self) -> None:
        self._wake.set()  # the rows held while hidden, now
        if getattr(self, "_lines_stale", False):
            self._lines_stale = False
            self._update_status()
            self._update_detail()

    # ---- status / detail lines ----------------------------------------------------------------
    def _update_status(self) -> None:
        if not self.loaded:
            line = Text("scanning …")
        elif not self.table.rows_by_name:
            line = Text(self.empty_text(), style="bold")
        else:
            line = status_text(self.table, self.query_one("#runs-status", Static).content_size.width)
        status = self.query_one("#runs-status", Static)
        status.update(line)
        # with no run the line says what to do next, the runs folder's path in it: it wraps
        status.set_class(self.loaded and not self.table.rows_by_name, "-empty")

    def on_resize(self, event: events.Resize) -> None:
        # (PetsegScreen's on_resize, the width class, runs too: Textual calls each class's handler)
        self.call_after_refresh(self._update_status)  # its hints go where the line is too wide

    def empty_text(self) -> str:
        """What to do next when there is no run to show."""
        root = self.petseg_app.runs_dir
        if not root.exists():
            return f"The runs folder {root} does not exist. Press n for a new run (it creates the folder)."
        if not root.is_dir():
            return f"{root} is not a folder: start petseg-tui with --runs DIR pointing to a folder."
        return f"No runs yet in {root}. Press n for a new run (or: {_train_command(root)})."

    def _update_detail(self) -> None:
        row = self.table.highlighted
        self.query_one("#run-detail", Static).update(self._detail(row))
        self.table.refresh_bindings()
        self.refresh_bindings()  # R: resume, start again or nothing, for this run; keys needing a run

    def _detail(self, row: RunRow | None) -> Text:
        if row is None:
            return Text()
        from petseg_tui.exporting import export_progress

        background = theme_background(self.app)
        return detail_text(row, background, export_progress(row.path))

    def show_export_progress(self) -> None:
        """Called every second while an export runs here (`petseg_tui.exporting`), and as it ends.
        The export's timer is the app's: it ticked while the app was closing, the screen still
        mounted and its widgets already gone, and the dashboard ended in a NoMatches traceback."""
        detail = self.query("#run-detail")
        if self.is_mounted and detail and self.query(RunsTable):
            detail.first(Static).update(self._detail(self.table.highlighted))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not self.is_active:  # a row updated under the live screen re-highlights: later, when shown
            self._lines_stale = True
            return
        self._update_detail()

    # keys that act on the highlighted run, on the selection, or on some run: not offered without one
    NEEDS_RUN = frozenset({"open_run", "toggle_select", "worst", "new_run_like", "edit_labels", "toggle_archive",
                           "delete_run", "resume_refused"})
    NEEDS_ROWS = frozenset({"select_all", "sort_menu", "focus_filter", "infer"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        t = self.table
        if action in ("resume_run", "restart_run"):
            row = t.highlighted
            plan = row.resume.action if row is not None else ""
            return plan == {"resume_run": "resume", "restart_run": "restart"}[action]
        if action in ("worst", "worst_refused"):  # w: the gallery, or why not (no checkpoint, no test photos)
            row = t.highlighted
            if row is None or not row.summary.has_checkpoint:
                return row is not None and action == "worst_refused"
            return (action == "worst") != bool(row.no_worst)
        if action == "export_refused":  # E: the export, or why there is none to make
            return t.highlighted is not None and not t.highlighted.summary.has_checkpoint
        if action in USES_MODEL and action != "infer":  # i without a model: the screen's run chooser
            return t.highlighted is not None and t.highlighted.summary.has_checkpoint
        if action == "new_run_like":  # a copy needs the settings: not offered when config.json is unreadable
            return t.highlighted is not None and bool(t.highlighted.summary.config)
        if action in self.NEEDS_RUN:
            return t.highlighted is not None
        if action in self.NEEDS_ROWS:
            return bool(t.rows_by_name)
        if action == "compare":
            return any(n in t.rows_by_name for n in t.selected)
        if action == "toggle_show_archived":
            return t.show_archived or t.archived_hidden > 0
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    # ---- filter -------------------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        # debounced: a fast typist triggers one table rebuild, not one per key
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE_S, self.apply_filter)

    def apply_filter(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = None
        self.table.set_filter(self.query_one("#filter", Input).value)
        self._update_status()
        self._update_detail()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        # Enter applies the filter at once and hands the keys to the table: from here letters are
        # the table's keys (the footer shows them), / edits the filter again, Esc clears it.
        # Nothing a stray letter does there loses anything: the keys that destroy (D here, x on
        # the live screen) ask first, and no other screen gives them a harmless meaning.
        event.stop()
        self.apply_filter()
        self.set_focus(self.table)

    def key_for_filter(self, event: events.Key) -> bool:
        """Route a key that reached the table to the filter; True if the filter took it.

        The terminal sends a fast typist's ``/dice>0.8`` in one burst, and the app hands every
        key of it to the widget focused *then*, the table, before the binding of ``/`` (checked
        after the key bubbles up to the app) could move the focus: ``i`` would open Inference,
        space select a run. So the table hands ``/`` here at once, and the keys that follow it
        go to the filter as typed, whichever widget the app gave them to. ``n`` and ``N`` open
        the new-run form at once for the same reason, and the keys typed after them go to the form.
        """
        top = self.app.screen
        if top is not self:  # typed before the screen on top opened (n Tab 5): the new-run form takes some
            take = getattr(top, "take_typed_ahead", None)
            return bool(take is not None and take(event))
        f = self.query_one("#filter", Input)
        opens = {"n": "new_run", "N": "new_run_like"}.get(event.key)
        if opens and self.focused is not f:
            # at once too, as /: the new-run form is pushed before the keys typed after n reach
            # this table, which then hands them to the form (above) instead of losing them
            if self.check_action(opens, ()):
                getattr(self, f"action_{opens}")()
                return True
            return False
        if event.key == "slash" and self.focused is not f:
            if self.check_action("focus_filter", ()):
                self.action_focus_filter()
                return True
            return False
        if self.focused is not f:
            return False
        if event.key == "enter":
            self.apply_filter()
            self.set_focus(self.table)
        elif event.key == "escape":
            self.action_clear_filter()
        elif event.key == "backspace":
            f.action_delete_left()
        elif event.is_printable and event.character:
            f.insert_text_at_cursor(event.character)
        else:
            return False
        return True

    def action_focus_filter(self) -> None:
        # At once, not on the next message (Widget.focus): the keys typed right after / are
        # already queued, and each must land in the filter, never fire the table's actions.
        self.set_focus(self.query_one("#filter", Input))

    def action_clear_filter(self) -> None:
        f = self.query_one("#filter", Input)
        if f.value:
            f.value = ""
            self.apply_filter()
        self.set_focus(self.table)

    # ---- actions ------------------------------------------------------------------------------
    def action_toggle_select(self) -> None:
        self.table.toggle_highlighted()
        self._update_status()
        self.refresh_bindings()

    def on_runs_table_toggled(self, event: RunsTable.Toggled) -> None:
        self._update_status()
        self.refresh_bindings()  # c: offered once a run is ticked

    def action_select_all(self) -> None:
        t = self.table
        visible = t.visible_names
        if all(n in t.selected for n in visible):
            for n in visible:
                t.selected.pop(n, None)
        else:
            for n in visible:
                t.selected.setdefault(n, None)
        t.compare_colours = {}
        t.set_compare_colours()
        for n in visible:
            t.update_run_row(n)
        self._update_status()
        self.refresh_bindings()

    def action_sort_menu(self) -> None:
        t = self.table

        def chosen(key: str | None) -> None:
            if key:
                refused = t.set_sort(key)
                if refused:  # g while no run has GPU figures: the order stays, and why
                    self.notify(refused, severity="warning", timeout=6, markup=False)
                self._update_status()

        offered = {k: v for k, v in COLUMN_LABELS.items() if k != "sel" and not t.sort_refusal(k)}
        self.app.push_screen(SortMenu(offered, t.sort_column, t.sort_reverse), chosen)

    def action_rescan(self) -> None:
        self.rescan()
        self.notify("Rescanning the runs folder", timeout=1.5)

    # ---- for the app --------------------------------------------------------------------------
    def detached_running(self) -> list[Path]:
        """Active runs not trained by this process (left alone when the app quits)."""
        mine = set(self.petseg_app.trainers)
        return [
            r.path
            for r in self.table.rows_by_name.values()
            if r.active and r.path not in mine
        ]

    def run_rows(self) -> list[RunRow]:
        return list(self.table.rows_by_name.values())
