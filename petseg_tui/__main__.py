"""``petseg-tui``: the terminal dashboard (console script and ``python -m petseg_tui``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.config import default_runs_dir
from petseg_tui.image_modes import IMAGE_MODES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    return p


def main(argv: list[str] | None = None) -> None:
    """Run the app; the process exits non-zero if the app ended on a crash (Textual's return
    code), so a script or a supervisor never mistakes a traceback for a clean quit."""
    args = build_parser().parse_args(argv)
    runs = args.runs if args.runs is not None else default_runs_dir()
    if runs.exists() and not runs.is_dir():
        print(f"petseg-tui: {runs}: not a folder", file=sys.stderr)
        raise SystemExit(2)
    from petseg_tui.image_modes import prepare_image_mode

    # textual-image can only ask the terminal what it supports before Textual owns it
    # (auto stays auto: the app resolves it per screen from what this detected)
    prepare_image_mode(args.image_mode)
    from petseg_tui.app import PetsegApp

    app = PetsegApp(runs_dir=runs, image_mode=args.image_mode)
    app.run()
    code = app.return_code or 0
    if code:
        print(f"petseg-tui: the app stopped on an error (exit {code}); the traceback is above", file=sys.stderr)
        raise SystemExit(code)


def run(argv: list[str] | None = None) -> None:
    """Kept for older entry points; same as `main`."""
    main(argv)


if __name__ == "__main__":
    main()
