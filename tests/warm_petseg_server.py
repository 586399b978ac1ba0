"""The zygote of `tests/warm_petseg.py` (read its docstring first): a process that has imported what
``petseg``'s commands import, and forks a child per request that then runs as a fresh ``python -m
MODULE ARGS`` (or ``python -c CODE ARGS``) would, from its signal dispositions to its interpreter's
exit. Run as ``python tests/warm_petseg_server.py SOCKET``; not a test module. It leaves the
process that started it at once (a fork, its parent exiting), and says a JSON line on stdout
when it serves (its pid, the CPU its imports took) and another when stdin closes and it ends
(its own CPU).

Protocol, one UNIX stream connection per child: the client sends a 4-byte big-endian length and a
JSON request ``{"argv": ["-m", "engine.cli", ...] | ["-c", CODE, ...], "env": {...}, "cwd": ...,
"fds": [slots], "new_session": bool, "ignored_signals": [...]}`` with the file descriptors for the
``slots`` (0, 1, 2: stdin, stdout, stderr; a slot not listed is closed in the child) in the same
``sendmsg``. The zygote answers JSON lines on that connection: ``{"pid": N}`` at once (or
``{"error": "..."}``), then ``{"status": W, "cpu": S}`` when the child has ended (W its wait
status, as `os.waitpid` gives it; S its user+system CPU seconds with those of the children it
waited for, which the caller's own RUSAGE_CHILDREN never sees).

Forking is safe only from a process with one thread and no torch operation run yet (OpenMP's pool,
CUDA): the zygote imports and never computes, waits on one selector in its main thread, and checks
that it has one thread before every fork.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys

_ENV_AT_START = dict(os.environ)
if __name__ == "__main__" and os.fork():
    # no child of the test process: a test that lists its own children (psutil) must not find it
    os._exit(0)
_PATH_AT_START = list(sys.path)

# the warm imports every child shares (engine.cli alone imports nothing: its entry imports the commands)
import engine.cli.entry  # noqa: E402,F401
import engine.data.loaders  # noqa: E402,F401
import engine.data.transforms  # noqa: E402,F401  (albumentations)
import engine.eval.evaluate  # noqa: E402,F401
import engine.eval.metrics  # noqa: E402,F401
import engine.models  # noqa: E402,F401
import engine.train.losses  # noqa: E402,F401
import engine.train.trainer  # noqa: E402,F401
import torch  # noqa: E402
import torch._dynamo  # noqa: E402,F401  (torch.optim's first param group imports it: ~1.4 s a child)
from tests.no_fsync import skip_fsync_waits  # noqa: E402

skip_fsync_waits()  # the children's writes skip the disk's wait, as the workers' do

# what the imports set in the environment: engine/__init__.py's NO_ALBUMENTATIONS_UPDATE and
# OpenCV's LD_LIBRARY_PATH, which a fresh interpreter's same imports set over its own environment
# (`_child_env`), and torch._dynamo's TORCHINDUCTOR_CACHE_DIR, made in the zygote's temp dir: a
# child gets none (a fresh one that imports torch._dynamo makes it in its own at once; a warm one,
# and one that never imports it, when inductor first needs it)
_ENV_SET = {k: v for k, v in os.environ.items() if _ENV_AT_START.get(k) != v}
_ZYGOTES_OWN = {"TORCHINDUCTOR_CACHE_DIR"}
_MAX_REQUEST = 16 << 20


class _Child:
    """A request the zygote forked: what the child does once it has left the zygote's loop."""

    def __init__(self, request: dict, fds: list[int]) -> None:
        self.request, self.fds = request, fds


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        more = conn.recv(1 << 16)
        if not more or len(data) > _MAX_REQUEST:
            for fd in fds:
                os.close(fd)
            raise ValueError("request cut short")
        data += more
    return json.loads(data[4:4 + struct.unpack(">I", data[:4])[0]]), list(fds)


def _refusal(request: dict) -> str:
    """Why this zygote cannot start that child as a fresh interpreter would, or ""."""
    if _threads() != 1:
        return f"the zygote has {_threads()} threads: forking it is unsafe"
    name = request["argv"][1] if request["argv"][0] == "-m" else ""
    if hasattr(sys.modules.get(name), "__path__"):
        name += ".__main__"  # a package runs its __main__
    if name in sys.modules:
        # runpy would run a second copy of it, with a RuntimeWarning no fresh ``python -m`` gives
        return f"{name} is imported in the zygote already"
    return ""


def _answer(conn: socket.socket, **message: object) -> None:
    try:
        conn.sendall((json.dumps(message) + "\n").encode())
    except OSError:  # the test gave up on this child: it is still reaped
        pass


def serve(path: str) -> _Child:
    """Serve until stdin (the test process's lifeline pipe) closes; in a forked child, return its request."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector through wake_w
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_r, selectors.EVENT_READ, "reap")
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "lifeline")
    children: dict[int, socket.socket] = {}
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    # its threads now (OpenBLAS and OpenCV start pools at import unless OMP_NUM_THREADS=1): with
    # more than one the test side starts fresh interpreters instead
    print(json.dumps({"pid": os.getpid(), "cpu": cpu.ru_utime + cpu.ru_stime, "env_set": _ENV_SET,
                      "zygotes_own": sorted(_ZYGOTES_OWN), "threads": _threads()}), flush=True)
    while True:
        for key, _ in selector.select():
            if key.data == "lifeline" and not os.read(sys.stdin.fileno(), 4096):
                # its children run on, as a test's own would; no teardown of torch's modules (~1 CPU-s)
                import shutil

                shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # socket and log, a killed test's too
                cpu = resource.getrusage(resource.RUSAGE_SELF)
                try:
                    print(json.dumps({"cpu": cpu.ru_utime + cpu.ru_stime}), flush=True)
                except OSError:  # a killed test: nobody reads it (its BrokenPipeError left the folder)
                    pass
                os._exit(0)
            if key.data == "reap":
                while True:
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        break
                _reap(children)
            if key.data != "accept":
                continue
            conn, _ = listener.accept()
            conn.settimeout(30)
            try:
                request, fds = _read_request(conn)
            except (OSError, ValueError) as exc:
                _answer(conn, error=f"bad request: {exc}")
                conn.close()
                continue
            refusal = _refusal(request)
            if refusal:
                _answer(conn, error=refusal)
                conn.close()
                for fd in fds:
                    os.close(fd)
                continue
            pid = os.fork()
            if pid == 0:  # the child: leaves the loop with nothing of the zygote's open
                for sock in (listener, conn, *children.values()):
                    sock.close()
                selector.close()
                signal.set_wakeup_fd(-1)
                for fd in (wake_r, wake_w):
                    os.close(fd)
                return _Child(request, fds)
            for fd in fds:
                os.close(fd)
            children[pid] = conn
            _answer(conn, pid=pid)
            _reap(children)  # one that ended before it was in `children`


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            _answer(conn, status=status, cpu=usage.ru_utime + usage.ru_stime)
            conn.close()


# --- in the forked child: become what a fresh ``python -m``/``-c`` would be --------------------------

def _signals(ignored: set[int], blocked: list[int]) -> None:
    """exec's rule (handlers back to SIG_DFL, SIG_IGN kept, the mask kept), then CPython's start-up:
    SIGINT to default_int_handler unless ignored, SIGPIPE and SIGXFSZ ignored."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_IGN if sig in ignored else signal.SIG_DFL)
        except (OSError, ValueError):  # glibc's own real-time signals
            pass
    if signal.SIGINT not in ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _std_fds(slots: list[int], fds: list[int]) -> None:
    """The caller's stdin/stdout/stderr on 0/1/2 (a slot not given closed), nothing else open."""
    given = dict(zip(slots, fds))
    for slot in (0, 1, 2):
        if slot in given:
            os.dup2(given[slot], slot)
        else:
            os.close(slot)
    for fd in fds:
        if fd > 2:
            os.close(fd)


def _std_streams(env: dict[str, str]) -> None:
    """sys.stdin/stdout/stderr made as CPython's create_stdio makes them at start-up, from the child's
    fds and its PYTHONUNBUFFERED / PYTHONIOENCODING (the locale is the zygote's: the same LANG/LC_*)."""
    import io

    import codecs

    buffered = not env.get("PYTHONUNBUFFERED")
    encoding, _, errors = env.get("PYTHONIOENCODING", "").partition(":")
    # CPython: an encoding named without an error handler is strict; else the locale's default
    default_errors = "strict" if encoding else _STDIO_ERRORS
    encoding = codecs.lookup(encoding).name if encoding else _STDIO_ENCODING
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            stream = None
        else:
            write = fd > 0
            buf = io.open(fd, "wb" if write else "rb", buffering=0 if write and not buffered else -1, closefd=False)
            raw = buf.raw if hasattr(buf, "raw") else buf
            raw.name = f"<{name}>"
            stream = io.TextIOWrapper(
                buf, encoding, "backslashreplace" if fd == 2 else errors or default_errors,
                newline="\n", line_buffering=buffered and (raw.isatty() or fd == 2), write_through=not buffered)
            stream.mode = "w" if write else "r"
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _child_env(theirs: dict[str, str]) -> dict[str, str]:
    """The child's environment once its imports have run as they ran in the zygote (`_ENV_SET`):
    a variable it gives as the zygote started with it ends as the zygote's; a search path given
    otherwise (this test process's own, which its same imports left) gets the import's folders
    put in front again, as OpenCV does; any other is kept (engine's setdefault)."""
    env = dict(theirs)
    for key, value in _ENV_SET.items():
        before, given = _ENV_AT_START.get(key), theirs.get(key)
        if key in _ZYGOTES_OWN:
            continue
        if given == before:
            env[key] = value
        elif given and key.endswith("PATH") and before is None:
            env[key] = f"{value}{os.pathsep}{given}"
        elif given and key.endswith("PATH") and value.endswith(before):
            env[key] = value[:len(value) - len(before)] + given
    return env


def _become(child: _Child) -> None:
    """Everything but running the code: signals, session, fds, cwd, environment, sys.*, streams."""
    req = child.request
    _signals(set(req["ignored_signals"]), req["blocked_signals"])
    if req["new_session"]:
        os.setsid()
    _std_fds(req["fds"], child.fds)
    os.chdir(req["cwd"])
    env = _child_env(req["env"])
    os.environ.clear()
    os.environ.update(env)
    # PYTHONPATH's entries come after sys.path[0]: the child's in place of the zygote's
    ours = [p for p in _ENV_AT_START.get("PYTHONPATH", "").split(os.pathsep) if p]
    theirs = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    rest = _PATH_AT_START[1 + len(ours):]
    sys.path[:] = [os.getcwd() if req["argv"][0] == "-m" else "", *theirs, *rest]
    sys.argv = list(req["argv"][:1] + req["argv"][2:]) if req["argv"][0] == "-m" else ["-c", *req["argv"][2:]]
    sys.orig_argv = [sys.executable, *req["argv"]]
    _std_streams(env)
    # what the imports cached of the zygote's own process: a fresh one computes them anew
    import tempfile

    tempfile.tempdir = None
    if "multiprocessing" in sys.modules:
        import multiprocessing.process as mp_process

        mp_process.current_process()._config.pop("tempdir", None)
        mp_process.current_process().authkey = os.urandom(32)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    threads = env.get("OMP_NUM_THREADS", "")
    if threads != _ENV_AT_START.get("OMP_NUM_THREADS", "") and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))  # libgomp read the zygote's value when torch loaded


# the zygote's own, from the locale (a child's LANG/LC_* are the zygote's: tests/warm_petseg.py checks)
_STDIO_ENCODING = sys.__stdout__.encoding if sys.__stdout__ is not None else "utf-8"
_STDIO_ERRORS = sys.__stdout__.errors if sys.__stdout__ is not None else "strict"


# --- in the forked child: its end, as CPython's Py_RunMain ends a fresh ``python -m``/``-c`` --------

def _system_exit_code(exc: SystemExit) -> int:
    """CPython's _Py_HandleSystemExit: None is 0, an int the status, anything else printed on stderr and 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF  # as exit(3) keeps it
    text = f"{exc.code}\n"
    if sys.stderr is not None:
        sys.stderr.write(text)
    else:
        os.write(2, text.encode(errors="backslashreplace"))
    return 1


def _flushed(code: int) -> int:
    """CPython's flush_std_files: a stdout or stderr that fails to flush is said, and exit status 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except Exception as exc:
            sys.unraisablehook(sys.UnraisableHookArgs(type(exc), exc, exc.__traceback__, "flushing sys.std", None))
            code = 120
    return code


def _end(code: int, ctrl_c: bool) -> None:
    """Py_FinalizeEx's steps a program can see: non-daemon threads joined, exit handlers, stdout
    and stderr flushed, ``__main__``'s names let go (a script's open file closed, its __del__ run),
    then -2 by SIGINT for an unhandled Ctrl-C (exit_sigint). Not the teardown of the zygote's
    modules (torch's): in a forked child it writes to ~180 MB of pages shared with the zygote
    (~46 000 copy-on-write faults, ~1 CPU-s), which a loaded machine stretched to seconds (most
    likely what ran past a 30 s time-out once in a full suite); a fresh ``python -c`` has none of
    it to tear down."""
    import atexit
    import threading

    try:
        threading._shutdown()  # type: ignore[attr-defined]  # CPython's wait_for_thread_shutdown
    except BaseException as exc:
        sys.unraisablehook(sys.UnraisableHookArgs(type(exc), exc, exc.__traceback__, "joining threads", None))
    atexit._run_exitfuncs()
    code = _flushed(code)
    main = sys.modules.get("__main__")
    if main is not None:  # as finalize_modules clears a module: the _names first, __builtins__ last
        names = vars(main)
        for key in [k for k in names if k.startswith("_") and k != "__builtins__"] + \
                   [k for k in names if not k.startswith("_")]:
            names[key] = None
    code = _flushed(code)
    if ctrl_c:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 128 + signal.SIGINT  # SIGINT blocked: what CPython returns then
    os._exit(code)


if __name__ == "__main__":
    _child = serve(sys.argv[1])
    _become(_child)
    # top level, as ``python -m``/``-c`` runs it: SystemExit, an uncaught exception (its traceback by
    # sys.excepthook) or KeyboardInterrupt end this child the way they end a fresh interpreter (`_end`)
    import types

    sys.modules["__main__"] = types.ModuleType("__main__")
    _code, _ctrl_c = 0, False
    try:
        if _child.request["argv"][0] == "-m":
            import runpy

            runpy._run_module_as_main(_child.request["argv"][1])
        else:
            exec(compile(_child.request["argv"][1], "<string>", "exec"), sys.modules["__main__"].__dict__)
    except SystemExit as _exc:
        _code = _system_exit_code(_exc)
    except BaseException as _exc:  # PyErr_Print: sys.last_* set, then the hook prints the traceback
        _ctrl_c, _code = isinstance(_exc, KeyboardInterrupt), 1
        sys.last_type, sys.last_value, sys.last_traceback = type(_exc), _exc, _exc.__traceback__
        sys.excepthook(type(_exc), _exc, _exc.__traceback__)
    _end(_code, _ctrl_c)
