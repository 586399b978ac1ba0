"""A mistyped flag is refused by the command it was typed to, naming the flag it most likely
meant: ``petseg train: error: unrecognized arguments: --imagesize 64 (--imagesize: did you mean
--image_size?)``.

argparse reports a flag no subcommand knows from the top parser (``petseg: error: ...`` under
``petseg``'s own usage, which lists the subcommands, not the flags) and suggests nothing
(Python 3.14's ``suggest_on_error`` covers choices, not flags). `SuggestingParser` is used for
``petseg`` and for ``petseg-tui``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def flag_spellings(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Every flag spelling ``parser`` takes -> its canonical one (the first given: ``--image_size``
    for ``--image-size``)."""
    spellings: dict[str, str] = {}
    for action in parser._actions:  # argparse has no public list of its flags
        for spelling in action.option_strings:
            if spelling.startswith("--"):
                spellings[spelling] = action.option_strings[0]
    return spellings


def suggestion(flag: str, parser: argparse.ArgumentParser) -> str | None:
    """The canonical flag of ``parser`` closest to the unknown ``flag`` (``--x=1``: its name), or
    None; a short name of the runs filter (``--lr``, ``--bs``) means its field's flag."""
    from engine.runs.query import name_meant

    spellings = {spelling[2:]: canonical for spelling, canonical in flag_spellings(parser).items()}
    meant = name_meant(flag.split("=", 1)[0].lstrip("-"), spellings)
    return spellings[meant] if meant else None


def unrecognized_line(parser: argparse.ArgumentParser, extras: Sequence[str]) -> str:
    """argparse's 'unrecognized arguments' line, with a 'did you mean' for each flag that has one
    (``--data-paht=/a/long/path``: named ``--data-paht``, its value not said twice)."""
    hints = [f"{flag.split('=', 1)[0]}: did you mean {hint}?" for flag in extras  # the flag, not its value
             if flag.startswith("--") and (hint := suggestion(flag, parser)) is not None]
    line = f"unrecognized arguments: {' '.join(extras)}"
    return f"{line} ({'; '.join(hints)})" if hints else line


class SuggestingParser(argparse.ArgumentParser):
    """An ArgumentParser whose unknown flags are refused by the subcommand's parser (its prog and
    usage), with the closest flag it takes."""

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            target = self.command_parser(parsed)
            target.error(unrecognized_line(target, extras))
        return parsed

    def command_parser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the subcommand ``parsed`` ran (this one when it has none)."""
        for action in self._subparsers._group_actions if self._subparsers else ():
            chosen = getattr(parsed, action.dest, None)
            if isinstance(action.choices, dict) and chosen in action.choices:
                return action.choices[chosen]
        return self
