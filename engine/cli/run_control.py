"""``petseg stop``, ``petseg pause`` and ``petseg unpause``: the live screen's x and p from a shell,
for a run that trains in any process (detached from the dashboard, a sweep's trial, another
terminal's ``petseg train``). The request goes through the run's control file
(`engine.runs.request_control`), which every rank of a data-parallel run obeys; the command then
waits until the run's events say it took effect. No torch."""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_ERROR, EXIT_OK, add_runs_flag, error_prefix
from engine.cli.run_selection import add_selection_flags, select_runs
from engine.config import default_runs_dir
from engine.runs.control import ControlAnswer

WAIT_SECONDS = 10.0  # a batch of a small model on a CPU, and the 0.25 s poll, with room to spare
POLL_SECONDS = 0.1

# command -> the control file's action (its "resume" is an unpause; `train --resume` is another thing)
ACTIONS = {"stop": "stop", "pause": "pause", "unpause": "resume"}

# a pause not obeyed yet (`pause --no_wait`, a run loading its data) was refused as "not paused",
# then paused the run anyway: taken back instead. A "resume" in its place is a no-op to a run that
# never paused, and unpauses one that read the pause meanwhile; the same of an unpause not obeyed
# yet, which a pause in its place takes back. command -> (the pending action it undoes, whether
# the run is paused meanwhile, what the run does then)
TAKEN_BACK = {"unpause": ("pause", False, "it trains on"), "pause": ("resume", True, "it stays paused")}

# the commands a resume still starting is waited for (`await_starting_resume`); unpause has nothing to undo there
STARTING_TAKES = ("stop", "pause")

# what `engine.runs.request_control`'s answers other than written say, after the run's name
REFUSED = {
    ControlAnswer.RUN_ENDED: "not training any more; nothing to {command}",
    ControlAnswer.STOP_PENDING: "a stop is already on its way to it; not {command}d",
}

HELP = {  # the line of `petseg --help`
    "stop": "stop runs that train (the live screen's x); `train --resume` continues them later",
    "pause": "pause runs that train (the live screen's p); `petseg unpause` goes on",
    "unpause": "let paused runs train again (a stopped run: `petseg train --resume`)",
}

DESCRIPTION = {
    "stop": "Stop runs that train, as the live screen's x: the current batch finishes, last.pt is saved "
            "and the run is marked stopped (`petseg train --resume RUN` continues it later).",
    "pause": "Pause runs that train, as the live screen's p: last.pt is saved and the process waits, "
             "holding its memory, until `petseg unpause`.",
    "unpause": "Let paused runs train again, in the process that paused them.",
}

# said by stop's and pause's --help: what `await_starting_resume` does
STARTING = ("A run whose resume is still starting (the dashboard's R, a sweep's re-run, `petseg train --resume` in "
            "another shell: it loads torch before it takes the run, which reads as it ended meanwhile) is waited "
            "for within --timeout, then asked; with --no_wait it is refused, to be asked again in a moment.")

EPILOG = {
    "stop": "A sweep's trial stopped this way ends as the live screen's x ends it: its sweep counts the "
            "trial failed (stopped) and goes on with the next; Ctrl-C on `petseg sweep` (or x on the "
            f"dashboard's sweeps screen) stops the whole sweep. {STARTING}",
    "pause": f"A paused run keeps its process and its memory (a GPU's too); `petseg stop` frees them. {STARTING}",
    "unpause": "unpause continues a paused run in its own process; `petseg train --resume RUN` starts a new "
               "process for a run that stopped, failed or was interrupted.",
}


def wait_seconds(text: str) -> float:
    """``--timeout``'s value: seconds, 0 or more ("nan" or "inf" would wait for good; 0 does not
    wait, as ``--no_wait``: a request written is not a failure for having been given no time)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds, 0 or more (e.g. 30)")
    return value


def add_parsers(sub: Any) -> None:
    for command in ACTIONS:
        p = sub.add_parser(command, help=HELP[command], description=DESCRIPTION[command], epilog=EPILOG[command])
        add_selection_flags(p, command)
        add_runs_flag(p)
        p.add_argument("--timeout", type=wait_seconds, default=WAIT_SECONDS, metavar="SECONDS",
                       help=f"wait at most this long for each run to obey (default {WAIT_SECONDS:g}; 0 waits not at "
                            "all, as --no_wait); past it the command fails, the request left standing")
        p.add_argument("--no_wait", action="store_true",
                       help="send the request and return at once (the run obeys after its current batch)")


@dataclass
class Request:
    """One run asked to stop, pause or unpause, and what is known of its answer."""

    path: Path
    follower: Any  # engine.runs.RunFollower, read to its end before the request was written
    answer: str = ""  # the line that says it took effect (or that the run ended otherwise)
    paused: str = ""  # where a pause held the run, once it did (the answer waits for last.pt)
    ok: bool = False


def refusal(command: str, state: Any, paused: bool) -> str:
    """Why ``command`` cannot act on a run in ``state``, as its events tell ("" if it can); nothing
    is written then. What its control file tells (its process gone, a stop pending) is
    `engine.runs.request_control`'s answer, worded by `REFUSED`."""
    from engine.runs import RunState

    if not state.is_active:
        how = {RunState.UNKNOWN: "has not started training",
               RunState.BROKEN: "cannot be read"}.get(state, f"is {state}")
        hint = " (petseg train --resume continues it)" if state.is_resumable and command != "stop" else ""
        return f"not training: it {how}{hint}; nothing to {command}"
    if command == "pause" and paused:
        return "already paused (petseg unpause trains it again)"
    if command == "unpause" and not paused:
        return "not paused: it is training; nothing to unpause"
    return ""


def where(epoch: int, batch: int) -> str:
    """Where in its training a run paused (a `RunPaused`'s or `RunResumed`'s fields)."""
    return f"in epoch {epoch} after batch {batch}" if batch else f"at the start of epoch {epoch}"


def took_effect(command: str, req: Request, events: list[Any]) -> None:
    """Fill ``req.answer`` from the run's new events once they show the request obeyed (or the run ended)."""
    from engine import events as E
    from engine.cli.progress import stopped_words
    from engine.runs.layout import checkpoint_path

    history = req.follower.history
    for ev in events:
        if command == "pause" and isinstance(ev, E.RunPaused):
            req.paused = f"paused {where(ev.epoch, ev.batch)}"  # last.pt is being saved: its event follows
        elif req.paused and isinstance(ev, E.CheckpointSaved) and ev.which == "last":
            req.answer, req.ok = f"{req.paused}; last.pt saved", True
        elif req.paused and isinstance(ev, E.RunWarning) and "not saving" in ev.message:  # weights not finite
            req.answer, req.ok = f"{req.paused}; {ev.message}", True
        elif command == "unpause" and isinstance(ev, E.RunResumed):
            req.answer, req.ok = f"training again {where(ev.epoch, ev.batch)}", True
        elif command == "stop" and isinstance(ev, E.RunStopped):
            saved = checkpoint_path(req.path, "last").is_file()
            req.answer, req.ok = stopped_words(ev.epoch, ev.batch, history.current_batches, saved), True
            if ev.reason and ev.reason != E.STOPPED_BY_USER:
                req.answer += f" ({ev.reason})"
        elif isinstance(ev, (E.RunFinished, E.RunStopped, E.RunDiverged, E.RunFailed)):
            req.answer = f"it ended {ev.kind} before the {command} reached it"
        if req.answer:
            return
    if req.answer or req.follower.summary().state.is_active:
        return
    late = req.follower.poll()  # its last event, written between the read above and its lock's release
    if late:
        took_effect(command, req, late)
    if not req.answer:  # its process went without a last word
        req.answer = f"it ended {req.follower.summary().state} before the {command} reached it"


def await_starting_resume(command: str, path: Path, deadline: float | None) -> str:
    """A resume of the run still starting (the dashboard's R, a sweep's re-run, one typed in a
    shell; loading torch) takes no request until it holds the run: the run reads as it ended, and was refused
    ("nothing to stop") while the resume went on to train. Wait for it to hold the run, until
    ``deadline`` (None: ``--no_wait``, no wait at all). Returns "" once it does, or when no resume
    is starting (or it ended first: the run is then as it was, and refused as such); else why
    nothing was asked."""
    from engine.train.launch import await_resume, starting_resume

    pid = starting_resume(path)
    if pid is None:
        return ""
    if deadline is None:
        return (f"being resumed by pid {pid}, still starting, which takes no {command} yet; nothing asked: run "
                f"petseg {command} again in a moment (without --no_wait it waits for that)")
    print(f"{path.name}: being resumed by pid {pid}, still starting; the {command} waits for it to take the run",
          flush=True)
    if await_resume(pid, path, max(0.0, deadline - time.monotonic())) or starting_resume(path) != pid:
        return ""
    return f"its resume (pid {pid}) did not take the run in time; nothing asked (petseg {command} again once it trains)"


def say_failed(path: Path, why: str) -> None:
    """The error line of a run the command could not act on, or that did not obey: its name and why."""
    print(f"{error_prefix()} {path.name}: {why}", file=sys.stderr)


def cmd_control(args: argparse.Namespace) -> int:
    from engine.runs import RunFollower, RunStore, clear_control, read_control, request_control

    command = args.command
    store = RunStore(args.runs or default_runs_dir())
    failed = False
    asked: list[Request] = []
    no_wait = args.no_wait or args.timeout == 0  # at most 0 s: no wait at all, as --no_wait
    deadline = time.monotonic() + args.timeout
    for path in select_runs(store, args.run, args.filter):
        follower = RunFollower(path, keep_batches=0)
        follower.poll()
        summary = follower.summary()
        if command in STARTING_TAKES and not summary.state.is_active:
            why = await_starting_resume(command, path, None if no_wait else deadline)
            if why:
                say_failed(path, why)
                failed = True
                continue
            follower.poll()  # it holds the run now (it reads as running), or it ended without taking it
            summary = follower.summary()
        paused = follower.history.paused or summary.state == "paused"
        if command in TAKEN_BACK and summary.state.is_active:
            undone, was_paused, outcome = TAKEN_BACK[command]
            if read_control(path) == undone and paused == was_paused and request_control(path, ACTIONS[command]):
                print(f"{path.name}: the {'un' if undone == 'resume' else ''}pause asked had not reached it yet; "
                      f"taken back, {outcome}", flush=True)
                continue
        why = refusal(command, summary.state, paused)
        if not why:
            answer = request_control(path, ACTIONS[command])
            why = REFUSED.get(answer, "").format(command=command)
        if why:
            say_failed(path, why)
            failed = True
            continue
        asked.append(Request(path, follower))
    if no_wait:
        for req in asked:
            print(f"{req.path.name}: {command} asked (it acts after the current batch)", flush=True)
        return EXIT_ERROR if failed else EXIT_OK
    waiting = list(asked)
    while waiting:
        for req in list(waiting):
            took_effect(command, req, req.follower.poll())
            if req.answer:
                waiting.remove(req)
                if req.ok:
                    print(f"{req.path.name}: {req.answer}", flush=True)
                else:
                    # the run ended: a request it never read would act on its next `train --resume`
                    clear_control(req.path)
                    say_failed(req.path, req.answer)
                    failed = True
        if waiting and time.monotonic() >= deadline:
            for req in waiting:
                if req.paused:  # paused, and last.pt still being written
                    print(f"{req.path.name}: {req.paused}; last.pt not written yet", flush=True)
                    continue
                failed = True
                say_failed(req.path, f"did not {command} within {args.timeout:g} s; the request stands (a long "
                                      "batch, or a run still loading its data, obeys once it gets there)")
            break
        if waiting:
            time.sleep(POLL_SECONDS)
    return EXIT_ERROR if failed else EXIT_OK
