"""Ctrl-C in a ``petseg`` (or ``petseg-tui``) process: noted, so that the command ends with one
line ``petseg: interrupted`` (exit 130) whatever was running when it came.

Two windows, two handlers:

* while the process starts (its imports, ~0.3 s before ``petseg train`` parses a flag),
  `hold_interrupts` only notes a Ctrl-C: Python's own handler raised KeyboardInterrupt inside
  whichever module was being imported, before any ``except`` of ours was in place, and the user
  saw a traceback. The imports finish whole; the entry point then asks `interrupt_noted`.
* while a command runs, `note_interrupt` notes it and raises KeyboardInterrupt as Python does.

Only ``signal`` is imported here: this module is loaded before everything else of petseg.
"""

from __future__ import annotations

import signal
from typing import Any

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130: a command ended by Ctrl-C, as a shell reports it
_interrupts: list[int] = []  # Ctrl-Cs this process received through these handlers


def note_interrupt(signum: int, frame: Any) -> None:
    """The CLI's SIGINT handler: remember the Ctrl-C, then raise KeyboardInterrupt as Python's own
    handler does. Some imports swallow that exception and raise another (an extension module
    half-loaded: "ImportError: cannot load module more than once per process"; pydantic's
    SchemaError) or none at all: the command still ends as interrupted."""
    _interrupts.append(signum)
    signal.default_int_handler(signum, frame)


def _note_only(signum: int, frame: Any) -> None:
    """The SIGINT handler while the process starts: remember, raise nothing (see the module)."""
    _interrupts.append(signum)


def hold_interrupts() -> None:
    """Note, not raise, a Ctrl-C from now until `release_interrupts` or the command's own handler.
    Only a process's entry point calls this, as its first line: a library caller keeps its
    KeyboardInterrupt. An ignored Ctrl-C (``petseg train ... &``) stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _note_only)


def interrupts_held() -> bool:
    """Whether `hold_interrupts` is in force (the command then inherits the Ctrl-Cs it noted)."""
    return signal.getsignal(signal.SIGINT) is _note_only


def release_interrupts() -> None:
    """Give Ctrl-C back to Python's own handler (KeyboardInterrupt) if `hold_interrupts` held it."""
    if interrupts_held():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def interrupt_noted() -> bool:
    return bool(_interrupts)


def reset_interrupts() -> None:
    _interrupts.clear()


def check_not_interrupted() -> None:
    """Raise KeyboardInterrupt when a Ctrl-C came and was swallowed: the modules imported since
    may be half-loaded (a training thread then failed with numpy's RecursionError)."""
    if _interrupts:
        raise KeyboardInterrupt


def stop_reason(signum: int, parent: int) -> str:
    """Why a training process stopped on signal ``signum``, for its run's status ("" for Ctrl-C:
    its user). ``parent``: its parent's pid when it started; another one now (or a parent that is a
    zombie) means the process that started it ended (a killed ``torchrun`` or ``petseg train
    --devices N``: its ranks get SIGTERM, and the run read "stopped by user")."""
    if signum == signal.SIGINT:
        return ""
    if _parent_ended(parent):
        return f"stopped: the process that started it (pid {parent}) ended"
    if signum == getattr(signal, "SIGHUP", None):
        return "stopped: its terminal closed (SIGHUP; start it in tmux or with nohup to keep it training)"
    return f"stopped by {signal.Signals(signum).name}"


def _parent_ended(parent: int, wait: float = 0.0) -> bool:
    """Whether ``parent`` ended (this process was handed to another, or it is a zombie or gone).
    Its death signal can come while the pid is still this process's parent: it is sent when the
    *thread* that started this process ends, and a SIGKILLed launcher's threads end one by one.
    So the training process asks once it has stopped (`engine.train.control.RunControl`), not in
    its signal handler, and ``wait`` can give the end more time to show (Linux; elsewhere only
    the new parent tells)."""
    import os
    import time

    from engine.processes import ENDED_STATES, process_state

    deadline = time.monotonic() + wait
    while True:
        if os.getppid() != parent:
            return True
        state = process_state(parent)
        if state is None:  # no /proc: cannot tell
            return False
        if state in ENDED_STATES:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
