"""`engine.exit_writes.whole_write`: a process that ends (`engine.process_exit.end_process`: the
exit handlers, then ``os._exit``) while a thread writes a pair of files waits for the pair, and a
thread's write that had not begun when the end came never begins. A real process each time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import threading, time
    from pathlib import Path

    from engine.exit_writes import whole_write
    from engine.process_exit import end_process

    out = Path({out!r})
    writing = threading.Event()

    def pair():  # the first file, a slow moment (a big PNG), then the second
        with whole_write():
            (out / "overlay.png").write_text("overlay")
            writing.set()
            time.sleep(1.5)
            (out / "mask.png").write_text("mask")

    def late():  # a worker whose write comes once the end has begun
        time.sleep(0.5)
        with whole_write():
            (out / "late.png").write_text("late")

    threading.Thread(target=pair, daemon=True).start()
    writing.wait(30)
    threading.Thread(target=late, daemon=True).start()
    {main}
    end_process(0)
""")


def _run(out: Path, main: str = "") -> tuple[float, subprocess.CompletedProcess[str]]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(out=str(out), main=main)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    return time.monotonic() - start, proc


def test_an_end_during_a_pair_of_writes_waits_for_both_and_starts_no_other(tmp_path: Path) -> None:
    took, proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.png", "overlay.png"]
    assert took < 20, f"the end took {took:.1f} s"


def test_an_end_from_inside_a_write_does_not_wait_for_itself(tmp_path: Path) -> None:
    """The thread that ends the process in the middle of its own write (an error path) ends it
    at once: it waited for itself, `EXIT_WAIT_S`. The other thread's pair is still waited for."""
    took, proc = _run(tmp_path, main="with whole_write(): end_process(0)")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.png", "overlay.png"]
    assert took < 20, f"the end took {took:.1f} s"


NOTICE = "from engine.exit_writes import announce_exit_wait; announce_exit_wait(lambda: print('NOTICE', flush=True))"


def test_the_end_calls_its_notice_once_when_it_waits_for_a_write(tmp_path: Path) -> None:
    """The wait for a write under way (seconds for a big picture) kept the dashboard's prompt away
    with no word: a notice set by `announce_exit_wait` is called as the wait begins."""
    _, proc = _run(tmp_path, main=NOTICE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["NOTICE"], proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.png", "overlay.png"]


def test_an_end_with_no_write_under_way_says_nothing(tmp_path: Path) -> None:
    """Its own write (the ending thread's: not waited for), and writes that ended before: no notice."""
    script = textwrap.dedent(f"""
        from pathlib import Path

        from engine.exit_writes import whole_write
        from engine.process_exit import end_process

        {NOTICE}
        with whole_write():
            Path({str(tmp_path)!r}, "done.png").write_text("done")
        with whole_write():
            end_process(0)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and (tmp_path / "done.png").is_file(), proc.stdout
