"""The encoder U-Nets (resnet18/34/50, densenet121 under one U-Net decoder) and decoder dropout:
shapes at odd sizes, encoder strides and channels, parameter counts (docs/RESULTS.md), checkpoint
round trips, per-encoder pretrained weights, and the seed's models unchanged at dropout 0."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.checkpoint import build_model_from_checkpoint, load_checkpoint, save_checkpoint
from engine.config import MODELS, TrainConfig
from engine.errors import ConfigError
from engine.models import ENCODER_OF, build_model, count_parameters, model_kwargs
from engine.models import pretrained as pretrained_mod

ENCODER_MODELS = [m for m in MODELS if m != "unet"]
GOLDEN = Path(__file__).parent / "data" / "seed_models_golden.pt"
# docs/RESULTS.md, "Encoders, optimizer, dropout": the counts it prints
PARAMETERS = {"resnet18_unet": 14_343_425, "resnet34_unet": 24_451_585, "resnet50_unet": 30_570_241,
              "densenet121_unet": 12_967_489}


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: build_model(name).eval() for name in ENCODER_MODELS}


def test_every_encoder_model_is_a_choice_of_the_model_flag_and_the_form() -> None:
    assert set(ENCODER_MODELS) == {"resnet18_unet", "resnet34_unet", "resnet50_unet", "densenet121_unet"}
    model_field = next(f for f in __import__("engine.config").config.config_fields() if f.name == "model")
    assert model_field.spec.choices == MODELS  # the new-run form's Select lists them
    for name in ENCODER_MODELS:
        assert TrainConfig(model=name, image_size=64, batch_size=2).field_errors() == {}


@pytest.mark.slow  # builds all four encoder models (as do the next two)
@pytest.mark.parametrize("size", [(37, 50), (65, 97), (32, 33)])
def test_output_matches_any_input_size(models, size) -> None:
    for name, model in models.items():
        with torch.no_grad():
            out = model(torch.randn(1, 3, *size))
        assert out.shape == (1, 1, *size), name


@pytest.mark.slow
def test_encoder_stages_have_the_declared_strides_and_channels(models) -> None:
    for name, model in models.items():
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            for stage, stride, channels in zip(model.encoders, model.encoders.strides, model.encoders.channels):
                x = stage(x)
                assert x.shape[1:] == (channels, 64 // stride, 64 // stride), name
        assert len(model.encoders) == 5


@pytest.mark.slow
def test_parameter_counts(models) -> None:
    counts = {name: count_parameters(m) for name, m in models.items()}
    print("\n".join(f"{name}: {n:,} parameters" for name, n in counts.items()))
    assert counts == PARAMETERS


@pytest.mark.slow  # builds ResNet-34 (as does the next)
def test_dropout_0_leaves_the_seed_models_unchanged() -> None:
    """Against what the seed's code gave (recorded before dropout and the encoder registry
    existed, tests/engine/models/data/seed_models_golden.pt): the same state_dict keys, and from
    the same seed the same weights and train-mode output (to float tolerance: another CPU's
    kernels sum in another order, and through ResNet-34's ~40 conv + batch-norm layers an AVX2
    machine lands up to 3.3e-6 from the AVX-512 one that recorded it, on outputs of std 0.35; a
    real change of weights or layers moves them by ~1e-1. The next test is the bit-exact one)."""
    golden = torch.load(GOLDEN)
    for name, kwargs in (("unet", {"width": 8}), ("resnet34_unet", {})):
        torch.manual_seed(0)
        model = build_model(name, dropout=0.0, **kwargs).train()
        torch.manual_seed(1)
        out = model(torch.randn(2, 3, 32, 64)).detach()
        assert list(model.state_dict()) == golden[name]["keys"], name
        torch.testing.assert_close(out, golden[name]["train_output"], rtol=1e-4, atol=2e-5)


def _seed_forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The seed's ResNet34UNet.forward, verbatim but for ``self``: the reference for bit-identity."""
    import torch.nn.functional as F

    from engine.models.padding import crop_to, pad_to_multiple

    x, size = pad_to_multiple(x, 32)
    padded_size = x.shape[-2:]
    features = []
    for enc in model.encoders:
        x = enc(x)
        features.append(x)
    x = features.pop()
    for dec, skip in zip(model.decoders, reversed(features)):
        x = dec.up(x)
        x = dec.conv(torch.cat([skip, x], dim=1))
    x = model.final_up(x)
    if x.shape[-2:] != padded_size:
        x = F.interpolate(x, size=padded_size, mode="bilinear", align_corners=False)
    x = model.final_conv(x)
    return crop_to(model.head(x), size)


@pytest.mark.slow
def test_dropout_0_resnet34_unet_is_bit_identical_to_the_seeds_forward() -> None:
    torch.manual_seed(0)
    model = build_model("resnet34_unet").train()
    x = torch.randn(2, 3, 40, 72)
    with torch.no_grad():
        assert torch.equal(model(x), _seed_forward(model, x))


@pytest.mark.parametrize("name", ["unet", "resnet18_unet"])
def test_dropout_acts_in_training_only_and_adds_no_weights(name: str) -> None:
    torch.manual_seed(0)
    plain = build_model(name, width=8)
    dropped = build_model(name, width=8, dropout=0.5)
    assert list(dropped.state_dict()) == list(plain.state_dict())
    dropped.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    plain.eval(), dropped.eval()
    with torch.no_grad():
        assert torch.equal(plain(x), dropped(x))
    plain.train(), dropped.train()
    with torch.no_grad():
        assert not torch.equal(plain(x), dropped(x))


def _checkpoint(model: torch.nn.Module, name: str) -> dict:
    return {"format": 1, "arch": {"name": name, "kwargs": model_kwargs(name, 64)}, "model": model.state_dict(),
            "image_size": 64, "mask_rule": "pet_border", "normalize": {"mean": 0.5, "std": 0.5}}


@pytest.mark.parametrize("name", [n if n == "resnet18_unet" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in ENCODER_MODELS])
def test_checkpoint_round_trip_rebuilds_the_recorded_model(name: str, tmp_path: Path) -> None:
    """What inference, eval and the TUI do with a run's best.pt: the checkpoint names the model."""
    from engine.checkpoint import FORMAT

    model = build_model(name).eval()
    state = _checkpoint(model, name)
    state["format"] = FORMAT
    path = tmp_path / f"{name}.pt"
    save_checkpoint(state, path)
    rebuilt = build_model_from_checkpoint(load_checkpoint(path), path)
    x = torch.randn(1, 3, 40, 72)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    assert model_kwargs(name, 64, pretrained="/x.pth") == {}  # neither the weights' path nor dropout


def _torchvision_file(arch: str, path: Path, fill: float, old_densenet_keys: bool = False) -> Path:
    import torchvision.models as tvm

    net = getattr(tvm, arch)(weights=None)
    first = net.conv1 if arch.startswith("resnet") else net.features.conv0
    with torch.no_grad():
        first.weight.fill_(fill)
    state = net.state_dict()
    if old_densenet_keys:  # as torchvision's ImageNet DenseNet file spells them ("norm.1", not "norm1")
        import re

        state = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])", r"\1.\2", k): v for k, v in state.items()}
    torch.save(state, path)
    return path


@pytest.mark.parametrize("arch", ["resnet18", "densenet121"])
def test_pretrained_file_loads_into_each_encoder(arch: str, tmp_path: Path) -> None:
    path = _torchvision_file(arch, tmp_path / f"{arch}.pth", 0.25, old_densenet_keys=arch == "densenet121")
    model = build_model(f"{arch}_unet", pretrained=str(path))
    assert torch.all(model.encoders[0][0].weight == 0.25)


def test_pretrained_file_of_another_encoder_is_a_one_line_error(tmp_path: Path) -> None:
    path = _torchvision_file("resnet18", tmp_path / "r18.pth", 0.5)
    with pytest.raises(ConfigError) as info:
        build_model("resnet50_unet", pretrained=str(path))
    assert "not a resnet50 state_dict" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "densenet121"])
def test_imagenet_without_a_cached_file_or_internet_is_the_one_line_error(arch, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))

    def offline(*_a, **_k):
        raise OSError("no network here")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ConfigError) as info:
        build_model(f"{arch}_unet", pretrained="imagenet")
    assert str(info.value) == pretrained_mod.IMAGENET_FAIL


def test_imagenet_reads_each_encoders_own_cached_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    cached = pretrained_mod.imagenet_cache_path("densenet121")
    assert cached.parent == tmp_path / "hub" / "checkpoints" and "densenet121" in cached.name
    assert pretrained_mod.imagenet_cache_path("resnet18").name != cached.name
    cached.parent.mkdir(parents=True)
    _torchvision_file("densenet121", cached, 0.75, old_densenet_keys=True)
    model = build_model("densenet121_unet", pretrained="imagenet")
    assert torch.all(model.encoders[0][0].weight == 0.75)


def test_the_registry_maps_each_model_to_its_encoder() -> None:
    assert ENCODER_OF == {"resnet18_unet": "resnet18", "resnet34_unet": "resnet34",
                          "resnet50_unet": "resnet50", "densenet121_unet": "densenet121"}
