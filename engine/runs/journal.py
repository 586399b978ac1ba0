"""Reading a run's ``events.jsonl`` as it grows: `EventTail` and `read_events`.

A torn last line is held back until it is complete; the cost of a catch-up read is bounded
whatever the size of the file (batch lines are recognised by their bytes), and whatever it holds:
a file that turns out mostly not events (3 GiB of garbage kept the runs table "scanning …" for
seconds, short garbage lines for hours) is read no further than `GARBAGE_BYTES` or
`GARBAGE_LINES` of what is not events, and the run lists as broken with that in one line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable

from engine.errors import RunStoreError
from engine.events import EventFieldError, TrainEvent, parse_event
from engine.runs.layout import EVENTS_FILE, RunFileMissing, open_run_file
from engine.words import byte_size, counted


# Our writer puts "kind" last (event_to_dict), and JSON escapes quotes inside strings, so these
# byte patterns can only be an event's own kind key: batch lines are recognised without parsing.
_BATCH_LINE_END = b'"kind": "batch"}\n'
_NON_BATCH_KIND = re.compile(rb'"kind": "(?!batch")')
READ_CHUNK = 1 << 20  # bytes read at once: bounds memory whatever the file size
KEEP_BATCHES = 1000  # batch events a catch-up read keeps (the most recent); older ones are skipped
MAX_LINE = 4 << 20  # an event line is well under 1 KB: a longer "line" is garbage, dropped unread
# what is not events (not JSON, not an object, blank, over-long) after which the rest of a file is
# not read: a writer's crash tears a line or two; this much is no events log (reading up to
# either costs ~50 ms; 16 MiB of 2-byte lines, parsed, cost 40 s)
GARBAGE_BYTES = 16 << 20
GARBAGE_LINES = 10_000


def skipped_lines(bad_lines: int) -> str:
    """What every view says of the lines `EventTail` skipped: "2 unreadable lines in events.jsonl
    skipped" (the runs table's detail line, the run screen)."""
    return f"{counted(bad_lines, 'unreadable line')} in {EVENTS_FILE} skipped"


class EventTail:
    """Reads the events appended to a file since the last call.

    A line without its newline is a write in progress (or a torn write after a crash): it is
    held back, never parsed half-way. Lines that are not valid JSON are counted in
    ``bad_lines`` and skipped; a known event with a missing or mistyped field is counted too,
    and the first such problem is kept in ``invalid`` (the run then lists as broken). If the
    file shrinks (replaced), reading starts again. Once `GARBAGE_BYTES` or `GARBAGE_LINES` of
    what it read are not events, it reads the file no further (``invalid`` says so).

    Bounded cost on huge logs: the file is read in 1 MiB chunks, batch-progress lines are
    recognised by their bytes and only the last ``keep_batches`` of them are parsed (0: only
    a last line's, for listings that show no batch figures); measured in docs/RELIABILITY.md, "Large logs"
    (bench/large_events_log.py).
    """

    def __init__(self, path: Path, keep_batches: int = KEEP_BATCHES) -> None:
        self.path = Path(path)
        self.offset = 0
        self.bad_lines = 0
        self.lines = 0  # complete lines read so far
        self.invalid: str | None = None
        self.keep_batches = keep_batches
        self._partial = b""
        self._garbage_bytes = 0  # of lines that are not events (blank ones too), and how many
        self._garbage_lines = 0
        self._given_up = False  # too much of the file is not events: it is read no further

    def _not_events(self, nbytes: int) -> None:
        """Note a line of ``nbytes`` that is no event, and whether reading should stop."""
        self._garbage_bytes += nbytes
        self._garbage_lines += 1
        if self._garbage_bytes > GARBAGE_BYTES or self._garbage_lines > GARBAGE_LINES:
            self._given_up = True

    def _give_up_reason(self, size: int) -> str:
        return (f"{self.path}: not an events log: {counted(self._garbage_lines, 'line')} "
                f"({byte_size(self._garbage_bytes)}) of its first {byte_size(self.offset)} are not events; the rest "
                f"({byte_size(max(0, size - self.offset))}) is not read")

    def read_new(self) -> list[TrainEvent]:
        if self._given_up:
            return []
        # untrusted: a FIFO, a folder or a symlink out of the run folder in its place is a problem
        # of the run (`invalid`), never a hang or a read of someone else's file
        try:
            fh = open_run_file(self.path)
        except RunFileMissing:
            return []
        except RunStoreError as exc:
            self.invalid = self.invalid or str(exc)
            return []
        with fh:
            try:
                size = os.fstat(fh.fileno()).st_size
            except OSError:
                return []
            return self._read_from(fh, size)

    def _read_from(self, fh: Any, size: int) -> list[TrainEvent]:
        if size < self.offset:
            self.offset, self._partial, self.lines = 0, b"", 0
        if size == self.offset:
            return []
        found: list[tuple[int, TrainEvent]] = []  # (file offset, event) of non-batch events
        begin = self.offset - len(self._partial)  # file offset of the first byte not yet parsed
        try:
            fh.seek(self.offset)
            left = size - self.offset
            while left > 0:
                chunk = fh.read(min(READ_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                base = self.offset - len(self._partial)  # file offset of data[0]
                self.offset += len(chunk)
                data = self._partial + chunk if self._partial else chunk
                cut = data.rfind(b"\n") + 1
                self._partial = data[cut:]
                if cut:
                    self._scan(data, cut, base, found)
                if len(self._partial) > MAX_LINE:  # no newline for megabytes: garbage, not an event
                    self.bad_lines += 1
                    self._not_events(len(self._partial))
                    self._partial = b""  # dropped (bounded memory); its rest reads as one more bad line
                if self._given_up:
                    self.invalid = self.invalid or self._give_up_reason(size)
                    break
            end = self.offset - len(self._partial)  # just after the last complete line
            if self.keep_batches > 0:
                tail = self._last_batch_lines(fh, begin, end, self.keep_batches)
            else:
                tail = self._batch_if_last(fh, begin, end)
        except OSError:
            return [e for _, e in found]
        if not tail:
            return [e for _, e in found]
        parsed = []
        for at, raw, number in tail:
            event = self._parse(raw, number)
            if event is not None:
                parsed.append((at, event))
        return [e for _, e in sorted(found + parsed, key=lambda item: item[0])]

    def _batch_if_last(self, fh: Any, begin: int, end: int) -> list[tuple[int, bytes, int]]:
        """The last line between ``begin`` and ``end`` if it is a batch line, as `_last_batch_lines`
        gives lines: a listing (``keep_batches`` 0) shows no batch figures, but a batch nothing
        followed is when a run killed in mid-epoch last trained (its duration ended at the older
        heartbeat without it). One read of the file's last 4 KiB."""
        if end <= begin:
            return []
        start = max(begin, end - 4096)
        fh.seek(start)
        data = fh.read(end - start)
        s = data.rfind(b"\n", 0, len(data) - 1) + 1
        raw = data[s:-1]
        if (s == 0 and start > begin) or not raw.endswith(b'"kind": "batch"}'):  # > 4 KiB: not a batch line
            return []
        return [(start + s, raw, self.lines - 1)]

    def _last_batch_lines(self, fh: Any, begin: int, end: int, keep: int) -> list[tuple[int, bytes, int]]:
        """(offset, line, line number) of the newest ``keep`` batch lines between file
        offsets ``begin`` and ``end`` (both at line starts), oldest first: read backwards from
        ``end`` in blocks, so the cost is the size of those lines, not of the file."""
        taken: list[tuple[int, bytes, int]] = []
        number = self.lines - 1
        carry = b""  # the start of a line whose beginning lies in an earlier block
        block_end = end
        while block_end > begin and len(taken) < keep:
            block_start = max(begin, block_end - (256 << 10))
            fh.seek(block_start)
            data = fh.read(block_end - block_start) + carry
            cut = data.find(b"\n") + 1 if block_start > begin else 0
            carry, body, body_at = data[:cut], data[cut:], block_start + cut
            e = len(body) - 1  # body ends with a newline
            while e >= 0 and len(taken) < keep:
                s = body.rfind(b"\n", 0, e) + 1
                raw = body[s:e]
                if raw.endswith(b'"kind": "batch"}'):
                    taken.append((body_at + s, raw, number))
                e, number = s - 1, number - 1
            block_end = block_start
        taken.reverse()
        return taken

    def _scan(self, data: bytes, cut: int, base: int, found: list) -> None:
        """Parse the non-batch lines of ``data[:cut]`` (whole lines; ``data[0]`` is at file
        offset ``base``). Three C-speed passes over the bytes (count
        newlines, count batch-line ends, a regex for the other kinds); only non-batch lines
        reach Python code. Any line of another shape sends the chunk down the line-by-line path."""
        first_line = self.lines
        n_lines = data.count(b"\n", 0, cut)
        self.lines += n_lines
        n_batch = data.count(_BATCH_LINE_END, 0, cut)
        others = [m.start() for m in _NON_BATCH_KIND.finditer(data, 0, cut)] if n_batch != n_lines else []
        if n_batch + len(others) != n_lines:  # blank, foreign or garbage lines: line by line
            start = 0
            for i in range(n_lines):
                end = data.index(b"\n", start)
                raw = data[start:end]
                if raw.endswith(b'"kind": "batch"}'):
                    pass  # batch lines: only the newest are parsed, at the end of read_new
                elif raw.strip():
                    event = self._parse(raw, first_line + i)
                    if event is not None:
                        found.append((base + start, event))
                else:
                    self._not_events(len(raw) + 1)
                if self._given_up:
                    return  # the rest of the chunk unread: the caller stops
                start = end + 1
            return
        for pos in others:
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            number = -1  # counted only if this line turns out invalid (rare): see _parse
            event = self._parse(data[start:end], number, lambda s=start: first_line + data.count(b"\n", 0, s))
            if event is not None:
                found.append((base + start, event))
            if self._given_up:
                return

    def _parse(self, raw: bytes, number: int, count_line: Callable[[], int] | None = None) -> TrainEvent | None:
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[…
            self.bad_lines += 1
            self._not_events(len(raw) + 1)
            return None
        if not isinstance(obj, dict):
            self.bad_lines += 1
            self._not_events(len(raw) + 1)
            return None
        try:
            event = parse_event(obj)
        except EventFieldError as exc:
            self.bad_lines += 1
            if self.invalid is None:
                line = count_line() if count_line is not None else number
                self.invalid = f"{self.path}: line {line + 1}: {exc}"
            return None
        if event is None:  # an unknown kind (a newer writer): skipped
            self.bad_lines += 1
        return event

    @property
    def torn_tail(self) -> bool:
        """True when the file ends in an incomplete line (dropped until completed)."""
        return bool(self._partial.strip())


def read_events(path: Path) -> list[TrainEvent]:
    """All complete, valid events of a file; a torn last line is dropped."""
    return EventTail(path).read_new()
