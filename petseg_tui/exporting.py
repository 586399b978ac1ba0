"""Exporting a run to ONNX from the dashboard (key ``E`` on the runs table and on a run's screen).

`start_export` runs ``petseg export``'s own `engine.export.run_export.export_run` in a thread
worker of the app (it imports torch and takes seconds: never on the UI thread), one export per run at a
time. While it runs (a resnet18_unet took ~90 s) the runs screen's detail line and the run's screen
say so, with the step it is at in the engine's words (`engine.export.run_export.ExportStep`:
"checking it against PyTorch at 256x256 on the bundled test photos", the long part) and the time
since it started (`export_progress`, refreshed every second), until it ends or fails: the screens E
is pressed on say it in place, and no notification repeats it (at 80x24 a
toast saying "Exporting …" lay over that very line). Its outcome is a notification: the parity
figures from the entry it wrote to ``export.json`` (or why it was refused, in one line), and the
run's screen shows its ``export.json`` (`export_note`). When the export would replace
a file with a loss (`engine.export.run_export.export_loss`: one petseg export did not write, or an
export of another checkpoint, or changed since: a model the user may deploy), the dashboard has
no ``--overwrite`` to pass: it asks "Replace FILE?" with what the file holds (`ConfirmScreen`) and
exports again with overwrite only on yes. Over its own export of the same checkpoint it asks nothing.
Notifications are plain text (paths and run names are not markup). No torch at import.
"""

from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path
from typing import Any

_running: dict[Path, float | None] = {}  # run -> when its export started (time.monotonic); None: checking
# whether it may start (the question "Replace?" comes before any work)
_doing: dict[Path, str] = {}  # run -> the step its export is at (`ExportStep.doing`), once it said one
_lock = threading.Lock()
_tickers: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()  # app -> the timer refreshing
# the progress lines while exports run
NOTIFY_S = 20.0  # the figures stay up long enough to be read
TICK_S = 1.0


def say_no_checkpoint(node: Any, run_path: Path) -> None:
    """``E`` on a run with no checkpoint: say so, in the engine's words (E did nothing there, while
    the help lists it for every run); a checkpoint saved since: export it (UI thread)."""
    from engine.runs.layout import why_no_checkpoint

    why = why_no_checkpoint(run_path)
    if why:
        node.notify(why, title="Nothing to export", severity="warning", timeout=NOTIFY_S, markup=False)
        return
    start_export(node, run_path)


def export_progress(run_path: Path) -> str:
    """What the screens of a run say while it is being exported here, "" when it is not."""
    with _lock:
        started = _running.get(Path(run_path))
        doing = _doing.get(Path(run_path))
    if started is None:  # not exporting, or still checking whether it may
        return ""
    return f"exporting to ONNX{f': {doing}' if doing else ''}… (started {int(time.monotonic() - started)} s ago)"


def _at_step(run_path: Path, doing: str) -> None:
    """The export of ``run_path`` started step ``doing`` (its worker thread); the screens show it
    at their next refresh, within a second."""
    with _lock:
        if run_path in _running:
            _doing[run_path] = doing


def _show_progress(app: Any) -> None:
    """Refresh the export progress of every open screen that shows one (UI thread); the timer
    stops once no export runs (the last refresh has cleared the lines)."""
    for screen in app.screen_stack:
        show = getattr(screen, "show_export_progress", None)
        if show is not None:
            show()
    with _lock:
        idle = not _running
    if idle and app in _tickers:
        _tickers.pop(app).stop()


def start_export(node: Any, run_path: Path, *, overwrite: bool = False) -> bool:
    """Export ``run_path`` to ``<run>/export/model.onnx`` in a worker of ``node`` (a screen or the
    app); False (and a notification) if that run is being exported already. ``overwrite``: the
    user said yes to replacing a file petseg export did not write."""
    run_path = Path(run_path)
    with _lock:
        if run_path in _running:
            node.notify(f"{run_path.name} is being exported already", severity="warning", markup=False)
            return False
        _running[run_path] = None  # checked first (`_export`); `_started` once it may go on
    # the app's worker, not the screen's: leaving the screen must not orphan the result
    app = node.app
    app.run_worker(lambda: _export(app, run_path, overwrite), thread=True, group="export", exit_on_error=False)
    return True


def _started(app: Any, run_path: Path) -> None:
    """The export passed its checks and starts its work: show its progress on the screens that
    show one (UI thread). Said there alone: a toast saying it too covered the runs screen's detail
    line at 80x24 (toasts fill the bottom right), the progress under a copy of itself."""
    with _lock:
        _running[run_path] = time.monotonic()
    if app not in _tickers:
        ref = weakref.ref(app)  # the timer (the dict's value) must not keep its app (the key) alive
        _tickers[app] = app.set_interval(TICK_S, lambda: (a := ref()) is not None and _show_progress(a))
    _show_progress(app)


def export_note(run_path: Path, *, brief: bool = False) -> str:
    """The run's ``export.json`` for its screen: one line per exported file, "" if none; a file
    deleted or replaced since it was exported is said on its line (the report alone would still
    call it written). ``brief``: the same words for the runs screen's detail line, each file with
    its lowest agreement only (a run's screen gives every figure), the files on one line."""
    from engine.export.report import brief as brief_words
    from engine.export.report import file_note, run_report, summary
    from engine.runs.layout import EXPORT_DIR

    lines = []
    for _, entry in sorted(run_report(run_path).items()):
        note = file_note(Path(run_path) / EXPORT_DIR, entry)
        lines.append((brief_words(entry) if brief else summary(entry)) + (f" — but {note}" if note else ""))
    if not lines:
        return ""
    return "export: " + " · ".join(lines) if brief else "\n".join(f"export: {line}" for line in lines)


def _show_on_run_screens(app: Any, run_path: Path) -> None:
    """Refresh the export line of every open screen of this run, and have the runs screen read
    its export now (its detail line says it; its own poll would in up to 2 s) (UI thread)."""
    for screen in app.screen_stack:
        if getattr(screen, "run_path", None) == run_path and hasattr(screen, "export_note"):
            screen.export_note = export_note(run_path)
        rescan = getattr(screen, "rescan", None)
        if rescan is not None:
            rescan()


def _ask_overwrite(app: Any, run_path: Path, path: Path, why: str) -> None:
    """The export found ``path`` there and would replace it with a loss (``why``, a sentence):
    replace it only on yes (UI thread)."""
    from petseg_tui.screens.confirm import ConfirmScreen

    def answer(ok: bool | None) -> None:
        if ok:
            start_export(app, run_path, overwrite=True)

    app.push_screen(ConfirmScreen(
        f"Replace {path}?\n\nIt exists and {why}. Exporting {run_path.name} "
        "replaces it; keep it to leave it (and the export) as they are.", yes="Replace", no="Keep it"), answer)


def _export(app: Any, run_path: Path, overwrite: bool = False) -> None:
    node = app  # notifications go to whatever screen is showing when the export ends
    ask: tuple[Path, str] | None = None  # the file to ask about replacing and why, once this export no
    # longer counts as running
    try:
        from engine.errors import PetsegError, first_line
        from engine.export.report import read_report, summary
        from engine.export.run_export import NotAnExportRefused, check_before_export, export_run

        try:
            # its refusals before any work (torch imported, the model loaded: ~15 s on a busy
            # machine), so that "Replace?" comes at once, and "Exporting…" only for an export
            check_before_export(run_path, "onnx", overwrite=overwrite)
            app.call_from_thread(_started, app, run_path)
            from engine.device import leave_a_core_for_the_ui

            leave_a_core_for_the_ui()
            result = export_run(run_path, "onnx", overwrite=overwrite,
                                on_step=lambda step: _at_step(run_path, step.doing))
        except NotAnExportRefused as exc:  # "pass --overwrite" means nothing here: ask
            ask = (exc.path, exc.why)
            return
        except PetsegError as exc:
            app.call_from_thread(node.notify, first_line(exc), title="Export failed", severity="error",
                                 timeout=NOTIFY_S, markup=False)
            return
        except Exception as exc:  # the dashboard carries on whatever the exporter raised
            app.call_from_thread(node.notify, f"{run_path.name}: unexpected {type(exc).__name__}: {first_line(exc)}",
                                 title="Export failed", severity="error", timeout=NOTIFY_S, markup=False)
            return
        entry = read_report(result.path).get(result.path.name, {})
        text = summary(entry) if entry else f"{result.path.name}: no report written"
        title = "Exported" if result.accepted else "Export refused"
        app.call_from_thread(node.notify, f"{text}\n{result.path}", title=title,
                             severity="information" if result.accepted else "error", timeout=NOTIFY_S, markup=False)
        app.call_from_thread(_show_on_run_screens, app, run_path)
    finally:
        with _lock:
            _running.pop(run_path, None)
            _doing.pop(run_path, None)
        try:
            app.call_from_thread(_show_progress, app)  # the progress lines go at once
            if ask is not None:
                app.call_from_thread(_ask_overwrite, app, run_path, *ask)
        except RuntimeError:  # the app has ended
            pass
