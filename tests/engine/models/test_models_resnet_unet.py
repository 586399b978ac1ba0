"""ResNet34UNet: shapes for any input size, encoder layout, and loading encoder weights."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ConfigError
from engine.models import build_model
from engine.models import pretrained as pretrained_mod
from engine.models.resnet_unet import ResNet34UNet


@pytest.fixture(scope="module")
def model() -> ResNet34UNet:
    return ResNet34UNet().eval()


@pytest.mark.parametrize("size", [(64, 64), (96, 128), (100, 75)])
def test_output_matches_input_size(model, size):
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 1, *size)


def test_encoder_strides_are_2_4_8_16_32(model):
    x = torch.randn(1, 3, 64, 64)
    sides = []
    with torch.no_grad():
        for enc in model.encoders:
            x = enc(x)
            sides.append(x.shape[-1])
    assert sides == [32, 16, 8, 4, 2]
    assert not hasattr(model, "fc")


def _saved_resnet34(tmp_path, fill: float):
    from torchvision.models import resnet34

    ref = resnet34(weights=None)
    with torch.no_grad():
        ref.conv1.weight.fill_(fill)
        ref.layer4[2].bn2.running_mean.fill_(fill)
    path = tmp_path / "r34.pth"
    torch.save(ref.state_dict(), path)
    return path


def test_pretrained_path_loads_the_encoder(tmp_path):
    path = _saved_resnet34(tmp_path, 0.125)
    net = build_model("resnet34_unet", pretrained=str(path))
    assert torch.all(net.encoders[0][0].weight == 0.125)
    assert torch.all(net.encoders[4][2].bn2.running_mean == 0.125)


def test_pretrained_garbage_file_is_a_one_line_config_error(tmp_path):
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"this is not a checkpoint\n" * 10)
    with pytest.raises(ConfigError) as info:
        ResNet34UNet(pretrained=str(bad))
    msg = str(info.value)
    assert str(bad) in msg and "\n" not in msg


def test_pretrained_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        ResNet34UNet(pretrained=str(tmp_path / "nope.pth"))


def test_pretrained_state_dict_of_another_network_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ConfigError) as info:
        ResNet34UNet(pretrained=str(path))
    assert "not a resnet34 state_dict" in str(info.value) and "\n" not in str(info.value)


def test_a_petseg_checkpoint_as_pretrained_says_what_it_is(tmp_path):
    """A run's own best.pt given to --pretrained read as "not a resnet34 state_dict (... 192
    unexpected keys, e.g. decoders.0...)": it names the file a petseg checkpoint and the way on."""
    from engine.checkpoint import FORMAT, save_checkpoint

    path = tmp_path / "best.pt"
    save_checkpoint({"format": FORMAT, "arch": {"name": "resnet34_unet", "kwargs": {}},
                     "model": build_model("resnet34_unet").state_dict()}, path)
    with pytest.raises(ConfigError) as info:
        ResNet34UNet(pretrained=str(path))
    assert str(info.value) == (
        f"--pretrained {path}: is a petseg checkpoint (a resnet34_unet run's), not an encoder's state_dict; "
        "--pretrained takes imagenet or a torchvision network's .pth; to train a run further use --resume RUN")


def test_imagenet_uses_the_hub_cache_first(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(cache))
    target = pretrained_mod.imagenet_cache_path()
    target.parent.mkdir(parents=True)
    _saved_resnet34(tmp_path, 0.5).rename(target)

    def no_network(*args, **kwargs):
        raise AssertionError("must not download when the cache has the file")

    monkeypatch.setattr("torch.hub.load_state_dict_from_url", no_network)
    net = ResNet34UNet(pretrained="imagenet")
    assert torch.all(net.encoders[0][0].weight == 0.5)


def test_imagenet_without_internet_is_a_clear_config_error(tmp_path, monkeypatch):
    from torchvision.models import ResNet34_Weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))

    calls = []

    def offline(self, *args, **kwargs):
        calls.append(self)
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(type(ResNet34_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.raises(ConfigError) as info:
        ResNet34UNet(pretrained="imagenet")
    assert str(info.value) == pretrained_mod.IMAGENET_FAIL
    assert calls == [ResNet34_Weights.IMAGENET1K_V1]  # the download was attempted once, after the cache
