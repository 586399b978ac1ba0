"""engine.device: the precision ``--amp`` resolves to on a GPU (faked at torch.cuda's boundary:
no GPU here) and on the CPU."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from engine.device import resolve_amp


@pytest.fixture
def fake_gpus(monkeypatch: pytest.MonkeyPatch):
    """A machine whose CUDA devices have the compute capabilities (major) given to ``install``;
    bf16 tensors can be made on every one (torch emulates bf16 before Ampere)."""

    def install(*majors: int, current: int = 0) -> None:
        monkeypatch.setattr(torch.version, "hip", None)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
        monkeypatch.setattr(torch.cuda, "get_device_properties",
                            lambda index: SimpleNamespace(major=majors[torch.device("cuda", index).index
                                                                      if not isinstance(index, int) else index]))
        monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: True, raising=False)

    return install


@pytest.mark.parametrize(("major", "expected"), [(7, torch.float16), (8, torch.bfloat16), (9, torch.bfloat16)])
def test_amp_auto_picks_bf16_only_where_the_gpu_has_it_natively(fake_gpus, major: int, expected) -> None:
    """A T4/V100 (7.x) only emulates bf16 (slower than fp16 on its tensor cores): auto is fp16 there."""
    fake_gpus(major)
    assert resolve_amp("auto", torch.device("cuda")) == expected


def test_amp_auto_asks_the_runs_own_gpu(fake_gpus) -> None:
    """--device cuda:1 on a box with an A100 as cuda:0 and a V100 as cuda:1: the V100 decides."""
    fake_gpus(8, 7, current=0)
    assert resolve_amp("auto", torch.device("cuda", 1)) == torch.float16
    assert resolve_amp("auto", torch.device("cuda", 0)) == torch.bfloat16


def test_explicit_precisions_are_kept_on_cuda_and_fp16_is_fp32_on_cpu(fake_gpus) -> None:
    fake_gpus(7)
    assert resolve_amp("bf16", torch.device("cuda")) == torch.bfloat16
    assert resolve_amp("fp16", torch.device("cuda")) == torch.float16
    assert resolve_amp("off", torch.device("cuda")) is None
    assert resolve_amp("fp16", torch.device("cpu")) is None


def test_a_cuda_index_past_the_machines_gpus_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """--device cuda:2 on a 2-GPU box: refused before a run folder exists, naming the GPUs there
    (it failed later, inside the run, with CUDA's 'invalid device ordinal')."""
    from engine.device import resolve_device
    from engine.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"--device cuda:2: torch sees 2 CUDA devices here \(cuda:0, cuda:1\)"):
        resolve_device("cuda:2")


def test_cudnn_benchmark_comes_back_when_the_last_of_overlapping_runs_ends() -> None:
    """Two runs training at once in one process (the TUI): the first to end must not put the flag
    back under the other; the last one to end does."""
    from engine.device import kept_cudnn_benchmark

    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        first, second = kept_cudnn_benchmark(), kept_cudnn_benchmark()
        first.__enter__()
        torch.backends.cudnn.benchmark = True  # the first run's CUDA setup
        second.__enter__()
        first.__exit__(None, None, None)
        assert torch.backends.cudnn.benchmark is True  # the second still trains with it
        second.__exit__(None, None, None)
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before
