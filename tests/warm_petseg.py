"""Warm ``petseg`` processes for tests: `Popen` and `run`, drop-ins for `subprocess`'s, whose child is
a real process (its own pid, real signals, a real exit status and interpreter exit) forked from a
zygote that has already imported torch, torch._dynamo, albumentations and petseg's commands.

Why: a fresh ``python -m engine.cli train ...`` costs ~4 CPU-s on the test machine, ~85 % of it
imports, and the suite starts ~100 of them. The zygote (`tests/warm_petseg_server.py`) pays the
imports once per xdist worker, on first use; each child then costs what its command does.

Use it as subprocess: ``warm_petseg.Popen([sys.executable, "-m", "engine.cli", *argv], env=...,
cwd=..., stdout=subprocess.PIPE, ...)``, ``warm_petseg.run(...)``. ``args`` must be
``[sys.executable, "-m", MODULE, ...]`` or ``[sys.executable, "-c", CODE, ...]``. stdin, stdout and
stderr take what subprocess takes (None, PIPE, DEVNULL, STDOUT, a file or fd); ``close_std=(1, 2)``
closes those in the child (``preexec_fn=lambda: (os.close(1), os.close(2))``), and
``sigint_default=True`` gives it Python's Ctrl-C even when this process ignores SIGINT
(``preexec_fn=lambda: signal.signal(SIGINT, SIG_DFL)``). Other preexec_fn, shell, executable,
pass_fds, user/group/umask are refused.

What the child gets as a fresh interpreter would: signal dispositions as exec leaves them (SIG_IGN
inherited from this process, handlers back to SIG_DFL; then SIGINT to Python's handler, SIGPIPE
and SIGXFSZ ignored), this process's signal mask, stdin/stdout/stderr (sent over the socket), the
environment, cwd, sys.argv, sys.path (PYTHONPATH's entries), sys.stdin/stdout/stderr built as
CPython builds them (PYTHONUNBUFFERED, PYTHONIOENCODING), tempfile's and multiprocessing's temp
dir (TMPDIR), a new numpy seed, OMP_NUM_THREADS through torch.set_num_threads, a new session
(``start_new_session``); the code runs at the zygote script's top level, and SystemExit, an
uncaught exception or a KeyboardInterrupt end it as ``python -m`` would (the traceback,
non-daemon threads joined, exit handlers, stdout/stderr flushed, ``__main__``'s names let go, -2
for Ctrl-C), but without the interpreter's teardown of the other modules (the zygote's torch: ~1
CPU-s of copy-on-write faults a child, which a loaded machine stretched to seconds).

What differs, and so the FIDELITY RULES: which tests must NOT use it (leave them on subprocess):

* tests whose point is start-up or imports: what a fresh process imports (test_torch_free.py), how
  fast it starts, a Ctrl-C while it imports (test_cli_interrupts.py): the imports are done already;
* tests that depend on the child's command line as other processes see it: its /proc cmdline is
  the zygote's. `engine.train.launch` (`starting_resume`, `_launched`), the sweep scheduler and
  anything finding petseg processes with psutil by their argv;
* tests that check this process's own children with psutil, or the child's parent: its parent is
  the zygote (a child that watches its parent, `engine.cli.interrupts.stop_reason`, sees one that
  never ends), and it is no child of the test;
* terminal and pty tests (controlling terminal, the foreground process group): the child is in the
  zygote's process group, or a session of its own;
* data-parallel ranks (torch's elastic agent starts them as fresh interpreters anyway); the
  ``petseg train --devices N`` launcher itself is fine;
* environments that change what the interpreter reads at start-up: a LANG/LC_*, PYTHONHASHSEED
  and other PYTHON* settings, LD_*, OMP/MKL/KMP/GOMP (but OMP_NUM_THREADS), TORCH*/PYTORCH* values
  other than the zygote's, a PYTHONPATH folder with a sitecustomize.py, ``-m`` of a module the
  zygote has imported, are refused with `NeedsFreshInterpreter`, never silently ignored;
* a ``-c`` script that patches something petseg binds at import (``from m import f`` in a module
  imported after the patch): the zygote imported petseg first, so only patches looked up at call
  time (``module.f``, ``Class.method``, ``os.fsync``) take effect. Every child also shares the
  zygote's hash seed; its import of torch._dynamo made ``$TMPDIR/torchinductor_USER`` once, in the
  zygote's temp dir (a fresh child makes it in its own at that import, a warm one only when
  inductor needs it); a child's CPU is reported by the zygote (`uncounted_cpu`), not in this
  process's RUSAGE_CHILDREN; its ``os.fsync`` skips the disk's wait, as the workers' does
  (tests/no_fsync.py); and at its end only ``__main__``'s objects are let go: an object
  held by another module that flushes or says something only when the interpreter tears that
  module down (not in an exit handler) does not.

When unsure, leave a test on a fresh process. And a warm child saves only the imports: a command
that imports no torch (``petseg runs``, ``--help``) costs a fresh process ~0.1 CPU-s, a warm one
about as much (~0.05 CPU-s of it the exit handlers of the zygote's torch).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVER = Path(__file__).with_name("warm_petseg_server.py")
START_TIMEOUT_S = 120
# read at start-up by the interpreter or a library the zygote loaded: a child's must be the zygote's
STARTUP_VARS = ("LANG", "LANGUAGE", "PYTHONHASHSEED", "PYTHONOPTIMIZE", "PYTHONDONTWRITEBYTECODE", "PYTHONUTF8",
                "PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONFAULTHANDLER", "PYTHONMALLOC", "PYTHONSAFEPATH",
                "PYTHONNOUSERSITE", "PYTHONHOME", "PYTHONPLATLIBDIR", "PYTHONTRACEMALLOC", "PYTHONVERBOSE",
                "PYTHONDEBUG", "PYTHONPYCACHEPREFIX", "PYTHONCOERCECLOCALE", "PYTHONUSERBASE", "PYTHONINSPECT",
                "PYTHONINTMAXSTRDIGITS", "NO_ALBUMENTATIONS_UPDATE")
STARTUP_PREFIXES = ("LC_", "LD_", "MALLOC_", "OMP_", "MKL_", "KMP_", "GOMP_", "TORCH", "PYTORCH_")
EMULATED = ("OMP_NUM_THREADS",)  # torch.set_num_threads in the child
# read when used, not at start-up: torch's elastic agent (an in-process launch sets them in os.environ)
RUNTIME_PREFIXES = ("TORCHELASTIC_",)
# this module's environment when first imported (before any test's monkeypatch): the zygote's own
_BASE_ENV = dict(os.environ)


class NeedsFreshInterpreter(ValueError):
    """This child would differ from a fresh interpreter's (see the module's rules): use subprocess."""


class _Zygote:
    """The zygote process of this (xdist worker) process, started on first use."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="warm-petseg-"))
        self.socket_path = str(self.folder / "sock")
        self.log = self.folder / "zygote.log"
        paths = [str(REPO), *[p for p in _BASE_ENV.get("PYTHONPATH", "").split(os.pathsep) if p]]
        self.start_env = {**_BASE_ENV, "PYTHONPATH": os.pathsep.join(paths)}
        with open(self.log, "wb") as log:  # it leaves this process at once: no child of ours
            starter = subprocess.Popen([sys.executable, str(SERVER), self.socket_path], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=log, env=self.start_env, cwd=REPO,
                                       start_new_session=True)
        starter.wait()
        assert starter.stdin is not None and starter.stdout is not None
        self.lifeline, self.said = starter.stdin, starter.stdout
        said = self._said(START_TIMEOUT_S)
        if said is None:
            self.lifeline.close()
            raise RuntimeError(f"the warm petseg zygote did not start:\n{self.log.read_text()[-3000:]}")
        self.pid, self.startup_cpu = said["pid"], said["cpu"]
        self.forks = said["threads"] == 1
        self.env_set = said["env_set"]  # by its imports, which set them in a fresh child too
        self.env = {**self.start_env, **self.env_set}
        self.zygotes_own = set(said["zygotes_own"])  # set by its imports, given to no child
        _count_cpu(said["cpu"])

    def _said(self, timeout: float) -> dict | None:
        """The zygote's next line on its stdout; None when it ended without one."""
        ready, _, _ = select.select([self.said], [], [], timeout)
        line = self.said.readline() if ready else b""
        return json.loads(line) if line else None

    def alive(self) -> bool:
        ready, _, _ = select.select([self.said], [], [], 0)
        return not ready  # it says nothing between its start and its end: its stdout at EOF is its end

    def close(self) -> None:
        alive = self.alive()
        self.lifeline.close()  # it ends, and says the CPU it used beyond its start
        said = self._said(30) if alive else None
        if said is not None:
            _count_cpu(said["cpu"] - self.startup_cpu)
        self.said.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def check(self, env: Mapping[str, str]) -> None:
        """Refuse an environment the zygote would start differently with. A start-up variable may be
        the zygote's at its start, or as its imports left it: the test process, having made the same
        imports (OpenCV's LD_LIBRARY_PATH, torch._dynamo's TORCHINDUCTOR_CACHE_DIR), hands that on."""
        env = {key: value for key, value in env.items() if key not in self.zygotes_own}
        for key in {*env, *self.env, *self.start_env}:
            if key in EMULATED and env.get(key, "").isdigit() or key.startswith(RUNTIME_PREFIXES):
                continue
            if (key in STARTUP_VARS or key.startswith(STARTUP_PREFIXES)) \
                    and env.get(key) not in (self.start_env.get(key), self.env.get(key)):
                raise NeedsFreshInterpreter(f"{key}={env.get(key)!r} where the zygote has {self.env.get(key)!r}: "
                                            "a fresh interpreter would read it at start-up")
        if "PYTHONIOENCODING" in self.env and env.get("PYTHONIOENCODING") != self.env["PYTHONIOENCODING"]:
            raise NeedsFreshInterpreter("PYTHONIOENCODING differs from the zygote's own")
        for folder in env.get("PYTHONPATH", "").split(os.pathsep):
            if folder and any((Path(folder) / f"{name}.py").exists() for name in ("sitecustomize", "usercustomize")):
                raise NeedsFreshInterpreter(f"{folder} on PYTHONPATH has a sitecustomize or usercustomize, which "
                                            "the interpreter imports at start-up")


_zygote: _Zygote | None = None
_uncounted = 0.0  # CPU-s of the zygote and its children, which this process's RUSAGE_CHILDREN never sees


def _count_cpu(seconds: float) -> None:
    global _uncounted
    _uncounted += seconds


def uncounted_cpu() -> float:
    """CPU seconds the warm processes used, which this process's RUSAGE_CHILDREN never shows: the
    zygote's (its start, its end) and its children's, each once it ended (bench/suite_cpu.py adds
    it; $WARM_PETSEG_CPU_LOG, when set, gets the total at the session's end)."""
    return _uncounted


def _readable(conn: socket.socket) -> bool:
    return bool(select.select([conn], [], [], 1.0)[0])


def zygote() -> _Zygote:
    global _zygote
    if _zygote is not None and not _zygote.alive():  # killed: its children's CPU is counted as they ended
        _zygote.close()
        _zygote = None
    if _zygote is None:
        _zygote = _Zygote()
    return _zygote


def shutdown() -> None:
    """End the zygote, if one was started (the session's end: tests/conftest.py)."""
    global _zygote
    if _zygote is not None:
        _zygote.close()
        _zygote = None
    log = os.environ.get("WARM_PETSEG_CPU_LOG")
    if log and _uncounted:  # for a measurement that reads RUSAGE_CHILDREN, which never sees the zygote
        with open(log, "a") as fh:
            fh.write(f"{_uncounted:.3f}\n")


def _ignored_signals() -> list[int]:
    """What exec keeps of this process's dispositions: the ignored signals, but those subprocess
    restores (restore_signals: SIGPIPE and SIGXFSZ, which Python ignores)."""
    out = []
    for sig in signal.valid_signals():
        try:
            if signal.getsignal(sig) == signal.SIG_IGN and sig not in (signal.SIGPIPE, signal.SIGXFSZ):
                out.append(int(sig))
        except (OSError, ValueError):
            pass
    return out


class Popen(subprocess.Popen):
    """`subprocess.Popen` whose child the zygote forks (see the module's docstring for the rules); a
    fresh interpreter, as subprocess's, when the zygote cannot fork safely (it has threads: OpenBLAS
    and OpenCV start theirs at import unless OMP_NUM_THREADS is 1, as tests/conftest.py sets it).

    Popen does the pipes, text mode, communicate, wait(timeout) and send_signal; this class only
    starts the child (`_execute_child`) and learns its end from the zygote (`_try_wait`,
    `_internal_poll`), Popen's own POSIX hooks since Python 3.3."""

    def __init__(self, args: list[str], *popenargs: Any, close_std: Iterable[int] = (), sigint_default: bool = False,
                 **kwargs: Any) -> None:
        self._close_std = set(close_std)
        self._sigint_default = sigint_default
        self._conn: socket.socket | None = None
        self._said = b""
        super().__init__(args, *popenargs, **kwargs)

    def _execute_child(self, *params: Any) -> None:
        code = subprocess.Popen._execute_child.__code__
        names = code.co_varnames[1:code.co_argcount]
        p = dict(zip(names, params))
        args = list(p["args"])
        if p["shell"] or p["executable"] is not None or p["preexec_fn"] is not None or p["pass_fds"] \
                or p["uid"] is not None or p["gid"] is not None or p["gids"] is not None or p["umask"] != -1 \
                or not p["close_fds"] or p.get("process_group") not in (None, -1):
            raise NeedsFreshInterpreter("shell, executable, preexec_fn, pass_fds, close_fds=False, user, group, "
                                        "umask and process_group need a fresh interpreter")
        if len(args) < 3 or args[0] != sys.executable or args[1] not in ("-m", "-c"):
            raise NeedsFreshInterpreter(f"not [sys.executable, '-m'|'-c', ...]: {args[:3]}")
        env = dict(os.environ if p["env"] is None else p["env"])
        server = zygote()
        server.check(env)
        if not server.forks:
            return super()._execute_child(*params)
        ignored = _ignored_signals()
        if self._sigint_default:
            ignored = [s for s in ignored if s != signal.SIGINT]
        # -1: inherited from this process, as exec would
        fds = {0: p["p2cread"], 1: p["c2pwrite"], 2: p["errwrite"]}
        fds = {slot: (slot if fd == -1 else fd) for slot, fd in fds.items() if slot not in self._close_std}
        request = {"argv": [str(a) for a in args[1:]], "env": env,
                   "cwd": os.path.abspath(os.fspath(p["cwd"])) if p["cwd"] is not None else os.getcwd(),
                   "fds": list(fds), "new_session": bool(p["start_new_session"]), "ignored_signals": ignored,
                   "blocked_signals": [int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])]}
        data = json.dumps(request).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(server.socket_path)
            payload = struct.pack(">I", len(data)) + data
            sent = socket.send_fds(conn, [payload], list(fds.values()))
            try:
                # only what is left: a send of nothing to a zygote that has already answered (a
                # refusal) and closed fails with EPIPE, which a loaded machine hit now and then
                if sent < len(payload):
                    conn.sendall(payload[sent:])
            except (BrokenPipeError, ConnectionResetError) as exc:  # the zygote answered (and closed) first
                try:
                    answer = self._line(conn, block=True) if self._said or _readable(conn) else None
                except RuntimeError:  # closed without a word
                    answer = None
                raise RuntimeError(f"the warm petseg zygote closed the request half-sent ({exc}); it said "
                                   f"{answer}; its log: {server.log.read_text(errors='replace')[-2000:]}") from None
            answer = self._line(conn, block=True)
        except BaseException:
            conn.close()
            raise
        finally:
            self._close_pipe_fds(p["p2cread"], p["p2cwrite"], p["c2pread"], p["c2pwrite"], p["errread"],
                                 p["errwrite"])
        if "pid" not in answer:
            conn.close()
            raise NeedsFreshInterpreter(f"the warm petseg zygote refused: {answer.get('error')}")
        self.pid, self._conn = answer["pid"], conn

    def _line(self, conn: socket.socket, block: bool) -> dict | None:
        """The zygote's next line on ``conn``; None when ``block`` is False and none has come."""
        while b"\n" not in self._said:
            conn.setblocking(block)
            try:
                more = conn.recv(4096)
            except BlockingIOError:
                return None
            finally:
                conn.setblocking(True)
            if not more:
                raise RuntimeError("the warm petseg zygote went away")
            self._said += more
        line, self._said = self._said.split(b"\n", 1)
        return json.loads(line)

    def _ended(self, block: bool) -> int | None:
        """The child's wait status once the zygote has reaped it (None: not yet, without ``block``)."""
        if self._conn is None:
            return None
        said = self._line(self._conn, block)
        if said is None:
            return None
        self._conn.close()
        self._conn = None
        _count_cpu(said["cpu"])
        return said["status"]

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        if self._conn is None and self.returncode is None:  # a fresh interpreter (see the class)
            return super()._try_wait(wait_flags)
        status = self._ended(block=not wait_flags & os.WNOHANG)
        return (0, 0) if status is None else (self.pid, status)

    def _internal_poll(self, _deadstate: int | None = None, **kwargs: Any) -> int | None:
        if self._conn is None:  # a fresh interpreter, or ended
            return super()._internal_poll(_deadstate, **kwargs)
        if self.returncode is None and self._waitpid_lock.acquire(False):
            try:
                if self.returncode is None:
                    status = self._ended(block=False)
                    if status is not None:
                        self._handle_exitstatus(status)
            finally:
                self._waitpid_lock.release()
        return self.returncode


def run(*popenargs: Any, input: Any = None, capture_output: bool = False, timeout: float | None = None,
        check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:
    """`subprocess.run` with a warm `Popen` (the same code, Python 3.11's)."""
    if input is not None:
        if kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        kwargs["stdin"] = subprocess.PIPE
    if capture_output:
        if kwargs.get("stdout") is not None or kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with Popen(*popenargs, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()  # POSIX's communicate put the output so far in the exception
            raise
        except BaseException:
            process.kill()
            raise
        retcode = process.poll()
        if check and retcode:
            raise subprocess.CalledProcessError(retcode, process.args, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(process.args, retcode, stdout, stderr)
