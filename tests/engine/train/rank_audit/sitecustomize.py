"""Imported at start-up by every Python process whose PYTHONPATH names this folder (a test of
tests/engine/train/test_ddp_train.py): in a data-parallel rank other than 0 (RANK), every change that
Python makes under the folders of $PETSEG_AUDIT_ROOTS (os.pathsep between them; a file opened to write, made, renamed, removed; os.open
included) is appended to ``$PETSEG_AUDIT_OUT.rank<N>.<pid>``, through an audit hook (PEP 578). What
C code writes without Python's file calls is not seen; petseg's writers all go through them."""

from __future__ import annotations

import io
import os
import sys

_CHANGES = ("os.mkdir", "os.remove", "os.rename", "os.rmdir", "os.truncate", "os.chmod", "os.utime", "os.link",
            "os.symlink", "shutil.rmtree", "shutil.move", "os.chown")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _install(roots: list[str], out: str) -> None:
    roots = [os.path.realpath(root) for root in roots]  # none of them holds ``out``
    write = io.open

    def under_root(path: object) -> str | None:
        try:
            real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None  # a file descriptor, not a path
        return real if any(real == root or real.startswith(root + os.sep) for root in roots) else None

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
            if not writes:
                return
        elif event in _CHANGES:
            path = args[0]
        else:
            return
        real = under_root(path)
        if real is not None:
            with write(out, "a") as fh:
                fh.write(f"{event} {real}\n")

    sys.addaudithook(hook)


if os.environ.get("PETSEG_AUDIT_ROOTS") and os.environ.get("RANK", "0") != "0":
    _install(os.environ["PETSEG_AUDIT_ROOTS"].split(os.pathsep), f"{os.environ['PETSEG_AUDIT_OUT']}.rank{os.environ['RANK']}.{os.getpid()}")
