"""Predictor on tiny UNet checkpoints: sizes, orientation, TTA, downscaling, and error paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from engine.errors import BadImageError, CheckpointError, ConfigError
from engine.device import resolve_device
from engine.infer.inference import DEFAULT_MAX_SIDE, Prediction, Predictor, flip_tta, output_picture, preprocess
from engine.models import build_model, model_kwargs

IMAGE_SIZE = 64


def write_checkpoint(path: Path, model: nn.Module | None = None, **overrides) -> Path:
    """A checkpoint in the petseg-checkpoint/1 contract, written by hand (no engine.checkpoint)."""
    torch.manual_seed(0)
    model = model or build_model("unet", width=4)
    # Non-trivial BN statistics so eval-mode outputs are not flat.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ckpt = {
        "format": "petseg-checkpoint/1",
        "arch": {"name": "unet", "kwargs": model_kwargs("unet", 4)},
        "model": model.state_dict(),
        "image_size": IMAGE_SIZE,
        "mask_rule": "pet_border",
        "epoch": 3,
        "best_dice": 0.5,
        "config": {"model": "unet", "width": 4, "image_size": IMAGE_SIZE},
    }
    ckpt.update(overrides)
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    path = write_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")
    return Predictor.from_checkpoint(path, device="cpu")


def test_from_checkpoint_reads_the_record(predictor):
    assert predictor.arch_name == "unet"
    assert predictor.image_size == IMAGE_SIZE
    assert predictor.mask_rule == "pet_border"
    assert predictor.epoch == 3 and predictor.best_dice == 0.5
    assert predictor.checkpoint_path.name == "best.pt"
    assert not predictor.model.training
    assert predictor.config == {"model": "unet", "width": 4, "image_size": IMAGE_SIZE}


def test_odd_size_greyscale_file_gives_probabilities_at_input_size(predictor, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "grey.png"
    Image.fromarray(rng.integers(0, 256, (37, 53), dtype=np.uint8)).save(path)  # mode L
    pred = predictor.predict_file(path)
    assert isinstance(pred, Prediction)
    assert pred.image.shape == (37, 53, 3) and pred.image.dtype == np.uint8
    assert pred.prob.shape == (37, 53) and pred.prob.dtype == np.float32
    assert 0.0 <= pred.prob.min() and pred.prob.max() <= 1.0
    assert pred.source == path and pred.seconds > 0
    mask = pred.mask(0.5)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert np.array_equal(mask, (pred.prob > 0.5).astype(np.uint8))


class FirstChannel(nn.Module):
    """Logit = 10 × the normalised red channel: bright red → pet, dark → background."""

    def forward(self, x):
        return x[:, :1] * 10


def test_orientation_and_upsampling_keep_pixels_in_place():
    # Left 20 columns white, the rest black, in a 37×53 image: a model that copies its input
    # must give ~1 on the left and ~0 on the right, at the original size (no H/W swap).
    image = np.zeros((37, 53, 3), dtype=np.uint8)
    image[:, :20] = 255
    pred = Predictor(FirstChannel(), image_size=32, arch_name="test").predict_array(image)
    assert pred.shape == (37, 53)
    assert (pred[:, :17] > 0.99).all() and (pred[:, 23:] < 0.01).all()


def test_preprocess_normalises_to_minus_one_one():
    image = np.zeros((10, 12, 3), dtype=np.uint8)
    image[..., 0] = 255
    x = preprocess(image, 8)
    assert x.shape == (1, 3, 8, 8) and x.dtype == torch.float32
    assert torch.allclose(x[0, 0], torch.ones(8, 8)) and torch.allclose(x[0, 1:], -torch.ones(2, 8, 8))


def test_preprocess_area_resizes_like_training():
    # Columns alternate 0/255; an area (box) downscale by 2 averages each pair to 127.5,
    # which uint8 rounds to 128 -> (128/255 - 0.5) / 0.5 = 0.0039. Point sampling would give ±1.
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[:, ::2] = 255
    x = preprocess(image, 2)
    assert torch.allclose(x, torch.full((1, 3, 2, 2), 128 / 255 * 2 - 1), atol=1e-6)


def test_flip_tta_is_the_mean_of_two_separate_passes(predictor):
    torch.manual_seed(1)
    x = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    model = predictor.model
    with torch.no_grad():
        plain = torch.sigmoid(model(x))
        mirrored = torch.sigmoid(model(x.flip(-1))).flip(-1)
        tta = flip_tta(model, x)
    assert torch.allclose(tta, (plain + mirrored) / 2, atol=1e-6)
    assert not torch.allclose(tta, plain, atol=1e-4)  # the random net is not mirror-symmetric


def test_predict_array_tta_matches_averaging_a_mirrored_image(predictor):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    plain = predictor.predict_array(image)
    mirrored = predictor.predict_array(np.ascontiguousarray(image[:, ::-1]))[:, ::-1]
    assert np.allclose(predictor.predict_array(image, tta=True), (plain + mirrored) / 2, atol=1e-6)


def test_huge_image_is_downscaled_before_processing(predictor, tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (5000, 40), (200, 100, 50)).save(path)
    pred = predictor.predict_file(path)  # default max_side
    assert max(pred.image.shape[:2]) == DEFAULT_MAX_SIDE == 2048
    assert pred.prob.shape == pred.image.shape[:2]
    small = predictor.predict_file(path, max_side=500)
    assert small.image.shape == (4, 500, 3) and small.prob.shape == (4, 500)


def test_unreadable_image_is_a_bad_image_error(predictor, tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a jpeg")
    with pytest.raises(BadImageError) as info:
        predictor.predict_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_checkpoint_without_image_size_is_rejected(tmp_path):
    path = write_checkpoint(tmp_path / "nosize.pt", image_size=None, config={})
    with pytest.raises(CheckpointError, match="image_size"):
        Predictor.from_checkpoint(path, device="cpu")


def test_checkpoint_of_other_weights_is_a_checkpoint_error(tmp_path):
    path = write_checkpoint(tmp_path / "wide.pt", model=build_model("unet", width=8))
    with pytest.raises(CheckpointError) as info:
        Predictor.from_checkpoint(path, device="cpu")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_auto_device_is_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="--device cuda"):
        resolve_device("cuda")


def test_resizing_back_to_the_photo_is_torchs_bilinear_with_half_pixel_centres():
    # the CPU path (OpenCV) must agree with torch's interpolate, which other devices use
    import torch.nn.functional as F

    from engine.infer.inference import to_photo_size

    gen = torch.Generator().manual_seed(1)
    prob = torch.sigmoid(torch.randn(2, 1, 64, 64, generator=gen) * 3)
    for size in ((375, 500), (48, 40), (64, 64)):
        got = to_photo_size(prob, size)
        want = F.interpolate(prob, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
        assert got.shape == (2, 1, *size) and got.dtype == torch.float32
        assert (got - want).abs().max().item() < 1e-4
        assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the GPU path needs a CUDA device")
def test_resizing_back_to_the_photo_is_the_same_on_the_gpu():
    from engine.infer.inference import to_photo_size

    prob = torch.sigmoid(torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(1)) * 3)
    for size in ((375, 500), (48, 40), (64, 64)):
        on_gpu = to_photo_size(prob.cuda(), size)
        assert on_gpu.device.type == "cuda"
        assert (on_gpu.cpu() - to_photo_size(prob, size)).abs().max().item() < 1e-4


def test_a_batch_of_mixed_sizes_equals_one_by_one(predictor):
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((37, 53, 3), (64, 64, 3), (120, 90, 3))]
    for tta in (False, True):
        batched = predictor.predict_batch(images, tta=tta)
        for image, prob in zip(images, batched):
            single = predictor.predict_array(image, tta=tta)
            assert prob.shape == image.shape[:2]
            assert np.abs(prob - single).max() < 1e-5


def test_expected_architecture_is_checked(tmp_path):
    path = write_checkpoint(tmp_path / "unet.pt")
    assert Predictor.from_checkpoint(path, device="cpu", expect_arch="unet").arch_name == "unet"
    with pytest.raises(CheckpointError) as info:
        Predictor.from_checkpoint(path, device="cpu", expect_arch="resnet34_unet")
    msg = str(info.value)
    assert msg.startswith(str(path)) and "unet checkpoint, not resnet34_unet" in msg and "\n" not in msg


def test_output_picture_is_at_the_original_size():
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    prob = np.zeros((20, 30), dtype=np.float32)
    prob[5:15, 10:20] = 0.9
    mask = output_picture(image, prob, 0.5, overlay=False, size=(60, 40))
    assert mask.size == (60, 40) and mask.mode == "L"
    assert np.asarray(mask)[20, 30] == 255 and np.asarray(mask)[0, 0] == 0
    over = output_picture(image, prob, 0.5, overlay=True, size=None)
    assert over.size == (30, 20) and over.mode == "RGB"


def test_an_image_size_a_checkpoint_cannot_take_is_refused_not_ignored(tmp_path, capsys):
    """``petseg infer --run R --image_size 96`` of a 64 px run predicted at 64 px without a word,
    where the same flag on an ONNX file of a fixed size is refused."""
    from engine.cli import main

    path = write_checkpoint(tmp_path / "best.pt")
    photo = tmp_path / "cat.png"
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(photo)
    out = tmp_path / "mask.png"
    other = IMAGE_SIZE + 32
    code = main(["infer", "--checkpoint", str(path), "--image_size", str(other), "--image", str(photo),
                 "--output", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and not out.exists()
    assert err == (f"petseg: error: --image_size {other}: {path} predicts at {IMAGE_SIZE}×{IMAGE_SIZE}, the size it was "
                   "trained at (--image_size is for an ONNX file)")
    # its own size is no contradiction
    assert main(["infer", "--checkpoint", str(path), "--image_size", str(IMAGE_SIZE), "--image", str(photo),
                 "--output", str(out), "--device", "cpu"]) == 0


def test_a_threshold_of_0_or_1_is_refused_in_words_that_exclude_them(predictor, tmp_path, capsys):
    """``--threshold 0`` read "--threshold 0.0: must be between 0 and 1", refusing 0 in words that
    include it (--weight_decay's "between 0 and 1" takes 0)."""
    from engine.cli import main
    from engine.eval.evaluate import score_photos

    photo = tmp_path / "cat.png"
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(photo)
    assert main(["infer", "--checkpoint", str(tmp_path / "none.pt"), "--threshold", "0", "--image", str(photo),
                 "--output", str(tmp_path / "m.png")]) == 1
    assert capsys.readouterr().err.strip() == ("petseg: error: --threshold 0: must be above 0 and below 1 (a pixel is "
                                               "pet where its probability is above it)")
    with pytest.raises(ConfigError) as info:  # petseg eval's scoring
        score_photos(predictor, [], threshold=1.0)
    assert str(info.value).startswith("--threshold 1: must be above 0 and below 1")
