"""`HangupExit`: how SIGHUP and SIGTERM end the dashboard: as `q` then "Stop and quit" would,
without asking, and in time even when its terminal is gone or stopped reading.

SIGHUP (the SSH link dropped without tmux, the terminal closed) and SIGTERM (``kill``) stop the
runs training in this process first: they finish their batch and save last.pt. Left to the
default, the process died at once and the run was left `interrupted` with no last.pt. The signals
are answered in a thread (`petseg_tui.signals.SignalThread`), not in the event loop: a terminal
that stops reading blocks the loop in a write, and ``kill`` then waited for the terminal. A mixin
of `PetsegApp` (its `launcher`, `_quitting` and `_exit_now`); no Textual import here.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

from engine.process_exit import end_process
from petseg_tui.launcher import RunLauncher
from petseg_tui.signals import SignalThread

# what ends the app as a lost terminal or a `kill` does (Ctrl-C is a key binding in Textual)
HANGUP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
SIGNAL_EXIT_CODES = tuple(128 + s for s in HANGUP_SIGNALS)  # how the app ends on one of them
EXIT_GRACE_S = 3.0  # after such a signal, how long the app may take to end once its runs are saved
LOOP_ANSWER_S = 1.0  # after it, how long the event loop may take to answer before it counts as blocked


def _terminal_answers() -> bool:
    """Whether this process's terminal is still there: a hung-up one (its window, tmux pane or SSH
    link closed) answers no ioctl."""
    import termios

    for stream in (sys.__stderr__, sys.__stdout__, sys.__stdin__):  # Textual draws on stderr
        try:
            termios.tcgetattr(stream.fileno())
            return True
        except (termios.error, OSError, ValueError, AttributeError):  # hung up, closed, or no tty
            continue
    return False


class HangupExit:
    """SIGHUP / SIGTERM caught from `_catch_hangup` (the app mounted) to `_release_hangup`."""

    launcher: RunLauncher
    _quitting: bool
    _signals: SignalThread | None = None  # made as the app mounts

    def _catch_hangup(self) -> None:
        """SIGHUP and SIGTERM end the app as `q` then "Stop and quit" would, without asking
        (`_end_after_signal`), answered in a thread of their own."""
        self._signals = SignalThread(HANGUP_SIGNALS, self._end_after_signal)
        self._signals.install()  # False off the main thread (no signals there): nothing to catch

    def _release_hangup(self) -> None:
        """The signals back to the handlers they had (the app unmounted)."""
        if self._signals is not None:
            self._signals.uninstall()

    def _end_after_signal(self, signum: int) -> None:
        """In the signal thread: stop and save the runs, then end the app as quit does if its event
        loop answers, else end the process at once."""
        code = 128 + signum  # as `petseg` ends on SIGTERM / SIGHUP
        self._quitting = True  # a run asked for from now on is not started (`on_start_run`)
        # waits for the starts under way, so the exit names them; whatever it raises, this thread
        # goes on to end the app (nothing else answers the signal)
        with contextlib.suppress(Exception):
            self.launcher.stop_all(timeout=20)
        if signum == signal.SIGHUP and not self.is_headless and not _terminal_answers():
            # the terminal is gone: nothing to restore on it, and Textual's exit waited on writes
            # to it until the watchdog below (3 s after `tmux kill-session`, with runs listed).
            # A SIGHUP with the terminal still there (`kill -HUP`) goes the usual way: ended here,
            # it left that terminal on the dashboard's screen, in raw mode, reporting the mouse
            end_process(code, flush=False)
        answered = threading.Event()

        def exit_now() -> None:
            answered.set()
            self._exit_now(code)

        def ask_the_loop() -> None:  # its own thread: call_from_thread waits for the loop
            try:
                self.call_from_thread(exit_now)
            except RuntimeError:  # the app has ended meanwhile
                pass

        threading.Thread(target=ask_the_loop, daemon=True, name="petseg-tui-exit").start()
        if not answered.wait(LOOP_ANSWER_S) and not self.is_headless:
            # the loop waits on a terminal that reads nothing: the runs are saved, and Textual's
            # exit would wait there too (as would a flush of the stream it writes to)
            end_process(code, flush=False)
        if not self.is_headless:
            # with the terminal gone or stalled during the exit, Textual's own exit waits for good
            # to write to it: the runs are saved by now, so the process ends after a grace period
            watchdog = threading.Timer(EXIT_GRACE_S, end_process, args=(code,), kwargs={"flush": False})
            watchdog.daemon = True
            watchdog.start()
