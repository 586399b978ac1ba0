"""A mistyped flag is refused by the command it was typed to, naming the flag it most likely
meant: ``petseg train: error: unrecognized arguments: --imagesize 64 (--imagesize: did you mean
--image_size?)``.

argparse reports a flag no subcommand knows from the top parser (``petseg: error: ...`` under
``petseg``'s own usage, which lists the subcommands, not the flags) and suggests nothing
(Python 3.14's ``suggest_on_error`` covers choices, not flags). `SuggestingParser` is used for
``petseg`` and for ``petseg-tui``.

No flag is taken by a prefix of its name (argparse's ``allow_abbrev``, off in `SuggestingParser`
and so in every subcommand's parser, which argparse builds of its parent's class): ``--epoch 2``
was taken as ``--epochs 2`` without a word, and ``--imag`` was "ambiguous" between two spellings
of ``--image_size``. A typo is refused with the flag meant named instead.

A flag's value that begins with a minus and a digit (``--time_budget -5s``) is read as its value
(`negative_values_joined`), as argparse reads ``-5``: it took ``-5s`` for a flag and said "expected
one argument", where the flag's own check says what is wrong with the value.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn


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
    None: the one flag it begins (``--imag``: ``--image_size``, whichever of its spellings), else
    a short name of the runs filter (``--lr``, ``--bs``) means its field's flag, else the nearest
    spelling."""
    from engine.runs.query import name_meant

    typed = flag.split("=", 1)[0].lstrip("-")
    spellings = {spelling[2:]: canonical for spelling, canonical in flag_spellings(parser).items()}
    begun = {canonical for name, canonical in spellings.items() if typed and name.startswith(typed)}
    if len(begun) == 1:
        return begun.pop()
    meant = name_meant(typed, spellings)
    return spellings[meant] if meant else None


def unrecognized_line(parser: argparse.ArgumentParser, extras: Sequence[str]) -> str:
    """argparse's 'unrecognized arguments' line, with a 'did you mean' for each flag that has one
    (``--data-paht=/a/long/path``: named ``--data-paht``, its value not said twice)."""
    hints = [f"{flag.split('=', 1)[0]}: did you mean {hint}?" for flag in extras  # the flag, not its value
             if flag.startswith("--") and (hint := suggestion(flag, parser)) is not None]
    line = f"unrecognized arguments: {' '.join(extras)}"
    return f"{line} ({'; '.join(hints)})" if hints else line


def spelling_clash(parser: argparse.ArgumentParser, args: Sequence[str]) -> str | None:
    """The refusal of one setting given under two of its spellings (``--output_path a.png
    --output b.png``, ``--image_size 64 --image-size 128``), else None: argparse kept the last
    without a word, so a user who mixed the seed's flag names with petseg's got the other value.
    The same spelling typed again is the usual "the last one wins" and is left alone. Only
    tokens in a flag's place count (``--note=--output`` is a value)."""
    by_spelling = {spelling: action for action in parser._actions for spelling in action.option_strings}
    seen: dict[int, list[str]] = {}
    tokens = list(args)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        spelling = token.split("=", 1)[0]
        action = by_spelling.get(spelling) if token.startswith("-") else None
        i += 1
        if action is None:
            continue
        used = seen.setdefault(id(action), [])
        if spelling not in used:
            used.append(spelling)
        if len(used) > 1:
            return (f"argument {'/'.join(action.option_strings)}: given twice, as {used[0]} and {used[1]} (two "
                    "spellings of one flag); give it once")
        if "=" in token or action.nargs == 0:
            continue
        if action.nargs in (None, 1):
            i += 1  # its value
        else:  # "?", "*", "+": the words up to the next flag
            while i < len(tokens) and not tokens[i].startswith("-"):
                i += 1
    return None


# what argparse takes for a flag that can only be a negative value ("-5s", "-1h", "-.5m")
_NEGATIVE_VALUE = re.compile(r"-\.?\d")


def _value_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every spelling of a flag that takes exactly one value, in ``parser`` and its subcommands."""
    flags: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _value_flags(sub)
        elif action.option_strings and action.nargs is None:  # store_true and the like have nargs 0
            flags.update(action.option_strings)
    return flags


def negative_values_joined(parser: argparse.ArgumentParser, tokens: Sequence[str]) -> list[str]:
    """``tokens`` with a value flag followed by a word like ``-5s`` joined as ``--flag=-5s``, so
    that the flag's check refuses the value in its words ("--time_budget -5s: must be a duration
    ... (more than 0)"), not argparse's "expected one argument". Words after ``--`` are left."""
    flags, out = _value_flags(parser), list(tokens)
    i = 0
    while i < len(out) - 1 and out[i] != "--":
        if out[i] in flags and _NEGATIVE_VALUE.match(out[i + 1]):
            out[i:i + 2] = [f"{out[i]}={out[i + 1]}"]
        i += 1
    return out


class SuggestingParser(argparse.ArgumentParser):
    """An ArgumentParser whose unknown flags are refused by the subcommand's parser (its prog and
    usage), with the closest flag it takes. No flag is taken by a prefix of its name."""

    def __init__(self, *args: Any, allow_abbrev: bool = False, **kwargs: Any) -> None:
        # the default for petseg's every parser: `add_subparsers` builds each subcommand's of this class
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        args = negative_values_joined(self, sys.argv[1:] if args is None else args)
        parsed, extras = self.parse_known_args(args, namespace)
        target = self.command_parser(parsed)
        if extras:
            target.error(unrecognized_line(target, extras))
        clash = spelling_clash(target, args)
        if clash:
            target.error(clash)
        return parsed

    def error(self, message: str) -> NoReturn:
        """argparse's refusal (exit 2), its usage cut to one line when it runs longer: the whole of
        it (20 lines for train) pushed the error itself off a small terminal's screen, and the
        error names the flag; ``-h`` lists them all."""
        usage = self.format_usage().rstrip("\n")
        if usage.count("\n") > 1:
            what = "COMMAND [flags]  ({} -h lists the commands)" if self._subparsers else "[flags]  ({} -h lists them)"
            usage = f"usage: {self.prog} {what.format(self.prog)}"
        self.exit(2, f"{usage}\n{self.prog}: error: {message}\n")

    def command_parser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the subcommand ``parsed`` ran (this one when it has none)."""
        for action in self._subparsers._group_actions if self._subparsers else ():
            chosen = getattr(parsed, action.dest, None)
            if isinstance(action.choices, dict) and chosen in action.choices:
                return action.choices[chosen]
        return self
