"""`petseg infer`: masks and overlays at the photo's own size and orientation, whatever its mode,
a folder of photos (bad files skipped and counted, no file of the user's replaced, outputs
named apart said), a huge photo within memory, and bad photos, checkpoints and folders refused
in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import one_error_line, write_image

from engine.checkpoint import save_checkpoint
from engine.cli import main
from engine.models import build_model


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
