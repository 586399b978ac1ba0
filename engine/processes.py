"""What this machine says of a process by its pid: its state letter (`process_state`) and whether
it has ended (`process_ended`: gone, or a zombie its parent has not reaped yet). Read from
/proc on Linux; elsewhere only whether a process has that pid (`engine.atomic.pid_alive`).
No torch."""

from __future__ import annotations

import os

from engine.atomic import pid_alive

ENDED_STATES = ("", "Z", "X", "x")  # no such process, a zombie, dead


def process_state(pid: int) -> str | None:
    """Process ``pid``'s state letter ("R", "S", "T" stopped, "Z" zombie ...), "" when there is no
    such process, None where /proc cannot tell (not Linux, unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()  # the name in (...) may hold spaces
    except FileNotFoundError:
        return "" if os.path.isdir("/proc/self") else None
    except OSError:
        return None
    return fields[0].decode("ascii", "replace") if fields else ""


def process_ended(pid: int) -> bool:
    """Whether process ``pid`` has ended: gone, or a zombie (dead, not yet reaped: a rank killed by
    SIGKILL stays one until its agent looks; a sweep killed while the TUI that started it runs)."""
    state = process_state(pid)
    return state in ENDED_STATES if state is not None else not pid_alive(pid)
