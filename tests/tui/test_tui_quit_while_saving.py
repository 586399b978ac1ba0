"""``q`` while the dashboard saves pictures into a run folder: the inference screen's ``S`` (an
overlay and its mask into ``predictions/``) and the worst-samples gallery's ``S`` (the contact
sheet into ``eval/``). The dashboard ends its process ~2 s after ``q`` without waiting for its
thread workers (`petseg_tui.unwaited`), and a save still at work was cut where it stood: an empty
``predictions/`` or ``eval/`` folder when it was still drawing the pictures (a huge photo's at its
own size), a temp file ``.NAME.PID.TID.tmp`` and no picture, or an overlay without its mask, when
it was writing them. Now the folder is made only when the pictures are written, and the process's
end waits for that write (`engine.exit_writes`), saying so on stderr (one line, only then).

A real ``petseg-tui`` process (its entry point, headless; warm: tests/warm_petseg.py, every step
held is looked up at call time and says "held" when it is reached) on the session's tiny trained
run: a step of the save is held (the drawing on an event for `HELD_S`, or the write's fsync for
`SLOW_WRITE_S`), ``q`` is pressed meanwhile, and the test looks at the run folder once the process
has ended."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import time
from pathlib import Path

import pytest

from petseg_tui.__main__ import FINISHING
from tests import warm_petseg

REPO = Path(__file__).resolve().parents[2]
HELD_S = 30.0  # a drawing step held this long: the dashboard ends long before
SLOW_WRITE_S = 4.0  # a write held this long in its fsync: longer than q's wait for the workers (2 s)
QUIT_SECONDS = 8.0 + SLOW_WRITE_S  # from q to the process's end, on a loaded 2-core machine

SCRIPT = textwrap.dedent("""
    import os, sys, threading, time
    from pathlib import Path

    def busy(*args, **kwargs):  # a step of the save, still going when the user quits
        print("held", flush=True)
        threading.Event().wait({held})

    real_fsync = os.fsync

    def slow_fsync(fd):  # the write of the file named {slow_name!r}, held in its fsync
        if os.readlink(f"/proc/self/fd/{{fd}}").endswith(".tmp") and {slow_name!r} in os.readlink(f"/proc/self/fd/{{fd}}"):
            print("held", flush=True)
            time.sleep({slow})
        real_fsync(fd)

    os.fsync = slow_fsync
    {hold}

    import petseg_tui.__main__ as entry
    from petseg_tui.app import PetsegApp

    run = PetsegApp.run

    async def wait_until(pilot, done, what):
        for _ in range(2400):
            if done():
                return
            await pilot.pause(0.05)
        print("never", what, flush=True)
        await pilot.press("q")

    async def user(pilot):
        await pilot.pause(0.5)
        {drive}
        while "held" not in Path({flag!r}).read_text():
            await pilot.pause(0.05)
        print("quit", time.monotonic(), flush=True)
        await pilot.press("q")

    PetsegApp.run = lambda self, **kw: run(self, headless=True, size=(120, 30), auto_pilot=user)
    sys.argv = ["petseg-tui", "--runs", {runs!r}]
    entry.main()
""")

# i on the run, a bundled photo predicted (r), then S
INFER_AND_SAVE = """from engine.data.samples import sample_image_paths
    await pilot.press("i")
    await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "InferenceScreen", "the inference screen")
    screen = pilot.app.screen
    screen.selected_image = sample_image_paths()[0]
    await pilot.press("r")
    await wait_until(pilot, lambda: screen.prediction is not None, "a prediction")
    await pilot.press("S")"""

# w on the run, its gallery scored, then S
GALLERY_AND_SAVE = """await pilot.press("w")
    await wait_until(pilot, lambda: getattr(pilot.app.screen, "gallery", None) is not None, "the gallery")
    await pilot.press("S")"""


def _quit_while_saving(runs: Path, tmp_path: Path, drive: str, *, hold: str = "",
                       slow_name: str = "no such file") -> tuple[float, str, int, str]:
    """Run the dashboard on ``runs``, ``drive`` it to a save, ``q`` once the save is held (by
    ``hold``, or in the write of the file named ``slow_name``): (seconds from ``q`` to the
    process's end, its output (stdout, then stderr), its exit code, its stderr)."""
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    script = SCRIPT.format(held=HELD_S, slow=SLOW_WRITE_S, slow_name=slow_name, hold=hold, drive=drive,
                           flag=str(out), runs=str(runs))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(out, "w") as fh, open(err, "w") as eh:
        proc = warm_petseg.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdout=fh, stderr=eh, text=True)
        try:
            proc.wait(timeout=HELD_S + 180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    ended = time.monotonic()
    stderr = err.read_text()
    text = out.read_text() + stderr
    quit_lines = [line for line in text.splitlines() if line.startswith("quit ")]
    assert quit_lines and "never" not in text, text[-2000:]
    return ended - float(quit_lines[0].split()[1]), text, proc.returncode, stderr


@pytest.fixture
def run(tmp_path: Path, finished_tiny_run: Path) -> Path:
    """A copy of the session's tiny trained run, alone in its runs folder."""
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    return run


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.slow
def test_q_while_a_prediction_is_drawn_for_saving_leaves_no_empty_predictions_folder(run: Path,
                                                                                      tmp_path: Path) -> None:
    _, text, code, stderr = _quit_while_saving(run.parent, tmp_path, INFER_AND_SAVE,
                                               hold="import petseg_tui.screens.inference as m; m.at_photo_size = busy")
    assert code == 0 and "held" in text, text[-2000:]
    assert not (run / "predictions").exists(), _files(run / "predictions")
    assert FINISHING not in stderr, stderr  # no write under way: nothing waited for, nothing said


@pytest.mark.slow
def test_q_while_a_prediction_is_written_leaves_the_whole_pair_and_says_it_finishes_it(run: Path,
                                                                                       tmp_path: Path) -> None:
    """The end waits seconds for the pair (up to 30 s for a huge photo's), after the app has given
    the terminal back: the prompt stayed away with no word why. One line on stderr says it."""
    took, text, code, stderr = _quit_while_saving(run.parent, tmp_path, INFER_AND_SAVE, slow_name="_overlay.png")
    assert code == 0 and "held" in text, text[-2000:]
    saved = _files(run / "predictions")
    assert len(saved) == 2 and saved[0].endswith("_mask.png") and saved[1].endswith("_overlay.png"), saved
    assert took < QUIT_SECONDS, f"the dashboard ended {took:.1f} s after q\n{text[-2000:]}"
    assert stderr.splitlines().count(FINISHING) == 1, stderr


@pytest.mark.slow
def test_q_while_the_worst_sheet_is_drawn_leaves_no_empty_eval_folder(run: Path, tmp_path: Path) -> None:
    _, text, code, stderr = _quit_while_saving(run.parent, tmp_path, GALLERY_AND_SAVE,
                                               hold="import engine.eval.gallery as m; m.WorstGallery.sheet = busy")
    assert code == 0 and "held" in text, text[-2000:]
    assert not (run / "eval").exists(), _files(run / "eval")
    assert FINISHING not in stderr, stderr


@pytest.mark.slow
def test_q_while_the_worst_sheet_is_written_leaves_the_whole_sheet(run: Path, tmp_path: Path) -> None:
    took, text, code, stderr = _quit_while_saving(run.parent, tmp_path, GALLERY_AND_SAVE,
                                                  slow_name="worst-test.png")
    assert code == 0 and "held" in text, text[-2000:]
    assert _files(run / "eval") == ["worst-test.png"]
    assert took < QUIT_SECONDS, f"the dashboard ended {took:.1f} s after q\n{text[-2000:]}"
    assert stderr.splitlines().count(FINISHING) == 1, stderr
