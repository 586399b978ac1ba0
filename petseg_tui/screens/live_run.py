"""One run, live while it trains and as a history view once it is over.

A thread worker polls the run folder (every 0.25 s, a stat when nothing changed) and posts a
`LiveSnapshot`; the screen only marks itself dirty and redraws on a 0.2 s timer, so however
fast events arrive it draws at most 5 times a second.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Label, ProgressBar, Static
from textual import work
from textual.worker import get_current_worker

from engine.store import request_control
from petseg_tui.screens.base import PetsegScreen
from petseg_tui.format import fmt_duration, fmt_float, fmt_lr, fmt_rate, state_text
from petseg_tui.messages import LiveUpdated
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.watch import LiveFollower, LiveSnapshot
from petseg_tui.widgets.charts import DiceChart, LossChart

POLL_S = 0.25
REDRAW_S = 0.2
EMA_STEPS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


class LiveRunScreen(PetsegScreen):
    """Charts, progress and figures of one run; stop / pause it."""

    HELP = "One run: live while it trains, its history once it is over."
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "stop", "Stop"),
        Binding("p", "pause", "Pause/resume"),
        Binding("l", "log_y", "Log-y"),
        Binding("e", "smoothing", "Smoothing"),
        Binding("plus,equals_sign", "ema(1)", "EMA +", key_display="+"),
        Binding("minus", "ema(-1)", "EMA −", key_display="-"),
        Binding("i", "infer", "Infer", show=False),
        Binding("w", "worst", "Worst", show=False),
    ]

    def __init__(self, run_path: Path, pid: int | None = None) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.pid = pid
        self.snapshot: LiveSnapshot | None = None
        self.dirty = False
        self.redraws = 0
        self._ema_index = 3  # 0.6 once smoothing is on
        self._smoothing_on = False
        self._stop_event = threading.Event()
        self._control_note = ""
        self._control_action: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.run_path.name, id="live-title")
        with Horizontal(id="live-charts"):
            yield LossChart(id="loss-chart")
            yield DiceChart(id="dice-chart")
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
        yield Static(id="live-messages")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.run_path.name
        self.query_one(LossChart).update_data((), ())
        self.query_one(DiceChart).update_data(())
        self.set_interval(REDRAW_S, self._redraw_if_dirty)
        self._poll()

    def on_unmount(self) -> None:
        self._stop_event.set()

    # ---- polling ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="live-poll")
    def _poll(self) -> None:
        follower = LiveFollower(self.run_path, pid=self.pid)
        worker = get_current_worker()
        while not (worker.is_cancelled or self._stop_event.is_set()):
            try:
                snap = follower.snapshot()
            except Exception as exc:  # a malformed folder shows as a message, never a crash
                snap = LiveSnapshot(
                    name=self.run_path.name, path=self.run_path, exists=True, state="broken", message=str(exc)
                )
            if snap is not None:
                self.post_message(LiveUpdated(snap))
            self._stop_event.wait(POLL_S if (snap is None or snap.active or not snap.exists) else 1.0)

    def on_live_updated(self, message: LiveUpdated) -> None:
        self.snapshot = message.snapshot
        self.dirty = True

    def _redraw_if_dirty(self) -> None:
        if self.dirty:
            self.dirty = False
            self.redraw()

    # ---- drawing ------------------------------------------------------------------------------
    def redraw(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        self.redraws += 1
        loss = self.query_one(LossChart)
        loss.update_data(snap.epochs, snap.batches if snap.active else ())
        self.query_one(DiceChart).update_data(snap.epochs)
        self._draw_progress(snap)
        self.query_one("#live-stats", Static).update(self._stats(snap))
        self.query_one("#live-info", Static).update(self._info(snap))
        self.query_one("#live-messages", Static).update(self._messages(snap))
        title = Text()
        title.append(snap.name, style="bold")
        title.append("  ")
        title.append_text(state_text(snap.state))
        if self.app.trainer_for(self.run_path) is not None:  # type: ignore[attr-defined]
            title.append("  in this process", style="dim")
        elif snap.active:
            title.append(f"  detached (pid {snap.pid})" if snap.pid else "  other process", style="dim")
        self.query_one("#live-title", Static).update(title)

    def _draw_progress(self, snap: LiveSnapshot) -> None:
        done = snap.last.epoch if snap.last else 0
        total = snap.total_epochs or None
        self.query_one("#epoch-bar", ProgressBar).update(total=total, progress=done)
        self.query_one("#epoch-label", Label).update(
            f"Epoch {snap.current_epoch or done}/{snap.total_epochs or '?'}"
        )
        if snap.active and snap.current_batches:
            self.query_one("#batch-bar", ProgressBar).update(total=snap.current_batches, progress=snap.current_batch)
            self.query_one("#batch-label", Label).update(f"Batch {snap.current_batch}/{snap.current_batches}")
        else:
            bar = self.query_one("#batch-bar", ProgressBar)
            bar.update(total=1, progress=1 if snap.epochs else 0)
            self.query_one("#batch-label", Label).update("Batch —")

    def _stats(self, snap: LiveSnapshot) -> Table:
        t = Table.grid(padding=(0, 1))
        t.add_column(style="dim", no_wrap=True, min_width=9)
        t.add_column(no_wrap=True, overflow="ellipsis")
        last, best = snap.last, snap.best
        lr = last.lr if last else snap.config.get("learning_rate")
        ips = snap.batches[-1].images_per_s if (snap.active and snap.batches) else (last.images_per_s if last else None)
        eta = snap.eta_seconds()
        t.add_row("LR", fmt_lr(lr))
        t.add_row("images/s", fmt_rate(ips))
        t.add_row("ETA", ("~" + fmt_duration(eta)) if eta is not None else "—")
        t.add_row("elapsed", fmt_duration(snap.duration))
        t.add_row("best Dice", f"{fmt_float(best.valid_dice)} @ epoch {best.epoch}" if best else "—")
        t.add_row("loss t/v", f"{fmt_float(last.train_loss)} / {fmt_float(last.valid_loss)}" if last else "—")
        return t

    def _info(self, snap: LiveSnapshot) -> Table:
        cfg = snap.config
        t = Table.grid(padding=(0, 1))
        t.add_column(style="dim", no_wrap=True, min_width=6)
        t.add_column(no_wrap=True, overflow="ellipsis")
        t.add_row(
            "model",
            f"{cfg.get('model', '?')} · bs {cfg.get('batch_size', '?')} · img {cfg.get('image_size', '?')}"
            f" · lr {cfg.get('learning_rate', '?')}",
        )
        t.add_row("device", snap.device or str(cfg.get("device", "—")))
        t.add_row("data", snap.data or (cfg.get("data_path") or "auto"))
        return t

    def _messages(self, snap: LiveSnapshot) -> Text:
        out = Text()
        if not snap.exists:
            out.append("Waiting for the run folder to appear (the trainer is importing torch) …", style="italic")
            return out
        if self._smoothing_on:
            out.append(f"smoothing: EMA {self.ema_factor:.2f} (+/- to change)  ", style="dim")
        if self.query_one(LossChart).log_y:
            out.append("loss: log scale  ", style="dim")
        if self._control_note and self._control_done(snap):
            self._control_note, self._control_action = "", None  # the run has done what we asked
        if self._control_note:
            out.append(self._control_note + "  ", style="yellow")
        if snap.paused or snap.state == "paused":
            out.append("Paused — press p to resume. ", style="bold yellow")
        if snap.message and snap.state in ("failed", "diverged", "broken", "interrupted", "stopped"):
            out.append("\n" + snap.message, style="bold red" if snap.state != "stopped" else "magenta")
        elif snap.state == "interrupted":
            out.append("\nNo heartbeat: the training process is gone. Resume with `petseg train --resume "
                       f"{snap.name}`.", style="dark_orange")
        for w in snap.warnings[-3:]:
            out.append("\n⚠ " + w, style="yellow")
        if snap.bad_lines:
            out.append(f"\n⚠ {snap.bad_lines} unreadable line(s) in events.jsonl skipped", style="yellow")
        if snap.log_tail:
            out.append("\ntrain.log: " + snap.log_tail.replace("\n", "\n  "), style="dim")
        return out

    # ---- keys ---------------------------------------------------------------------------------
    @property
    def ema_factor(self) -> float:
        return EMA_STEPS[self._ema_index]

    def _apply_smoothing(self) -> None:
        self.query_one(LossChart).smoothing = self.ema_factor if self._smoothing_on else 0.0
        self.dirty = True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_log_y(self) -> None:
        chart = self.query_one(LossChart)
        chart.log_y = not chart.log_y
        self.dirty = True

    def action_smoothing(self) -> None:
        self._smoothing_on = not self._smoothing_on
        if self._smoothing_on and self.ema_factor == 0.0:
            self._ema_index = 3
        self._apply_smoothing()
        self.notify(f"Smoothing: EMA {self.ema_factor:.2f}" if self._smoothing_on else "Smoothing: raw", timeout=1.5)

    def action_ema(self, step: int) -> None:
        self._ema_index = max(1, min(len(EMA_STEPS) - 1, self._ema_index + step))
        self._smoothing_on = True
        self._apply_smoothing()
        self.notify(f"Smoothing: EMA {self.ema_factor:.2f}", timeout=1.5)

    def action_infer(self) -> None:
        self.app.action_infer(self.run_path)  # type: ignore[attr-defined]

    def action_worst(self) -> None:
        self.app.open_worst(self.run_path)  # type: ignore[attr-defined]

    def _is_active(self) -> bool:
        snap = self.snapshot
        return bool(snap and (snap.active or snap.state == "starting"))

    def action_stop(self) -> None:
        if not self._is_active():
            self.notify("This run is not training", severity="warning")
            return
        trainer = self.app.trainer_for(self.run_path)  # type: ignore[attr-defined]
        where = "in this process" if trainer is not None else "in another process (detached)"
        question = (
            f"Stop {self.run_path.name} (training {where})?\n\n"
            "The current batch finishes, last.pt is saved and the run is marked stopped; "
            f"resume later with `petseg train --resume {self.run_path.name}`."
        )

        def answer(ok: bool | None) -> None:
            if ok:
                self.request("stop")

        self.app.push_screen(ConfirmScreen(question, yes="Stop run", no="Keep training"), answer)

    def action_pause(self) -> None:
        snap = self.snapshot
        if not self._is_active():
            self.notify("This run is not training", severity="warning")
            return
        self.request("resume" if (snap and (snap.paused or snap.state == "paused")) else "pause")

    def request(self, action: str) -> None:
        """Stop / pause / resume: the Trainer object if it lives here, else a control file."""
        trainer = self.app.trainer_for(self.run_path)  # type: ignore[attr-defined]
        try:
            if trainer is not None:
                getattr(trainer, action)()
            else:
                request_control(self.run_path, action)
        except OSError as exc:
            self.notify(f"Could not send {action}: {exc}", severity="error")
            return
        verb = {"stop": "Stopping", "pause": "Pausing", "resume": "Resuming"}[action]
        self._control_note = f"{verb} (after the current batch) …"
        self._control_action = action
        self.notify(f"{verb} {self.run_path.name} after the current batch", timeout=3)
        self.dirty = True
        self.set_timer(8, self._clear_note)

    def _control_done(self, snap: LiveSnapshot) -> bool:
        paused = snap.paused or snap.state == "paused"
        return {
            "pause": paused,
            "resume": not paused and snap.state == "running",
            "stop": snap.state not in ("running", "paused"),
        }.get(self._control_action or "", False)

    def _clear_note(self) -> None:
        self._control_note = ""
        self.dirty = True
