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


def _commands(parser, prog: str = "petseg"):
    """(prog, parser) of every subcommand ``parser`` generates, nested ones too."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():  # argparse lists them nowhere public
        for name, sub in action.choices.items():
            yield f"{prog} {name}", sub
            yield from _commands(sub, f"{prog} {name}")


def _abbreviation(sub) -> tuple[str, str]:
    """(a prefix of one of ``sub``'s flags that is no flag of its own, that flag)."""
    from engine.cli.flag_typos import flag_spellings

    spellings = flag_spellings(sub)
    for spelling, canonical in spellings.items():
        prefix = spelling[:-1]
        if spelling == canonical and len(prefix) > 4 and prefix not in spellings and spelling != "--help":
            return prefix, canonical
    raise AssertionError(f"{sub.prog} has no flag to abbreviate")


def _required_argv(sub) -> list[str]:
    """What ``sub`` needs to get past its required flags and groups (their values are never used)."""
    required = [action for action in sub._actions if action.required and action.option_strings]
    required += [group._group_actions[0] for group in sub._mutually_exclusive_groups if group.required]
    return [a for action in required for a in (action.option_strings[0], "x")]


def refusal(capsys, parser, argv: list[str]) -> list[str]:
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err.splitlines()


def test_every_subcommand_refuses_a_flag_abbreviated_naming_the_flag_meant(capsys) -> None:
    """argparse took a prefix of a flag as the flag: `petseg train --epoch 2` trained 2 epochs,
    a typo silently another setting. Every subcommand's parser (generated, not listed here)
    refuses it in one line that names the flag meant."""
    from engine.cli.parser import build_parser

    parser = build_parser()
    commands = list(_commands(parser))
    assert len(commands) >= 13
    for prog, sub in commands:
        abbreviated, meant = _abbreviation(sub)
        argv = [*prog.split()[1:], *_required_argv(sub), f"{abbreviated}=1"]
        lines = refusal(capsys, parser, argv)
        assert lines[-1] == (f"{prog}: error: unrecognized arguments: {abbreviated}=1 "
                             f"({abbreviated}: did you mean {meant}?)"), argv
        assert [line for line in lines if "error" in line] == lines[-1:], lines  # the usage above it, no more


@pytest.mark.parametrize(("argv", "line"), [
    (["train", "--epoch", "2"],
     "petseg train: error: unrecognized arguments: --epoch 2 (--epoch: did you mean --epochs?)"),
    (["train", "--imag", "64"],  # was "ambiguous option: --imag could match --image_size, --image-size"
     "petseg train: error: unrecognized arguments: --imag 64 (--imag: did you mean --image_size?)"),
])
def test_a_prefix_of_a_train_flag_is_a_typo_not_the_flag(capsys, argv: list[str], line: str) -> None:
    from engine.cli.parser import build_parser

    assert refusal(capsys, build_parser(), argv)[-1] == line  # parsed only: nothing trains where it is not refused


def test_petseg_tui_refuses_a_flag_abbreviated(capsys) -> None:
    from petseg_tui.__main__ import build_parser

    assert refusal(capsys, build_parser(), ["--them", "textual-light"])[-1] == \
        "petseg-tui: error: unrecognized arguments: --them textual-light (--them: did you mean --theme?)"


@pytest.mark.parametrize("command", [
    ["export"], ["eval"], ["infer", "--image", "cat.jpg", "--output", "mask.png"],
])
def test_a_second_run_of_a_one_run_command_is_refused_not_put_in_place_of_the_first(tmp_path, capsys,
                                                                                     command: list[str]) -> None:
    """`petseg export --run r1 --run tb1` exported tb1 alone without a word (and `eval`, `infer`
    the same), where `petseg plot --run r1 --run tb1` draws both: a second, other --run is
    refused before anything is read or written; the same run named again passes as before."""
    from engine.runs import RunStore

    argv = [command[0], "--runs", str(tmp_path), "--run", "r1", "--run", "tb1", *command[1:]]
    assert usage_error(capsys, argv) == (
        f"petseg {command[0]}: error: argument --run: given twice ('r1', 'tb1'): petseg {command[0]} acts on one "
        "run; run it once for each (petseg plot takes several --run)")
    assert not any(tmp_path.iterdir())
    RunStore(tmp_path).create({"model": "unet"}, name="r1").close()  # no checkpoint: refused further on
    assert main([command[0], "--runs", str(tmp_path), "--run", "r1", "--run", "r1", *command[1:]]) == 1
    assert "no checkpoint" in capsys.readouterr().err
