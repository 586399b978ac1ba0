"""Never destroy a user's file: `engine.infer.outputs.check_output` through `petseg infer` and `petseg plot`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from PIL import Image

from engine.cli import main
from engine.errors import PetsegError
from engine.infer.outputs import check_output, is_petseg_output


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def photo(path: Path) -> Path:
    Image.new("RGB", (40, 30), (120, 90, 60)).save(path)
    return path


def infer(checkpoint: Path, image: Path, output: Path, *extra: str) -> int:
    return main(["infer", "--checkpoint", str(checkpoint), "--image", str(image), "--output", str(output), *extra])


def error_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("petseg: error:") and "\n" not in err, err
    return err


@pytest.mark.parametrize("name", ["photo.png", "photo.PNG"])
def test_infer_refuses_to_write_over_its_input(tmp_path: Path, checkpoint: Path, capsys, name: str) -> None:
    img = photo(tmp_path / name)
    before = digest(img)
    for extra in ((), ("--overwrite",)):  # not even with --overwrite
        assert infer(checkpoint, img, img, *extra) == 1
        assert "is the input itself" in error_line(capsys)
    assert digest(img) == before


def test_infer_sees_the_input_through_links(tmp_path: Path, checkpoint: Path, capsys) -> None:
    img = photo(tmp_path / "photo.png")
    before = digest(img)
    (tmp_path / "soft.png").symlink_to(img)
    os.link(img, tmp_path / "hard.png")
    assert infer(checkpoint, img, tmp_path / "soft.png") == 1
    assert "is the input" in error_line(capsys)
    assert infer(checkpoint, tmp_path / "hard.png", img) == 1
    assert "is the input" in error_line(capsys)
    assert infer(checkpoint, img, checkpoint.with_suffix(".png")) == 0  # a new file: fine
    capsys.readouterr()
    assert digest(img) == before


def test_infer_never_replaces_a_file_petseg_did_not_write(tmp_path: Path, checkpoint: Path, capsys) -> None:
    img = photo(tmp_path / "photo.jpg")
    other = photo(tmp_path / "holiday.png")  # someone's picture that happens to have that name
    before = digest(other)
    assert infer(checkpoint, img, other) == 1
    err = error_line(capsys)
    assert "was not written by petseg" in err and "--overwrite" in err
    assert digest(other) == before
    assert infer(checkpoint, img, other, "--overwrite") == 0  # asked for: replaced
    assert digest(other) != before and is_petseg_output(other)
    capsys.readouterr()


def test_infer_replaces_its_own_earlier_output(tmp_path: Path, checkpoint: Path, capsys) -> None:
    img = photo(tmp_path / "photo.jpg")
    out = tmp_path / "mask.png"
    assert infer(checkpoint, img, out) == 0
    assert is_petseg_output(out)
    assert infer(checkpoint, img, out, "--overwrite") == 0
    assert infer(checkpoint, img, out, "--overlay") == 0  # re-running needs no flag
    capsys.readouterr()


def test_infer_output_is_not_the_checkpoint(tmp_path: Path, checkpoint: Path, capsys) -> None:
    img = photo(tmp_path / "photo.jpg")
    assert infer(checkpoint, img, checkpoint) == 1
    assert "must be a .png file" in error_line(capsys)


def test_one_photos_output_folder_is_made_as_a_folder_of_photos_one_is(tmp_path: Path, checkpoint: Path,
                                                                        capsys) -> None:
    """`petseg infer` on a folder of photos makes its output folder; on one photo a missing
    folder was refused ("folder does not exist (create it first)"). Both make it now, and one
    that cannot be made, or a photo that cannot be read, leaves no folder behind."""
    img = photo(tmp_path / "photo.jpg")
    out = tmp_path / "masks" / "day1" / "m.png"
    assert infer(checkpoint, img, out) == 0
    assert capsys.readouterr().out.startswith(f"{out}: mask 40x30")
    assert is_petseg_output(out)
    (tmp_path / "file").write_text("not a folder")
    assert infer(checkpoint, img, tmp_path / "file" / "sub" / "m.png") == 1
    assert error_line(capsys) == (f"petseg: error: {tmp_path / 'file'}: is not a folder, so --output "
                                  f"{tmp_path / 'file' / 'sub' / 'm.png'} cannot be written")
    assert infer(checkpoint, img, tmp_path / "file" / "m.png") == 1
    assert error_line(capsys) == (f"petseg: error: {tmp_path / 'file'}: is not a folder, so --output "
                                  f"{tmp_path / 'file' / 'm.png'} cannot be written")
    # a folder named with a trailing "/", as `cp PHOTO masks/`: made, and the mask named as in a folder run
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(img),
                 "--output", f"{tmp_path / 'new'}{os.sep}"]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'new' / 'photo.png'}: mask 40x30")
    (tmp_path / "broken.jpg").write_bytes(b"not a photo")
    assert infer(checkpoint, tmp_path / "broken.jpg", tmp_path / "none" / "m.png") == 1
    error_line(capsys)
    assert not (tmp_path / "none").exists()


def test_an_existing_folder_as_the_output_gets_the_photos_mask_as_a_folder_run_names_it(
        tmp_path: Path, checkpoint: Path, capsys) -> None:
    """As `cp PHOTO DIR/`: it was refused ("--output must be a .png file"); a photo that is a .png
    in that folder is never written over: its mask is named around it, as a folder run names it."""
    masks = tmp_path / "masks.png"  # a folder, whatever its name says
    masks.mkdir()
    assert infer(checkpoint, photo(tmp_path / "cat.jpg"), masks) == 0
    assert capsys.readouterr().out.startswith(f"{masks / 'cat.png'}: mask ")
    beside = photo(masks / "dog.png")
    before = digest(beside)
    assert infer(checkpoint, beside, masks, "--overlay") == 0
    assert sorted(p.name for p in masks.iterdir()) == ["cat.png", "dog.png", "dog_overlay.png"]
    assert digest(beside) == before and is_petseg_output(masks / "dog_overlay.png")


def test_a_photo_into_a_folder_names_its_mask_around_what_is_there_as_a_folder_run_does(
        tmp_path: Path, checkpoint: Path, capsys) -> None:
    """Into a folder holding a user's cat.png and a subfolder dog.png, `petseg infer --image
    cat.jpg --output DIR` refused ("not written by petseg") and dog.jpg said "dog.png: is a folder;
    --output needs a file name such as DIR/dog.png/mask.png", where a folder of the same photos
    writes cat_mask.png and dog_mask.png."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "cat.png").write_bytes(b"the user's own")
    (out / "dog.png").mkdir()
    for name in ("cat", "dog"):
        assert infer(checkpoint, photo(tmp_path / f"{name}.jpg"), out) == 0
        assert capsys.readouterr().out.startswith(f"{out / f'{name}_mask.png'}: mask ")
    assert (out / "cat.png").read_bytes() == b"the user's own"
    assert infer(checkpoint, photo(tmp_path / "cat.jpg"), out, "--overwrite") == 0
    assert capsys.readouterr().out.startswith(f"{out / 'cat.png'}: mask ")


def test_check_output_is_the_one_guard(tmp_path: Path) -> None:
    from engine.infer.outputs import OutputRefused

    a = photo(tmp_path / "a.png")
    with pytest.raises(OutputRefused, match="is the input itself"):
        check_output(a, inputs=(None, a))
    with pytest.raises(OutputRefused, match="not written by petseg"):
        check_output(a, inputs=(tmp_path / "b.png",))
    assert check_output(a, overwrite=True) == a
    assert check_output(tmp_path / "new.png") == tmp_path / "new.png"
    assert check_output(tmp_path / "x.txt", suffix=None) == tmp_path / "x.txt"


def test_plot_out_guard(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    from engine.events import EpochEnded, RunStarted
    from engine.runs import RunStore

    w = RunStore(tmp_path / "runs").create({"model": "unet", "epochs": 1}, "r")
    w.append(RunStarted(run="r", total_epochs=1, start_epoch=1, train_size=1, valid_size=1, device="cpu", data="x"))
    w.append(EpochEnded(epoch=1, total_epochs=1, train_loss=1.0, train_dice=0.5, valid_loss=1.0, valid_dice=0.5,
                        valid_iou=0.4, valid_dice_per_image=0.5, valid_iou_per_image=0.4, lr=1e-3, seconds=1.0,
                        images_per_s=1.0, best_dice=0.5, best_epoch=1))
    w.close()
    mine = photo(tmp_path / "figure.png")
    before = digest(mine)
    args = ["plot", "--runs", str(tmp_path / "runs"), "--run", "r", "--out"]
    assert main(args + [str(mine)]) == 1
    assert "was not written by petseg" in error_line(capsys)
    assert digest(mine) == before
    curves = tmp_path / "curves.png"
    assert main(args + [str(curves)]) == 0 and is_petseg_output(curves)
    assert main(args + [str(curves)]) == 0  # its own output: replaced without a flag
    assert main(args + [str(mine), "--overwrite"]) == 0 and digest(mine) != before


def test_an_output_in_a_read_only_folder_is_refused_before_any_work(read_only_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(PetsegError, match=r"--worst_out folder is not writable \(Permission denied\)"):
        check_output(read_only_folder / "sheet.png", flag="--worst_out")
    assert list(read_only_folder.iterdir()) == []  # the probe left nothing behind
    assert check_output(tmp_path / "fine.png") == tmp_path / "fine.png"


def test_folder_inference_into_a_read_only_folder_is_one_line(read_only_folder: Path, tmp_path: Path,
                                                              checkpoint: Path, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        photo(photos / f"p{i}.png")
    assert infer(checkpoint, photos, read_only_folder) == 1
    captured = capsys.readouterr()
    assert f"{read_only_folder}: --output_path folder is not writable (Permission denied)" in error_line_of(captured)
    assert "skipped" not in captured.out and list(read_only_folder.iterdir()) == []


def error_line_of(captured: pytest.CaptureResult) -> str:
    err = captured.err.strip()
    assert err.startswith("petseg: error:") and "\n" not in err, err
    return err


@pytest.fixture
def run_copy(tmp_path: Path, finished_tiny_run: Path) -> Path:
    import shutil

    run = tmp_path / "runs" / "r"
    shutil.copytree(finished_tiny_run, run)
    return run


def test_a_runs_own_files_are_never_an_output(run_copy: Path, tmp_path: Path, capsys) -> None:
    """A run's previews are PNGs petseg wrote, so `plot --out` and `infer --output` replaced them
    without a flag (the run screen then showed training curves as epoch 2's predictions)."""
    pytest.importorskip("matplotlib")
    preview = run_copy / "previews" / "epoch_0002.png"
    best = run_copy / "checkpoints" / "best.pt"
    before = {p: digest(p) for p in (preview, best)}
    plot = ["plot", "--runs", str(run_copy.parent), "--run", "r", "--out"]
    for extra in ([], ["--overwrite"]):
        assert main(plot + [str(preview), *extra]) == 1
        assert f"{preview}: is previews/epoch_0002.png of the run r, which its training wrote" in error_line(capsys)
        assert infer(best, photo(tmp_path / "p.png"), preview, *extra) == 1
        assert "petseg never writes over a run's own files, even with --overwrite" in error_line(capsys)
    link = tmp_path / "link.png"
    link.symlink_to(preview)  # another name for the same file
    assert main(plot + [str(link)]) == 1 and "of the run r" in error_line(capsys)
    assert {p: digest(p) for p in (preview, best)} == before
    # beside them, in the run folder itself, is the user's choice
    assert main(plot + [str(run_copy / "curves.png")]) == 0


def test_an_export_never_replaces_a_runs_checkpoint(run_copy: Path, capsys) -> None:
    last = run_copy / "checkpoints" / "last.pt"
    before = digest(last)
    args = ["export", "--runs", str(run_copy.parent), "--run", "r", "--format", "torchscript", "--output", str(last)]
    assert main([*args, "--overwrite"]) == 1
    assert "is checkpoints/last.pt of the run r, which its training wrote" in error_line(capsys)
    assert digest(last) == before


def test_an_output_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO named as an output (a run's predictions/ or eval/ sheet, which the dashboard's S and
    `petseg eval --worst` write) was opened to read its PNG header: the command hung for good."""
    from tests.hostile_runs import within

    fifo = tmp_path / "x_overlay.png"
    os.mkfifo(fifo)
    assert within(5, is_petseg_output, fifo) is False
    with pytest.raises(PetsegError, match="x_overlay.png: already exists and was not written by petseg"):
        within(5, check_output, fifo)


def test_an_output_that_is_a_symlink_out_of_its_folder_is_not_judged_by_its_target(tmp_path: Path) -> None:
    """A symlink out of a run's predictions/ to a PNG petseg wrote elsewhere read as petseg's own
    output (its target's header was read) and was replaced without a word. What it leads to is not
    read: it is refused unless --overwrite, as petseg writes a file in its place."""
    from engine.infer.outputs import png_info

    (tmp_path / "run" / "predictions").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.png"
    Image.new("RGB", (4, 4)).save(elsewhere, pnginfo=png_info())
    link = tmp_path / "run" / "predictions" / "x_overlay.png"
    link.symlink_to(elsewhere)
    with pytest.raises(PetsegError, match="x_overlay.png: already exists and is a symbolic link out of its folder"):
        check_output(link)
    assert check_output(link, overwrite=True) == link
    inside = tmp_path / "run" / "predictions" / "kept.png"  # a link within its folder is judged as before
    Image.new("RGB", (4, 4)).save(inside, pnginfo=png_info())
    (tmp_path / "run" / "predictions" / "y_overlay.png").symlink_to("kept.png")
    assert check_output(tmp_path / "run" / "predictions" / "y_overlay.png") == tmp_path / "run" / "predictions" / "y_overlay.png"
