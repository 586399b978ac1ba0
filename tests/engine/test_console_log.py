"""engine.console_log: a run's console in its train.log — bounded, file first, a broken terminal
never raised — and what `petseg train` leaves there."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from engine.console_log import CapturedConsole, ConsoleLog, Tee, append_to_run_log
from engine.runs.layout import LOG_BACKUP, LOG_FILE


class BrokenTerminal(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


class PrintingConsole:
    is_terminal = False

    def __init__(self, stream) -> None:
        self.stream = stream

    def print(self, text: object = "", **_: object) -> None:
        self.stream.write(f"{text}\n")


def test_log_is_bounded_with_one_older_part(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path / LOG_FILE, max_bytes=1000)
    for i in range(500):
        log.write(f"line {i:04d} " + "x" * 40 + "\n")
    log.close()
    current, older = (tmp_path / LOG_FILE).read_text(), (tmp_path / LOG_BACKUP).read_text()
    assert len(current) <= 1100 and len(older) <= 1100
    assert "line 0499" in older + current and "line 0000" not in current + older  # the newest kept


def test_a_line_printed_while_the_same_thread_writes_one_is_kept_not_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The garbage collector runs a ``__del__`` wherever the thread is, and Python prints what it
    raised ("Exception ignored in ...") on sys.stderr: the log's own tee, with the log's lock held
    by that same thread in the middle of a line. The write waited on its own lock: the training
    thread froze for good, silently. Here the collection comes inside the log's write (its size
    check), as it can after any allocation there."""
    import gc
    import threading

    from engine import console_log

    class Raises:  # garbage with a __del__ that fails: collected only by the cycle collector
        def __del__(self) -> None:
            raise ValueError("a __del__ failed")

    log = ConsoleLog(tmp_path / LOG_FILE)
    fstat = console_log.os.fstat
    collected = []

    def fstat_then_collect(fd: int):
        if not collected:
            collected.append(True)
            cycle = Raises()
            cycle.me = cycle  # type: ignore[attr-defined]
            del cycle
            gc.collect()  # the __del__ runs here, in this thread, and its error is printed
        return fstat(fd)

    monkeypatch.setattr(console_log.os, "fstat", fstat_then_collect)
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)  # Python's own, which prints (pytest's keeps it)
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", Tee(log, terminal))
    writer = threading.Thread(target=lambda: print("epoch 1 done", file=sys.stderr), daemon=True)
    writer.start()
    writer.join(10)
    assert not writer.is_alive(), "the write waited on its own lock"
    log.close()
    text = (tmp_path / LOG_FILE).read_text()
    assert "epoch 1 done" in text and "a __del__ failed" in text
    assert text.index("epoch 1 done") < text.index("a __del__ failed")  # the line it interrupted stays whole
    assert "a __del__ failed" in terminal.getvalue()


def test_tee_writes_the_file_first_and_survives_a_closed_terminal(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path / LOG_FILE)
    tee = Tee(log, BrokenTerminal())
    assert tee.write("warning: one\n") == len("warning: one\n")
    tee.flush()
    tee.write("still here\n")
    log.close()
    assert (tmp_path / LOG_FILE).read_text() == "warning: one\nstill here\n"


def test_captured_console_holds_lines_until_the_run_folder_exists(tmp_path: Path) -> None:
    out = io.StringIO()
    console = CapturedConsole(PrintingConsole(out))
    console.print("data: [bold]ready[/]", markup=True)
    console.attach(tmp_path)
    console.print("epoch 1/1")
    console.close()
    assert (tmp_path / LOG_FILE).read_text() == "data: ready\nepoch 1/1\n"
    assert out.getvalue() == "data: [bold]ready[/]\nepoch 1/1\n"


def test_brackets_in_a_line_without_markup_are_printed_and_logged_as_written(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """petseg's console read every line as Rich markup: a runs folder "runs [old]" or a photo
    "cat [copy].jpg" in a data line or a warning printed, and was kept in train.log, as "runs "
    and "cat .jpg", a path the user could not find; "a:cat:b.jpg" became an emoji."""
    from engine.cli.common import console as new_console
    from engine.cli.progress import ProgressReporter
    from engine.events import RunWarning

    run = tmp_path / "runs [old]" / "r"
    run.mkdir(parents=True)
    console = CapturedConsole(new_console()).attach(run)
    data = f"data: Oxford-IIIT Pet at {tmp_path / 'ds [v2]'}: 6 trainval, 0 test images"
    warning = "skipped 1 unreadable image(s); first: cat [copy]: images/cat [copy].jpg, then a:cat:b.jpg"
    console.print(data)
    ProgressReporter(console, plain=True, run_path=run)(RunWarning(message=warning))
    console.print("[bold]petseg[/] and [yellow]its own tags[/]", markup=True)
    console.close()
    said = [data, f"warning: {warning}", "petseg and its own tags"]
    assert capsys.readouterr().out.splitlines() == said
    assert (run / LOG_FILE).read_text().splitlines() == said


def test_lines_a_stalled_terminal_did_not_take_are_noted_there_alone(tmp_path: Path) -> None:
    """`engine.cli.terminal_queue` drops lines past its bound while the terminal reads nothing;
    the terminal is told how many and where they are, the log (which has them all) is not."""
    out = io.StringIO()
    console = CapturedConsole(PrintingConsole(out)).attach(tmp_path)
    console.print("epoch 1/9")
    console.say_dropped(7)
    console.close()
    assert out.getvalue() == f"epoch 1/9\n… 7 lines not shown; see {tmp_path / LOG_FILE}\n"
    assert (tmp_path / LOG_FILE).read_text() == "epoch 1/9\n"


def test_a_closed_terminal_never_stops_the_log(tmp_path: Path) -> None:
    console = CapturedConsole(PrintingConsole(BrokenTerminal())).attach(tmp_path)
    for i in range(3):
        console.print(f"epoch {i}")
    with console.stderr():
        print("a warning on stderr", file=sys.stderr)
    console.close()
    assert (tmp_path / LOG_FILE).read_text() == "epoch 0\nepoch 1\nepoch 2\na warning on stderr\n"


def test_stderr_is_teed_once_even_when_nested(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    console = CapturedConsole(PrintingConsole(io.StringIO())).attach(tmp_path)
    with console.stderr(), console.stderr():
        print("petseg: warning: careful", file=sys.stderr)
    print("after", file=sys.stderr)
    console.close()
    assert (tmp_path / LOG_FILE).read_text() == "petseg: warning: careful\n"
    assert "careful" in capsys.readouterr().err


def test_a_detached_childs_stdout_is_the_log_itself_one_copy_a_line(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / LOG_FILE
    with open(path, "a", encoding="utf-8") as stdout:  # what engine.train.launch gives the child
        monkeypatch.setattr(sys, "stdout", stdout)
        console = CapturedConsole(PrintingConsole(stdout))
        console.print("before the run folder")  # straight into the file, as a detached child's output
        stdout.flush()
        console.attach(tmp_path)
        console.print("epoch 1/1")
        console.error_line("petseg: error: boom")
        console.close()
    assert path.read_text() == "before the run folder\nepoch 1/1\npetseg: error: boom\n"


def test_append_to_run_log_never_raises(tmp_path: Path) -> None:
    append_to_run_log(tmp_path / "missing-folder", "lost")
    append_to_run_log(tmp_path, "Traceback (most recent call last):")
    assert (tmp_path / LOG_FILE).read_text() == "Traceback (most recent call last):\n"


def test_a_cli_run_keeps_its_console_and_system_metrics(finished_tiny_run: Path) -> None:
    from engine.runs.system_log import read_system

    log = (finished_tiny_run / LOG_FILE).read_text()
    assert log.startswith("run r -> ")
    for expected in ("device: cpu", "epoch 1/2", "epoch 2/2", "finished: best valid Dice"):
        assert log.count(expected) == 1, expected
    samples = read_system(finished_tiny_run)
    assert samples, "a finished run keeps at least its last sample"
    assert samples[-1].gpu_note == "no GPU" and samples[-1].rss > 0


def test_a_crash_traceback_goes_to_the_log_not_the_terminal(tmp_path: Path) -> None:
    from engine.train import outcome

    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:
        ended = outcome.failed(exc, tmp_path)
    log = (tmp_path / LOG_FILE).read_text()
    assert log.startswith("Traceback (most recent call last):") and "ZeroDivisionError" in log
    assert "Traceback" not in ended.message


@pytest.mark.slow
def test_petseg_train_names_a_runs_folder_with_brackets_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                    generated_data: str) -> None:
    """`petseg train --runs "runs [old]"` printed, and logged, "run r -> .../runs /r"."""
    from engine.cli import main
    from tests.conftest import TINY_TRAIN

    runs = tmp_path / "runs [old]"
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--data_path", generated_data, "--runs", str(runs),
                 "--run_name", "r"]) == 0
    first = f"run r -> {runs / 'r'}"
    assert capsys.readouterr().out.splitlines()[0] == first
    assert (runs / "r" / LOG_FILE).read_text().splitlines()[0] == first
