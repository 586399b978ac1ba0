"""Checkpoints: atomic writes, safe loading, and one-line errors for every bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.checkpoint import FORMAT, build_model_from_checkpoint, load_checkpoint, save_checkpoint
from engine.errors import CheckpointError
from engine.models import build_model
from tests.file_proxy import FileProxy


def make_ckpt(name: str = "unet", **kwargs) -> dict:
    kwargs = kwargs or ({"width": 4} if name == "unet" else {})
    model = build_model(name, **kwargs)
    return {"format": FORMAT, "arch": {"name": name, "kwargs": kwargs}, "model": model.state_dict(),
            "image_size": 64, "mask_rule": "pet_border", "epoch": 1, "best_dice": 0.5, "config": {}}


def test_round_trip_rebuilds_the_architecture(tmp_path: Path) -> None:
    p = tmp_path / "best.pt"
    save_checkpoint(make_ckpt(), p)
    ckpt = load_checkpoint(p)
    model = build_model_from_checkpoint(ckpt, p)
    assert not model.training
    out = model(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1, 64, 64)


def test_crash_during_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "best.pt"
    save_checkpoint(make_ckpt(), p)
    before = p.read_bytes()

    def crashing_save(obj, fh, *a, **k):
        fh.write(b"PK\x03\x04 partial bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint(make_ckpt(), p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["best.pt"]  # no temp file left behind
    load_checkpoint(p)


def _one_line(exc: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg.replace(str(path), "<path>")  # what it says of the file (a test's folder name may say "corrupt")


def test_corrupt_truncated_and_empty_files(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(make_ckpt(), good)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint at all" * 10)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.pt"  # bytes torch's safe unpickler reports as "Weights only load failed"
    junk.write_bytes(bytes([207]) * 64)
    text = tmp_path / "text.pt"  # the unpickler raises KeyError('105') on it
    text.write_bytes(b"hi\n")
    for p, fragment in ((truncated, "truncated checkpoint"), (garbage, "corrupt"), (empty, "empty file"), (junk, "corrupt"), (text, "(not a file torch.save wrote)"),
                        (tmp_path / "missing.pt", "no such"), (tmp_path, "directory")):
        with pytest.raises(CheckpointError) as exc:
            load_checkpoint(p)
        assert fragment in _one_line(exc, p)


def test_whole_pickled_model_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "whole.pt"
    torch.save(build_model("unet", width=4), p)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(p)
    assert "weights_only" in _one_line(exc, p) and "pickles Python objects" in _one_line(exc, p)


def test_plain_state_dict_is_not_a_petseg_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "sd.pt"
    torch.save(build_model("unet", width=4).state_dict(), p)
    with pytest.raises(CheckpointError, match="no architecture record"):
        load_checkpoint(p)


def test_weights_of_another_architecture(tmp_path: Path) -> None:
    ckpt = make_ckpt("unet", width=4)
    ckpt["arch"] = {"name": "resnet34_unet", "kwargs": {}}  # lying record
    p = tmp_path / "other.pt"
    save_checkpoint(ckpt, p)
    with pytest.raises(CheckpointError) as exc:
        build_model_from_checkpoint(load_checkpoint(p), p)
    assert "another architecture" in _one_line(exc, p)


def test_a_checkpoint_of_another_format_is_refused(tmp_path: Path) -> None:
    """A newer petseg's checkpoint (another ``format``) was loaded as if it were this one's: its
    weights ran, or failed as "another architecture?"; a file with no format is read as before."""
    for fmt in ("petseg-checkpoint/2", 2):
        ckpt = make_ckpt()
        ckpt["format"] = fmt
        p = tmp_path / "newer.pt"
        save_checkpoint(ckpt, p)
        with pytest.raises(CheckpointError) as exc:
            load_checkpoint(p)
        assert f"checkpoint format {fmt!r} is not 'petseg-checkpoint/1'" in _one_line(exc, p)
    unmarked = make_ckpt()
    del unmarked["format"]
    save_checkpoint(unmarked, tmp_path / "old.pt")
    build_model_from_checkpoint(load_checkpoint(tmp_path / "old.pt"), tmp_path / "old.pt")


def test_weights_of_another_width_are_counted(tmp_path: Path) -> None:
    """Same tensor names, other shapes: the message said "0 missing, 0 unexpected or mis-shaped"."""
    ckpt = make_ckpt("unet", width=4)
    ckpt["arch"] = {"name": "unet", "kwargs": {"width": 8}}
    p = tmp_path / "wide.pt"
    save_checkpoint(ckpt, p)
    with pytest.raises(CheckpointError) as exc:
        build_model_from_checkpoint(load_checkpoint(p), p)
    wider = build_model("unet", width=8).state_dict()
    count = sum(1 for k, v in ckpt["model"].items() if v.shape != wider[k].shape)
    assert f"(0 missing, {count} unexpected or mis-shaped tensors)" in _one_line(exc, p) and count > 0


def _flip_a_weight_byte(path: Path) -> str:
    """Change one byte inside the largest tensor of a checkpoint (a bad disk block); its entry name."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    return info.filename


def test_a_damaged_weight_is_refused_not_loaded(tmp_path: Path) -> None:
    """torch.load never checks the CRC-32 of the entries it reads: a damaged byte in the weights
    loaded and gave other masks, without a word."""
    p = tmp_path / "best.pt"
    save_checkpoint(make_ckpt(), p)
    entry = _flip_a_weight_byte(p)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(p)
    msg = _one_line(exc, p)
    assert msg == (f"<path>: corrupt checkpoint: its entry '{entry}' does not match the checksum torch.save "
                   "recorded (damaged on disk or in a copy)")


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.01])
def test_a_cut_short_checkpoint_says_truncated(tmp_path: Path, keep: float) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(make_ckpt(), good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: int(good.stat().st_size * keep)])
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(cut)
    assert _one_line(exc, cut) == ("<path>: truncated checkpoint: the zip directory at its end is missing "
                                   "(an interrupted copy or save?)")


def test_a_checkpoint_saved_without_checksums_still_loads(tmp_path: Path) -> None:
    """torch.save with its compute_crc32 off writes 0 for every CRC: nothing to check, loaded."""
    from torch.utils.serialization import config

    p = tmp_path / "nocrc.pt"
    with config.patch({"save.compute_crc32": False}):
        torch.save(make_ckpt(), p)
    assert load_checkpoint(p)["arch"]["name"] == "unet"



class _FullDisk(FileProxy):
    """A file that takes `room` bytes, then fails as a full disk does (ENOSPC on write)."""

    def __init__(self, path: Path, mode: str, room: int) -> None:
        super().__init__(open(path, mode))  # noqa: SIM115 (closed by __exit__)
        self._room = room

    def write(self, data) -> int:
        if len(data) > self._room:
            raise OSError(28, "No space left on device")
        self._room -= len(data)
        return self._fh.write(data)


def test_full_disk_during_real_save_says_no_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save's own writer reports a full disk as "unexpected pos 704 vs 598"; the run's
    error line must say what the user can act on."""
    import engine.atomic

    p = tmp_path / "last.pt"
    save_checkpoint(make_ckpt(), p)
    before = p.read_bytes()
    monkeypatch.setattr(engine.atomic, "open", lambda path, mode: _FullDisk(path, mode, 4096),
                        raising=False)
    with pytest.raises(CheckpointError) as exc:
        save_checkpoint(make_ckpt(), p)
    assert "No space left on device" in str(exc.value)
    assert "unexpected pos" not in str(exc.value)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["last.pt"]


def test_a_photo_or_a_json_file_given_as_the_checkpoint_says_what_it_is(tmp_path: Path) -> None:
    """`petseg infer --model_path cat.jpg --data_path best.pt` (the flags swapped) said
    "cat.jpg: corrupt or truncated checkpoint (not a file torch.save wrote)", as if a checkpoint
    were damaged; so did a run's config.json."""
    from PIL import Image

    photo, config = tmp_path / "cat.jpg", tmp_path / "config.json"
    Image.new("RGB", (8, 8)).save(photo)
    config.write_text('{"model": "unet"}')
    for path, kind in ((photo, "a JPEG image"), (config, "a JSON file")):
        with pytest.raises(CheckpointError) as exc:
            load_checkpoint(path)
        assert _one_line(exc, path) == (f"<path>: is {kind}, not a checkpoint (give the .pt file petseg train "
                                        "wrote, e.g. <run>/checkpoints/best.pt, or an .onnx export)")


def test_a_checkpoint_without_read_permission_says_so_not_corrupt(tmp_path: Path, unreadable) -> None:
    """A best.pt whose read permission was taken away (copied from another user's run) was
    "corrupt or truncated checkpoint (Permission denied)": a user would delete a good file."""
    path = tmp_path / "best.pt"
    save_checkpoint(make_ckpt(), path)
    unreadable(path)
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(path)
    assert _one_line(exc, path) == "<path>: cannot read (Permission denied)"
