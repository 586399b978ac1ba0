"""An export's files when its process ends while it writes them: the dashboard ends its process
(`engine.process_exit.end_process`: the exit handlers, then ``os._exit``) without waiting for an
export still at work in a worker thread, and an end that came while the export wrote its model
cut it there: a temp file ``.model.onnx.PID.TID.tmp`` left in ``export/``, no ``model.onnx``, no
``export.json``. The end now waits for that write, and lets no other export start writing.

A real process (warm: tests/warm_petseg.py; os.fsync is patched at call time): the export of the
tiny run in a thread, its model file's write held in its fsync for `SLOW_FSYNC_S`, and the main
thread ending the process meanwhile."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from tests import warm_petseg

REPO = Path(__file__).resolve().parents[3]
SLOW_FSYNC_S = 2.0  # a big model's write on a slow disk

SCRIPT = textwrap.dedent("""
    import os, threading, time
    from pathlib import Path

    from engine.export.run_export import export_run
    from engine.process_exit import end_process

    writing = threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd):
        if os.readlink(f"/proc/self/fd/{{fd}}").endswith(".tmp") and "model.onnx" in os.readlink(f"/proc/self/fd/{{fd}}"):
            writing.set()
            time.sleep({slow})
        real_fsync(fd)

    os.fsync = slow_fsync
    threading.Thread(target=export_run, args=(Path({run!r}), "onnx"), kwargs={{"parity_photos": 1}},
                     daemon=True).start()
    if not writing.wait(300):
        print("the export never wrote its model", flush=True)
        end_process(3)
    print("ending while the model is written", flush=True)
    end_process(0)
""")


@pytest.mark.slow
def test_a_process_ending_while_an_export_writes_leaves_it_whole(tmp_path: Path, finished_tiny_run: Path) -> None:
    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = warm_petseg.run([sys.executable, "-c", SCRIPT.format(slow=SLOW_FSYNC_S, run=str(run))],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0 and "ending while the model is written" in proc.stdout, proc.stdout + proc.stderr
    assert sorted(p.name for p in (run / "export").iterdir()) == ["export.json", "model.onnx"]
