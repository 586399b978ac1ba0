"""Stopping a running sweep process (fake_sweep.py): Ctrl-C without a terminal stops its trials
and a re-run resumes them, the dashboard's x (``stop_sweep``) finds it through its pid file, a
second process on the study is still found when the later one was killed, and a pid file from
elsewhere is never trusted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runs import RunState, RunStore
from tests.engine.sweep.sweep_cli_helpers import SPACE, _sweep_proc, _wait


@pytest.mark.slow
def test_ctrl_c_without_a_terminal_stops_the_trials_and_a_rerun_resumes_them(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    flags = ["--name", "intr", *SPACE, "--trials", "2", "--parallel", "2", "--epochs", "4", "--prune", "none"]
    p = _sweep_proc(runs, *flags, epoch_seconds=0.5)
    _wait(lambda: sum(1 for s in RunStore(runs).list_runs() if s.epoch >= 1) >= 2)
    p.send_signal(signal.SIGINT)
    out = p.communicate(timeout=60)[0]
    assert p.returncode == 130, out
    assert "stopped 2 running trials; petseg sweep --resume intr (or the same command) resumes them" in out, out
    assert {s.state for s in RunStore(runs).list_runs()} == {RunState.STOPPED}
    again = _sweep_proc(runs, *flags, epoch_seconds=0.2)
    out = again.communicate(timeout=60)[0]
    assert again.returncode == 0 and out.count("resuming its run") == 2, out
    assert {(s.state, s.epoch) for s in RunStore(runs).list_runs()} == {(RunState.FINISHED, 4)}


def test_the_tuis_stop_ends_the_sweep_process_and_its_trials(tmp_path: Path) -> None:
    """`stop_sweep` (the sweeps screen's x) finds the sweep process through runs/.sweeps/NAME.pid
    and sends it SIGTERM: the running trials stop (resumable), the process ends, the file goes."""
    from engine.runs.layout import sweep_pid_file
    from engine.sweep.launch import stop_sweep

    runs = tmp_path / "runs"
    assert stop_sweep(runs, "halt") == "sweep halt is not running here (no readable halt.pid)"
    p = _sweep_proc(runs, "--name", "halt", *SPACE, "--trials", "4", "--parallel", "2", "--epochs", "6",
                    "--prune", "none", epoch_seconds=0.5)
    _wait(lambda: sum(1 for s in RunStore(runs).list_runs() if s.epoch >= 1) >= 2)
    assert json.loads(sweep_pid_file(runs, "halt").read_text())["pid"] == p.pid
    said = stop_sweep(runs, "halt")
    assert said.startswith(f"sweep halt: asked process {p.pid} to stop"), said
    out = p.communicate(timeout=60)[0]
    assert p.returncode != 0 and "stopped 2 running trials" in out, out
    assert {s.state for s in RunStore(runs).list_runs()} == {RunState.STOPPED}
    assert not sweep_pid_file(runs, "halt").exists()
    assert "is not running" in stop_sweep(runs, "halt")


def _claiming_stand_in(runs: Path, name: str) -> subprocess.Popen:
    """A process that claims sweep ``name`` as ``petseg sweep`` does (its command line names a
    sweep), then idles until killed."""
    code = ("import sys, time; from engine.sweep.launch import claim_sweep; "
            "claim_sweep(sys.argv[1], sys.argv[2]); print('claimed', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(runs), name, "sweep"], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "claimed"
    return proc


def test_two_sweep_processes_on_one_study_and_the_later_one_killed_the_first_is_still_found(tmp_path: Path) -> None:
    """Two shells run one sweep; the second is SIGKILLed. The pid file named only the second, so
    the dashboard said "not running: nothing to stop" while the first went on starting trials."""
    from engine.sweep.launch import stop_sweep, sweep_running

    runs = tmp_path / "runs"
    first = _claiming_stand_in(runs, "both")
    second = _claiming_stand_in(runs, "both")
    try:
        second.kill()
        second.wait()
        assert sweep_running(runs, "both")
        said = stop_sweep(runs, "both")
        assert said.startswith(f"sweep both: asked process {first.pid} to stop"), said
        assert first.wait(timeout=10) == -signal.SIGTERM
        assert not sweep_running(runs, "both")
    finally:
        for p in (first, second):
            p.kill()
            p.wait()


@pytest.mark.parametrize("content", ["fifo", "{not json", '{"pid": 1, "host": "elsewhere"}'])
def test_a_sweep_pid_file_from_elsewhere_is_read_as_untrusted(tmp_path: Path, content: str) -> None:
    """runs/.sweeps/NAME.pid may come with a copied runs folder: a FIFO or junk never hangs the
    stop, and another host's process is never signalled."""
    from engine.runs.layout import sweep_pid_file
    from engine.sweep.launch import stop_sweep

    path = sweep_pid_file(tmp_path, "odd")
    path.parent.mkdir(parents=True)
    if content == "fifo":
        os.mkfifo(path)
    else:
        path.write_text(content)
    said = stop_sweep(tmp_path, "odd")
    assert said == ("sweep odd runs on elsewhere: stop it there (Ctrl-C or kill 1)" if "elsewhere" in content
                    else "sweep odd is not running here (no readable odd.pid)")
