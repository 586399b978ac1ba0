"""One run, live while it trains and as a history view once it is over.

A thread worker polls the run folder (every 0.25 s, a stat when nothing changed; the events are
parsed there, off the UI thread) and posts a `LiveSnapshot` only when something shown changed
(the elapsed time: once a second). Each new snapshot updates only the widgets whose text
changed; the charts are redrawn only when their data changed, and at most once a second
(`CHART_INTERVAL_S`, in `live_charts` with what the charts show). The view settings (log-y,
smoothing, autoscale, the previews' epoch) are reactive too: a key press redraws the charts at
once with the data they already show (newer data waits for its timer), and a view seen before
comes from the charts' cache. Both charts share the x range (epochs).

Beside the loss and Dice charts, the epoch previews (the predicted masks of four validation
images, written by the trainer) show how the predictions change; `[` and `]` step through the
epochs. From 120 columns they are a third column; below, `v` swaps them with the Dice chart. A
choice made with `v` holds across resizes.
Stop and pause are offered only while the run trains; R resumes (or starts again) a run the
store says can be.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import var
from textual.widgets import Label, ProgressBar, Static
from textual.worker import get_current_worker

from engine.runs import RunState
from petseg_tui.format import theme_background
from petseg_tui.image_modes import resolve_image_mode
from petseg_tui.keys import USES_MODEL
from petseg_tui.live_follow import LiveFollower, LiveSnapshot
from petseg_tui.messages import LiveUpdated
from petseg_tui.screens.base import PetsegFooter, PetsegScreen
from petseg_tui.screens.chart_view import ChartView
from petseg_tui.screens.live_charts import LiveCharts
from petseg_tui.screens.live_control import RunControlActions
from petseg_tui.screens.live_text import (
    batch_progress,
    info_rows,
    label_grid,
    messages_text,
    stats_rows,
    title_text,
)
from petseg_tui.widgets.chart_specs import dice_spec, loss_spec
from petseg_tui.widgets.charts import Chart
from petseg_tui.widgets.header import PetsegHeader
from petseg_tui.widgets.log_pane import LogPane
from petseg_tui.widgets.previews import PreviewPanel
from petseg_tui.widgets.system_strip import SystemStrip

POLL_S = 0.25
# Below this many rows the log pane takes the charts' place: both at their least heights, with
# the progress, figures, system and messages rows, need ~28; at 80x24 the rows under the log
# (a failed run's message among them) were below the screen's edge
SHORT_ROWS = 30

# keys that show a file of the run folder: not offered once the folder is gone
FOLDER_VIEWS = frozenset({"toggle_log", "preview_epoch", "toggle_previews"})
# keys of the charts row (the curves' view, the predictions): not offered while the log takes its place
CHART_KEYS = frozenset({"log_y", "autoscale", "smoothing", "ema", "preview_epoch", "toggle_previews"})


def _has_previews(snap: LiveSnapshot) -> bool:
    return snap.previews is not None and bool(snap.previews.epochs)


def _offers(snap: LiveSnapshot) -> tuple[object, ...]:
    """What of a snapshot decides which keys the screen offers (a change refreshes the footer).
    Starting counts as active for x and p (`_is_active`): a launch that dies before its run
    starts must take them away."""
    starting = snap.state == RunState.STARTING
    return (snap.active, starting, snap.resume, snap.has_checkpoint, _has_previews(snap), bool(snap.previews_error),
            snap.gone)


class LiveRunScreen(LiveCharts, ChartView, RunControlActions, PetsegScreen):
    """Charts, predictions, progress and figures of one run; stop / pause / resume it."""

    HELP = "One run: live while it trains, its history once it is over."
    _EPOCH = Binding.Group("Epoch", compact=True)
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the runs"),
        Binding("x", "stop", "Stop", tooltip="Stop the run (asks first; the current batch finishes, last.pt is saved)"),
        Binding("p", "pause", "Pause/resume", tooltip="Pause or resume the run (paused time is not counted)"),
        Binding("R", "resume_run", "Resume", tooltip="Continue the stopped, failed or interrupted run from its last.pt (a sweep's trial: "
                "resume its sweep, which tells Optuna how the trial ends)"),
        Binding("R", "restart_run", "Start again",
                tooltip="Train again from epoch 1 a run that ended before its first epoch (it has no last.pt)"),
        Binding("l", "log_y", "Log-y", tooltip="Log scale on the loss chart's y axis"),
        Binding("f", "autoscale", "All points", tooltip="Autoscale the charts to every point (outliers included) "
                                                        "or leave true outliers out again"),
        Binding("e", "smoothing", "Smoothing", tooltip="Smoothing of the loss curves on/off (EMA)"),
        Binding("plus,equals_sign", "ema(1)", "EMA +", key_display="+", tooltip="More smoothing (EMA factor up)"),
        Binding("minus", "ema(-1)", "EMA −", key_display="-", tooltip="Less smoothing (EMA factor down)"),
        Binding("left_square_bracket", "preview_epoch(-1)", "Earlier", key_display="[", group=_EPOCH,
                tooltip="Predictions of an earlier epoch"),
        Binding("right_square_bracket", "preview_epoch(1)", "Later", key_display="]", group=_EPOCH,
                tooltip="Predictions of a later epoch (the newest: follow new epochs again)"),
        Binding("v", "toggle_previews", "Predictions", tooltip="Show or hide the predictions (below 120 columns "
                                                              "they take the Dice chart's place)"),
        Binding("L", "toggle_log", "Log", tooltip="Show or hide the run's console log (train.log: what it printed, "
                                                  "warnings, a crash's traceback)"),
        Binding("i", "infer", "Infer", tooltip="Segment images with this run's model"),
        Binding("w", "worst", "Worst", show=False, tooltip="This run's lowest-Dice test images"),
        Binding("w", "worst_refused", "Worst", show=False,
                tooltip="Say why this run has no worst samples (no checkpoint yet, or no test photos)"),
        Binding("E", "export", "Export", show=False, tooltip="Export this run to ONNX, checked against PyTorch"),
        Binding("E", "export_refused", "Export", show=False,
                tooltip="Say why this run cannot be exported (it has no checkpoint yet)"),
    ]
    NARROW_FOOTER_HIDES = frozenset({"smoothing", "ema(1)", "ema(-1)", "infer", "log_y", "autoscale"})
    FULL_FOOTER_FROM = "-wider"  # 140 columns: its full footer is ~125

    preview_epoch: var[int | None] = var(None, init=False)  # None: the newest, following new ones
    previews_shown: var[bool] = var(False, init=False)
    # the newest poll of the run folder; a new one only when something changed (never compared)
    snapshot: var[LiveSnapshot | None] = var(None, init=False, always_update=True)
    control_note: var[str] = var("", init=False)  # "Stopping (after the current batch) …"
    log_shown: var[bool] = var(False, init=False)  # the console log pane (L); a failed run opens on it
    export_note: var[str] = var("", init=False)  # the run's export.json, one line a file (petseg_tui.exporting)
    export_running: var[str] = var("", init=False)  # "exporting to ONNX: converting the model… (started 12 s ago)"

    def __init__(self, run_path: Path, pid: int | None = None, unwritten_reason: str = "") -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.pid = pid
        self.unwritten_reason = unwritten_reason  # `LiveFollower`: why the run never wrote its files
        self.redraws = 0  # for bench/: how often the screen drew
        self._texts: dict[str, object] = {}  # widget id -> the key of what it shows
        self._stop_event = threading.Event()
        self._control_action: str | None = None
        self._log_chosen = False  # the user pressed L: a failure no longer opens the log by itself
        # the user's v (or [ ]): shown or not, held across resizes; None: the width's default
        self._previews_chosen: bool | None = None

    def compose(self) -> ComposeResult:
        yield PetsegHeader()
        yield Static(self.run_path.name, id="live-title")
        with Horizontal(id="live-charts"):
            yield Chart(id="loss-chart")
            yield Chart(id="dice-chart")
            yield PreviewPanel(mode=self._image_mode(), id="previews")
        yield LogPane(self.run_path, id="log-pane")
        with Horizontal(id="live-bottom"):
            with Vertical(id="live-progress"):
                with Horizontal(classes="progress-row"):
                    yield Label("Epoch", id="epoch-label")
                    yield ProgressBar(total=None, show_eta=False, id="epoch-bar")
                with Horizontal(classes="progress-row"):
                    yield Label("Batch", id="batch-label")
                    yield ProgressBar(total=None, show_eta=False, id="batch-bar")
                yield Static(id="live-info")
            yield Static(id="live-stats")
        yield SystemStrip(self.run_path, id="system-strip")
        yield Static(id="live-messages")
        yield PetsegFooter()

    def _image_mode(self) -> str:
        return resolve_image_mode(self.petseg_app.image_mode)

    def on_mount(self) -> None:
        self.sub_title = self.run_path.name
        self.query_one("#loss-chart", Chart).show(loss_spec((), ()))
        self.query_one("#dice-chart", Chart).show(dice_spec(()))
        pane = self.query_one(LogPane)
        pane.display = False
        self._focus_log(pane)  # not the screen's first focus while hidden
        from petseg_tui.exporting import export_note

        self.export_note = export_note(self.run_path)  # a few hundred bytes of JSON, if any
        self.show_export_progress()
        # a theme chosen from the palette: the state (and the gone process's note) in colours for
        # its background; the text is keyed by its markup, so only what changed is drawn again
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw(charts=False))
        self._poll()

    def on_unmount(self) -> None:
        self._stop_event.set()

    def watch_width_class(self) -> None:
        super().watch_width_class()
        # without a choice, a third column when there is room, else behind `v`; a choice made with
        # `v` holds (shown at 80 columns, widened and narrowed again, they were hidden again)
        gone = self.snapshot is not None and self.snapshot.gone  # nothing to show any more
        if self._previews_chosen is None and not gone:
            self.previews_shown = self.at_least("-wide")
        self._apply_layout()

    # ---- polling ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="live-poll")
    def _poll(self) -> None:
        follower = LiveFollower(self.run_path, pid=self.pid, unwritten_reason=self.unwritten_reason)
        worker = get_current_worker()
        while not (worker.is_cancelled or self._stop_event.is_set()):
            try:
                snap = follower.snapshot()
            except Exception as exc:  # a malformed folder shows as a message, never a crash
                snap = LiveSnapshot(
                    name=self.run_path.name, path=self.run_path, exists=True, state=RunState.BROKEN, message=str(exc)
                )
            if snap is not None:
                self.post_message(LiveUpdated(snap))
            self._stop_event.wait(POLL_S if (snap is None or snap.active or not snap.exists) else 1.0)
        # left: a launch refused before its run began leaves a folder no listing shows (only its
        # train.log, whose reason this view said): removed now, not left to pile up unseen
        follower.tidy()

    def on_live_updated(self, message: LiveUpdated) -> None:
        self.snapshot = message.snapshot

    def watch_snapshot(self, before: LiveSnapshot | None, snap: LiveSnapshot | None) -> None:
        if snap is not None and (before is None or _offers(before) != _offers(snap)):
            self.refresh_bindings()  # stop/pause only while training; R as the store says; i/w/E with a model;
            # [ ] v once there are predictions
        if snap is not None:
            for strip in self.query(SystemStrip):  # its note with no sample says what is true for the run
                strip.set_run_active(snap.active)
        if snap is not None and snap.gone:  # its train.log and previews went with the folder: only the curves stay
            self.log_shown = self.previews_shown = False
        elif snap is not None and (snap.state.log_may_explain or snap.launch_ended) and not self._log_chosen:
            self.log_shown = True  # a failed (or vanished) run, or a refused resume, opens on what it printed
        if snap is not None and self.control_note and self._control_done(snap):
            self.control_note, self._control_action = "", None  # the run has done what we asked
        self._redraw(charts=False)
        self._schedule_charts()

    # ---- state ----------------------------------------------------------------------------------
    def _redraw(self, charts: bool = True) -> None:
        try:
            self.redraw(charts=charts)
        except NoMatches:  # the app is closing: the widgets went before the last poll
            pass

    def _view_changed(self) -> None:  # no parameter: Textual would pass the new value
        try:
            self.redraw(charts=True, new_data=False)
        except NoMatches:
            pass

    watch_log_y = watch_autoscale = watch_smoothing_on = watch_ema_index = watch_preview_epoch = _view_changed
    watch_control_note = watch_export_note = _view_changed

    def watch_export_running(self) -> None:
        try:
            self.redraw(charts=False, new_data=False)  # the messages line only, every second
        except NoMatches:
            pass

    def show_export_progress(self) -> None:
        """Called every second while an export runs here (`petseg_tui.exporting`), and as it ends."""
        from petseg_tui.exporting import export_progress

        self.export_running = export_progress(self.run_path)

    def on_resize(self, event: events.Resize) -> None:
        # (PetsegScreen's on_resize, the width class, runs too: Textual calls each class's handler)
        if self.snapshot is not None:  # the title's name is cut to the width, once it is laid out
            self.call_after_refresh(lambda: self.snapshot and self._draw_title(self.snapshot,
                                                                                theme_background(self.app)))
            self.call_after_refresh(lambda: self.snapshot and self._draw_info(self.snapshot))  # wrapped anew
        short = event.size.height < SHORT_ROWS
        if short != self.has_class("-short"):
            self.set_class(short, "-short")  # app.tcss: the log, if shown, replaces the charts
            self.refresh_bindings()  # CHART_KEYS

    def charts_hidden(self) -> bool:
        """True while the log pane takes the charts row's place (a short terminal)."""
        return self.log_shown and self.has_class("-short")

    def watch_log_shown(self) -> None:
        self.set_class(self.log_shown, "-log")
        try:
            pane = self.query_one(LogPane)
        except NoMatches:
            return
        pane.display = self.log_shown
        self._focus_log(pane)
        self.refresh_bindings()  # CHART_KEYS, in a short terminal
        self._redraw()  # the messages leave the log tail to the pane

    def _focus_log(self, pane: LogPane) -> None:
        """The focus follows the log pane: shown, it takes the keys (PageUp reads back at once,
        also after L hid and showed it); hidden, it has none (its scrolling keys acted on nothing
        on screen)."""
        pane.can_focus = self.log_shown
        if self.log_shown:
            pane.focus()
        elif pane.has_focus:
            self.set_focus(None)

    def action_toggle_log(self) -> None:
        self._log_chosen = True
        self.log_shown = not self.log_shown

    def watch_previews_shown(self) -> None:
        self.refresh_bindings()  # v: offered to hide the panel even before any prediction
        self._apply_layout()
        self._redraw()

    def _apply_layout(self) -> None:
        try:
            self.query_one("#previews").display = self.previews_shown
            self.query_one("#dice-chart").display = self.at_least("-wide") or not self.previews_shown
        except NoMatches:  # not composed yet, or already closing
            pass

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        snap = self.snapshot
        if snap is not None and snap.gone and action in FOLDER_VIEWS:
            return False  # the run folder is gone: its log and predictions with it (the messages say so)
        if action in CHART_KEYS and self.charts_hidden():
            return False  # they act on the charts row, which the log hides: L gives it back
        if action in ("stop", "pause"):
            return self._is_active()
        if action in ("resume_run", "restart_run"):
            plan = snap.resume.action if snap is not None and not snap.active else ""
            return plan == {"resume_run": "resume", "restart_run": "restart"}[action]
        if action in ("worst", "worst_refused"):  # w: the gallery, or why not (no checkpoint, no test photos)
            if snap is None or not snap.has_checkpoint:
                return snap is not None and action == "worst_refused"
            return (action == "worst") != bool(snap.no_worst)
        if action == "export_refused":  # E: the export, or why there is none to make
            return snap is not None and not snap.has_checkpoint
        if action in USES_MODEL:
            return snap is not None and snap.has_checkpoint
        if action == "preview_epoch":  # no epoch's predictions yet: nothing to step through
            return snap is not None and _has_previews(snap)
        if action == "toggle_previews":  # nothing to show (or an unreadable index to say so), unless it hides the panel
            return self.previews_shown or (snap is not None and (_has_previews(snap) or bool(snap.previews_error)))
        return True

    # ---- drawing ------------------------------------------------------------------------------
    def _set_text(self, selector: str, key: object, build, layout: bool = False) -> None:
        """Update a Static or Label only when what it shows changed (``key``): an update costs a
        repaint, and with ``layout`` a layout of the whole screen."""
        if self._texts.get(selector, self) == key:
            return
        first = selector not in self._texts
        self._texts[selector] = key
        self.query_one(selector).update(build(), layout=layout or first)

    def redraw(self, charts: bool = True, new_data: bool = True) -> None:
        snap = self.snapshot
        if snap is None:
            return
        self.redraws += 1
        if charts:
            self.draw_charts(new_data)
        self._draw_previews(snap)
        self._draw_progress(snap)
        stats = stats_rows(snap)
        self._set_text("#live-stats", stats, lambda: label_grid(stats, 9))
        self._draw_info(snap)
        export = "\n".join(line for line in (self.export_running, self.export_note) if line)
        background = theme_background(self.app)
        messages = messages_text(snap, self.control_note, export, log_shown=self.log_shown, background=background)
        self._set_text("#live-messages", messages.markup, lambda: messages, layout=True)
        self._draw_title(snap, background)

    def _draw_info(self, snap: LiveSnapshot) -> None:
        info = info_rows(snap)
        width = self.query_one("#live-info").content_region.width  # 0 before the first layout
        # laid out again when it changes (at the run's first event, about never after, and on a
        # resize): the data description that replaces the config's data path may wrap onto more lines
        self._set_text("#live-info", (info, width), lambda: label_grid(info, 6, width), layout=True)

    def _draw_title(self, snap: LiveSnapshot, background: tuple[int, int, int] | None) -> None:
        widget = self.query_one("#live-title")
        width = widget.content_region.width or None  # 0 before the first layout: whole
        title = title_text(snap, self.petseg_app.trainer_for(self.run_path) is not None, background, width)
        self._set_text("#live-title", title.markup, lambda: title)

    def shown_preview_epoch(self) -> int | None:
        """The epoch whose predictions are on screen: the chosen one, else the newest."""
        previews = self.snapshot.previews if self.snapshot else None
        if previews is None or not previews.epochs:
            return None
        numbers = [e.epoch for e in previews.epochs]
        return self.preview_epoch if self.preview_epoch in numbers else numbers[-1]

    def _draw_previews(self, snap: LiveSnapshot) -> None:
        if not self.previews_shown:
            return
        self.query_one(PreviewPanel).show(snap.previews, self.shown_preview_epoch(), self.preview_epoch is None,
                                          snap.previews_error, snap.epoch_progress)

    def _draw_progress(self, snap: LiveSnapshot) -> None:
        done = snap.done_epochs
        # no total yet: the bar pulses while a run starts or trains, and stands empty once nothing
        # will come (a launch that failed before its first epoch pulsed on as if it were busy)
        waiting = snap.active or snap.state == RunState.STARTING
        total = snap.total_epochs or (None if waiting else 1)
        budget, spent = snap.budget_seconds(), snap.budget_spent_seconds()
        # a time budget alone: its time spent, also once stopped (a full bar read as "all done")
        if not snap.total_epochs and budget and spent is not None:
            total, done = budget, min(spent, budget)
        self.query_one("#epoch-bar", ProgressBar).update(total=total, progress=done)
        # finished epochs, as the runs table counts them and the bar shows them (`EpochProgress`)
        epoch_label = snap.epoch_progress.label
        self._set_text("#epoch-label", epoch_label, lambda: epoch_label)
        label, total, progress = batch_progress(snap)
        self.query_one("#batch-bar", ProgressBar).update(total=total, progress=progress)
        self._set_text("#batch-label", label, lambda: label)

    # ---- keys ---------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()


    def action_preview_epoch(self, step: int) -> None:
        previews = self.snapshot.previews if self.snapshot else None
        if previews is None or not previews.epochs:
            self.notify("No predictions yet: the trainer writes them after each validation", timeout=2)
            return
        if not self.previews_shown:
            self.previews_shown = self._previews_chosen = True  # asked for: they stay through a resize
        numbers = [e.epoch for e in previews.epochs]
        current = numbers.index(self.shown_preview_epoch())
        target = max(0, min(len(numbers) - 1, current + step))
        self.preview_epoch = None if target == len(numbers) - 1 else numbers[target]

    def action_toggle_previews(self) -> None:
        self.previews_shown = self._previews_chosen = not self.previews_shown

    def action_infer(self) -> None:
        self.petseg_app.action_infer(self.run_path)

    def action_worst(self) -> None:
        self.petseg_app.open_worst(self.run_path)

    def action_worst_refused(self) -> None:
        snap = self.snapshot
        if snap is not None:
            self.petseg_app.say_no_worst(self.run_path, snap.name, snap.no_worst)

    def action_export(self) -> None:
        from petseg_tui.exporting import start_export

        start_export(self, self.run_path)

    def action_export_refused(self) -> None:
        from petseg_tui.exporting import say_no_checkpoint

        say_no_checkpoint(self, self.run_path)
