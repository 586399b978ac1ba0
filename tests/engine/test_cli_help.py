"""`petseg --help` of each command: it names only flags the command takes, and says what a user
must know (the demo's model, infer reading a photo upright)."""

from __future__ import annotations

import pytest

from engine.cli import main


@pytest.mark.parametrize("command", ["demo", "train", "eval", "infer", "export", "sweep", "runs", "plot", "label",
                                     "delete"])
def test_help_names_only_flags_the_command_takes(command: str) -> None:
    """No --help sends the user to a flag its command does not have (demo's --epochs spoke of
    --resume and --time_budget, its --workers of --augment_on)."""
    import re

    from engine.cli.parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions if a.choices)  # noqa: SLF001 - argparse has no public walk
    command_parser = sub.choices[command]
    taken = {opt for action in command_parser._actions for opt in action.option_strings}  # noqa: SLF001
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*", command_parser.format_help()))
    assert named <= taken, sorted(named - taken)


def test_demo_help_speaks_of_no_model_it_cannot_train(capsys) -> None:
    """The demo trains a UNet: its --width said "ignored by the *_unet encoder models"."""
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "UNet base width (default: 16)" in text and "encoder" not in text


def test_infer_help_says_a_photo_is_read_upright(capsys) -> None:
    """`petseg infer` predicts an EXIF-rotated dataset photo upright while eval and the dashboard
    score it as stored (engine.data.images.load_photo's rule): by design, so --help says it."""
    with pytest.raises(SystemExit):
        main(["infer", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "EXIF orientation applied" in text and "predicted upright" in text and "as stored" in text
