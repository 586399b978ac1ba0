"""Resuming a sweep from the dashboard: R on the sweeps screen, and R on a sweep trial's run (the
runs table, its live screen), which resumes the trial's sweep: a trial goes on only with its sweep,
which resumes the trials its stopped process left open and tells Optuna how they end. Resumed
alone (``petseg train --resume``), the trial trained outside the sweep: no pruning, no slot, and
the study never heard its result.

`resume_sweep` reads what resuming does from the study (`engine.sweep.resume.resume_plan`, in a
thread: Optuna), asks (as every resume of the dashboard does), then starts ``petseg sweep`` in the
background from the settings the study recorded (`engine.sweep.launch.start_watched`, as the
new-sweep form does) and says how that went. Whatever cannot be done is one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

_busy: set[tuple[Path, str]] = set()  # (runs folder, sweep) being checked or started: one at a time


def trial_line(run: str, trial: int, sweep: str) -> str:
    """How a trial's run names its sweep, first in every line about resuming it."""
    return f"{run} is trial {trial} of sweep {sweep}"


def resume_sweep(app: Any, name: str, *, trial: tuple[str, int] | None = None,
                 started: Callable[[], None] | None = None) -> None:
    """Resume sweep ``name`` of the app's runs folder (asks first); ``trial``: (run name, number)
    when R was pressed on that trial's run; ``started``: called on the UI thread once it runs."""
    key = (Path(app.runs_dir), name)
    if key in _busy:
        app.notify(f"sweep {name} is being resumed already", severity="warning", markup=False)
        return
    _busy.add(key)
    app.run_worker(lambda: _check(app, name, trial, started), thread=True, group="sweep-resume",
                   exit_on_error=False)


def _check(app: Any, name: str, trial: tuple[str, int] | None, started: Callable[[], None] | None) -> None:
    """In a thread: whether and how the sweep resumes, then the question (or the line) on the UI thread."""
    from engine.errors import PetsegError, one_line
    from engine.sweep.resume import RUNNING, checked_resume

    runs_dir = Path(app.runs_dir)
    about = f"{trial_line(*trial, name)}: " if trial else ""
    plan, refusal, line = None, None, ""
    try:
        plan, refusal = checked_resume(runs_dir, name)
    except PetsegError as exc:
        line = f"{about}{one_line(exc)}"
    except Exception as exc:  # noqa: BLE001 - a storage mid-write, a server away: said, never a crash
        line = f"{about}sweep {name} cannot be read now ({one_line(exc)})"
    if plan is not None and trial and trial[1] not in plan.open_trials:
        status = plan.statuses.get(trial[1], "")
        line = (f"{about}its study counts it {status}, so the sweep does not resume it; resumed alone it would "
                f"train outside the sweep and Optuna would never hear of it (petseg train --resume {trial[0]} "
                "does that)" if status else
                f"{about}its study has no trial {trial[1]}: the sweep cannot resume it")
    elif refusal is not None:  # the words petseg sweep --resume says, and the way on here
        way_on = "it takes its open trials over itself" if trial else "x stops it"
        line = f"{about}{refusal.text}" + (f" ({way_on})" if refusal.reason == RUNNING else "")
    app.call_from_thread(_ask, app, name, plan if not line else None, line, trial, started)


def _ask(app: Any, name: str, plan: Any, line: str, trial: tuple[str, int] | None,
         started: Callable[[], None] | None) -> None:
    from engine.runs.layout import sweep_log
    from petseg_tui.screens.confirm import ConfirmScreen

    key = (Path(app.runs_dir), name)
    if plan is None:
        _busy.discard(key)
        app.notify(line, title="Cannot resume", severity="warning", timeout=10, markup=False)
        return
    what = plan.text()
    why = f"{trial_line(*trial, name)}: it resumes with its sweep, which tells Optuna how it ends.\n\n" if trial else ""
    question = (f"Resume sweep {name}?\n\n{why}{what[0].upper()}{what[1:]}, in a petseg sweep process in the "
                f"background, with the settings its study recorded; its output goes to {sweep_log(app.runs_dir, name)}.")

    def answer(ok: bool | None) -> None:
        if not ok:
            _busy.discard(key)
            return
        app.run_worker(lambda: _start(app, plan, started), thread=True, group="sweep-resume", exit_on_error=False)

    app.push_screen(ConfirmScreen(question, yes="Resume sweep", no="Cancel"), answer)


def _start(app: Any, plan: Any, started: Callable[[], None] | None) -> None:
    """In a thread: start the sweep and watch it claim its study (or fail: its error line)."""
    from engine.errors import PetsegError, one_line
    from engine.runs.layout import sweep_log
    from engine.sweep.launch import start_watched

    name = plan.spec.name
    log = sweep_log(app.runs_dir, name)
    try:
        pid, ended = start_watched(plan.spec, app.runs_dir)
    except Exception as exc:  # noqa: BLE001 - a PetsegError's line, or any other: said, and R free again
        line = one_line(exc) if isinstance(exc, PetsegError) else f"cannot start the sweep: {one_line(exc)}"
        app.call_from_thread(_said, app, name, line, "error", f"Sweep {name} did not resume", None)
        return
    said = (f"sweep {name} (pid {pid}) ended at once with nothing to do; its output: {log}" if ended else
            f"sweep {name} resumed (pid {pid}): {plan.text()}; its output: {log}")
    app.call_from_thread(_said, app, name, said, "information", "", started)


def _said(app: Any, name: str, line: str, severity: str, title: str, started: Callable[[], None] | None) -> None:
    _busy.discard((Path(app.runs_dir), name))
    app.notify(line, title=title, severity=severity, timeout=10, markup=False)
    if started is not None:
        started()
