"""Ctrl-C and signals in `petseg`: "petseg: interrupted" in one line whenever Ctrl-C comes (while
it starts, imports torch, or a library swallows it), no run made, an ignored SIGINT kept, a
stop said by what sent it, and the resume command a stop prints ready to paste back."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main


@pytest.mark.usefixtures("ctrl_c_reaches_us")
def test_ctrl_c_that_a_library_turns_into_another_error_still_says_interrupted(capsys, monkeypatch) -> None:
    # measured: Ctrl-C one second into `petseg train` (numpy/torch being imported) printed
    # "petseg: error: unexpected ImportError: cannot load module more than once per process"
    import signal

    import engine.cli

    def import_swallowing_the_interrupt(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        raise ImportError("cannot load module more than once per process")

    monkeypatch.setitem(engine.cli.COMMANDS, "runs", import_swallowing_the_interrupt)
    assert main(["runs"]) == 130
    assert capsys.readouterr().err == "petseg: interrupted\n"
    # the next command in the same process is not taken for interrupted
    monkeypatch.setitem(engine.cli.COMMANDS, "runs", lambda args: (_ for _ in ()).throw(ImportError("no module x")))
    assert main(["runs"]) == 1
    assert "unexpected ImportError: no module x" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


@pytest.mark.usefixtures("ctrl_c_reaches_us")
def test_ctrl_c_swallowed_while_train_imports_torch_makes_no_run(tmp_path: Path, capsys, monkeypatch) -> None:
    # measured: a Ctrl-C ~2 s into `petseg train` left numpy half-imported; the run was created,
    # its training thread failed with "RecursionError: maximum recursion depth exceeded"
    import signal

    import engine.cli.train as train_cli

    typed = train_cli.config_from_args

    def config_then_a_swallowed_interrupt(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        return typed(args)

    monkeypatch.setattr(train_cli, "config_from_args", config_then_a_swallowed_interrupt)
    runs = tmp_path / "runs"
    assert main(["train", "--data_path", "@generated", "--runs", str(runs), "--epochs", "1", "--image_size", "32",
                 "--width", "4", "--max_train_images", "4", "--workers", "0", "--device", "cpu"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "petseg: interrupted"
    assert not runs.exists() or not list(runs.iterdir())


# the child raises SIGINT from an import hook when NAME is imported: a terminal's Ctrl-C 0.05-0.3 s
# after `petseg ...` started, while the subcommands' modules load, at a moment a test can choose
CTRL_C_WHILE_IMPORTING = """
import signal, sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == NAME:
            signal.raise_signal(signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlC())
"""


@pytest.mark.slow
@pytest.mark.parametrize("entry", [
    "from engine.cli import main\nsys.exit(main())",  # the `petseg` console script, as pip writes it
    "import runpy\nrunpy.run_module('engine.cli', run_name='__main__', alter_sys=True)",  # python -m engine.cli
])
@pytest.mark.parametrize("name", ["engine.cli.entry", "engine.runs"])
def test_ctrl_c_while_petseg_starts_says_interrupted(tmp_path: Path, entry: str, name: str) -> None:
    # measured: Ctrl-C 0.05 s into `petseg runs` printed a KeyboardInterrupt traceback from
    # engine/runs/__init__.py (the handler was installed only once every subcommand was imported)
    import signal
    import subprocess
    import sys

    code = (f"NAME = {name!r}\n{CTRL_C_WHILE_IMPORTING}\n"
            f"sys.argv = ['petseg', 'runs', '--runs', {str(tmp_path)!r}]\n{entry}\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2],
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal gives it
    assert (r.returncode, r.stderr) == (130, "petseg: interrupted\n")


def test_an_ignored_ctrl_c_stays_ignored(monkeypatch) -> None:
    # `petseg train ... &` from a script: the shell ignores SIGINT for background jobs, so that a
    # Ctrl-C at the terminal leaves them running
    import signal

    import engine.cli

    seen = []
    monkeypatch.setitem(engine.cli.COMMANDS, "runs", lambda args: seen.append(signal.getsignal(signal.SIGINT)) or 0)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert main(["runs"]) == 0
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIG_IGN]


def test_a_signal_stop_says_what_stopped_the_run() -> None:
    """A run stopped by a signal read "stopped by user" whatever sent it: a killed launcher (its
    ranks get SIGTERM), `kill`, an SSH session closing. Ctrl-C is its user's."""
    import os
    import signal

    from engine.cli.interrupts import stop_reason

    here = os.getppid()
    assert stop_reason(signal.SIGINT, here) == ""
    assert stop_reason(signal.SIGTERM, here) == "stopped by SIGTERM"
    assert stop_reason(signal.SIGHUP, here).startswith("stopped: its terminal closed (SIGHUP")
    assert stop_reason(signal.SIGTERM, here + 999_999) == \
        f"stopped: the process that started it (pid {here + 999_999}) ended"


@pytest.mark.usefixtures("ctrl_c_reaches_us")
def test_the_resume_command_a_stop_prints_can_be_pasted_back(tmp_path: Path, capsys, monkeypatch) -> None:
    """A runs folder such as 'my runs' was printed bare ("resume with: petseg train --resume r
    --runs /x/my runs"): pasted back, the shell split it in two."""
    import signal

    from engine.train.trainer import Trainer

    start = Trainer.start

    def start_then_ctrl_c(self) -> None:
        start(self)
        signal.raise_signal(signal.SIGINT)  # one Ctrl-C: the run stops and says how to resume it

    monkeypatch.setattr(Trainer, "start", start_then_ctrl_c)
    runs = tmp_path / "my runs"
    assert main(["train", "--data_path", "@generated", "--runs", str(runs), "--run_name", "r", "--epochs", "50",
                 "--image_size", "32", "--width", "4", "--max_train_images", "4", "--workers", "0",
                 "--device", "cpu"]) == 130
    assert f"stopped; resume with: petseg train --resume r --runs '{runs}'" in capsys.readouterr().out
