"""`--amp auto` on a CPU: a timed probe, cached per machine / torch / model, recorded per run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.train import precision
from engine.config import TrainConfig
from engine.train.trainer import Trainer


def test_probe_times_both_precisions_and_applies_the_margin() -> None:
    from engine.models import build_model

    result = precision.probe(lambda: build_model("unet", width=4), 32, channels_last=True, batch_size=2)
    assert result["fp32_ms"] > 0 and result["bf16_ms"] > 0
    assert result["choice"] == ("bf16" if result["bf16_ms"] <= precision.BF16_MARGIN * result["fp32_ms"] else "fp32")


def test_decision_is_cached_per_machine_and_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_bf16_instructions", lambda: True)
    calls = []

    def fake_probe(build, image_size, channels_last, batch_size):
        calls.append(image_size)
        return {"fp32_ms": 10.0, "bf16_ms": 5.0, "choice": "bf16"}

    monkeypatch.setattr(precision, "probe", fake_probe)
    dtype, record = precision.cpu_autocast_dtype("unet", 4, 64, True, 8, cache_dir=tmp_path)
    assert dtype == torch.bfloat16 and record["cached"] is False and calls == [64]
    dtype, record = precision.cpu_autocast_dtype("unet", 4, 64, True, 8, cache_dir=tmp_path)
    assert dtype == torch.bfloat16 and record["cached"] is True and calls == [64]  # not measured again
    assert torch.__version__ in record["key"] and precision.machine_key() in record["key"]
    precision.cpu_autocast_dtype("unet", 4, 96, True, 8, cache_dir=tmp_path)  # another image size: measured
    precision.cpu_autocast_dtype("unet", 4, 64, True, 16, cache_dir=tmp_path)  # another batch size: measured
    monkeypatch.setattr(precision, "machine_key", lambda: "another CPU | torch 9.9")
    precision.cpu_autocast_dtype("unet", 4, 64, True, 8, cache_dir=tmp_path)  # another machine: measured
    assert calls == [64, 96, 64, 64]
    assert len(json.loads((tmp_path / precision.CACHE_FILE).read_text())) == 4


def test_the_probe_line_says_what_its_cache_is_keyed_on_and_where_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It said "once per machine": the cache is a file of the user's, keyed on the CPU model (two
    hosts with one CPU model and one home share it), torch, threads, model, size and batch."""
    monkeypatch.setattr(precision, "cpu_has_bf16_instructions", lambda: True)
    monkeypatch.setattr(precision, "probe", lambda *a: {"fp32_ms": 10.0, "bf16_ms": 5.0, "choice": "bf16"})
    said: list[str] = []
    precision.cpu_autocast_dtype("unet", 4, 64, True, 8, cache_dir=tmp_path, log=said.append)
    assert said[0] == ("amp auto: timing fp32 against bf16 on this CPU (once per CPU model, torch version, thread count, "
                       f"model, image size, memory format and batch size; kept in {tmp_path / precision.CACHE_FILE})")
    precision.cpu_autocast_dtype("unet", 4, 96, True, 8, cache_dir=tmp_path, log=said.append)
    assert len(said) == 4  # another image size: timed again, as the line says


def test_cpu_without_bf16_instructions_trains_fp32_unprobed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_bf16_instructions", lambda: False)
    monkeypatch.setattr(precision, "probe", lambda *a: pytest.fail("probed a CPU without bf16"))
    dtype, record = precision.cpu_autocast_dtype("unet", 4, 64, True, 8, cache_dir=tmp_path)
    assert dtype is None and record["choice"] == "fp32" and "no bf16" in record["reason"]


@pytest.mark.slow
def test_run_records_the_decision_and_a_resume_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a private cache: another test of the session may have probed this tiny model for real
    monkeypatch.setenv("PETSEG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(precision, "cpu_has_bf16_instructions", lambda: True)
    monkeypatch.setattr(precision, "probe", lambda *a: {"fp32_ms": 10.0, "bf16_ms": 5.0, "choice": "bf16"})
    cfg = TrainConfig(epochs=1, image_size=64, width=4, batch_size=8, max_train_images=8, workers=0, device="cpu",
                      cache_dir=str(tmp_path / "cache"))
    first = Trainer(cfg, tmp_path / "runs", "amp")
    assert first.run() == "finished"
    record = json.loads((first.run_path / "config.json").read_text())
    assert record["amp_resolved"] == "bfloat16" and record["amp_probe"]["choice"] == "bf16"
    # the machine now measures otherwise: the resumed run still trains as it started
    monkeypatch.setattr(precision, "machine_key", lambda: "changed")
    monkeypatch.setattr(precision, "probe", lambda *a: {"fp32_ms": 5.0, "bf16_ms": 10.0, "choice": "fp32"})
    more = Trainer(TrainConfig(epochs=2), tmp_path / "runs", "amp", resume=True)
    assert more.run() == "finished"
    assert json.loads((first.run_path / "config.json").read_text())["amp_resolved"] == "bfloat16"


def test_fp16_asked_for_on_a_cpu_says_it_trains_in_fp32(tmp_path, generated_data) -> None:
    """--amp fp16 on a CPU became fp32 with no word but config.json's amp_resolved."""
    from engine.runs.layout import LOG_FILE

    cfg = TrainConfig(epochs=1, image_size=64, width=4, batch_size=8, max_train_images=8, workers=0, device="cpu",
                      amp="fp16", data_path=generated_data)
    trainer = Trainer(cfg, tmp_path / "runs", "fp16")
    assert trainer.run() == "finished"
    assert "warning: --amp fp16: fp16 autocast is not used on a CPU" in (trainer.run_path / LOG_FILE).read_text()
