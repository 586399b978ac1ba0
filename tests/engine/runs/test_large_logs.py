"""Large logs: the bounded reader gives exactly what a full parse gives (non-batch events, the
newest batch events, bad lines, the first invalid line), and runs write batch events at a bounded
rate. Time and memory on a 200 MB log are measured by bench/large_events_log.py, not here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from engine.events import BATCH_EVENTS_PER_EPOCH, BatchThrottle, EventFieldError, parse_event
import engine.runs.journal as journal
from engine.runs import KEEP_BATCHES, EventTail, RunFollower, RunStore
from tests.file_proxy import FileProxy

BENCH = Path(__file__).resolve().parents[3] / "bench" / "large_events_log.py"


def write_large_log(run: Path, batch_events: int, epochs: int) -> int:
    spec = importlib.util.spec_from_file_location("large_events_log", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_large_log(run, batch_events, epochs)


def reference(path: Path) -> tuple[list, list, int, str | None]:
    """(non-batch events, batch events, bad lines, first invalid line) by parsing every line."""
    others, batches, bad, invalid = [], [], 0, None
    data = path.read_bytes()
    for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            event = parse_event(obj) if isinstance(obj, dict) else None
        except (ValueError, EventFieldError) as exc:
            bad += 1
            if isinstance(exc, EventFieldError) and invalid is None:
                invalid = f"line {number}: {exc}"
            continue
        if event is None:
            bad += 1
        elif event.kind == "batch":
            batches.append(event)
        else:
            others.append(event)
    return others, batches, bad, invalid


@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_the_bounded_reader_equals_a_full_parse(tmp_path: Path, monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(journal, "READ_CHUNK", chunk)  # small chunks: lines cut at every boundary
    run = tmp_path / "big"
    write_large_log(run, batch_events=12_000, epochs=40)
    log = run / "events.jsonl"
    with open(log, "ab") as fh:  # what real logs also hold: garbage, blanks, a foreign kind, a bad field
        fh.write(b"\x00\xff garbage\n\n[1, 2]\n{\"kind\": \"from_the_future\", \"t\": 1}\n")
        fh.write(b'{"t": 1.0, "kind": "warning", "message": 5}\n')
        fh.write(b'{"t": 1.0, "epoch": 41, "total_epochs": 41, "batches": 3, "kind": "epoch_started"}\n')
        fh.write(b'{"t": 1.0, "epoch": 41, "batch": 1, "batches": 3, "loss": 0.5, "images_per_s": 9.0, "kind": "batch"}\n')
        fh.write(b'{"t": 1.0, "epoch": 41, "batch": 2, "bat')  # torn: a write in progress
    others, batches, bad, invalid = reference(log)
    tail = EventTail(log, keep_batches=500)
    events = tail.read_new()
    assert [e for e in events if e.kind != "batch"] == others
    assert [e for e in events if e.kind == "batch"] == batches[-500:]
    assert tail.bad_lines == bad == 4 and tail.torn_tail
    assert tail.invalid == f"{log}: {invalid}" and "warning event: message must be text" in invalid
    listing = EventTail(log, keep_batches=0)  # a listing: the batch nothing followed, no other
    assert [e.kind for e in listing.read_new()] == [e.kind for e in others] + ["batch"]
    # the torn line completes: only what is new comes back
    with open(log, "ab") as fh:
        fh.write(b'ches": 3, "loss": 0.4, "images_per_s": 9.0, "kind": "batch"}\n')
    assert [(e.kind, e.batch) for e in tail.read_new()] == [("batch", 2)]


def test_listing_a_big_run_reads_its_epochs_and_keeps_few_batches(tmp_path: Path) -> None:
    write_large_log(tmp_path / "big", batch_events=30_000, epochs=30)
    s = RunStore(tmp_path).summary("big")
    assert (s.state, s.epoch, s.total_epochs) == ("finished", 30, 30)
    follower = RunFollower(tmp_path / "big")  # the live view: the newest batch events only
    follower.poll()
    h = follower.history
    assert sorted(h.epochs) == list(range(1, 31)) and 0 < len(h.batches) <= KEEP_BATCHES


def test_batch_events_are_written_at_a_bounded_rate() -> None:
    # a fast epoch: 100 000 batches in 100 s -> about one event per 1% of the epoch, plus the last
    throttle, n = BatchThrottle(100_000, now=0.0), 0
    for b in range(1, 100_001):
        n += throttle.due(b, now=b / 1000)
    assert n <= BATCH_EVENTS_PER_EPOCH + 1
    # a slow epoch: 50 batches of 10 ms each -> at most one per second (0 here) plus the last
    throttle = BatchThrottle(50, now=0.0)
    assert sum(throttle.due(b, now=b * 0.01) for b in range(1, 51)) == 1
    # long batches: one every 5 s -> every batch may be reported, at most one per second
    throttle = BatchThrottle(20, now=0.0)
    assert sum(throttle.due(b, now=b * 5.0) for b in range(1, 21)) == 20


class CountedReads(FileProxy):
    """A file as `open_run_file` opens it, counting the bytes read through it into ``total``."""

    def __init__(self, fh, total: list[int]) -> None:
        super().__init__(fh)
        self._total = total

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self._total[0] += len(data)
        return data


def _count_reads(monkeypatch) -> list[int]:
    total = [0]
    opener = journal.open_run_file
    monkeypatch.setattr(journal, "open_run_file", lambda path, *a, **k: CountedReads(opener(path, *a, **k), total))
    return total


GARBAGE = {  # what a huge events.jsonl that is not a log may hold
    "zeros": None,  # 1 GiB, sparse: one "line" with no newline (was 3.5 s a GiB)
    "short lines": b"x\n",  # was 2.5 s a MiB: hours for a few GiB
    "blank lines": b"\n",
    "text lines": b"a log line of another program, written here by mistake: 0123456789\n",
}


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_a_huge_log_of_garbage_is_read_only_so_far_and_lists_broken_saying_why(
        tmp_path: Path, monkeypatch, garbage: str) -> None:
    """3 GiB of garbage in events.jsonl kept the runs table "scanning …" for ~10 s (a file of short
    garbage lines, for hours): each was read to its end. What the run wrote before it is kept; the
    rest is read no further than the bound, and the run lists as broken with a one-line reason
    naming the file. Every reader: the listing, the live view's follower and its next polls."""
    run = tmp_path / "big"
    write_large_log(run, batch_events=200, epochs=2)
    log = run / "events.jsonl"
    events_size = log.stat().st_size
    if GARBAGE[garbage] is None:
        with open(log, "r+b") as fh:
            fh.truncate(1 << 30)
    else:
        line = GARBAGE[garbage]
        with open(log, "ab") as fh:
            fh.write(line * ((8 << 20) // len(line)))  # 8 MiB
    bound = events_size + (32 << 20)  # the garbage read: tens of MiB at most, whatever the file's size
    read = _count_reads(monkeypatch)

    s = RunStore(tmp_path).summary("big")
    assert read[0] <= bound
    assert (s.state, s.epoch, s.total_epochs) == ("broken", 2, 2)
    assert s.message.startswith(f"{log}: not an events log: ") and s.message.endswith(" is not read")
    assert "\n" not in s.message

    read[0] = 0
    follower = RunFollower(run)  # the live view: the newest batch events too
    follower.poll()
    follower.poll()
    assert read[0] <= 2 * bound  # the batch events looked for backwards, within what was read
    assert sorted(follower.history.epochs) == [1, 2] and follower.history.batches
    assert follower.snapshot().state == "broken" and follower.error == s.message


def test_some_unreadable_lines_are_skipped_and_counted_as_before(tmp_path: Path) -> None:
    """Under the bound a log is read to its end: the run lists from its events, the lines counted."""
    run = tmp_path / "r"
    write_large_log(run, batch_events=200, epochs=2)
    with open(run / "events.jsonl", "ab") as fh:
        fh.write(b"not json\n" * 5000 + b"\n" * 100)
    follower = RunFollower(run, keep_batches=0)
    follower.poll()
    s = follower.summary()
    assert (s.state, s.epoch, s.message) == ("finished", 2, "done")
    assert follower.bad_lines == 5000 and follower.error is None
