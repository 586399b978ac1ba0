"""A mistyped flag, as a user types it: refused by the command it was typed to, naming the flag
it most likely meant (`engine.cli.flag_typos`)."""

from __future__ import annotations

import pytest

from engine.cli import main


def usage_error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    """The error line of ``petseg ARGV`` (exit 2, argparse's usage above it, no traceback)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(("argv", "line"), [
    (["train", "--epochs", "2", "--imagesize", "64"],
     "petseg train: error: unrecognized arguments: --imagesize 64 (--imagesize: did you mean --image_size?)"),
    (["train", "--lr", "0.1"],
     "petseg train: error: unrecognized arguments: --lr 0.1 (--lr: did you mean --learning_rate?)"),
    (["runs", "--jsn"], "petseg runs: error: unrecognized arguments: --jsn (--jsn: did you mean --json?)"),
    (["sweep", "--trails", "3"],
     "petseg sweep: error: unrecognized arguments: --trails 3 (--trails: did you mean --trials?)"),
    (["train", "--data-paht=/data/pets"],
     "petseg train: error: unrecognized arguments: --data-paht=/data/pets (--data-paht: did you mean --data_path?)"),
])
def test_a_mistyped_flag_names_the_command_and_the_flag_meant(capsys, argv: list[str], line: str) -> None:
    """`petseg train --imagesize 64` said `petseg: error: unrecognized arguments: --imagesize 64`
    under petseg's own usage (the subcommands, no flags) and never which flag was meant."""
    assert usage_error(capsys, argv) == line


def test_a_stray_word_or_an_unlike_flag_gets_no_guess(capsys) -> None:
    assert usage_error(capsys, ["train", "--xyzzy", "stray"]) == \
        "petseg train: error: unrecognized arguments: --xyzzy stray"


def test_petseg_tui_suggests_too(capsys) -> None:
    from petseg_tui.__main__ import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--image_mode", "halfcell"])
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "petseg-tui: error: unrecognized arguments: --image_mode halfcell (--image_mode: did you mean --image-mode?)"


@pytest.mark.parametrize(("argv", "line"), [
    (["infer", "--run", "r", "--image", "cat.jpg", "--output_path", "a.png", "--output", "b.png"],
     "petseg infer: error: argument --output/--output_path/--output-path: given twice, as --output_path and "
     "--output (two spellings of one flag); give it once"),
    (["train", "--image_size=64", "--data_path", "/nowhere", "--image-size", "128"],
     "petseg train: error: argument --image_size/--image-size: given twice, as --image_size and --image-size "
     "(two spellings of one flag); give it once"),
])
def test_one_flag_under_two_spellings_is_refused_not_the_last_kept(capsys, argv: list[str], line: str) -> None:
    """`petseg infer ... --output_path a.png --output b.png` (the seed's name and petseg's)
    wrote b.png without a word: argparse kept the last of two spellings of one setting."""
    assert usage_error(capsys, argv) == line


def test_a_flag_typed_again_under_the_same_spelling_and_a_value_that_looks_like_one_pass(
        tmp_path, capsys) -> None:
    """The last of one spelling wins, as in every CLI; a --note that reads like a flag is a value."""
    from engine.runs import RunStore
    from engine.runs.labels import read_labels

    RunStore(tmp_path).create({"model": "unet"}, name="r").close()
    assert main(["label", "r", "--runs", "/nowhere", "--runs", str(tmp_path), "--note=--tag", "--tag", "x"]) == 0
    labels = read_labels(tmp_path / "r")
    assert labels.note == "--tag" and list(labels.tags) == ["x"]


@pytest.mark.parametrize(("argv", "usage"), [
    (["train", "--epochz", "3"], "usage: petseg train [flags]  (petseg train -h lists them)"),
    (["eval"], "usage: petseg eval [flags]  (petseg eval -h lists them)"),
    (["bogus"], "usage: petseg COMMAND [flags]  (petseg -h lists the commands)"),
])
def test_a_refused_command_line_is_two_lines_the_error_last(capsys, argv: list[str], usage: str) -> None:
    """argparse printed the whole usage above the error (20 lines for train), which pushed the
    error itself off a small terminal: the usage is one line saying where the flags are listed."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0] == usage and lines[1].startswith(f"petseg{' ' + argv[0] if argv[0] != 'bogus' else ''}: error: ")
