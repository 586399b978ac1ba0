"""``petseg-tui``: the terminal dashboard (console script and ``python -m petseg_tui``).

A Ctrl-C while it starts (the imports and the terminal probe, ~0.5 s before Textual owns the
keyboard and Ctrl-C becomes a key) ends it with one line ``petseg-tui: interrupted`` (exit 130),
never a traceback: Ctrl-C is held (`engine.cli.interrupts`) before anything else is imported,
which is why the imports are inside the functions."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from engine.cli.interrupts import (
    EXIT_INTERRUPTED,
    hold_interrupts,
    interrupt_noted,
    release_interrupts,
    reset_interrupts,
)

if TYPE_CHECKING:
    import argparse

    from petseg_tui.app import PetsegApp



def build_parser() -> argparse.ArgumentParser:
    from pathlib import Path

    from engine.cli.flag_typos import SuggestingParser
    from petseg_tui.image_modes import IMAGE_MODES

    p = SuggestingParser(
        prog="petseg-tui",
        description="Train, compare and use pet-vs-background segmentation models in the terminal.",
    )
    p.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="runs folder (default: $PETSEG_RUNS, else ./runs)",
    )
    p.add_argument(
        "--image-mode",
        choices=IMAGE_MODES,
        default="auto",
        help="how the inference screen draws images (auto: detect the terminal; halfcell works everywhere, tmux included)",
    )
    p.add_argument(
        "--theme",
        default=None,
        help="colour theme, e.g. textual-light for a light terminal (default: $PETSEG_THEME, else textual-dark; "
             "ctrl+p, Theme, switches it for this session)",
    )
    return p


def theme_error(theme: str, origin: str) -> str | None:
    """Why ``theme`` (from ``origin``: --theme or $PETSEG_THEME) is not one of Textual's themes,
    in a line naming them; None when it is one."""
    from textual.theme import BUILTIN_THEMES

    if theme in BUILTIN_THEMES:
        return None
    return f"{origin} {theme}: not a theme (choose from {', '.join(sorted(BUILTIN_THEMES))})"


def main(argv: list[str] | None = None) -> None:
    """Run the app; the process exits non-zero if the app ended on a crash (Textual's return
    code), so a script or a supervisor never mistakes a traceback for a clean quit.

    As the process's entry point (``argv`` None) it ends the process itself once the app is
    done (`engine.process_exit.end_process`): the interpreter's exit joined the threads of the
    workers still at work (an export, a scoring), and ``q`` waited for them
    (`petseg_tui.unwaited`). A file still being written is waited for (`engine.exit_writes`), and
    said on stderr (`FINISHING`) as the wait begins."""
    if argv is not None:
        _main(argv)
        return
    try:
        _main(None)
        code = 0
    except SystemExit as exc:
        if not isinstance(exc.code, (int, type(None))):  # a message: Python prints it as it exits
            raise
        code = exc.code or 0
    from engine.exit_writes import announce_exit_wait
    from engine.process_exit import end_process

    announce_exit_wait(_say_finishing)  # the app has given the terminal back: a line may go there
    end_process(code)


FINISHING = "petseg-tui: finishing the files being written (a save or an export) before exiting…"


def _say_finishing() -> None:
    """The process's end waits for a write under way (a huge photo's overlay: seconds, up to
    `engine.exit_writes.EXIT_WAIT_S`): said, else the prompt stays away with no word why."""
    try:
        print(FINISHING, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # a terminal gone (hung up), a stream closed: nothing to tell
        pass


def _main(argv: list[str] | None) -> None:
    reset_interrupts()
    hold_interrupts()
    try:
        try:
            app = _prepare_app(argv)
        finally:
            release_interrupts()
        # asked once Ctrl-C raises again: a Ctrl-C noted between this question and the release
        # would be lost, and the app started on it
        if interrupt_noted():  # a Ctrl-C while starting: noted, the imports finished whole
            raise KeyboardInterrupt
        app.run()  # Textual's start-up, until the terminal is in raw mode: KeyboardInterrupt as usual
    except KeyboardInterrupt:
        print("petseg-tui: interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    from petseg_tui.hangup import SIGNAL_EXIT_CODES

    code = app.return_code or 0
    if code in SIGNAL_EXIT_CODES:  # SIGTERM / SIGHUP: its runs stopped and saved, not a crash
        raise SystemExit(code)
    if code:
        print(f"petseg-tui: the app stopped on an error (exit {code}); the traceback is above", file=sys.stderr)
        raise SystemExit(code)


def _prepare_app(argv: list[str] | None) -> PetsegApp:
    """Parse the flags, probe the terminal for images and build the app (not run yet)."""
    from engine.config import default_runs_dir
    from engine.errors import RunStoreError
    from engine.runs.store import check_runs_root

    args = build_parser().parse_args(argv)
    runs = args.runs if args.runs is not None else default_runs_dir()
    try:
        check_runs_root(runs)  # the line petseg's commands say of it
    except RunStoreError as exc:
        print(f"petseg-tui: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # a light terminal wants a light theme every time: the palette's choice lasts one session
    theme, origin = (args.theme, "--theme") if args.theme else (os.environ.get("PETSEG_THEME") or None, "$PETSEG_THEME")
    if theme is not None and (why := theme_error(theme, origin)):
        print(f"petseg-tui: {why}", file=sys.stderr)
        raise SystemExit(2)
    from petseg_tui.image_modes import prepare_image_mode

    # textual-image can only ask the terminal what it supports before Textual owns it
    # (auto stays auto: the app resolves it per screen from what this detected)
    prepare_image_mode(args.image_mode)
    from petseg_tui.app import PetsegApp

    return PetsegApp(runs_dir=runs, image_mode=args.image_mode, theme=theme)


def run(argv: list[str] | None = None) -> None:
    """Kept for older entry points; same as `main`."""
    main(argv)


if __name__ == "__main__":
    main()
