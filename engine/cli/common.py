"""What every ``petseg`` subcommand shares: exit codes, the console, the ``--runs`` flag, the
flag value types (`flag_type`: a bad value refused in petseg's words; ``integer``, ``number``,
``yes_no``), the hyphenated flag aliases, and a checkpoint named by ``--run`` or
``--checkpoint``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from engine.cli.interrupts import EXIT_INTERRUPTED
from engine.config import default_runs_dir
from engine.console_log import plain
from engine.field_spec import parse_number, parse_yes_no

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, EXIT_INTERRUPTED

T = TypeVar("T")


def launched_rank() -> str | None:
    """This process's rank when ``petseg train/eval --devices N`` started it (the launcher then
    says in one line what ended the run), else None (one process, or the user's own torchrun)."""
    from engine.train.distributed import LAUNCHED_ENV

    return os.environ["RANK"] if os.environ.get(LAUNCHED_ENV) and "RANK" in os.environ else None


def error_prefix() -> str:
    """How an error line starts: ``petseg: error:``, or ``petseg: rank N:`` in a `launched_rank`."""
    rank = launched_rank()
    if rank is not None:
        return f"petseg: rank {rank}:"
    from engine.console_log import ERROR_PREFIX

    return ERROR_PREFIX


def image_side(value: str) -> int:
    """``--image_size`` of infer and eval (an ONNX file's input side), in training's range
    (`engine.config.IMAGE_SIZE_RANGE`): 0 was taken as "not given", -16 ended in albumentations'
    "2 validation errors for InitSchema" and 65536 in the kernel's OOM killer."""
    from engine.config import IMAGE_SIZE_RANGE

    low, high = IMAGE_SIZE_RANGE
    try:
        side = int(value)
    except ValueError:
        side = None
    if side is None or not low <= side <= high:
        raise argparse.ArgumentTypeError(f"{value!r}: must be an integer between {low} and {high}")
    return side


def flag_type(parse: Callable[[str], T], name: str) -> Callable[[str], T]:
    """An argparse type from ``parse``, which raises ValueError in the words the user reads: the
    one way a petseg flag's value is refused in them (argparse's own was "invalid int value:
    'x'"). ``name``: what argparse calls the type."""
    def parse_flag(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse_flag.__name__ = name
    return parse_flag


# a bad number in `engine.field_spec.not_a_number`'s words: "expected an integer, got 'x'"
integer = flag_type(lambda text: int(parse_number(text, "int")), "int")
number = flag_type(lambda text: float(parse_number(text, "float")), "float")
# yes/no, also y/n, true/false, 1/0 (`engine.field_spec.parse_yes_no`)
yes_no = flag_type(parse_yes_no, "yes_no")


def flag_spellings(name: str) -> tuple[str, ...]:
    """Every spelling `add_flag` gives the flag ``name``: ``--name`` (the seed's underscore
    spelling, canonical), then a hyphenated alias where the name has an underscore."""
    return (f"--{name}", f"--{name.replace('_', '-')}") if "_" in name else (f"--{name}",)


def add_flag(parser: argparse.ArgumentParser | Any, name: str, **kw: Any) -> None:
    """Add the flag ``name`` in its `flag_spellings`."""
    parser.add_argument(*flag_spellings(name), dest=name, **kw)


def runs_folder(text: str) -> Path:
    """``--runs``: a folder name; "" (an unset shell variable) would mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the folder name is empty; give the runs folder")
    return Path(text)


def given_text(text: str) -> str:
    """A path or name flag's value, refused when empty: "" (an unset shell variable, ``--image
    "$PHOTO"``) read as a path is the current folder, where ``infer`` segmented every photo and
    ``infer --output`` and ``export --output`` wrote their files, and ``--run ""`` named the
    runs folder itself ("run has no checkpoint yet")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the value is empty (an unset shell variable?); give a path or name")
    return text


class OneRun(argparse.Action):
    """``--run`` of a command that acts on one run (eval, infer, export): a second, other one
    replaced the first without a word (``petseg export --run a --run b`` exported b alone), where
    ``petseg plot --run a --run b`` draws both. The same run named again passes."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        if before is not None and before != values:
            raise argparse.ArgumentError(self, f"given twice ({before!r}, {values!r}): {parser.prog} acts on one "
                                               "run; run it once for each (petseg plot takes several --run)")
        setattr(namespace, self.dest, values)


def given_path(text: str) -> Path:
    """`given_text` as a Path."""
    return Path(given_text(text))


def add_runs_flag(p: argparse.ArgumentParser) -> None:
    add_flag(p, "runs", type=runs_folder, default=None, help="runs folder (default: $PETSEG_RUNS or ./runs)")


class PlainConsole:
    """What the CLI prints with, where rich is not installed (a bare GPU box with only torch and
    the training dependencies): plain lines, our few markup tags dropped from a line printed
    with ``markup=True``."""

    is_terminal = False
    width = 80

    def print(self, text: object = "", markup: bool = False, **_: Any) -> None:
        print(plain(text, markup), flush=True)


def console() -> Any:
    """A Rich console on stdout, or a `PlainConsole` without rich."""
    try:
        from rich.console import Console
    except ImportError:
        return PlainConsole()
    # markup only where a call asks for it (markup=True, its paths escaped): a run folder "runs
    # [old]" or a photo "cat [copy].jpg" printed as "runs " and "cat .jpg", in train.log too; no
    # emoji codes either (a file "a:cat:b.jpg")
    return Console(stderr=False, highlight=False, soft_wrap=True, markup=False, emoji=False)


def checkpoint_from_args(args: argparse.Namespace) -> Path:
    """The checkpoint of ``--checkpoint``, else of the run ``--run`` (its best.pt, else last.pt)."""
    if args.checkpoint is not None:
        return args.checkpoint
    from engine.runs import RunStore, checkpoint_for

    checkpoint, _ = checkpoint_for(RunStore(args.runs or default_runs_dir()).resolve(args.run))
    return checkpoint
