"""Helpers of the sweeps screen's tests: the app on a runs folder, the sweeps screen opened with
g, each trial's ``petseg train`` faked without torch, and the sweep form's launch stood in for."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import settled, wait_for

from petseg_tui.app import PetsegApp


def _app(runs: Path, monkeypatch) -> PetsegApp:
    monkeypatch.chdir(runs.parent)
    return PetsegApp(runs_dir=Path("runs"), image_mode="halfcell")


async def _open_sweeps(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.loaded, what="first scan")
    await pilot.press("g")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "SweepScreen" and pilot.app.screen.loaded,
                   what="the sweeps screen")
    await settled(pilot)


def _fake_trials(monkeypatch) -> None:
    """Each trial's ``petseg train`` is fake_train.py (no torch): the sweep's own code runs."""
    import os
    import sys

    from engine.train import launch
    from tests.engine.sweep.fake_sweep import FAKE

    monkeypatch.setattr(launch, "train_command", lambda config, runs, name: [
        sys.executable, str(FAKE), "train", "--runs", str(runs), "--run_name", name, *config.to_argv()])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("FAKE_EPOCH_SECONDS", "0.05")


class _Child:
    """Stands in for the ``petseg sweep`` process the form starts: running (None) or exited."""

    def __init__(self, pid: int, code: int | None) -> None:
        self.pid, self.code = pid, code

    def poll(self) -> int | None:
        return self.code

    def wait(self, timeout: float | None = None) -> int | None:
        return self.code


def _record_starts(monkeypatch) -> list:
    """The specs the sweep form starts, each as a child that opened its study and claimed the sweep."""
    import os

    from engine.sweep import launch

    started: list = []

    def start(spec, runs_dir):
        started.append(spec)
        launch.claim_sweep(runs_dir, spec.name)
        return _Child(os.getpid(), None)

    monkeypatch.setattr(launch, "start_sweep", start)
    return started
