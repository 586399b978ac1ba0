"""What a Python process sees of how it was started, written as JSON to the file named by its first
argument: test_warm_petseg.py runs it fresh and warm (``-m`` and ``-c``) and compares. Not a test."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading


def _handler(sig: int) -> str:
    handler = signal.getsignal(sig)
    if handler is signal.default_int_handler:
        return "python"
    return {signal.SIG_DFL: "default", signal.SIG_IGN: "ignored"}.get(handler, repr(handler))


def _stream(stream) -> object:
    if stream is None:
        return None
    raw = getattr(stream.buffer, "raw", stream.buffer)
    return {"encoding": stream.encoding, "errors": stream.errors, "line_buffering": stream.line_buffering,
            "write_through": stream.write_through, "isatty": stream.isatty(), "name": raw.name,
            "buffer": type(stream.buffer).__name__, "mode": stream.mode, "fileno": stream.fileno()}


def seen() -> dict:
    import multiprocessing.util

    if os.environ.get("PROBE_IMPORTS"):  # what petseg imports, which set variables of their own
        import engine.cli.entry  # noqa: F401
        import engine.train.trainer  # noqa: F401
        import torch._dynamo  # noqa: F401

    out = {
        "argv": sys.argv, "orig_argv": sys.orig_argv, "path": sys.path, "cwd": os.getcwd(),
        "environ": dict(os.environ), "tempdir": tempfile.gettempdir(),
        "multiprocessing_tempdir_parent": os.path.dirname(multiprocessing.util.get_temp_dir()),
        "signals": {signal.Signals(s).name: _handler(s) for s in sorted(signal.valid_signals())
                    if s in set(signal.Signals)},
        "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "streams": {name: _stream(getattr(sys, name)) for name in ("stdin", "stdout", "stderr")},
        "same_streams": [getattr(sys, n) is getattr(sys, f"__{n}__") for n in ("stdin", "stdout", "stderr")],
        "session_leader": os.getsid(0) == os.getpid(), "group_leader": os.getpgid(0) == os.getpid(),
        "threads": threading.active_count(), "main_module": sys.modules["__main__"].__name__,
        "main_file": getattr(sys.modules["__main__"], "__file__", None),
        "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")),
    }
    if os.environ.get("PROBE_TORCH"):
        import torch

        out["torch_threads"] = torch.get_num_threads()
    return out


def main() -> None:
    with open(sys.argv[1], "w") as fh:
        json.dump(seen(), fh)
    # no interpreter teardown: a warm child's, of the zygote's torch, costs ~1 CPU-s and is not probed
    sys.stdout and sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
