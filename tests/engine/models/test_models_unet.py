"""UNet and DoubleConv: structure as in the paper, output size equals input size for any H×W."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ConfigError
from engine.config import MODELS
from engine.models import build_model, count_parameters, model_kwargs
from engine.models.blocks import DoubleConv
from engine.models.padding import crop_to, pad_to_multiple
from engine.models.unet import UNet


def test_double_conv_is_two_conv_bn_relu_without_bias():
    block = DoubleConv(3, 8)
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(3, 3), (3, 3)]
    assert all(m.bias is None for m in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in block.modules()) == 2
    assert sum(isinstance(m, nn.ReLU) for m in block.modules()) == 2
    assert block(torch.randn(1, 3, 9, 7)).shape == (1, 8, 9, 7)


def test_unet_widths_follow_the_paper():
    model = UNet(width=4)
    assert len(model.encoders) == 4
    out_widths = [enc.block[3].out_channels for enc in model.encoders]
    assert out_widths == [4, 8, 16, 32]
    assert model.bottleneck.block[3].out_channels == 64
    assert all(up.stride == (2, 2) and up.kernel_size == (2, 2) for up in model.ups)
    assert model.head.kernel_size == (1, 1) and model.head.out_channels == 1


@pytest.mark.parametrize("size", [(64, 64), (96, 128), (100, 75), (17, 33)])
def test_unet_output_matches_any_input_size(size):
    model = UNet(width=4).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 1, *size)
    assert torch.isfinite(out).all()


def test_unet_odd_input_is_reflect_padded_then_cropped():
    # 50×40 pads to 64×48 on the bottom/right; the result must be exactly the top-left
    # crop of running the model on that padded image ourselves.
    model = UNet(width=4).eval()
    x = torch.randn(1, 3, 50, 40)
    with torch.no_grad():
        expected = model(F.pad(x, (0, 8, 0, 14), mode="reflect"))[..., :50, :40]
        assert torch.allclose(model(x), expected, atol=1e-6)


def test_pad_to_multiple_falls_back_when_reflect_is_impossible():
    # Reflect needs pad < side: a 5-px side padded by 11 must still work (replicate).
    x = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 5, 5)
    padded, size = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (16, 16) and size == (5, 5)
    assert torch.equal(crop_to(padded, size), x)
    assert torch.equal(padded[0, 0, 0, 5:], torch.full((11,), 4.0))


def test_unet_trains_one_step():
    model = UNet(width=4)
    x = torch.randn(2, 3, 64, 64)
    loss = model(x).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_registry_builds_and_rebuilds_from_recorded_kwargs():
    assert MODELS[:1] == ("unet",) and "resnet34_unet" in MODELS  # the seed's two models keep their names
    kwargs = model_kwargs("unet", 8, pretrained="ignored")
    assert kwargs == {"width": 8}
    a = build_model("unet", **kwargs)
    b = build_model("unet", **kwargs)
    b.load_state_dict(a.state_dict())  # same architecture => identical keys and shapes
    assert count_parameters(a) == count_parameters(b) > 0
    # The pretrained path is never part of the architecture record.
    assert model_kwargs("resnet34_unet", 64, pretrained="/some/weights.pth") == {}


def test_count_parameters_by_hand():
    # DoubleConv(1, 2): conv 1*2*9 = 18, BN 2*2 = 4, conv 2*2*9 = 36, BN 4 -> 62
    assert count_parameters(DoubleConv(1, 2)) == 62


def test_unknown_model_name_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as info:
        build_model("vgg")
    assert "vgg" in str(info.value) and "\n" not in str(info.value)
