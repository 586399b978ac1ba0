"""The headless CLI ``petseg``: train, eval, infer, export, runs, label, delete, demo, plot, sweep —
one module per subcommand.

Every expected failure prints one line ``petseg: error: <file>: <problem>`` and exits non-zero;
tracebacks are only shown with ``PETSEG_DEBUG=1``. Heavy imports (torch) happen inside the
subcommands, so ``petseg --help`` and ``petseg runs`` start fast.

This package imports nothing at first: the ``petseg`` script (``from engine.cli import main``)
and ``python -m engine.cli`` reach `main` before any subcommand module is loaded, so that a
Ctrl-C during those imports is held and ends the command in one line, not a traceback.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["COMMANDS", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """`engine.cli.entry.main`; as the process's entry point (``argv`` None) Ctrl-C is held from
    here on, while the subcommands are imported (`engine.cli.interrupts`)."""
    if argv is None:
        from engine.cli.interrupts import hold_interrupts

        hold_interrupts()
    from engine.cli.entry import main as run

    return run(argv)


def __getattr__(name: str) -> Any:
    """``COMMANDS`` and ``build_parser``, loaded on first use (see the module's docstring)."""
    if name == "COMMANDS":
        from engine.cli.entry import COMMANDS

        return COMMANDS
    if name == "build_parser":
        from engine.cli.parser import build_parser

        return build_parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
