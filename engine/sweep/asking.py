"""The sweep's trials keep reporting while ``petseg sweep`` asks what its Ctrl-C should do (stop
the running trials or leave them training): the question's ``input()`` holds the main thread, the
loop that reads the trials' run folders ran there, and a trial that trained on meanwhile told
Optuna nothing, so none could be pruned until the answer came (a question left open for an hour
trained every trial to its end).

`reports_flowing` runs the scheduler's `Scheduler.follow` pass in a thread while the question
waits: epochs reported (the median pruner may stop a trial), trials that ended told to the study;
no trial started. The main thread does nothing but wait on the terminal meanwhile, and the thread
is joined before the answer is acted on, so the scheduler and its study are used by one thread at
a time. Its lines (``trial 3 epoch 5: ... -> pruned``) are held and said after the answer: printed
while the question waits, they broke its line and the answer being typed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.errors import first_line


@contextmanager
def reports_flowing(scheduler: Any) -> Iterator[None]:
    """While the block runs (it waits for the user's answer), ``scheduler.follow()`` every
    ``scheduler.poll`` seconds in a thread; its log lines said once the block has ended."""
    held: list[str] = []
    say, scheduler.log = scheduler.log, held.append
    done = threading.Event()

    def follow() -> None:
        while not done.wait(scheduler.poll):
            try:
                scheduler.follow()
            except Exception as exc:  # a storage away, a trial told meanwhile: the answer still acts
                held.append(f"the trials' epochs were not followed while the question waited: {first_line(exc)}")
                return

    thread = threading.Thread(target=follow, name="sweep-reports-while-asking", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        scheduler.log = say
        for line in held:
            say(line)
