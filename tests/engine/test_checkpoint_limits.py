"""Checkpoint fields are untrusted input: bounded by training's limits before anything is allocated."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.checkpoint import load_checkpoint
from engine.cli import main
from engine.errors import CheckpointError
from engine.models import build_model


@pytest.fixture
def no_allocation(monkeypatch):
    """Fail the test if a model is built from the record at all."""
    import engine.models

    def refuse(*a, **kw):
        raise AssertionError("a model was built from an out-of-bounds record")

    monkeypatch.setattr(engine.models, "build_model", refuse)


@pytest.mark.parametrize("changes, message", [
    ({"image_size": 16384}, "image_size 16384 must be an integer between 32 and 2048"),
    ({"image_size": None, "config": {"image_size": 10**6}}, "image_size 1000000 must be an integer between 32 and 2048"),
    ({"image_size": 100}, "image_size 100 must be a multiple of 32"),
    ({"image_size": "64"}, "image_size '64' must be an integer between 32 and 2048"),
    ({"arch": {"name": "unet", "kwargs": {"width": 100000}}}, "arch.kwargs.width 100000 must be an integer between 4 and 512"),
    ({"arch": {"name": "unet", "kwargs": {"width": 4, "in_channels": 10**6}}}, "unknown unet setting(s) in its architecture record: in_channels"),
    ({"arch": {"name": "vit_huge", "kwargs": {}}}, "unknown architecture 'vit_huge'"),
    ({"mask_rule": "pet_or_not"}, "mask_rule 'pet_or_not' must be one of pet_border, pet_only"),
])
def test_out_of_bounds_records_are_refused_before_allocating(tmp_path: Path, write_checkpoint, no_allocation, changes,
                                                             message) -> None:
    path = write_checkpoint(tmp_path / "odd.pt", **changes)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_an_unknown_mask_rule_is_the_same_line_in_infer_and_eval(tmp_path: Path, capsys, write_checkpoint) -> None:
    ck = write_checkpoint(tmp_path / "rule.pt", mask_rule="pet_or_not")
    img = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 30)).save(img)
    assert main(["infer", "--checkpoint", str(ck), "--image", str(img), "--output", str(tmp_path / "m.png")]) == 1
    infer_err = capsys.readouterr().err.strip()
    assert main(["eval", "--checkpoint", str(ck), "--data_path", str(tmp_path)]) == 1
    eval_err = capsys.readouterr().err.strip()
    assert infer_err == eval_err == (f"petseg: error: {ck}: mask_rule 'pet_or_not' must be one of pet_border, "
                                     "pet_only — not a checkpoint petseg could have written")


def test_nan_weights_give_a_warning_not_a_crash(tmp_path: Path, capsys, write_checkpoint) -> None:
    state = build_model("unet", width=4).state_dict()
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = torch.full_like(state[first], float("nan"))
    ck = write_checkpoint(tmp_path / "nan.pt", model=state)
    img = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 30)).save(img)
    assert main(["infer", "--checkpoint", str(ck), "--image", str(img), "--output", str(tmp_path / "m.png")]) == 0
    err = capsys.readouterr().err
    assert (f"petseg: warning: {ck}: 1 weight tensor(s) hold NaN or Inf (first: {first}); its masks will be "
            "meaningless — was it saved from a diverged run?") in err
