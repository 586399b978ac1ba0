"""The `petseg` CLI as a user meets it: exit codes, one-line errors, files written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.checkpoint import save_checkpoint
from engine.cli import main
from engine.models import build_model


def one_error_line(capsys: pytest.CaptureFixture, must_contain: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("petseg: error:"), err
    assert "\n" not in err and "Traceback" not in err
    assert must_contain in err
    return err


def write_image(path: Path, mode: str, size=(40, 30)) -> Path:
    if mode == "I;16":
        arr = (np.linspace(0, 65535, size[0] * size[1]).reshape(size[1], size[0])).astype(np.uint16)
        Image.fromarray(arr).save(path)
    else:
        Image.new(mode, size, color=(128,) * len(mode) if mode != "L" else 128).save(path)
    return path


@pytest.mark.parametrize("folder", [False, True], ids=["photo", "folder"])
def test_a_damaged_exif_block_is_a_warning_naming_the_photo(tmp_path: Path, checkpoint: Path, capsys,
                                                            folder: bool) -> None:
    """Pillow warns "Corrupt EXIF data. Expecting to read 12 bytes but only got 2." without a file
    name: among a folder of photos the user could not tell which one. The photo is still predicted."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 30), (10, 100, 200)).save(photos / "good.jpg")
    bad = photos / "bad_exif.jpg"
    Image.new("RGB", (40, 30), (10, 100, 200)).save(bad, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x32\x00\x12\x01")
    source, out = (photos, tmp_path / "masks") if folder else (bad, tmp_path / "mask.png")
    assert main(["infer", "--checkpoint", str(checkpoint), "--data_path", str(source), "--output_path", str(out)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "Corrupt EXIF" in line]
    assert len(warned) == 1 and warned[0].startswith(f"petseg: warning: {bad}: Corrupt EXIF data."), warned


@pytest.mark.parametrize("name, mode, size", [
    ("gray.png", "L", (40, 30)), ("rgba.png", "RGBA", (40, 30)), ("cmyk.jpg", "CMYK", (40, 30)),
    ("deep.png", "I;16", (40, 30)), ("tiny.png", "RGB", (8, 8)), ("odd.jpg", "RGB", (123, 77)),
])
def test_infer_writes_mask_at_original_size(tmp_path: Path, checkpoint: Path, capsys, name, mode, size) -> None:
    img = write_image(tmp_path / name, mode, size)
    out = tmp_path / "mask.png"
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(img), "--output", str(out)]) == 0
    with Image.open(out) as m:
        assert m.size == size
        assert set(np.unique(np.asarray(m))) <= {0, 255}
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(img), "--output", str(out), "--overlay"]) == 0
    with Image.open(out) as m:
        assert m.size == size and m.mode == "RGB"


@pytest.mark.parametrize("overlay", [False, True])
def test_infer_writes_a_sideways_tiff_upright_like_any_photo(tmp_path: Path, checkpoint: Path, overlay) -> None:
    """Pillow gives a TIFF's size already turned by its EXIF orientation: the output size was
    turned once more, so a TIFF stored sideways (orientation 6) got its mask stretched to the
    stored 30x40 instead of the 40x30 it shows (the same photo as a PNG was right)."""
    rng = np.random.default_rng(0)
    upright = Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn the stored pixels 90 degrees clockwise
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    photos = {"upright.png": upright.save, "sideways.png": sideways.save, "sideways.tif": sideways.save}
    outputs = []
    for name, save in photos.items():
        save(tmp_path / name, **({} if name == "upright.png" else {"exif": exif.tobytes()}))
        out = tmp_path / f"out-{name}.png"
        args = ["infer", "--checkpoint", str(checkpoint), "--image", str(tmp_path / name), "--output", str(out)]
        assert main(args + (["--overlay"] if overlay else [])) == 0
        with Image.open(out) as m:
            assert m.size == (40, 30), name
            outputs.append(np.asarray(m))
    assert all(np.array_equal(outputs[0], other) for other in outputs[1:])


def test_infer_bad_images(tmp_path: Path, checkpoint: Path, capsys) -> None:
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(good, quality=90)
    data = good.read_bytes()
    cases = {
        "text.jpg": b"hello, I am not a picture\n",
        "truncated.jpg": data[: len(data) // 2],
        "empty.jpg": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    for name in (*cases, "missing.jpg"):
        p = tmp_path / name
        code = main(["infer", "--checkpoint", str(checkpoint), "--image", str(p), "--output", str(tmp_path / "o.png")])
        assert code == 1
        one_error_line(capsys, str(p))
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(tmp_path), "--output", str(tmp_path / "o.png")]) == 1
    one_error_line(capsys, "directory")
    assert not (tmp_path / "o.png").exists()


def test_infer_bad_checkpoints(tmp_path: Path, checkpoint: Path, capsys) -> None:
    img = write_image(tmp_path / "a.png", "RGB")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:1000])
    pickled = tmp_path / "pickled.pt"
    torch.save(build_model("unet", width=4), pickled)
    other = tmp_path / "other.pt"
    sd = torch.load(checkpoint, weights_only=True)
    sd["arch"] = {"name": "resnet34_unet", "kwargs": {}}
    save_checkpoint(sd, other)
    for ck, fragment in ((corrupt, "corrupt"), (pickled, "weights_only"), (other, "another architecture"),
                         (tmp_path / "nope.pt", "no such")):
        assert main(["infer", "--checkpoint", str(ck), "--image", str(img), "--output", str(tmp_path / "o.png")]) == 1
        one_error_line(capsys, fragment)


def test_train_missing_dataset_and_images_without_trimaps(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    missing = tmp_path / "no-such-data"
    assert main(["train", "--data_path", str(missing), "--runs", str(runs), "--epochs", "1",
                 "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, str(missing))
    assert not runs.exists() or not any(runs.iterdir())  # refused before a run folder was made
    notrimaps = tmp_path / "notrimaps"
    (notrimaps / "images").mkdir(parents=True)
    (notrimaps / "annotations" / "trimaps").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (32, 32)).save(notrimaps / "images" / f"cat_{i}.jpg")
    assert main(["train", "--data_path", str(notrimaps), "--runs", str(runs), "--epochs", "1",
                 "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, "trimap")


def test_infer_with_the_seed_flags(tmp_path: Path, checkpoint: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "kitten-1.jpg", "RGB", (90, 60))
    assert main(["infer", "--model", "unet", "--model_path", str(checkpoint), "--data_path", "./kitten-1.jpg",
                 "--output_path", "./output.png"]) == 0
    with Image.open(tmp_path / "output.png") as m:
        assert m.size == (90, 60)
    assert "output.png: mask 90x60" in capsys.readouterr().out


def test_infer_model_mismatch_is_one_line_naming_the_file(tmp_path: Path, checkpoint: Path, capsys) -> None:
    img = write_image(tmp_path / "a.jpg", "RGB")
    out = tmp_path / "o.png"
    assert main(["infer", "--model", "resnet34_unet", "--model_path", str(checkpoint), "--data_path", str(img),
                 "--output_path", str(out)]) == 1
    one_error_line(capsys, f"{checkpoint}: is a unet checkpoint, not resnet34_unet")
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "b.jpg", "RGB")
    assert main(["infer", "--model", "resnet34_unet", "--model_path", str(checkpoint), "--data_path", str(folder),
                 "--output_path", str(tmp_path / "masks")]) == 1
    one_error_line(capsys, "not resnet34_unet")
    assert not out.exists() and not (tmp_path / "masks").exists()


def test_infer_a_folder_reports_bad_files_and_counts(tmp_path: Path, checkpoint: Path, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    sizes = {"a.jpg": (70, 50), "b.png": (33, 81), "c.jpeg": (64, 64)}
    for name, size in sizes.items():
        write_image(photos / name, "RGB", size)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    (photos / "readme.txt").write_text("notes")
    out = tmp_path / "masks" / "run1"  # created, parents too
    assert main(["infer", "--model_path", str(checkpoint), "--data_path", str(photos), "--output_path", str(out),
                 "--batch_size", "2", "--overlay"]) == 0
    text = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    for name, size in sizes.items():
        with Image.open(out / f"{Path(name).stem}.png") as m:
            assert m.size == size and m.mode == "RGB"
    skipped = [line for line in text.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2 and any("broken.jpg" in line for line in skipped) and any("readme.txt" in line for line in skipped)
    assert f"3 written to {out}, 2 skipped" in text


def test_infer_a_folder_says_the_batch_it_uses_never_more_than_its_photos(tmp_path: Path, checkpoint: Path,
                                                                          capsys) -> None:
    """`petseg infer` of oxford-pet-mini's 6 photos said "batch 57", the default for the model's
    input size, though no batch held more than the 6 photos; a --batch_size above the count too."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(photos / name, "RGB", (64, 64))
    for k, (extra, batch) in enumerate((([], 3), (["--batch_size", "100"], 3), (["--batch_size", "2"], 2))):
        out = tmp_path / f"masks{k}"
        assert main(["infer", "--model_path", str(checkpoint), "--data_path", str(photos), "--output_path", str(out),
                     "--device", "cpu", *extra]) == 0
        header = capsys.readouterr().out.splitlines()[0]
        assert header.startswith(f"3 photos in {photos} -> {out}  ("), header
        assert header.endswith(f", cpu, batch {batch})"), header
        assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]


def test_infer_a_folder_never_writes_over_a_photo_or_a_users_file(tmp_path: Path, checkpoint: Path, capsys) -> None:
    """Outputs are named around the photos and around files petseg did not write (issue 21:
    a mask is never lost to a name clash); a second run over the same folder segments the
    photos again, not the first run's masks."""
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "cat.png", "RGB", (40, 30))  # its mask would be photos/cat.png itself
    write_image(photos / "dog.jpg", "RGB", (50, 40))
    original = (photos / "cat.png").read_bytes()
    for _ in range(2):
        assert main(["infer", "--model_path", str(checkpoint), "--data_path", str(photos), "--output_path", str(photos)]) == 0
        out = capsys.readouterr().out
        assert (photos / "cat.png").read_bytes() == original
        assert sorted(p.name for p in photos.iterdir()) == ["cat.png", "cat_mask.png", "dog.jpg", "dog.png"]
        assert "2 written" in out
    assert "written by petseg (an earlier output)" in out

    one = tmp_path / "one"
    one.mkdir()
    write_image(one / "dog.jpg", "RGB", (50, 40))
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "dog.png").write_bytes(b"my own notes, not a mask")
    infer = ["infer", "--model_path", str(checkpoint), "--data_path", str(one), "--output_path", str(masks)]
    assert main(infer) == 0
    assert (masks / "dog.png").read_bytes() == b"my own notes, not a mask" and (masks / "dog_mask.png").is_file()
    assert "1 written" in capsys.readouterr().out
    assert main([*infer, "--overwrite"]) == 0  # --overwrite: the user's file may be replaced
    assert (masks / "dog.png").read_bytes() != b"my own notes, not a mask"
    assert main(infer) == 0  # its own earlier output is replaced without --overwrite
    assert "1 written" in capsys.readouterr().out


def test_infer_folder_refusals(tmp_path: Path, checkpoint: Path, capsys) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "notes.txt").write_text("x")
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(photos), "--output", str(tmp_path / "m")]) == 1
    one_error_line(capsys, "no image files")
    write_image(photos / "a.jpg", "RGB")
    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(photos), "--output", str(a_file)]) == 1
    one_error_line(capsys, "must be a folder")
    assert a_file.read_text() == "mine"
    (photos / "a.jpg").write_bytes(b"broken")
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(photos), "--output", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert err.count("petseg: error:") == 1 and "none of the 1 photos" in err


def test_train_rejects_bad_flags_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["train", "--image_size", "100", "--runs", str(tmp_path)]) == 1
    one_error_line(capsys, "--image_size")
    assert not any(tmp_path.iterdir())  # nothing written for a rejected config
    assert main(["train", "--warmup_epochs", "3", "--epochs", "2", "--runs", str(tmp_path)]) == 1
    one_error_line(capsys, "--warmup_epochs")


def test_runs_lists_broken_folder(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad-run"
    bad.mkdir()
    (bad / "config.json").write_text("garbage")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bad-run" in out and "broken" in out


def test_runs_shows_names_and_values_with_brackets_as_written(tmp_path: Path, capsys, monkeypatch) -> None:
    """``petseg runs`` prints a run folder copied by hand ("alpha [copy]") and its config.json's
    model as they are: the table read them as Rich markup, showed "alpha " and ended on
    "unexpected MarkupError" (exit 1, no table) for a model written "unet[/]"."""
    run = tmp_path / "alpha [copy]"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "unet[/]", "epochs": 2}))
    (run / "status.json").write_text(json.dumps({"state": "failed", "message": "data at /d/pets[v2] is gone"}))
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "alpha [copy]" in out and "unet[/]" in out and "/d/pets[v2] is gone" in out


@pytest.mark.slow
def test_train_eval_infer_end_to_end(tmp_path: Path, capsys, generated_data: str) -> None:
    runs = tmp_path / "runs"
    code = main(["train", "--runs", str(runs), "--run_name", "e2e", "--epochs", "1", "--image-size", "64",
                 "--width", "4", "--batch_size", "8", "--max_train_images", "16", "--workers", "0",
                 "--ema-decay", "0.9", "--augment_strength", "light", "--data_path", generated_data])
    assert code == 0
    recorded = json.loads((runs / "e2e" / "config.json").read_text())
    assert (recorded["ema_decay"], recorded["augment_strength"], recorded["warmup_epochs"]) == (0.9, "light", 0)
    assert main(["eval", "--runs", str(runs), "--run", "e2e"]) == 0
    out = capsys.readouterr().out
    assert "Dice" in out and "IoU" in out
    img = write_image(tmp_path / "x.jpg", "RGB", (70, 50))
    assert main(["infer", "--runs", str(runs), "--run", "e2e", "--image", str(img),
                 "--output", str(tmp_path / "m.png"), "--overlay"]) == 0
    assert main(["runs", "--runs", str(runs)]) == 0
    assert "e2e" in capsys.readouterr().out


@pytest.mark.slow
def test_infer_8000x6000_photo_stays_within_memory(tmp_path: Path, checkpoint: Path) -> None:
    """Peak RSS of a fresh `petseg infer` process: the huge JPEG is decoded at reduced scale
    (libjpeg draft) and predicted at <= 2048 px; measured +118 MB over a small image (+470 MB
    when it was decoded at full scale). The mask is written back at the photo's own size."""
    import subprocess
    import sys

    big = tmp_path / "big.jpg"
    Image.linear_gradient("L").resize((8000, 6000)).convert("RGB").save(big, quality=80)
    small = write_image(tmp_path / "small.png", "RGB")
    script = (
        "import resource, sys\nfrom engine.cli import main\n"
        "ck, small, big, out = sys.argv[1:]\n"
        "assert main(['infer', '--checkpoint', ck, '--image', small, '--output', out]) == 0\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "code = main(['infer', '--checkpoint', ck, '--image', big, '--output', out])\n"
        "print('RSS_GROWTH_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, code)\n"
    )
    out = tmp_path / "mask.png"
    r = subprocess.run([sys.executable, "-c", script, str(checkpoint), str(small), str(big), str(out)],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RSS_GROWTH_KB")]
    assert line, r.stdout + r.stderr
    _, growth_kb, code = line[0].split()
    assert code == "0"
    assert int(growth_kb) < 250_000, f"peak RSS grew by {int(growth_kb) // 1024} MB for one photo"
    with Image.open(out) as m:
        assert m.size == (8000, 6000)


def test_runs_lists_every_kind_of_damaged_folder(tmp_path: Path, capsys) -> None:
    """Missing config.json, garbage status.json, garbage events.jsonl lines: each folder is listed
    (broken with the file and the problem, or with its good events), `runs` exits 0, one line each."""
    from engine.runs import RunStore

    good = RunStore(tmp_path).create({"model": "unet", "epochs": 2}, name="good-but-garbage-events")
    good.close()
    with open(tmp_path / "good-but-garbage-events" / "events.jsonl", "ab") as fh:
        fh.write(b"\x00\xff not json\n[1, 2]\n{\"kind\": \"epoch_en")
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    (no_config / "status.json").write_text('{"state": "finished"}')
    bad_status = RunStore(tmp_path).create({"model": "unet"}, name="bad-status")
    bad_status.close()
    (tmp_path / "bad-status" / "status.json").write_text("[1, 2")
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    lines = {ln.split(":", 1)[0]: ln for ln in out.splitlines() if ": broken: " in ln}
    assert "config.json: missing" in lines["no-config"]
    assert "status.json: not valid JSON" in lines["bad-status"]
    assert "good-but-garbage" in out and "good-but-garbage-events" not in lines  # the name may wrap


def test_train_on_an_empty_dataset_is_one_line(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "annotations" / "trimaps").mkdir(parents=True)
    assert main(["train", "--data_path", str(empty), "--runs", str(tmp_path / "runs"), "--epochs", "1",
                 "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, "no images")
    unpaired = tmp_path / "unpaired"
    (unpaired / "images").mkdir(parents=True)
    (unpaired / "annotations" / "trimaps").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(unpaired / "images" / "cat_1.jpg")
    Image.new("L", (32, 32), 1).save(unpaired / "annotations" / "trimaps" / "dog_1.png")
    assert main(["train", "--data_path", str(unpaired), "--runs", str(tmp_path / "runs"), "--epochs", "1",
                 "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, "empty dataset")


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

    # a run's checkpoint: into <run>/eval/
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "checkpoints" / "best.pt").write_bytes(checkpoint.read_bytes())
    assert main(["eval", "--runs", str(tmp_path / "runs"), "--run", "r1", "--data_path", str(eval_data),
                 "--device", "cpu", "--worst", "5", "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "worst 3 of 3" in out and (run / "eval" / "worst-test.png").is_file()


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


def test_eval_bad_worst_flags_are_one_line(checkpoint: Path, eval_data: Path, capsys) -> None:
    assert main(["eval", "--checkpoint", str(checkpoint), "--data_path", str(eval_data), "--worst", "-1"]) == 1
    one_error_line(capsys, "--worst")
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


@pytest.mark.usefixtures("ctrl_c_reaches_us")
def test_ctrl_c_that_a_library_turns_into_another_error_still_says_interrupted(capsys, monkeypatch) -> None:
    # measured: Ctrl-C one second into `petseg train` (numpy/torch being imported) printed
    # "petseg: error: unexpected ImportError: cannot load module more than once per process"
    import signal

    import engine.cli

    def import_swallowing_the_interrupt(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        raise ImportError("cannot load module more than once per process")

    monkeypatch.setitem(engine.cli.COMMANDS, "runs", import_swallowing_the_interrupt)
    assert main(["runs"]) == 130
    assert capsys.readouterr().err == "petseg: interrupted\n"
    # the next command in the same process is not taken for interrupted
    monkeypatch.setitem(engine.cli.COMMANDS, "runs", lambda args: (_ for _ in ()).throw(ImportError("no module x")))
    assert main(["runs"]) == 1
    assert "unexpected ImportError: no module x" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


@pytest.mark.usefixtures("ctrl_c_reaches_us")
def test_ctrl_c_swallowed_while_train_imports_torch_makes_no_run(tmp_path: Path, capsys, monkeypatch) -> None:
    # measured: a Ctrl-C ~2 s into `petseg train` left numpy half-imported; the run was created,
    # its training thread failed with "RecursionError: maximum recursion depth exceeded"
    import signal

    import engine.cli.train as train_cli

    typed = train_cli.config_from_args

    def config_then_a_swallowed_interrupt(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        return typed(args)

    monkeypatch.setattr(train_cli, "config_from_args", config_then_a_swallowed_interrupt)
    runs = tmp_path / "runs"
    assert main(["train", "--data_path", "@generated", "--runs", str(runs), "--epochs", "1", "--image_size", "32",
                 "--width", "4", "--max_train_images", "4", "--workers", "0", "--device", "cpu"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "petseg: interrupted"
    assert not runs.exists() or not list(runs.iterdir())


# the child raises SIGINT from an import hook when NAME is imported: a terminal's Ctrl-C 0.05-0.3 s
# after `petseg ...` started, while the subcommands' modules load, at a moment a test can choose
CTRL_C_WHILE_IMPORTING = """
import signal, sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == NAME:
            signal.raise_signal(signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlC())
"""


@pytest.mark.slow
@pytest.mark.parametrize("entry", [
    "from engine.cli import main\nsys.exit(main())",  # the `petseg` console script, as pip writes it
    "import runpy\nrunpy.run_module('engine.cli', run_name='__main__', alter_sys=True)",  # python -m engine.cli
])
@pytest.mark.parametrize("name", ["engine.cli.entry", "engine.runs"])
def test_ctrl_c_while_petseg_starts_says_interrupted(tmp_path: Path, entry: str, name: str) -> None:
    # measured: Ctrl-C 0.05 s into `petseg runs` printed a KeyboardInterrupt traceback from
    # engine/runs/__init__.py (the handler was installed only once every subcommand was imported)
    import signal
    import subprocess
    import sys

    code = (f"NAME = {name!r}\n{CTRL_C_WHILE_IMPORTING}\n"
            f"sys.argv = ['petseg', 'runs', '--runs', {str(tmp_path)!r}]\n{entry}\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2],
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal gives it
    assert (r.returncode, r.stderr) == (130, "petseg: interrupted\n")


def test_an_ignored_ctrl_c_stays_ignored(monkeypatch) -> None:
    # `petseg train ... &` from a script: the shell ignores SIGINT for background jobs, so that a
    # Ctrl-C at the terminal leaves them running
    import signal

    import engine.cli

    seen = []
    monkeypatch.setitem(engine.cli.COMMANDS, "runs", lambda args: seen.append(signal.getsignal(signal.SIGINT)) or 0)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert main(["runs"]) == 0
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIG_IGN]


@pytest.mark.slow
def test_train_without_data_path_uses_the_bundled_sample(tmp_path: Path, capsys) -> None:
    from engine.data.samples import training_sample_dir

    runs = tmp_path / "runs"
    assert main(["train", "--runs", str(runs), "--run_name", "real", "--epochs", "1", "--image_size", "64",
                 "--width", "4", "--batch_size", "4", "--max_train_images", "8", "--workers", "0",
                 "--device", "cpu"]) == 0
    config = json.loads((runs / "real" / "config.json").read_text())
    assert config["data_path"] is None  # not pinned to this installation's folder
    assert config["data_source"]["kind"] == "real"
    assert config["data_source"]["path"] == str(training_sample_dir())
    assert "bundled Oxford-IIIT Pet sample" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_trains_scores_the_test_split_and_the_other_breeds(tmp_path: Path, capsys, generated_data) -> None:
    runs = tmp_path / "runs"
    assert main(["demo", "--runs", str(runs), "--data_path", generated_data, "--epochs", "1", "--image_size", "64",
                 "--width", "4", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "UNet width 4, 64 px, 1 epoch, batch" in out  # one epoch, not "1 epochs"
    assert "test photos" in out and "30 images  Dice" in out and "at photo size, border ignored" in out
    assert "at 64 px (training size), border ignored: Dice" in out
    assert "on all six, " in out and "not in training" in out
    (run,) = runs.iterdir()
    assert len(list((run / "predictions").glob("*_overlay.png"))) == 6


@pytest.mark.slow
def test_train_data_from_env_is_recorded_and_the_flag_wins(tmp_path: Path, capsys, monkeypatch,
                                                           generated_data: str) -> None:
    import json

    runs = tmp_path / "runs"
    tiny = ["--epochs", "1", "--image_size", "64", "--width", "4", "--batch_size", "4", "--max_train_images", "8",
            "--workers", "0", "--device", "cpu", "--runs", str(runs)]
    monkeypatch.setenv("PETSEG_DATA", str(tmp_path / "nowhere"))
    assert main(["train", *tiny, "--run_name", "gone"]) == 1
    captured = capsys.readouterr()
    assert "$PETSEG_DATA names" in captured.out
    assert captured.err.strip() == f"petseg: error: {tmp_path / 'nowhere'}: dataset folder does not exist"
    assert main(["train", *tiny, "--run_name", "flag", "--data_path", generated_data]) == 0  # the flag wins
    monkeypatch.setenv("PETSEG_DATA", generated_data)
    assert main(["train", *tiny, "--run_name", "env"]) == 0
    for name in ("flag", "env"):
        config = json.loads((runs / name / "config.json").read_text())
        assert config["data_path"] == generated_data and config["data_source"]["kind"] == "generated"


def test_runs_sort_filter_json_and_whole_names_at_80_columns(tmp_path: Path, capsys, monkeypatch) -> None:
    import json

    from engine.events import EpochEnded, RunStarted
    from engine.runs import RunStore

    for i, (name, model, dice) in enumerate((("unet-20261125-101500", "unet", 0.7),
                                             ("resnet34_unet-20261125-113000", "resnet34_unet", 0.9),
                                             ("unet-lr3e-4-long-name", "unet", 0.8))):
        w = RunStore(tmp_path).create({"model": model, "epochs": 1}, name=name)
        w.append(RunStarted(run=name, total_epochs=1, start_epoch=1, train_size=1, valid_size=1, device="cpu",
                            data="d", t=1_700_000_000.0 + i))
        w.append(EpochEnded(epoch=1, total_epochs=1, train_loss=0.5, train_dice=dice, valid_loss=0.5,
                            valid_dice=dice, valid_iou=dice, valid_dice_per_image=dice, valid_iou_per_image=dice,
                            lr=1e-3, seconds=12.5, images_per_s=1234.5, best_dice=dice, best_epoch=1))
        w.set_status("finished", "done")
        w.close()
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", "--runs", str(tmp_path), "--sort", "dice"]) == 0
    out = capsys.readouterr().out
    names = [ln.split()[0] for ln in out.splitlines() if ln.startswith(("unet", "resnet"))]
    assert names == ["resnet34_unet-20261125-113000", "unet-lr3e-4-long-name", "unet-20261125-101500"]
    assert "…" not in out and all(len(ln) <= 80 for ln in out.splitlines() if "finished" in ln)
    assert "0.9000" in out and "1/1" in out
    assert main(["runs", "--runs", str(tmp_path), "--filter", "unet lr3e"]) == 0
    out = capsys.readouterr().out
    assert "unet-lr3e-4-long-name" in out and "unet-20261125-101500" not in out
    # the TUI's / filter: a model term and a metric bound; a term it cannot read is said, not fatal
    assert main(["runs", "--runs", str(tmp_path), "--filter", "model=unet dice>0.75 wat<3"]) == 0
    captured = capsys.readouterr()
    assert [ln.split()[0] for ln in captured.out.splitlines() if ln.startswith("unet")] == ["unet-lr3e-4-long-name"]
    assert "--filter: 'wat<3' left out: no key 'wat'" in captured.err
    assert main(["runs", "--runs", str(tmp_path), "--json", "--sort", "name", "--filter", "unet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == ["resnet34_unet-20261125-113000", "unet-20261125-101500",
                                         "unet-lr3e-4-long-name"]
    assert data[0]["best_dice"] == 0.9 and data[0]["images_per_s"] == 1234.5 and data[0]["state"] == "finished"
    assert data[0]["resume"]["action"] == ""


def test_runs_leaves_archived_runs_out_as_the_dashboard_does_and_says_so(tmp_path: Path, capsys) -> None:
    """The dashboard's A hides a run; `petseg runs` listed it unmarked, so a run archived as a
    failed try came back in every listing and in --filter tag:... results."""
    import json

    from engine.runs import RunStore
    from engine.runs.labels import RunLabels, write_labels

    for name in ("kept", "old-try"):
        w = RunStore(tmp_path).create({"model": "unet", "epochs": 1}, name=name)
        w.set_status("finished", "done")
        w.close()
    write_labels(tmp_path / "old-try", RunLabels(tags=("best",), archived=True))
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kept" in out and "old-try" not in out
    assert out.strip().splitlines()[-1] == "1 archived run not listed (--archived lists them)"
    assert main(["runs", "--runs", str(tmp_path), "--filter", "tag:best"]) == 0
    assert "no runs in" in (out := capsys.readouterr().out) and "1 archived run not listed" in out
    assert main(["runs", "--runs", str(tmp_path), "--archived"]) == 0
    assert "finished (archived)" in (out := capsys.readouterr().out) and "not listed" not in out
    assert main(["runs", "--runs", str(tmp_path), "--json", "--archived", "--sort", "name"]) == 0
    assert [(d["name"], d["archived"]) for d in json.loads(capsys.readouterr().out)] == [("kept", False),
                                                                                        ("old-try", True)]


def test_runs_with_a_name_too_long_for_the_terminal_keeps_every_figure(tmp_path: Path, capsys, monkeypatch) -> None:
    # measured: a 72-character name at 80 columns printed status, epoch, dice and loss as "…"
    from rich.console import Console

    import engine.cli.runs as runs_cli
    from engine.events import EpochEnded, RunStarted
    from engine.runs import RunStore

    long = "unet-" + "long-descriptive-name-" * 3 + "t007"
    w = RunStore(tmp_path).create({"model": "unet", "epochs": 4}, name=long)
    w.append(RunStarted(run=long, total_epochs=4, start_epoch=1, train_size=1, valid_size=1, device="cpu",
                        data="d", t=1_700_000_000.0))
    w.append(EpochEnded(epoch=1, total_epochs=4, train_loss=0.5123, train_dice=0.8, valid_loss=0.5, valid_dice=0.8,
                        valid_iou=0.7, valid_dice_per_image=0.8, valid_iou_per_image=0.7, lr=1e-3, seconds=12.5,
                        images_per_s=99.0, best_dice=0.8123, best_epoch=1))
    w.set_status("stopped", "stopped by user")
    w.close()
    monkeypatch.setattr(runs_cli, "new_console",
                        lambda: Console(force_terminal=True, color_system=None, width=80, highlight=False))
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if "stopped" in ln)
    assert len(row) <= 80 and "1/4" in row and "0.8000" in row and "0.5123" in row
    name = row.split()[0]
    assert "…" in name and name.endswith("t007") and name.startswith("unet-")  # cut in the middle
    # into a pipe or a file the lines are whole, however long
    monkeypatch.setattr(runs_cli, "new_console", lambda: Console(color_system=None, width=80, highlight=False))
    assert main(["runs", "--runs", str(tmp_path)]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if "stopped" in ln)
    assert row.split()[0] == long and "1/4" in row and "0.8000" in row and "…" not in row


@pytest.mark.slow
def test_train_prints_plain_lines_without_rich(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch,
                                              generated_data: str) -> None:
    """A GPU box may have torch and the training dependencies but not rich (a TUI dependency):
    `petseg train` still runs and prints plain lines."""
    import sys

    monkeypatch.setitem(sys.modules, "rich.console", None)  # import rich.console -> ImportError
    assert main(["train", "--runs", str(tmp_path), "--run_name", "plain", "--epochs", "1", "--image_size", "64",
                 "--width", "4", "--batch_size", "8", "--max_train_images", "8", "--workers", "0",
                 "--device", "cpu", "--data_path", generated_data]) == 0
    out = capsys.readouterr().out
    assert f"run plain -> {tmp_path / 'plain'}" in out and "[bold]" not in out
    assert "finished: best valid Dice" in out


def test_resume_with_an_empty_run_name_is_refused(tmp_path: Path, capsys) -> None:
    """`--resume ""` (an unset shell variable) started a brand-new run with every default."""
    assert main(["train", "--runs", str(tmp_path / "runs"), "--resume", ""]) == 1
    one_error_line(capsys, "--resume: the run name is empty")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_sync_bn_on_the_cpu_with_several_ranks_is_refused_before_they_start(tmp_path: Path, generated_data: str,
                                                                           capsys) -> None:
    """It was refused by each rank, after the run folder was made: two error lines and a failed run."""
    runs = tmp_path / "runs"
    assert main(["train", "--runs", str(runs), "--data_path", generated_data, "--device", "cpu", "--devices", "2",
                 "--sync_bn", "yes", "--epochs", "1"]) == 1
    one_error_line(capsys, "--sync_bn yes: torch's SyncBatchNorm works only on CUDA")
    assert not runs.exists() or not any(runs.iterdir())


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


def test_a_cache_dir_that_is_a_file_is_refused_before_a_run(tmp_path: Path, generated_data: str, capsys) -> None:
    a_file = tmp_path / "cat.jpg"
    a_file.write_bytes(b"x")
    assert main(["train", "--runs", str(tmp_path / "runs"), "--data_path", generated_data, "--device", "cpu",
                 "--cache_dir", str(a_file)]) == 1
    one_error_line(capsys, f"--cache_dir {a_file}: is a file, not a folder")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_cache_dir_that_cannot_be_made_is_refused_before_a_run(tmp_path: Path, generated_data: str,
                                                                   capsys) -> None:
    """`--cache_dir` under a file (or on a read-only mount, or a typo under /proc) trained with no
    cache and no word: every run decoded its photos again."""
    a_file = tmp_path / "cat.jpg"
    a_file.write_bytes(b"x")
    cache = a_file / "cache"
    assert main(["train", "--runs", str(tmp_path / "runs"), "--data_path", generated_data, "--device", "cpu",
                 "--epochs", "1", "--image_size", "64", "--width", "4", "--max_train_images", "8", "--workers", "0",
                 "--cache_dir", str(cache)]) == 1
    one_error_line(capsys, f"--cache_dir {cache}: cannot create it (Not a directory); give a folder you can write to")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


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


def test_runs_json_holds_the_tags_and_note_the_dashboard_gave(tmp_path: Path, capsys) -> None:
    """A run tagged and noted with the dashboard's T was found by ``petseg runs --filter tag:best``,
    yet ``--json`` held its archived flag alone: no tags, no note for a script to read."""
    import json

    from engine.runs import RunStore
    from engine.runs.labels import RunLabels, write_labels

    w = RunStore(tmp_path).create({"model": "unet", "epochs": 1}, name="tagged")
    w.set_status("finished", "done")
    w.close()
    write_labels(tmp_path / "tagged", RunLabels(tags=("best", "pet-only"), note="64 px baseline"))
    assert main(["runs", "--runs", str(tmp_path), "--json", "--filter", "tag:best"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert (run["name"], run["tags"], run["note"], run["archived"]) == ("tagged", ["best", "pet-only"],
                                                                        "64 px baseline", False)


def test_runs_at_80_columns_explains_only_the_columns_it_shows(tmp_path: Path, capsys, monkeypatch) -> None:
    """At 80 columns (an archived run listed, a long model name) img/s left the table, yet the
    caption still explained it and wrapped mid-word: "training t" / "ime"."""
    from rich.console import Console

    import engine.cli.runs as runs_cli
    from engine.runs import RunStore
    from engine.runs.labels import RunLabels, write_labels

    for name, model in (("unet-20261206-192626", "resnet34_unet"), ("petonly", "unet")):
        w = RunStore(tmp_path).create({"model": model, "epochs": 3}, name=name)
        w.set_status("finished", "done")
        w.close()
    write_labels(tmp_path / "petonly", RunLabels(archived=True))
    monkeypatch.setattr(runs_cli, "new_console",
                        lambda: Console(force_terminal=True, color_system=None, width=80, highlight=False))
    assert main(["runs", "--runs", str(tmp_path), "--archived"]) == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert "img/s" not in lines[1]  # the column went
    assert lines[-1].strip() == "dice: best valid Dice · loss: last train loss · time: training time"


def test_infer_on_a_dataset_folder_points_to_its_images(tmp_path: Path, checkpoint: Path, capsys) -> None:
    """``--data_path`` of train and eval is the dataset folder; given to infer, that folder (images/,
    annotations/, README.md) was only "no image files in the folder (3 other entries)"."""
    data = tmp_path / "oxford-pet-mini"
    (data / "images").mkdir(parents=True)
    (data / "annotations").mkdir()
    write_image(data / "images" / "cat.jpg", "RGB")
    (data / "README.md").write_text("six photos")
    assert main(["infer", "--checkpoint", str(checkpoint), "--data_path", str(data),
                 "--output_path", str(tmp_path / "masks")]) == 1
    err = one_error_line(capsys, "no image files")
    assert err.endswith(f"(3 other entries; its photos are in {data / 'images'}?)")


def test_a_signal_stop_says_what_stopped_the_run() -> None:
    """A run stopped by a signal read "stopped by user" whatever sent it: a killed launcher (its
    ranks get SIGTERM), `kill`, an SSH session closing. Ctrl-C is its user's."""
    import os
    import signal

    from engine.cli.interrupts import stop_reason

    here = os.getppid()
    assert stop_reason(signal.SIGINT, here) == ""
    assert stop_reason(signal.SIGTERM, here) == "stopped by SIGTERM"
    assert stop_reason(signal.SIGHUP, here).startswith("stopped: its terminal closed (SIGHUP")
    assert stop_reason(signal.SIGTERM, here + 999_999) == \
        f"stopped: the process that started it (pid {here + 999_999}) ended"


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


@pytest.mark.usefixtures("ctrl_c_reaches_us")
def test_the_resume_command_a_stop_prints_can_be_pasted_back(tmp_path: Path, capsys, monkeypatch) -> None:
    """A runs folder such as 'my runs' was printed bare ("resume with: petseg train --resume r
    --runs /x/my runs"): pasted back, the shell split it in two."""
    import signal

    from engine.train.trainer import Trainer

    start = Trainer.start

    def start_then_ctrl_c(self) -> None:
        start(self)
        signal.raise_signal(signal.SIGINT)  # one Ctrl-C: the run stops and says how to resume it

    monkeypatch.setattr(Trainer, "start", start_then_ctrl_c)
    runs = tmp_path / "my runs"
    assert main(["train", "--data_path", "@generated", "--runs", str(runs), "--run_name", "r", "--epochs", "50",
                 "--image_size", "32", "--width", "4", "--max_train_images", "4", "--workers", "0",
                 "--device", "cpu"]) == 130
    assert f"stopped; resume with: petseg train --resume r --runs '{runs}'" in capsys.readouterr().out


def test_infer_on_a_dataset_folder_without_photos_does_not_point_to_its_empty_images(
        tmp_path: Path, checkpoint: Path, capsys) -> None:
    """A folder of trimaps whose images/ is empty: infer asked "its photos are in …/images?", which
    only led to a second "no image files"; it says images/ has none either."""
    data = tmp_path / "trimaps-only"
    (data / "images").mkdir(parents=True)
    (data / "annotations" / "trimaps").mkdir(parents=True)
    write_image(data / "annotations" / "trimaps" / "cat.png", "L")
    assert main(["infer", "--checkpoint", str(checkpoint), "--data_path", str(data),
                 "--output_path", str(tmp_path / "masks")]) == 1
    err = one_error_line(capsys, "no image files")
    assert err.endswith(f"(2 other entries; its {data / 'images'} holds no image files either)")


def test_infer_on_a_missing_input_says_so_whatever_the_output(tmp_path: Path, checkpoint: Path, capsys) -> None:
    """A mistyped --image (or a link to a moved folder) with an output folder answered "--output must
    be a .png file", sending the user to fix the output instead of the input."""
    out = tmp_path / "masks"
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(tmp_path / "photoz"),
                 "--output_path", str(out)]) == 1
    assert one_error_line(capsys, "photoz").endswith(f"{tmp_path / 'photoz'}: no such file or folder")
    (tmp_path / "linked").symlink_to(tmp_path / "moved")
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(tmp_path / "linked"),
                 "--output_path", str(out)]) == 1
    assert one_error_line(capsys, "linked").endswith(
        f"{tmp_path / 'linked'}: a symbolic link to {tmp_path / 'moved'}, which does not exist")
    assert not out.exists()


def test_infer_on_a_folder_says_which_photo_an_output_named_apart_is_of(tmp_path: Path, checkpoint: Path,
                                                                         capsys) -> None:
    """a.jpg and a.png (or a.JPG) in one folder became a_jpg.png and a_png.png, or a_jpg.png and
    a_jpg_mask.png, with no line saying which mask is of which photo."""
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "a.jpg", "RGB")
    write_image(photos / "a.png", "RGB")
    write_image(photos / "b.jpg", "RGB")
    assert main(["infer", "--checkpoint", str(checkpoint), "--image", str(photos),
                 "--output_path", str(tmp_path / "masks")]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("named apart")]
    assert said == ["named apart: a.jpg -> a_jpg.png", "named apart: a.png -> a_png.png"]
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["a_jpg.png", "a_png.png", "b.png"]


def test_eval_names_a_bad_batch_size_as_its_flag_is_spelt(tmp_path: Path, capsys, checkpoint: Path) -> None:
    """eval said "--batch-size 0: must be >= 1", infer "--batch_size 0: ..." (the flag's name)."""
    assert main(["eval", "--checkpoint", str(checkpoint), "--batch_size", "0"]) == 1
    one_error_line(capsys, "--batch_size 0: must be >= 1")


def test_a_download_that_cannot_reach_its_server_makes_no_run(tmp_path: Path, capsys, monkeypatch) -> None:
    """``--data_path NEW --download yes`` offline made the run folder, then failed the download in
    it: a failed run in the table (and an empty data folder) for what was a network problem."""
    import socket

    from engine.data import download

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}/images.tar.gz"
    s.close()  # nothing listens there now: never the internet
    monkeypatch.setattr(download, "oxford_pet_resources", lambda: [download.Resource("images.tar.gz", (url,), None)])
    runs, data = tmp_path / "runs", tmp_path / "new"
    assert main(["train", "--runs", str(runs), "--data_path", str(data), "--download", "yes", "--device", "cpu",
                 "--epochs", "1", "--image_size", "64", "--width", "4", "--workers", "0"]) == 1
    one_error_line(capsys, f"--download into {data}: {url}: network error")
    assert not runs.exists() or not any(runs.iterdir())  # refused before a run folder was made
    assert not data.exists()  # nor an empty data folder left behind


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
