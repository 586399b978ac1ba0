"""`petseg eval`: its figures named (an approximate bf16 valid Dice said), its progress in a log,
--worst's list and contact sheet (never over a file of the data or the user's, a folder given
the default name), bad flags in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import one_error_line

from engine.cli import main


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 40×30 test photos with trimaps (pet rectangle, border ring) in the official layout."""
    root = tmp_path_factory.mktemp("evaldata")
    (root / "images").mkdir()
    (root / "annotations" / "trimaps").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(3):
        tri = np.full((30, 40), 2, np.uint8)
        tri[4 + i : 20, 6 : 30 - i] = 3
        tri[6 + i : 18, 8 : 28 - i] = 1
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(root / "images" / f"p{i}.jpg")
        Image.fromarray(tri).save(root / "annotations" / "trimaps" / f"p{i}.png")
    (root / "annotations" / "test.txt").write_text("p0 1 1 1\np1 1 1 1\np2 1 1 1\n")
    (root / "annotations" / "trainval.txt").write_text("")
    return root


def test_eval_of_a_run_validated_in_bf16_says_its_valid_dice_is_approximate(checkpoint: Path, eval_data: Path,
                                                                             tmp_path: Path, capsys) -> None:
    """A run trained with --amp auto on a CPU with bf16 validated in bfloat16; eval scores in fp32.
    Its row read "= valid Dice" while the figure differed from the run's in the 4th decimal (0.7333
    against 0.7337): it now says the two are close, not equal, and why."""
    import json
    import shutil

    run = tmp_path / "bf16-run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(checkpoint, run / "checkpoints" / "best.pt")
    (run / "config.json").write_text(json.dumps({"model": "unet", "amp": "auto", "amp_resolved": "bfloat16"}))
    assert main(["eval", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--data_path", str(eval_data),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "64 px (training size), border = pet (pet_border) ~ valid Dice " in out
    assert "  ~ valid Dice: training validated in bfloat16, eval scores in fp32 (a 3rd-4th decimal apart)" in out
    assert "= valid Dice" not in out


def test_eval_says_which_figure_is_which(checkpoint: Path, eval_data: Path, capsys) -> None:
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "test: 3 images, no TTA, threshold 0.5" in out
    assert "* photo size, border ignored" in out  # the headline row, marked
    assert "64 px (training size), border = pet (pet_border) = valid Dice" in out
    assert out.strip().splitlines()[-1].endswith("at photo size, border ignored, no TTA  [--ignore_border yes, the default]")

    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--device", "cpu",
                 "--ignore-border", "no", "--tta"]) == 0
    out = capsys.readouterr().out
    assert "* photo size, border = pet (pet_border)" in out
    assert out.strip().splitlines()[-1].endswith("at photo size, border = pet (pet_border), TTA hflip  [--ignore_border no]")


def test_eval_shows_its_scoring_progress_in_a_log(checkpoint: Path, eval_data: Path, capsys) -> None:
    """A long eval is visibly alive: a log (captured output is not a terminal) gets a line at the
    first batch and at each quarter, ending with every photo."""
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--device", "cpu",
                 "--batch_size", "1"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("scoring test:")]
    assert lines[0] == "scoring test: 1/3 photos" and lines[-1] == "scoring test: 3/3 photos", lines


def test_eval_worst_lists_and_writes_one_sheet(checkpoint: Path, eval_data: Path, tmp_path: Path, capsys) -> None:
    import re

    ck = tmp_path / "model.pt"
    ck.write_bytes(checkpoint.read_bytes())
    assert main(["eval", "--checkpoint", str(ck), "--data_path", str(eval_data), "--device", "cpu",
                 "--worst", "2"]) == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^\s+\d\. (p\d)\s+Dice (\d\.\d+)", out, flags=re.M)
    assert len(listed) == 2 and float(listed[0][1]) <= float(listed[1][1])
    sheet = tmp_path / "model-worst-test.png"  # a bare checkpoint: next to it
    assert f"contact sheet: {sheet}" in out
    with Image.open(sheet) as im:
        assert im.format == "PNG" and im.height > 2 * 200  # two rows of pictures under a header
    assert "worst 2 of 3 by Dice at photo size, border ignored:" in out
    # with TTA the list says so, as the sheet's title does: its Dice are TTA's
    assert main(["eval", "--checkpoint", str(ck), "--data_path", str(eval_data), "--device", "cpu",
                 "--worst", "2", "--tta"]) == 0
    assert "worst 2 of 3 by Dice at photo size, border ignored, TTA hflip:" in capsys.readouterr().out

    # a run's checkpoint: into <run>/eval/
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "checkpoints" / "best.pt").write_bytes(checkpoint.read_bytes())
    assert main(["eval", "--runs", str(tmp_path / "runs"), "--run", "r1", "--data_path", str(eval_data),
                 "--device", "cpu", "--worst", "5", "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "worst 3 of 3" in out and (run / "eval" / "worst-test.png").is_file()


def test_eval_worst_on_other_data_keeps_the_runs_own_sheet(checkpoint: Path, eval_data: Path, tmp_path: Path,
                                                             capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """--data_path OTHER --worst replaced the run's eval/worst-test.png (made on its own data) with
    a sheet of photos it never saw, silently; that sheet is now named after its data, and said."""
    import json
    import shutil

    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data_path": str(eval_data)}))
    (run / "checkpoints" / "best.pt").write_bytes(checkpoint.read_bytes())
    base = ["eval", "--runs", str(tmp_path / "runs"), "--run", "r1", "--device", "cpu", "--worst", "2"]
    own = run / "eval" / "worst-test.png"
    assert main(base) == 0 and f"contact sheet: {own} (" in capsys.readouterr().out
    before = own.read_bytes()
    other = tmp_path / "other pets"
    shutil.copytree(eval_data, other)
    assert main(base + ["--data_path", str(other)]) == 0
    out = capsys.readouterr().out
    sheets = sorted(p.name for p in (run / "eval").iterdir())
    assert len(sheets) == 2 and own.read_bytes() == before  # the run's own sheet is kept
    theirs = run / "eval" / next(n for n in sheets if n != own.name)
    assert theirs.name.startswith("worst-test-on-other_pets-") and theirs.suffix == ".png"
    assert f"contact sheet: {theirs} (" in out and "data other than the run's, so not worst-test.png)" in out
    # the run's own data named another way (relative, from its parent) is still its own sheet
    monkeypatch.chdir(eval_data.parent)
    assert main(base + ["--data_path", eval_data.name]) == 0
    assert f"contact sheet: {own} (" in capsys.readouterr().out
    assert sorted(p.name for p in (run / "eval").iterdir()) == sheets


def test_eval_worst_that_fails_leaves_no_empty_eval_folder(checkpoint: Path, tmp_path: Path, capsys) -> None:
    """The run's eval/ folder was made before the scoring: an evaluation that failed (a data folder
    that is not there, Ctrl-C) left it there empty. It is made only as the sheet is written now."""
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "checkpoints" / "best.pt").write_bytes(checkpoint.read_bytes())
    assert main(["eval", "--runs", str(tmp_path / "runs"), "--run", "r1", "--data_path", str(tmp_path / "gone"),
                 "--device", "cpu", "--worst", "3"]) == 1
    one_error_line(capsys, "gone")
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json"]


def test_eval_bad_worst_flags_are_one_line(checkpoint: Path, eval_data: Path, tmp_path: Path, capsys) -> None:
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--worst", "-1"]) == 1
    one_error_line(capsys, "--worst")
    # --worst 100000000 scored the split, then wrote a sheet of every photo (1086x45222 px): refused first
    ck = tmp_path / "model.pt"
    ck.write_bytes(checkpoint.read_bytes())
    assert main(["eval", "--checkpoint", str(ck), "--data_path", str(eval_data), "--device", "cpu",
                 "--worst", "100000000"]) == 1
    assert one_error_line(capsys, "--worst 100000000: must be between 0 and 100")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # nothing scored, no sheet
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--device", "cpu",
                 "--worst", "101"]) == 1
    one_error_line(capsys, "--worst 101")
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--worst", "1",
                 "--worst_out", "x.jpg"]) == 1
    one_error_line(capsys, "x.jpg")


def test_eval_worst_sheet_never_replaces_a_file_of_the_data_it_reads(tmp_path: Path, checkpoint: Path,
                                                                     eval_data: Path, capsys) -> None:
    """--worst_out on a trimap of the evaluated data is refused even with --overwrite: the
    ground truth would become a contact sheet (infer refuses its own input the same way)."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(eval_data, data)
    trimap = data / "annotations" / "trimaps" / "p0.png"
    before = trimap.read_bytes()
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(data), "--device", "cpu",
                 "--worst", "2", "--worst_out", str(trimap), "--overwrite"]) == 1
    one_error_line(capsys, "is inside the data folder")
    assert trimap.read_bytes() == before


def test_eval_worst_sheet_never_replaces_a_users_file(tmp_path: Path, checkpoint: Path, eval_data: Path,
                                                      capsys) -> None:
    """eval's contact sheet goes through the same guard as infer --output (engine.infer.outputs)."""
    from engine.infer.outputs import is_petseg_output

    mine = tmp_path / "holiday.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(mine)
    before = mine.read_bytes()
    base = ["eval", "--data_path", str(eval_data), "--device", "cpu", "--worst", "2"]
    assert main(base + ["--checkpoint", str(checkpoint), "--worst_out", str(mine)]) == 1
    one_error_line(capsys, "was not written by petseg")
    assert mine.read_bytes() == before
    ck = tmp_path / "model.pt"  # a bare checkpoint: the sheet goes beside it, as model-worst-test.png
    ck.write_bytes(checkpoint.read_bytes())
    theirs = tmp_path / "model-worst-test.png"
    Image.new("RGB", (8, 8)).save(theirs)
    assert main(base + ["--checkpoint", str(ck)]) == 1
    one_error_line(capsys, "model-worst-test.png: already exists and was not written by petseg")
    assert main(base + ["--checkpoint", str(ck), "--overwrite"]) == 0 and is_petseg_output(theirs)
    assert main(base + ["--checkpoint", str(ck)]) == 0  # its own sheet: replaced without a flag
    capsys.readouterr()


def test_eval_names_a_bad_batch_size_as_its_flag_is_spelt(tmp_path: Path, capsys, checkpoint: Path) -> None:
    """eval said "--batch-size 0: must be >= 1", infer "--batch_size 0: ..." (the flag's name)."""
    assert main(["eval", "--checkpoint", str(checkpoint), "--batch_size", "0"]) == 1
    one_error_line(capsys, "--batch_size 0: must be >= 1")


def test_eval_worst_out_an_existing_folder_gets_the_default_name_in_it(checkpoint: Path, eval_data: Path,
                                                                        tmp_path: Path, capsys) -> None:
    """``--worst_out DIR`` was refused ("must be a .png file") while export --output DIR and infer
    --output DIR put their default file name in the folder."""
    ck = tmp_path / "model.pt"
    ck.write_bytes(checkpoint.read_bytes())
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    assert main(["eval", "--checkpoint", str(ck), "--data_path", str(eval_data), "--device", "cpu",
                 "--worst", "1", "--worst_out", str(sheets)]) == 0
    assert f"contact sheet: {sheets / 'model-worst-test.png'}" in capsys.readouterr().out
    assert (sheets / "model-worst-test.png").is_file()


def test_eval_names_the_trimap_whose_size_is_not_its_photos(checkpoint: Path, eval_data: Path, tmp_path: Path,
                                                            capsys) -> None:
    """A trimap of the wrong size was skipped as "skipped p1: image is 40×30 but its trimap is
    10×10": no file named, where a truncated trimap's line names it. The line names the trimap
    and the photo, with their sizes."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(eval_data, data)
    Image.new("L", (10, 10), 1).save(data / "annotations" / "trimaps" / "p1.png")
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(data), "--device", "cpu"]) == 0
    skipped = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("skipped p1")]
    trimap, photo = data / "annotations" / "trimaps" / "p1.png", data / "images" / "p1.jpg"
    assert skipped == [f"skipped p1: {trimap}: trimap is 10×10 but its photo {photo} is 40×30; they must match"]


@pytest.mark.parametrize("worst", [[], ["--worst", "0"]])
def test_eval_overwrite_without_worst_is_refused_before_scoring(checkpoint: Path, eval_data: Path, capsys,
                                                                worst: list[str]) -> None:
    """`petseg eval --run r --overwrite` scored the split and replaced nothing, without a word:
    --overwrite only lets the --worst N sheet replace a file. Refused in one line before any scoring."""
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--device", "cpu",
                 "--overwrite", *worst]) == 1
    captured = capsys.readouterr()
    assert "scoring" not in captured.out
    assert captured.err == ("petseg: error: --overwrite: not used without --worst N (it lets the contact sheet "
                            "replace a file petseg did not write)\n")


@pytest.mark.parametrize("worst", [[], ["--worst", "0"]])
def test_eval_worst_out_without_worst_is_refused_before_scoring(checkpoint: Path, eval_data: Path, tmp_path: Path,
                                                                capsys, worst: list[str]) -> None:
    """`petseg eval --run r --worst_out sheet.png` scored the split and wrote no sheet, without a
    word: --worst_out names the --worst N sheet, and without N there is none. Refused in one line
    before any scoring."""
    out = tmp_path / "sheet.png"
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--device", "cpu",
                 "--worst_out", str(out), *worst]) == 1
    captured = capsys.readouterr()
    assert "scoring" not in captured.out and not out.exists()
    err = captured.err.strip()
    assert err == f"petseg: error: --worst_out {out}: names the sheet of the --worst N lowest-Dice photos; give --worst N too"


def test_eval_of_unlisted_photos_describes_them_one_way_and_marks_no_valid_dice(write_checkpoint, eval_data: Path,
                                                                                  tmp_path: Path, capsys) -> None:
    """A folder of photos and trimaps with no split lists, scored by a run that trained elsewhere:
    --split test said "0 trainval, 6 test", --split valid "6 trainval, 0 test" of the same folder and
    scored "valid: 1 images" of it; and the training-size row was marked "~ valid Dice", the run's own
    validation figure, beside photos it never validated on. The folder is now all test whichever
    split is asked (--split valid is refused in one line, saying --split test scores it), and the row
    carries no valid-Dice mark on data the run did not train on."""
    import shutil

    mine = tmp_path / "my pets"
    shutil.copytree(eval_data, mine)
    for listed in (mine / "annotations").glob("*.txt"):
        listed.unlink()
    ck = write_checkpoint(tmp_path / "best.pt", config={"data_path": str(tmp_path / "their pets")},
                          valid_precision="bfloat16")
    base = ["eval", "--checkpoint", str(ck), "--data_path", str(mine), "--device", "cpu"]
    assert main(base + ["--split", "test"]) == 0
    out = capsys.readouterr().out
    assert f"{mine}: 0 trainval, 3 test images (no annotations/test.txt" in out
    assert "test: 3 images," in out
    assert "valid Dice" not in out  # neither "=" nor "~": the run never validated on these photos
    assert main(base + ["--split", "valid"]) == 1
    line = one_error_line(capsys, str(mine))
    assert "no valid images" in line and "--split test" in line

    # the run's own data keeps the mark; one photo is counted as one
    one = tmp_path / "one"
    shutil.copytree(eval_data, one)
    (one / "annotations" / "test.txt").write_text("p0 1 1 1\n")
    own = write_checkpoint(tmp_path / "own.pt", config={"data_path": str(one)})
    assert main(["eval", "--checkpoint", str(own), "--data_path", str(one), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "test: 1 image, no TTA" in out and "= valid Dice" in out
