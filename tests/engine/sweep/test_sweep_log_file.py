"""A sweep started in the background (the dashboard's sweep form and R) sends its output to
``runs/.sweeps/NAME.log``, a file of the runs folder and as untrusted as a run's: it was opened to
append as it was found, so a FIFO there hung the dashboard's worker in open() for good ("starting"
for ever) and a symlink out of the folder was written through. Refused in one line naming the
file, before any process is started."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engine.errors import RunStoreError
from engine.runs.layout import sweep_log
from engine.sweep.launch import start_sweep
from engine.sweep.spec_build import build_spec
from tests.hostile_runs import within


@pytest.mark.parametrize("how", ["fifo", "link"])
def test_a_sweep_log_that_is_a_fifo_or_leads_out_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             how: str) -> None:
    started: list[object] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: started.append(args))
    runs = tmp_path / "runs"
    log = sweep_log(runs, "s")
    log.parent.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.log"
    elsewhere.write_text("kept\n")
    if how == "fifo":
        os.mkfifo(log)
    else:
        log.symlink_to(elsewhere)
    why = "is a named pipe \\(FIFO\\), not a file" if how == "fifo" else "leads outside the run folder"
    with pytest.raises(RunStoreError, match=f"s.log: {why}.*; not written$"):
        within(5, start_sweep, build_spec({"name": "s", "params": ["learning_rate=log:1e-4:1e-2"]}), runs)
    assert started == [] and elsewhere.read_text() == "kept\n"
