"""Hostile variants of every file a run folder has (issue 21, group 4: run folders are untrusted).

`hostile_runs(base, root)` copies the finished run ``base`` once per (file, variant) into
``root``, damaging that one file, and returns {run name: (file, variant)}. The files are
engine.runs.layout's `run_files()` plus the previews' own (engine.train.previews); the
variants are what a run folder from another box, another user or an attacker may hold.
`within(seconds, fn, *args)`: a call that fails a test instead of hanging it (a FIFO read).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any, Callable

from engine.run_schema import CONFIG_REQUIRED, STATUS_REQUIRED
from engine.runs.layout import CONFIG_FILE, EVENTS_FILE, PREVIEWS_DIR, STATUS_FILE, run_files
from engine.train.previews import INDEX_FILE, INPUTS_FILE

JSON_SUFFIXES = (".json",)
HUGE_BYTES = 64 << 20  # sparse: costs no disk, a reader that slurps it pays 64 MiB


class TooSlow(BaseException):
    """A call `within` a time-out ran past it: no Exception, so that code catching every
    Exception (a reader that says "not ours" of whatever failed) cannot swallow it."""


def within(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), failing the test (instead of hanging it) if it takes longer: a SIGALRM
    interrupts even a blocking open() of a FIFO (main thread only)."""
    def alarm(_signum: int, _frame: Any) -> None:
        raise TooSlow(f"{getattr(fn, '__name__', fn)} still running after {seconds} s (a FIFO or /dev/zero read?)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def every_run_file() -> list[str]:
    return [*run_files(), f"{PREVIEWS_DIR}/{INDEX_FILE}", f"{PREVIEWS_DIR}/{INPUTS_FILE}"]


def variants_for(rel: str) -> list[str]:
    out = ["missing", "empty", "garbage", "folder", "fifo", "symlink-out", "dev-zero", "huge", "dangling"]
    if os.geteuid() != 0:  # root reads every file whatever its mode
        out.append("unreadable")
    if rel.endswith(".json") or rel == EVENTS_FILE:
        out += ["wrong-shape", "missing-field", "deep"]
    if rel == f"{PREVIEWS_DIR}/{INDEX_FILE}":
        out += ["traversal", "absolute"]
    return out


def _damage(run: Path, rel: str, how: str, outside: Path) -> None:
    path = run / rel
    original = path.read_bytes() if path.is_file() else b""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "missing":
        return
    if how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"\x00\xff\xfe{garbage[\n\x80\x81 not json\n")
    elif how == "folder":
        path.mkdir()
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "symlink-out":  # a valid copy of the file, but outside the run folder
        target = outside / f"{run.name}-{path.name}"
        target.write_bytes(original)
        path.symlink_to(target)
    elif how == "dev-zero":
        path.symlink_to("/dev/zero")
    elif how == "dangling":
        path.symlink_to(outside / "does-not-exist")
    elif how == "huge":
        with open(path, "wb") as fh:
            fh.truncate(HUGE_BYTES)
    elif how == "unreadable":
        path.write_bytes(original)
        path.chmod(0)
    elif how == "wrong-shape":
        path.write_bytes(b'[1, "two", null]\n' if rel != EVENTS_FILE else b'[1, 2]\n"x"\n{"kind": 5}\n')
    elif how == "missing-field":
        if rel == EVENTS_FILE:  # every event line loses its first field
            lines = []
            for line in original.decode().splitlines():
                obj = json.loads(line)
                obj.pop(next(k for k in obj if k != "kind"), None)
                lines.append(json.dumps(obj))
            path.write_text("\n".join(lines) + "\n")
        else:  # the fields every petseg writes (engine.run_schema), or every other one
            obj = json.loads(original)
            required = {STATUS_FILE: STATUS_REQUIRED, CONFIG_FILE: CONFIG_REQUIRED}.get(rel)
            keep = {k: v for i, (k, v) in enumerate(obj.items()) if (k not in required if required else i % 2)}
            path.write_text(json.dumps(keep))
    elif how == "deep":
        path.write_bytes(b"[" * 200_000 + b"]" * 200_000 + b"\n")
    elif how in ("traversal", "absolute"):
        index = json.loads(original)
        for entry in index["epochs"]:
            entry["file"] = "../../../../../etc/passwd" if how == "traversal" else "/etc/passwd"
        path.write_text(json.dumps(index))
    else:
        raise AssertionError(how)


def hostile_runs(base: Path, root: Path, outside: Path) -> dict[str, tuple[str, str]]:
    """One copy of ``base`` per (file, variant) under ``root``; files outside go to ``outside``."""
    root.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    made = {}
    for i, rel in enumerate(every_run_file()):
        for how in variants_for(rel):
            name = f"h{i:02d}-{rel.replace('/', '_').replace('.', '_')}-{how}"
            run = root / name
            shutil.copytree(base, run, symlinks=True)
            for extra, text in (("control.json", '{"action": "stop"}'), ("train.log", "line\n"),
                                ("error.log", "Traceback\n")):
                if not (run / extra).exists():
                    (run / extra).write_text(text)
            _damage(run, rel, how, outside)
            made[name] = (rel, how)
    return made
