"""The headless CLI ``petseg``: train, eval, infer, runs, demo, plot — one module per subcommand.

Every expected failure prints one line ``petseg: error: <file>: <problem>`` and exits non-zero;
tracebacks are only shown with ``PETSEG_DEBUG=1``. Heavy imports (torch) happen inside the
subcommands, so ``petseg --help`` and ``petseg runs`` start fast.
"""

from engine.cli.entry import COMMANDS, main
from engine.cli.parser import build_parser

__all__ = ["COMMANDS", "build_parser", "main"]
