"""``q`` ends ``petseg-tui`` at once, even while one of its thread workers is still at work (an
export: ~90 s for a resnet18_unet; the worst-samples scoring; a model loading for inference).
The app's exit waited for every such thread (asyncio's default executor, then the interpreter's
join of its threads): the terminal was given back but the shell prompt was not, for as long.

A real ``petseg-tui`` process (its entry point, headless; warm: tests/warm_petseg.py, and the step
held says "export busy" when it is reached): a step of the export is held on an event it waits
on for `HELD_S`; the test measures the time from ``q`` to the process's end, and what the export
left in the run folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests import warm_petseg
from tui_helpers import make_run, unreadable_checkpoint

REPO = Path(__file__).resolve().parents[2]
HELD_S = 30.0  # how long the export's worker stays busy: the old exit waited this long
QUIT_SECONDS = 8.0  # the new one: the app's own teardown, on a loaded 2-core machine

SCRIPT = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path

    def busy(*args, **kwargs):  # the export's work, still going when the user quits
        print("export busy", flush=True)
        threading.Event().wait({held})

    {hold}

    import petseg_tui.__main__ as entry
    from petseg_tui.app import PetsegApp
    from petseg_tui.exporting import start_export

    run = PetsegApp.run

    async def user(pilot):
        await pilot.pause(0.5)
        start_export(pilot.app, Path({run_path!r}))
        while "busy" not in Path({flag!r}).read_text():
            await pilot.pause(0.05)
        print("quit", time.monotonic(), flush=True)
        await pilot.press("q")

    PetsegApp.run = lambda self, **kw: run(self, headless=True, size=(120, 30), auto_pilot=user)
    sys.argv = ["petseg-tui", "--runs", {runs!r}]
    entry.main()
""")


def _quit_mid_export(runs_dir: Path, run: Path, tmp_path: Path, hold: str) -> tuple[float, str, int]:
    """Start the export of ``run``, ``q`` once its step ``hold`` holds it: (seconds from ``q`` to
    the process's end, its output, its exit code)."""
    out = tmp_path / "out.txt"
    script = SCRIPT.format(held=HELD_S, run_path=str(run), flag=str(out), runs=str(runs_dir), hold=hold)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(out, "w") as fh:
        proc = warm_petseg.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdout=fh,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            proc.wait(timeout=HELD_S + 120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    ended = time.monotonic()
    text = out.read_text()
    quit_lines = [line for line in text.splitlines() if line.startswith("quit ")]
    assert quit_lines, text[-2000:]
    return ended - float(quit_lines[0].split()[1]), text, proc.returncode


def test_q_ends_the_dashboard_while_an_export_is_still_running(runs_dir: Path, tmp_path: Path) -> None:
    run = make_run(runs_dir, "tiny").path
    took, text, code = _quit_mid_export(runs_dir, run, tmp_path,
                                        "import engine.export.run_export as m; m.check_before_export = busy")
    assert code == 0, text[-2000:]
    assert took < QUIT_SECONDS, f"the dashboard ended {took:.1f} s after q (its export worker held it)\n{text[-2000:]}"


def test_q_mid_export_leaves_no_empty_export_folder(runs_dir: Path, tmp_path: Path) -> None:
    """The export made the run's ``export/`` folder before its work (loading the model, exporting,
    the parity check), and the dashboard's end does not wait for that work: ``q`` meanwhile left
    an empty ``export/`` in the run folder. It is made only when the export writes now."""
    run = make_run(runs_dir, "tiny").path
    unreadable_checkpoint(run)  # a best.pt to export: its loading is held, never done
    _, text, code = _quit_mid_export(runs_dir, run, tmp_path,
                                     "import engine.export.model as m; m.load_for_export = busy")
    assert code == 0 and "export busy" in text, text[-2000:]
    assert not (run / "export").exists(), sorted(p.name for p in (run / "export").iterdir())
