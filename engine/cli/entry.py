"""``petseg``'s entry point: parse, dispatch to the subcommand, and turn every expected failure into
one line ``petseg: error: <file>: <problem>`` with a non-zero exit (the traceback only with
``PETSEG_DEBUG=1``); SIGTERM/SIGHUP end a command with its cleanup run; terminal writes go
through `engine.cli.streams` (a broken pipe or an ASCII terminal never fails a command), made by
a thread of their own (`engine.cli.terminal_queue`: a terminal that stops reading never keeps a
signal from ending a command)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any, Callable, Sequence

from engine.cli.common import EXIT_ERROR, EXIT_STOPPED, error_prefix
from engine.cli.delete import cmd_delete
from engine.cli.demo import cmd_demo
from engine.cli.eval import cmd_eval
from engine.cli.export import cmd_export
from engine.cli.infer import cmd_infer
from engine.cli.label import cmd_label
from engine.cli.interrupts import interrupt_noted, interrupts_held, note_interrupt, reset_interrupts
from engine.cli.parser import build_parser
from engine.cli.plot import cmd_plot
from engine.cli.run_control import cmd_control
from engine.cli.runs import cmd_runs
from engine.cli.sweep import cmd_sweep
from engine.cli.streams import safe_std_streams
from engine.cli.terminal_queue import DRAIN_SECONDS, queued_std_streams
from engine.cli.train import cmd_train
from engine.process_exit import end_process
from engine.errors import PetsegError, describe_error, file_being_read, first_line

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train, "eval": cmd_eval, "infer": cmd_infer, "runs": cmd_runs, "demo": cmd_demo,
    "plot": cmd_plot, "sweep": cmd_sweep, "export": cmd_export, "label": cmd_label, "delete": cmd_delete,
    "stop": cmd_control, "pause": cmd_control, "unpause": cmd_control,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that cleanup (temp files) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated(signum)



_warned: set[str] = set()


def _show_warning_once(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                       line: Any = None) -> None:
    """Library warnings as one ``petseg: warning:`` line each, never the same one twice; one given
    while a photo was read names it (Pillow's own name no file)."""
    text = first_line(message)
    reading = file_being_read()
    if reading is not None and str(reading) not in text:
        text = f"{reading}: {text}"
    if text in _warned:
        return
    _warned.add(text)
    print(f"petseg: warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: the process's own arguments) and return its exit code.

    As the process's entry point (``argv`` None: the ``petseg`` script, ``python -m
    engine.cli``) it ends the process itself once the command is done (`end_process`: without
    the interpreter's teardown of torch, the bulk of the time from a SIGTERM to the exit)."""
    # a closed pipe, a vanished terminal or an ASCII-only one never stops a command (--help too)
    with safe_std_streams() as streams:
        code = _main(argv)
    # a failed data-parallel rank exits the usual way: its launcher names the rank that failed
    # first by the order of their exits, and a rank whose peer was killed must not beat that peer
    # to it. A rank that succeeded has left its process group: the interpreter's teardown of the
    # gloo objects still referenced then sometimes aborted it ("terminate called without an
    # active exception", SIGABRT after a finished run), so it skips that teardown too. A rank
    # that stopped (Ctrl-C, SIGTERM, the control file) saved and said so with the others: no
    # failure to name, and its teardown kept the launch alive 1-2 s after "stopped; resume with"
    if argv is None and ("LOCAL_RANK" not in os.environ or code in (0, EXIT_STOPPED)):
        # a terminal that stopped reading (`engine.cli.terminal_queue`) is not flushed: that waits for good
        end_process(code, flush=not any(stream.stalled for stream in streams))
    return code


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # what the user typed: a data-parallel launch gives it to each rank
    import warnings

    # the process's entry point held Ctrl-C while petseg imported: a Ctrl-C it noted is this command's
    held = interrupts_held()
    saved = (warnings.showwarning,
             {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)})
    if held:
        saved[1][signal.SIGINT] = signal.default_int_handler
    warnings.showwarning = _show_warning_once
    _warned.clear()
    if not held:
        reset_interrupts()
    for sig in (signal.SIGTERM, signal.SIGHUP):  # training replaces these with a graceful stop
        signal.signal(sig, _raise_terminated)
    if saved[1][signal.SIGINT] is signal.default_int_handler:  # an ignored Ctrl-C stays ignored (`cmd &`)
        signal.signal(signal.SIGINT, note_interrupt)
    try:
        try:
            # every terminal write of the command is made by a thread of its own: a terminal that
            # stops reading (a stalled SSH link, Ctrl-S) never holds the thread that handles the
            # signals, so a SIGTERM still ends the command (`engine.cli.terminal_queue`). No line
            # is dropped and the end waits for a slow reader (a pager) as a direct write did,
            # except training's (in train.log), a stopped command's and a data-parallel rank's
            # (its launcher waits for its exit): the terminal gets 2 s
            with queued_std_streams(max_lines=None, drain_seconds=None) as terminal:
                if interrupt_noted():  # Ctrl-C while petseg was starting
                    code = _stopped_by_interrupt()
                else:
                    code = _run_command(args)
                if args.command == "train" or "LOCAL_RANK" in os.environ or code == EXIT_STOPPED or code > 128:
                    terminal.drain_seconds = DRAIN_SECONDS
            return code
        except Terminated as exc:  # arrived while an error line was being printed, or the terminal waited
            return 128 + exc.signum
        except KeyboardInterrupt:  # Ctrl-C while the terminal took the last lines: let go of them
            return EXIT_STOPPED
    finally:
        warnings.showwarning = saved[0]
        for sig, handler in saved[1].items():
            signal.signal(sig, handler)


def _run_command(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except Terminated as exc:
        name = signal.Signals(exc.signum).name
        print(f"petseg: stopped by {name}; files being written were removed, nothing half-written is left",
              file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        return _stopped_by_interrupt()
    except Exception as exc:
        if interrupt_noted():  # a Ctrl-C that came out as another error: say what the user did
            return _stopped_by_interrupt()
        if isinstance(exc, PetsegError):
            return _failed(str(exc))
        if os.environ.get("PETSEG_DEBUG"):
            raise
        sentence = describe_error(exc)
        if sentence is not None:
            return _failed(sentence)
        return _failed(f"unexpected {type(exc).__name__}: {first_line(exc)} (set PETSEG_DEBUG=1 for the traceback)")


def _stopped_by_interrupt() -> int:
    print("petseg: interrupted", file=sys.stderr)
    return EXIT_STOPPED


def _failed(message: str) -> int:
    """Say the command's one-line error; in a data-parallel rank also give it to the elastic agent,
    whose line then says why the rank ended, not only its exit code."""
    print(f"{error_prefix()} {message}", file=sys.stderr)
    if "LOCAL_RANK" in os.environ:
        from engine.train.rank_failures import report_failure

        report_failure(message)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
