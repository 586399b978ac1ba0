"""Starting ``petseg sweep`` in the background, as the TUI's sweep form does: the settings as the
CLI's flags, the process in its own session (it outlives the TUI), its output in
``<runs>/.sweeps/NAME.log`` (`engine.runs.layout.sweep_log`). The spec is checked here first
(`engine.sweep.spec_build.build_spec`), so a bad field is the form's one-line error, not a dead process.
No torch, no Optuna.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.config import config_fields
from engine.runs.layout import open_run_file, sweep_log, sweep_pid_file, sweep_pid_lock
from engine.runs.query import name_meant
from engine.sweep.spec import SWEEP_OWNED_FIELDS, SweepSpec, SweepSpecError
from engine.sweep.spec_build import build_spec


# what shlex.split's errors mean to someone who typed the flags
_SPLIT_ERRORS = {"No closing quotation": "a quote is not closed",
                 "No escaped character": "a \\ at the end escapes nothing"}


def parse_train_flags(text: str) -> dict[str, Any]:
    """``--epochs 5 --image_size=64`` as typed train values; SweepSpecError naming the flag."""
    fields = {f.name: f for f in config_fields()}
    try:
        words = shlex.split(text)
    except ValueError as exc:  # shlex's own words ("No closing quotation") named neither the text nor the fix
        why = _SPLIT_ERRORS.get(str(exc), str(exc))
        raise SweepSpecError(f"train flags: {text.strip()}: {why}") from None
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            raise SweepSpecError(f"train flags: {word!r} is not a --flag")
        name, eq, value = word[2:].partition("=")
        name = name.replace("-", "_")
        f = fields.get(name)
        if f is None or name in SWEEP_OWNED_FIELDS:
            meant = name_meant(name, [n for n in fields if n not in SWEEP_OWNED_FIELDS]) if f is None else None
            raise SweepSpecError(f"train flags: --{name} is not a train flag a trial takes"
                                 + (f" (did you mean --{meant}?)" if meant else ""))
        if not eq:
            if i + 1 >= len(words):
                raise SweepSpecError(f"train flags: --{name} needs a value")
            value, i = words[i + 1], i + 1
        try:
            out[name] = f.parse_value(value)
        except ValueError as exc:
            raise SweepSpecError(f"train flags: --{name} {value}: {exc}") from None
        i += 1
    return out


def checked_spec(settings: dict[str, Any]) -> SweepSpec:
    """The form's settings as a checked spec (GPU indices against this machine's GPUs)."""
    from engine.sweep.slots import visible_gpu_count

    return build_spec(settings, gpu_count=visible_gpu_count)


def sweep_argv(spec: SweepSpec) -> list[str]:
    """``petseg sweep`` flags that run ``spec``."""
    argv = ["--name", spec.name, "--trials", str(spec.trials), "--sampler", spec.sampler, "--prune", spec.prune,
            "--prune_warmup", str(spec.prune_warmup)]
    if spec.sampler_seed is not None:
        argv += ["--sampler_seed", str(spec.sampler_seed)]
    for p in spec.params:
        argv += ["--param", p.to_text()]
    if spec.devices is not None:
        argv += ["--devices", ",".join(map(str, spec.devices)), "--per_device", str(spec.per_device)]
    else:
        argv += ["--parallel", str(spec.parallel)]
    if spec.devices_per_trial > 1:
        argv += ["--devices_per_trial", str(spec.devices_per_trial)]
    if spec.storage:
        argv += ["--storage", spec.storage]
    argv += ["--eval_best", "yes" if spec.eval_best else "no"]
    fields = {f.name: f for f in config_fields()}
    argv += [f"--{k}={fields[k].format_value(v)}" for k, v in spec.base.items() if v is not None]
    return argv


def spawn_sweep(spec: SweepSpec, runs_dir: str | Path) -> int:
    """Start the sweep in a new session (stopping it later: SIGTERM, which stops its trials);
    returns its pid."""
    return start_sweep(spec, runs_dir).pid


def start_sweep(spec: SweepSpec, runs_dir: str | Path) -> subprocess.Popen:
    """`spawn_sweep` returning the process, for a caller that watches it start: its ``poll()`` is
    None while it runs and its exit code once it ended (a thread reaps it either way)."""
    runs_dir = Path(runs_dir).resolve()
    log = sweep_log(runs_dir, spec.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "engine.cli", "sweep", "--runs", str(runs_dir), "--on_interrupt", "stop",
            *sweep_argv(spec)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PETSEG_PLAIN_PROGRESS": "1"}
    with open_run_file(log, log.parent, mode="ab") as out:  # a FIFO planted there is refused, not waited on
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env, cwd=os.getcwd())
    # reaped when it ends, so no zombie of it lingers while the TUI runs (a re-run of the sweep
    # takes a dead sweep's trials over only once its pid is gone)
    threading.Thread(target=proc.wait, name=f"sweep-{spec.name}-reaper", daemon=True).start()
    return proc


WATCH_S = 10.0  # how long a started sweep is watched for an early exit before it counts as started
MAX_LOG_READ = 1 << 20  # of the sweep's log, what this start wrote (its error line is near the end)


def start_watched(spec: SweepSpec, runs_dir: str | Path, watch_s: float = WATCH_S) -> tuple[int, bool]:
    """`start_sweep`, then watch it until it has claimed the sweep (its study opened and took
    this spec) or ended: (its pid, whether it ended at once with nothing to do). A process that
    exits with an error is a PetsegError with its ``petseg: error:`` line (from the sweep's log),
    never "started"; so is one that cannot be started. The TUI's form and its R use it."""
    import time

    from engine.errors import PetsegError, one_line

    log = sweep_log(runs_dir, spec.name)
    try:
        offset = log.stat().st_size if log.is_file() else 0
        proc = start_sweep(spec, runs_dir)
    except OSError as exc:
        raise PetsegError(f"cannot start the sweep: {one_line(exc)}") from None
    deadline = time.monotonic() + watch_s
    while proc.poll() is None and time.monotonic() < deadline:
        if sweep_claimed_by(runs_dir, spec.name) == proc.pid:
            break  # its study opened and took this spec: it runs
        time.sleep(0.1)
    code = proc.poll()
    if code:
        try:
            with open_run_file(log, log.parent) as f:
                f.seek(offset)
                text = f.read(MAX_LOG_READ).decode("utf-8", "replace")
        except (OSError, PetsegError):
            text = ""
        raise PetsegError(error_line(text) or f"petseg sweep exited with code {code}")
    return proc.pid, code == 0


def claim_sweep(runs_dir: str | Path, name: str) -> Path:
    """Record this process as one running sweep ``name`` (`sweep_pid_file`); returns the file.

    Several ``petseg sweep`` processes may share one study (two shells, two machines): the file
    lists each of them (``processes``), and ``pid``/``host`` name the newest. With one pid only,
    the second process's claim hid the first: once the second ended or was killed, the TUI said
    "not running: nothing to stop" while the first still started trials."""
    import socket

    me = {"pid": os.getpid(), "host": socket.gethostname()}
    with _owners_locked(runs_dir, name) as path:
        others = [p for p in _claimants(_sweep_owner(path)) if p != me and _may_run(p)]
        _write_owners(path, [*others, me])
    return path


def release_sweep(runs_dir: str | Path, name: str) -> None:
    """Take this process off the sweep's pid file; the file goes with the last one on it."""
    import socket

    me = {"pid": os.getpid(), "host": socket.gethostname()}
    with _owners_locked(runs_dir, name) as path:
        owners = _claimants(_sweep_owner(path))
        if me in owners:
            _write_owners(path, [p for p in owners if p != me])


def sweep_claimed_by(runs_dir: str | Path, name: str) -> int | None:
    """The pid recorded as running sweep ``name`` last (`claim_sweep`, written once its study
    opened and its spec matched the study's), None if none."""
    pid = _sweep_owner(sweep_pid_file(runs_dir, name)).get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else None


@contextmanager
def _owners_locked(runs_dir: str | Path, name: str) -> Iterator[Path]:
    """The pid file, with the sweep's pid lock held: two processes claiming at once both stay listed."""
    import fcntl

    path = sweep_pid_file(runs_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(sweep_pid_lock(runs_dir, name), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_owners(path: Path, owners: list[dict[str, Any]]) -> None:
    from engine.runs.layout import write_json_atomic

    if not owners:
        path.unlink(missing_ok=True)
        return
    write_json_atomic(path, {**owners[-1], "processes": owners})


def _claimants(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every process the pid file names, each ``{"pid": int, "host": str}`` (a file written before
    ``processes`` existed names one); entries that are not that shape are left out."""
    listed = record.get("processes")
    entries = listed if isinstance(listed, list) else [record]
    out: list[dict[str, Any]] = []
    for e in entries:
        if not isinstance(e, dict):
            continue
        pid, host = e.get("pid"), e.get("host")
        if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and isinstance(host, str):
            entry = {"pid": pid, "host": host}
            if entry not in out:
                out.append(entry)
    return out


def _is_sweep_here(pid: int) -> bool:
    """Process ``pid`` of this machine is alive and a ``petseg sweep`` (not a reused pid)."""
    import psutil

    try:
        return any("sweep" in part for part in psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return False


def _may_run(owner: dict[str, Any]) -> bool:
    """The process may still run the sweep: a live sweep here, or any on another host (it cannot
    be checked from here)."""
    import socket

    return owner["host"] != socket.gethostname() or _is_sweep_here(owner["pid"])


def error_line(text: str) -> str | None:
    """The last ``petseg: error:`` line of a process's output (a sweep's log), None if none."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("petseg: error:")]
    return lines[-1] if lines else None


def _sweep_owner(path: Path) -> dict[str, Any]:
    """The pid file's record, {} when missing or not ours to trust (read as any run-folder file:
    bounded, never blocking on a FIFO)."""
    from engine.errors import RunStoreError
    from engine.runs.layout import read_run_json

    try:
        return read_run_json(path)
    except RunStoreError:
        return {}


def sweep_running(runs_dir: str | Path, name: str) -> bool:
    """Whether a process runs sweep ``name`` now: its pid file names a live ``petseg sweep`` here,
    or one on another host (trusted: it cannot be checked from here). For showing a stop key;
    `stop_sweep` says what it finds."""
    return any(_may_run(p) for p in _claimants(_sweep_owner(sweep_pid_file(runs_dir, name))))


def stop_sweep(runs_dir: str | Path, name: str) -> str:
    """Ask every process of this machine running sweep ``name`` to stop (SIGTERM: each stops its
    running trials, which save last.pt; the same ``petseg sweep`` command resumes them). Returns
    what happened, in a line."""
    import signal
    import socket

    path = sweep_pid_file(runs_dir, name)
    owners = _claimants(_sweep_owner(path))
    if not owners:
        return f"sweep {name} is not running here (no readable {path.name})"
    here = socket.gethostname()
    elsewhere = [f"runs on {p['host']}: stop it there (Ctrl-C or kill {p['pid']})" for p in owners if p["host"] != here]
    live = [p["pid"] for p in owners if p["host"] == here and _is_sweep_here(p["pid"])]
    if not live and not elsewhere:  # gone, or their pids reused by other programs
        path.unlink(missing_ok=True)
        return f"sweep {name} is not running (its process {', '.join(str(p['pid']) for p in owners)} has ended)"
    if not live:
        return f"sweep {name} " + "; ".join(elsewhere)
    asked, said = [], []
    for pid in live:
        try:
            os.kill(pid, signal.SIGTERM)
            asked.append(str(pid))
        except OSError as exc:
            said.append(f"cannot stop process {pid} ({exc.strerror or exc})")
    if len(asked) == 1:
        said.insert(0, f"asked process {asked[0]} to stop; its running trials save last.pt and stop")
    elif asked:
        said.insert(0, f"asked processes {', '.join(asked)} to stop; their running trials save last.pt and stop")
    return f"sweep {name}: " + "; ".join(said + [f"it also {e}" for e in elsewhere])
