"""Test helper for test_faults.py: pay torch's import once, then run many `petseg train`s.

Reads one JSON request per stdin line, ``{"argv": [...], "fault": "event:3" | null, "log": path}``,
forks a child that runs ``engine.cli.main(argv)`` (the `petseg` entry point) with
``PETSEG_FAULT`` set, waits for it and answers ``{"signal": N or 0, "code": N}``. The child is
a real process: a fault SIGKILLs it, exactly as a kill from outside would. Forking from a
parent that has imported torch but never run an operation is safe (no thread pool yet);
a fresh interpreter per kill would cost ~5 s each on the shared test machine.
"""

from __future__ import annotations

import json
import os
import sys

import engine.cli.entry  # noqa: F401  (the warm imports every child shares; engine.cli alone imports nothing)
import engine.data.loaders  # noqa: F401
import engine.data.transforms  # noqa: F401
import engine.train.losses  # noqa: F401
import engine.eval.metrics  # noqa: F401
import engine.models  # noqa: F401
import engine.train.trainer  # noqa: F401
import torch._dynamo  # noqa: F401  (the optimiser's first param group imports it: ~1 s a child)


def serve() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:  # child: output to the request's log, never into the protocol pipe
            code = 98
            try:
                fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.environ.pop("PETSEG_FAULT", None)
                if req.get("fault"):
                    os.environ["PETSEG_FAULT"] = req["fault"]
                code = engine.cli.main(req["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - report, never continue the parent's loop
                import traceback

                traceback.print_exc()
                code = 99
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        answer = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
                  "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
