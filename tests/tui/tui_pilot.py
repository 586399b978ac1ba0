"""Driving the app in a test: waiting for a condition (never a fixed sleep) or for the app to
settle, and the keys that open a run, a live screen or the command palette."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

from tui_screen_text import palette_titles, rendered, run_detail


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
