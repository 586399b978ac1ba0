"""How every `petseg` command refuses what it cannot use, in one line naming the path and the flag:
a runs folder that is a file, empty names from unset shell variables, a run not found (and the
name meant), the runs folder or a run's file given as the run, OS errors as sentences, a
library's warning once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli_helpers import one_error_line

from engine.cli import main


@pytest.mark.parametrize("argv", [
    ["eval", "--run", "r1"],
    ["infer", "--run", "r1", "--image", "cat.jpg", "--output", "cat.png"],
    ["plot", "--run", "r1", "--out", "curves.png"],
    ["export", "--run", "r1"],
    ["train", "--resume", "r1"],
    ["sweep", "--show", "s1"],
    ["sweep", "--name", "s1", "--param", "learning_rate=log:1e-4:1e-3", "--trials", "1", "--epochs", "1"],
])
def test_a_runs_folder_that_is_a_file_is_named_as_one(tmp_path: Path, capsys, argv: list[str]) -> None:
    """--runs naming a file: every command that looks a run or a sweep up in it says so in one
    line, as `petseg runs` does. They said "FILE/r1: no such run folder", "no sweep named 's1'
    in FILE", or a journal's "[Errno 20] Not a directory" under "--storage", a flag not given."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main([*argv, "--runs", str(afile)]) == 1
    assert capsys.readouterr().err.strip() == f"petseg: error: {afile}: is a file, not a runs folder; give --runs a folder"


def test_os_errors_are_sentences_naming_the_path(tmp_path: Path, capsys, monkeypatch) -> None:
    """'unexpected FileExistsError / PermissionError / IsADirectoryError / UnicodeDecodeError'
    became sentences with the path and what to do."""
    from engine.errors import describe_error

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["runs", "--runs", str(afile)]) == 1
    assert capsys.readouterr().err.strip() == f"petseg: error: {afile}: is a file, not a runs folder; give --runs a folder"
    # a new run says the same line as every other command ("is a file, not a folder; choose another
    # runs folder" said it in other words)
    assert main(["train", "--runs", str(afile), "--epochs", "1", "--device", "cpu"]) == 1
    assert capsys.readouterr().err.strip() == f"petseg: error: {afile}: is a file, not a runs folder; give --runs a folder"
    errors = []
    for attempt in (lambda: os.mkdir(afile), lambda: open(tmp_path, "rb"), lambda: os.listdir(afile),
                    lambda: open(tmp_path / "nope" / "x", "rb"), lambda: b"\xff\xfe".decode("utf-8")):
        try:
            attempt()
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(describe_error(exc))
    assert errors == [
        f"{afile}: already exists and is in the way (a file where a folder is needed?); move it or choose another path",
        f"{tmp_path}: is a folder where a file is needed; give a file path",
        f"{afile}: part of this path is a file, not a folder; check the path",
        f"{tmp_path / 'nope' / 'x'}: no such file or folder; check the path",
        "a file that should be UTF-8 text is not (invalid start byte at byte 0); re-save it as UTF-8",
    ]
    # the same sentences reach the user through the CLI's last-resort handler
    import engine.cli

    def denied(args):
        raise PermissionError(13, "Permission denied", "/root/secret")

    monkeypatch.setitem(engine.cli.COMMANDS, "runs", denied)
    assert main(["runs"]) == 1
    assert capsys.readouterr().err.strip() == ("petseg: error: /root/secret: permission denied; fix its "
                                               "permissions or choose another location")


def test_a_library_warning_is_printed_once_as_one_line(capsys, monkeypatch) -> None:
    import warnings

    import engine.cli

    def noisy(args):
        for _ in range(2):  # two call sites, like the train and valid DataLoaders
            warnings.warn("This DataLoader will create 8 worker processes in total.\nmore text", UserWarning)
        warnings.warn("This DataLoader will create 8 worker processes in total.\nmore text", UserWarning)
        return 0

    monkeypatch.setitem(engine.cli.COMMANDS, "runs", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["runs"]) == 0
    err = capsys.readouterr().err
    assert err == "petseg: warning: This DataLoader will create 8 worker processes in total.\n"


def test_an_empty_runs_folder_name_is_refused_and_a_missing_one_said(tmp_path: Path, capsys) -> None:
    """--runs "" (an unset variable) meant the current folder: train made runs there."""
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "--runs", ""])
    assert exit_info.value.code == 2 and "--runs: the folder name is empty" in capsys.readouterr().err
    assert main(["runs", "--runs", str(tmp_path / "gone")]) == 0
    assert "(the folder does not exist)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, flag", [
    (["infer", "--run", "r", "--image", "", "--output", "m.png"], "--image/--data_path/--data-path"),
    (["infer", "--run", "r", "--image", "cat.jpg", "--output", ""], "--output/--output_path/--output-path"),
    (["infer", "--checkpoint", "", "--image", "cat.jpg", "--output", "m.png"], "--checkpoint/--model_path/--model-path"),
    (["eval", "--run", ""], "--run"),
    (["export", "--run", "r", "--output", ""], "--output/--output_path/--output-path"),
    (["plot", "--run", "r", "--out", ""], "--out"),
    (["delete", "", "--yes"], "RUN"),
    (["train", "--run_name", "", "--data_path", "/nowhere"], "--run_name/--run-name"),
])
def test_an_empty_path_or_run_name_is_refused_not_read_as_the_current_folder(
        tmp_path: Path, monkeypatch, capsys, argv: list[str], flag: str) -> None:
    """`petseg infer --image "$PHOTO" --output masks/` with PHOTO unset segmented every photo of
    the current folder; `--output ""` and `export --output ""` wrote there; `--run ""` named the
    runs folder ("runs/checkpoints/best.pt: run has no checkpoint yet"); `train --run_name ""`
    started a run under a made-up name, which a later `--resume "$NAME"` could not find."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cat.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--runs", str(tmp_path / "runs")])
    assert exit_info.value.code == 2
    assert f"argument {flag}: the value is empty (an unset shell variable?)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.jpg"]


def test_the_runs_folder_given_as_the_run_is_said_to_be_that(tmp_path: Path, capsys) -> None:
    """`--run .` (or the runs folder's own path) said "runs/checkpoints/best.pt: run has no
    checkpoint yet", as if a run were there."""
    runs = tmp_path / "runs"
    runs.mkdir()
    for run in (".", str(runs)):
        assert main(["eval", "--runs", str(runs), "--run", run]) == 1
        one_error_line(capsys, f"{runs}: is the runs folder itself, not a run in it")


def test_a_run_not_found_says_why(tmp_path: Path, capsys, monkeypatch) -> None:
    """`petseg eval --run decnt` said "RUNS/decnt: no such run folder" beside a run named decent;
    and a run trained with --runs elsewhere, looked up without it, was "runs/r: no such run
    folder", with no word that ./runs itself does not exist."""
    from engine.runs import RunStore

    root = tmp_path / "elsewhere"
    w = RunStore(root).create({"model": "unet", "epochs": 1}, name="decent")
    w.close()
    assert main(["eval", "--run", "decnt", "--runs", str(root)]) == 1
    one_error_line(capsys, f"{root / 'decnt'}: no such run folder (did you mean decent?)")
    for name in ("dec-a", "dec-b"):  # the start of several names: each is named, not one of them
        RunStore(root).create({"model": "unet", "epochs": 1}, name=name).close()
    assert main(["eval", "--run", "dec", "--runs", str(root)]) == 1
    one_error_line(capsys, f"{root / 'dec'}: no such run folder (did you mean one of dec-a, dec-b, decent?)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PETSEG_RUNS", raising=False)
    assert main(["eval", "--run", "decent"]) == 1
    one_error_line(capsys, "runs/decent: no such run folder (the runs folder runs does not exist: give --runs the "
                           "folder the run was trained in)")


def test_a_runs_file_given_as_the_run_names_its_run_and_the_flag(tmp_path: Path, capsys) -> None:
    """`petseg eval --run RUN/checkpoints/best.pt` (or export's, or --resume's) said "…/best.pt:
    no such run folder" of a file that is there."""
    from engine.runs import RunStore

    root = tmp_path / "runs"
    w = RunStore(root).create({"model": "unet", "epochs": 1}, name="r")
    w.close()
    best = root / "r" / "checkpoints" / "best.pt"
    best.parent.mkdir(exist_ok=True)
    best.write_bytes(b"weights")
    for argv in (["eval", "--run", str(best)], ["export", "--run", str(best)]):
        assert main([*argv, "--runs", str(root)]) == 1
        line = one_error_line(capsys, f"{best}: is a file, not a run folder; it is in the run {root / 'r'}: pass that; "
                                      "eval and infer take a checkpoint or .onnx file as --checkpoint")
        assert "no such run folder" not in line


@pytest.mark.parametrize("flag, value, said", [
    ("--epochs", "two", "expected an integer or none, got 'two'"),
    ("--warmup_epochs", "x", "expected an integer or auto, got 'x'"),  # the word the flag also takes
    ("--learning_rate", "1e-3x", "expected a number, got '1e-3x'"),
])
def test_a_number_flag_given_a_word_says_what_it_takes(capsys, flag: str, value: str, said: str) -> None:
    """`--warmup_epochs x` said "invalid int value: 'x'", not that the flag also takes auto (and a
    sweep's --spec file or --param the same value with Python's "invalid literal for int()")."""
    with pytest.raises(SystemExit):
        main(["train", flag, value])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"petseg train: error: argument {flag}") and last.endswith(f": {said}")


@pytest.mark.parametrize("flag, value", [("--time_budget", "-5s"), ("--time-budget", "-1h30m"),
                                         ("--time_budget", "0")])
def test_a_duration_below_zero_says_it_must_be_more_than_0(tmp_path: Path, capsys, flag: str, value: str) -> None:
    """`--time_budget -5s` said argparse's "expected one argument" (it read -5s as a flag): it is
    refused as --time_budget 0 is, in the words every bad duration gets."""
    assert main(["train", flag, value, "--runs", str(tmp_path / "runs"), "--device", "cpu"]) == 1
    assert capsys.readouterr().err == (f"petseg: error: --time_budget {value}: must be a duration such as "
                                       "90s, 10m, 1h30m or 2.5h (more than 0)\n")
    assert not (tmp_path / "runs").exists()


def test_a_value_flag_takes_a_word_like_a_negative_number_as_its_value() -> None:
    """argparse takes -5 as a value but -5s or -1e-3 as a flag: petseg's parser gives either to
    the flag before it (whose own check then refuses it), and leaves other words alone."""
    from engine.cli.flag_typos import negative_values_joined
    from engine.cli.parser import build_parser

    parser = build_parser()
    assert negative_values_joined(parser, ["train", "--time_budget", "-5s", "--learning_rate", "-1e-3", "--tta",
                                           "--", "--epochs", "-2x"]) == \
        ["train", "--time_budget=-5s", "--learning_rate=-1e-3", "--tta", "--", "--epochs", "-2x"]
    assert negative_values_joined(parser, ["eval", "--tta", "-5s"]) == ["eval", "--tta", "-5s"]  # takes no value


@pytest.mark.parametrize("argv, said", [
    (["sweep", "--name", "s", "--trials", "many"], "argument --trials: expected an integer, got 'many'"),
    (["sweep", "--name", "s", "--parallel", "1.5"], "argument --parallel: expected an integer, got '1.5'"),
    (["eval", "--run", "r", "--threshold", "abc"], "argument --threshold: expected a number, got 'abc'"),
    (["infer", "--run", "r", "--batch_size", "2.5"], "argument --batch_size/--batch-size: expected an integer, got '2.5'"),
    (["eval", "--run", "r", "--ignore_border", "maybe"],
     "argument --ignore_border/--ignore-border: expected yes or no, got 'maybe'"),
    (["sweep", "--name", "s", "--eval_best", "2"], "argument --eval_best/--eval-best: expected yes or no, got '2'"),
])
def test_every_number_flag_says_a_bad_number_as_the_train_flags_do(capsys, argv: list[str], said: str) -> None:
    """`petseg sweep --trials many` said argparse's "invalid int value: 'many'" where `--epochs two`
    says "expected an integer, got 'two'" (and the sweep form "must be an integer")."""
    with pytest.raises(SystemExit):
        main(argv)
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"petseg {argv[0]}: error: {said}"


def test_a_flag_type_refuses_a_value_in_its_parsers_words() -> None:
    """`petseg`'s argparse types (``integer``, ``number``, ``yes_no``, every train flag's) were
    near-twin copies of one try/except; `flag_type` is their one owner: the parser's ValueError
    is argparse's error in the same words, its value passed through, the type named as given."""
    import argparse

    from engine.cli.common import flag_type, integer, number, yes_no
    from engine.field_spec import parse_yes_no

    parse = flag_type(parse_yes_no, "yes_no")
    assert parse("y") is True and parse.__name__ == "yes_no"
    with pytest.raises(argparse.ArgumentTypeError, match=r"^expected yes or no, got 'maybe'$"):
        parse("maybe")
    assert integer("7") == 7 and number("1e-3") == 1e-3 and yes_no("no") is False
    for parse, text, said in ((integer, "2.5", "expected an integer, got '2.5'"),
                              (number, "abc", "expected a number, got 'abc'")):
        with pytest.raises(argparse.ArgumentTypeError) as caught:
            parse(text)
        assert str(caught.value) == said
