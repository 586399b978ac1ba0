"""Helpers for the TUI tests: run folders written with the real RunStore/RunWriter, a FakeTrainer,
waiting on the app (never a fixed sleep), and reading what a widget shows.

Imported by the test files as ``from tui_helpers import ...`` (pytest puts tests/tui on sys.path);
the fixtures that use them live in conftest.py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

from engine.config import TrainConfig
from engine.events import (
    BatchProgress,
    EpochEnded,
    EpochStarted,
    RunPaused,
    RunResumed,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from engine.runs import RunStore, RunWriter, write_json_atomic
from engine.sysmetrics.record import GpuSample, SystemSample

T0 = 1_767_000_000.0  # fixed wall-clock base for deterministic tables and snapshots


def epoch_event(epoch: int, total: int, t: float, *, loss0: float = 0.9, dice0: float = 0.5, lr: float = 1e-3) -> EpochEnded:
    train_loss = loss0 / (1 + 0.5 * epoch)
    valid_dice = min(0.95, dice0 + 0.04 * epoch)
    return EpochEnded(
        epoch=epoch,
        total_epochs=total,
        train_loss=train_loss,
        train_dice=valid_dice + 0.02,
        valid_loss=train_loss * 1.1,
        valid_dice=valid_dice,
        valid_iou=valid_dice * 0.85,
        valid_dice_per_image=valid_dice - 0.01,
        valid_iou_per_image=valid_dice * 0.84,
        lr=lr * (0.9 ** (epoch - 1)),
        seconds=30.0,
        images_per_s=120.0 + epoch,
        best_dice=valid_dice,
        best_epoch=epoch,
        t=t,
    )


def unreadable_checkpoint(run: Path) -> Path:
    """A best.pt that is not a checkpoint: the run offers i/w/E, and using its model fails at once."""
    ckpt = run / "checkpoints" / "best.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"not a checkpoint")
    return ckpt


def make_run(
    root: Path,
    name: str,
    *,
    epochs_done: int = 3,
    total: int = 5,
    state: str = "finished",
    t0: float = T0,
    close: bool = True,
    record: dict[str, Any] | None = None,
    data: str = "generated (fixture)",
    **config: Any,
) -> RunWriter:
    """A run folder with ``epochs_done`` epochs; ``state`` finished/stopped/failed/running.
    ``record``: more keys of its config.json (a sweep's), there from the start, as a trial's are;
    ``data``: how its start describes the data (the real sample's takes three rows at 80x24)."""
    cfg = {**TrainConfig(epochs=total, **config).to_dict(), **(record or {})}
    writer = RunStore(root).create(cfg, name)
    writer.append(RunStarted(run=name, total_epochs=total, start_epoch=1, train_size=100, valid_size=10,
                             device="cpu", data=data, t=t0))
    t = t0
    for ep in range(1, epochs_done + 1):
        writer.append(EpochStarted(epoch=ep, total_epochs=total, batches=10, t=t))
        t += 30
        writer.append(epoch_event(ep, total, t, loss0=0.9 + 0.01 * len(name), lr=cfg["learning_rate"]))
    if state == "finished":
        writer.append(RunFinished(epochs=total, best_dice=0.6, best_epoch=epochs_done, seconds=t - t0, t=t + 1))
        writer.set_status("finished", "done")
    elif state == "stopped":
        writer.append(RunStopped(epoch=epochs_done, t=t + 1))
        writer.set_status("stopped", "stopped by user")
    elif state == "failed":
        writer.append(RunFailed(message="CUDA out of memory", t=t + 1))
        writer.set_status("failed", "CUDA out of memory")
    elif state == "running":
        writer.set_status("running")
    if close:
        writer.close()
    return writer


def gpu_sample(gpus: int) -> SystemSample:
    """A system sample as the sampler writes it: ``gpus`` GPUs at 87% with 31 GiB used, or none
    ("no GPU": a run on the CPU)."""
    return SystemSample(t=time.time(), gpus=tuple(GpuSample(index=i, util=87.0, mem_used=31 << 30, mem_total=80 << 30)
                                                  for i in range(gpus)),
                        gpu_note="" if gpus else "no GPU", cpu_percent=90.0, rss=1 << 30, disk_free=1 << 30)


def make_interrupted_run(root: Path, name: str, **kwargs: Any) -> None:
    """A run whose status.json says running, from a process long gone (no such pid, an hour-old
    heartbeat): the store reads it as interrupted."""
    make_run(root, name, state="running", **kwargs)
    status_path = root / name / "status.json"
    status = json.loads(status_path.read_text())
    status["pid"], status["heartbeat"] = 999_999_999, time.time() - 3600
    status_path.write_text(json.dumps(status))


LIGHT_THEMES = ("textual-light", "solarized-light", "catppuccin-latte")


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Let the app run until ``cond()`` holds (checked every 50 ms); fail after ``timeout`` seconds.

    Tests wait for what they then assert, never for a fixed time: a busy CI machine only makes
    them slower, not red. The timeout only bounds a failure, so it is generous. A widget ``cond``
    queries that is not there yet (NoMatches: a screen just pushed composes its widgets in a later
    turn of the loop, polls later on a loaded machine) is "not yet"; the timeout then names it."""
    from textual.css.query import NoMatches

    deadline = time.monotonic() + timeout
    while True:
        try:
            if cond():
                return
            missing = ""
        except NoMatches as exc:
            missing = f" ({exc})"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}{missing}")
        await pilot.pause(0.05)


def screen_up(app, name: str) -> bool:
    """The app shows a screen of class ``name`` with all its widgets mounted. A pushed screen is
    `app.screen` at once but composes its widgets in a later turn of the event loop (on a loaded
    machine, polls later): a query before then finds none of them (NoMatches, not "not yet")."""
    screen = app.screen
    return type(screen).__name__ == name and screen.is_mounted


class FakeTrainer:
    """Stands in for engine.train.trainer.Trainer: writes a run folder from a thread, obeys stop()."""

    def __init__(self, config: TrainConfig, runs_dir: Path, run_name: str | None = None) -> None:
        self.config = config
        self.writer = RunStore(runs_dir).create(config.to_dict(), run_name)
        self.run_name = self.writer.name
        self.run_path = self.writer.path
        self._stop = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._thread: threading.Thread | None = None
        self.calls: list[str] = []
        self._subscribers: list = []

    def subscribe(self, callback) -> None:
        """As the engine's: ``callback(event)`` after each event is on disk."""
        self._subscribers.append(callback)

    def _emit(self, event) -> None:
        self.writer.append(event)
        for callback in self._subscribers:
            callback(event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        w, total = self.writer, self.config.epochs
        w.start_heartbeat(0.5)
        self._emit(RunStarted(run=self.run_name, total_epochs=total, start_epoch=1, train_size=32, valid_size=4,
                            device="cpu", data="fake"))
        stopped = False
        for ep in range(1, total + 1):
            self._emit(EpochStarted(epoch=ep, total_epochs=total, batches=20))
            for b in range(1, 21):
                if not self._unpaused.is_set():  # like the real trainer: say so, wait, say so
                    self._emit(RunPaused(epoch=ep, batch=b - 1))
                    self._unpaused.wait()
                    self._emit(RunResumed(epoch=ep, batch=b - 1))
                if self._stop.is_set():
                    stopped = True
                    break
                self._emit(BatchProgress(epoch=ep, batch=b, batches=20, loss=1.0 / (ep + b / 20), images_per_s=100.0))
                time.sleep(0.03)
            if stopped:
                break
            self._emit(epoch_event(ep, total, time.time()))
        if stopped:
            self._emit(RunStopped(epoch=0))
            w.set_status("stopped", "stopped by user")
        else:
            self._emit(RunFinished(epochs=total, best_dice=0.6, best_epoch=total, seconds=1.0))
            w.set_status("finished", "done")
        w.close()

    def stop(self, reason: str = "") -> None:
        self.calls.append("stop")
        self._stop.set()
        self._unpaused.set()

    def pause(self) -> None:
        self.calls.append("pause")
        self._unpaused.clear()

    def resume(self) -> None:
        self.calls.append("resume")
        self._unpaused.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread:
            self._thread.join(timeout)
        return not self.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def contrast_of(widget, text: str) -> float:
    """The lowest contrast ratio (WCAG: 1 none, 21 black on white) between the colour of ``text``
    and the background it is drawn on, wherever the widget shows it; fails when it shows nowhere.
    What a reader of a light (or dark) theme can or cannot make out: an ANSI colour ("cyan") as the
    app draws it (its ANSI theme's, not Rich's default), a dim one mixed into its background as
    Textual draws dim."""
    from rich.color import Color
    from textual.filter import dim_color

    theme = widget.app.ansi_theme

    def luminance(colour) -> float:
        r, g, b = (c / 255 for c in colour.get_truecolor())
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    ratios = []
    for y in range(widget.size.height):
        for segment in widget.render_line(y):
            style = segment.style
            if text in segment.text and style is not None and style.color and style.bgcolor:
                fg = Color.from_triplet(style.color.get_truecolor(theme, foreground=True))
                bg = Color.from_triplet(style.bgcolor.get_truecolor(theme, foreground=False))
                high, low = sorted((luminance(dim_color(bg, fg) if style.dim else fg), luminance(bg)), reverse=True)
                ratios.append((high + 0.05) / (low + 0.05))
    assert ratios, f"{text!r} is not shown in {widget!r}"
    return min(ratios)


async def light_theme_contrasts(pilot, widget, texts: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """For each of `LIGHT_THEMES`, switched as the command palette switches it: the lowest
    contrast (`contrast_of`) of each of ``texts`` in ``widget``."""
    shown = {}
    for theme in LIGHT_THEMES:
        pilot.app.theme = theme
        await settled(pilot)
        shown[theme] = {text: round(contrast_of(widget, text), 2) for text in texts}
    return shown


def widget_text(widget) -> str:
    """The text a widget shows on screen now: its rendered lines, without padding and border."""
    from textual.geometry import Region

    size, gutter = widget.region.size, widget.styles.gutter
    lines = widget.render_lines(Region(0, 0, size.width, size.height))
    rows = lines[gutter.top: max(gutter.top, size.height - gutter.bottom)]
    return "\n".join(strip.text[gutter.left: max(gutter.left, size.width - gutter.right)] for strip in rows)


def rendered(widget) -> str:
    """What a widget renders, as plain text, before it is laid out in lines (no wrapping)."""
    return str(widget.render())


def toasts(app) -> str:
    """The notifications on screen now (the app must run with ``run_test(notifications=True)``)."""
    return " | ".join(" ".join(rendered(t).split()) for t in app.screen.query("Toast"))


async def settled(pilot) -> None:
    """Let every pending message, refresh and animation run (Textual's own idle wait, no fixed sleep):
    for asserting that something did *not* happen, where there is no condition to wait for."""
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def inference_done(pilot, timeout: float = 240.0) -> None:
    """Wait until the inference screen's own workers are done (the run list's listing, the model's,
    not DirectoryTree's loader, which never ends). A worker that does not finish in ``timeout`` fails the test: a model run on a big
    photo on a busy machine is slow, and a stale result must never be read as the new one."""
    from textual.worker import WorkerCancelled, WorkerFailed

    await pilot.pause()
    for _ in range(3):  # a finished worker may start another (e.g. a re-render)
        for worker in [w for w in pilot.app.workers if w.group in ("list-runs", "inference", "render", "save")]:
            try:
                await asyncio.wait_for(worker.wait(), timeout=timeout)
            except (WorkerCancelled, WorkerFailed):  # superseded workers are cancelled
                pass
        await pilot.pause()


def run_detail(screen) -> str:
    """The runs screen's detail line: the highlighted run's name, state and what is wrong with it."""
    return str(screen.query_one("#run-detail").render())


async def highlight(pilot, table, name: str) -> None:
    """Move the runs table's cursor to a run and wait until the detail line is about it."""
    await wait_for(pilot, lambda: name in table.visible_names, what=f"{name} listed")
    table.move_cursor(row=table.visible_names.index(name))
    await wait_for(pilot, lambda: table.highlighted_name == name and run_detail(pilot.app.screen).startswith(name + " "),
                   what=f"{name} highlighted")


async def open_broken_run_and_return(pilot, screen, name: str) -> None:
    """Open the run ``name`` from the runs table: its live screen reads it as broken, the app keeps
    running, and going home comes back to ``screen``."""
    app = pilot.app
    await highlight(pilot, screen.table, name)
    await pilot.press("enter")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "LiveRunScreen", what=f"{name} opened")
    live = app.screen
    await wait_for(pilot, lambda: live.snapshot is not None, what=f"{name} read")
    assert live.snapshot.state == "broken" and app.is_running
    app.go_home()
    await wait_for(pilot, lambda: app.screen is screen, what="home again")


async def wheel(pilot, widget, event: type, times: int = 1) -> None:
    """Turn the mouse wheel (``event``: MouseScrollUp/Down/Left/Right) over ``widget``'s middle,
    as a terminal reports it (Pilot has no wheel of its own: its mouse-event poster)."""
    for _ in range(times):
        await pilot._post_mouse_events([event], widget, offset=(widget.size.width // 2, widget.size.height // 2))
    await pilot.pause()


def footer_text(screen) -> str:
    """The footer as shown: each key and its label, in order (the keys are the footer's children)."""
    from textual.widgets._footer import FooterKey, FooterLabel

    return " ".join(widget_text(w).strip() for w in screen.query("Footer *") if isinstance(w, (FooterKey, FooterLabel)))


def screen_rows(app) -> list[str]:
    """The terminal's rows as the user reads them, a dialog over its screen included (the screen
    beneath shows through where the dialog draws nothing): drawn as ``App.export_screenshot`` does."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).splitlines()


def seen_at(app, widget) -> str:
    """What the terminal shows where ``widget`` lies (a toast or dialog over it included), its rows
    joined and its spaces squeezed: what a user reads there."""
    region = widget.region
    rows = screen_rows(app)[region.y: region.bottom]
    return " ".join(" ".join(row[region.x: region.right] for row in rows).split())


def make_curve_run(root: Path, name: str, train_losses: list[float], dices: list[float], *, total: int | None = None,
                   t0: float = T0, diverged: bool = False, **config: Any) -> None:
    """A finished (or, with ``diverged``, diverged after the last epoch) run with these curves,
    and a best.pt as such a run has (`unreadable_checkpoint`: the keys using its model shown)."""
    from engine.events import RunDiverged

    total = total or len(train_losses)
    cfg = TrainConfig(epochs=total, **config).to_dict()
    writer = RunStore(root).create(cfg, name)
    writer.append(RunStarted(run=name, total_epochs=total, start_epoch=1, train_size=268, valid_size=29,
                             device="cpu (bfloat16)", data="Oxford-IIIT Pet (fixture)", t=t0))
    t = t0
    for ep, (loss, dice) in enumerate(zip(train_losses, dices), start=1):
        writer.append(EpochStarted(epoch=ep, total_epochs=total, batches=17, t=t))
        t += 30
        writer.append(EpochEnded(epoch=ep, total_epochs=total, train_loss=loss, train_dice=min(0.99, dice + 0.02),
                                 valid_loss=loss * 1.1, valid_dice=dice, valid_iou=dice / (2 - dice),
                                 valid_dice_per_image=dice, valid_iou_per_image=dice / (2 - dice),
                                 lr=cfg["learning_rate"], seconds=30.0, images_per_s=8.9, best_dice=max(dices[:ep]),
                                 best_epoch=dices.index(max(dices[:ep])) + 1, t=t))
    if diverged:
        message = f"loss is NaN/Inf at epoch {len(train_losses) + 1}, batch 3 — training diverged"
        writer.append(RunDiverged(epoch=len(train_losses) + 1, batch=3, message=message, t=t + 5))
        writer.set_status("diverged", message)
    else:
        writer.append(RunFinished(epochs=total, best_dice=max(dices), best_epoch=dices.index(max(dices)) + 1,
                                  seconds=t - t0, t=t + 1))
        writer.set_status("finished", "done")
    writer.close()
    unreadable_checkpoint(writer.path)


OUTLIER_LOSSES = [3.81] + [round(0.6 * 0.93**i + 0.15, 4) for i in range(29)]
OUTLIER_DICES = [0.1] + [round(0.9 - 0.5 * 0.85**i, 4) for i in range(29)]
DIVERGED_LOSSES = [0.9, 0.7, 0.65, 3.2, 412.0, 17211663743894.1]
DIVERGED_DICES = [0.5, 0.6, 0.62, 0.3, 0.0, 0.0]


def write_previews(run_path: Path, epochs: int) -> None:
    """Previews of ``epochs`` epochs through the engine's writer (a model whose mask grows)."""
    import numpy as np
    import torch
    from types import SimpleNamespace

    from engine.train.previews import PreviewWriter

    class Split(SimpleNamespace):
        def __len__(self) -> int:
            return len(self.names)

    n, size = 6, 32
    images = np.random.default_rng(0).integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    trimaps = np.full((n, size, size), 2, np.uint8)
    trimaps[:, 8:24, 8:24] = 1
    split = Split(arrays=SimpleNamespace(images=images, trimaps=trimaps), names=[f"img_{i}" for i in range(n)])

    class Grow(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 1

        def forward(self, x):
            out = torch.full_like(x[:, :1], -10.0)
            out[..., : 8 * self.epoch] = 10.0
            return out

    writer = PreviewWriter(run_path, split, image_size=size, mask_rule="pet_border", device=torch.device("cpu"),
                           min_interval_s=0)
    model = Grow()
    for epoch in range(1, epochs + 1):
        model.epoch = epoch
        writer.capture(epoch, model)
    writer.close()


async def open_live(pilot, path: Path):
    """Open a run's live screen as the app does and wait until it has drawn once (its title says
    the run's state next to its name)."""
    app = pilot.app
    app.open_run(path)

    def drawn() -> bool:
        titles = app.screen.query("#live-title") if type(app.screen).__name__ == "LiveRunScreen" else []
        return bool(titles) and rendered(titles.first()) != Path(path).name

    await wait_for(pilot, drawn, what="live screen drawn")
    return app.screen


def palette_titles(app) -> list[str]:
    """The commands the open command palette lists now, as their plain titles."""
    from textual.command import CommandList

    listed = app.screen.query_one(CommandList)
    return [listed.get_option_at_index(i).hit.text for i in range(listed.option_count)]


async def open_palette(pilot, typed: str = "", until=lambda titles: bool(titles)) -> list[str]:
    """ctrl+p, type ``typed``, wait until the listed titles satisfy ``until``; return them."""
    from textual.command import CommandPalette

    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
    await pilot.press(*("space" if ch == " " else ch for ch in typed))
    await wait_for(pilot, lambda: until(palette_titles(app)), what=f"the palette's list for {typed!r}")
    return palette_titles(app)


async def open_palette_query(pilot, typed: str, until) -> list[str]:
    """Type more into the open palette and wait until its list satisfies ``until``."""
    await pilot.press(*("space" if ch == " " else ch for ch in typed))
    await wait_for(pilot, lambda: until(palette_titles(pilot.app)), what=f"the palette's list after {typed!r}")
    return palette_titles(pilot.app)


def start_in_process(app: Any, runs_dir: Path, name: str, epochs: int = 50) -> FakeTrainer:
    """A FakeTrainer started and handed to ``app`` as a run training in its own process (what the
    form's non-detached start does); 50 epochs keep it running until a test stops it."""
    trainer = FakeTrainer(TrainConfig(epochs=epochs), runs_dir, name)
    app.trainers[trainer.run_path] = trainer
    trainer.start()
    return trainer


SWEEP_TRIALS = [  # trial, learning rate, width, Dice curve, pruned
    (0, 3e-4, 32, [0.55, 0.62, 0.66, 0.70], False),
    (1, 2e-3, 64, [0.60, 0.71, 0.78, 0.81], False),
    (2, 1e-4, 32, [0.40, 0.45], True),
    (3, 1e-3, 64, [0.58, 0.69, 0.75, 0.79], False),
    (4, 6e-4, 32, [0.50, 0.57], True),
]


def make_sweep_runs(root: Path, name: str = "lr-width") -> None:
    """Five trials of a finished sweep as its run folders record them (two pruned at epoch 2)."""
    for trial, lr, width, dices, pruned in SWEEP_TRIALS:
        run = f"{name}-t{trial:03d}"
        make_curve_run(root, run, [1 - d for d in dices], dices, total=4, t0=T0 + 600 * trial,
                       learning_rate=lr, width=width)
        config = RunStore(root).load(run).config
        config["sweep"] = {"name": name, "trial": trial, "params": {"learning_rate": lr, "width": width}}
        write_json_atomic(root / run / "config.json", config)
        if pruned:
            status = root / run / "status.json"
            data = json.loads(status.read_text())
            data.update(state="pruned", message="pruned by its sweep at epoch 2")
            status.write_text(json.dumps(data))


def exit_messages(app, monkeypatch) -> list[str | None]:
    """The messages ``app`` exits with (``App.exit(message=...)``: what the terminal shows after
    the dashboard), appended as it exits."""
    exits: list[str | None] = []
    real_exit = app.exit

    def exit_spy(*args, **kwargs) -> None:
        exits.append(kwargs.get("message"))
        real_exit(*args, **kwargs)

    monkeypatch.setattr(app, "exit", exit_spy)
    return exits
