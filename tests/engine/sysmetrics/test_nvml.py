"""engine.sysmetrics.nvml: the GPU figures, with NVIDIA's library faked at its functions (no GPU here)."""

from __future__ import annotations

from types import SimpleNamespace

import pynvml
import pytest

from engine.sysmetrics.nvml import NvmlReader, nvml_ids

GIB = 1 << 30


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Two machine GPUs, 0 and 1 (and one by UUID), reporting fixed figures; records what was asked."""
    calls: dict = {"init": 0, "shutdown": 0, "handles": []}
    gpus = {0: (40, 10 * GIB, 250_000, 61), 1: (90, 70 * GIB, 400_000, 75), "GPU-abc": (5, 1 * GIB, 80_000, 40),
            "MIG-def": (15, 2 * GIB, 0, 0)}

    def handle(key):
        if key not in gpus:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        calls["handles"].append(key)
        return key

    monkeypatch.setattr(pynvml, "nvmlInit", lambda: calls.__setitem__("init", calls["init"] + 1))
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", handle)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByUUID", handle)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: b"Fake H200")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetUtilizationRates", lambda h: SimpleNamespace(gpu=gpus[h][0], memory=0))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", lambda h: SimpleNamespace(used=gpus[h][1], total=80 * GIB,
                                                                                     free=0))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", lambda h: gpus[h][2])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTemperature", lambda h, sensor: gpus[h][3])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return calls


def test_reads_util_memory_power_and_temperature(fake_nvml: dict) -> None:
    reader = NvmlReader([0])
    (g,) = reader.read()
    assert (g.index, g.name, g.util, g.mem_used, g.mem_total, g.power_w, g.temp_c) == (
        0, "Fake H200", 40.0, 10 * GIB, 80 * GIB, 250.0, 61.0)
    assert g.mem_share == pytest.approx(0.125) and reader.note == ""
    reader.close()
    assert fake_nvml["shutdown"] == 1


def test_a_data_parallel_run_reads_every_ranks_gpu(fake_nvml: dict) -> None:
    gpus = NvmlReader([0, 1], ranks=[0, 1]).read()
    assert [(g.index, g.rank, g.util) for g in gpus] == [(0, 0, 40.0), (1, 1, 90.0)]


def test_cuda_visible_devices_maps_the_runs_indices_to_the_machines(fake_nvml: dict,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    (g,) = NvmlReader([0]).read()
    assert (g.index, g.util) == (0, 90.0)  # the run's cuda:0 is the machine's GPU 1
    assert nvml_ids([0, 1], "GPU-abc,3") == ["GPU-abc", 3]
    assert nvml_ids([0], "") == [0]


@pytest.fixture
def cuda_says(monkeypatch: pytest.MonkeyPatch):
    """torch's CUDA (faked at get_device_properties) names its device indices by these UUIDs."""
    import torch

    def says(uuids: dict[int, str]) -> None:
        def properties(i: int) -> SimpleNamespace:
            if i not in uuids:
                raise RuntimeError(f"invalid device ordinal {i}")
            return SimpleNamespace(uuid=uuids[i])

        monkeypatch.setattr(torch.cuda, "get_device_properties", properties)
    return says


def test_a_gpu_is_the_one_cuda_names_not_nvmls_gpu_of_the_same_index(fake_nvml: dict, cuda_says) -> None:
    """CUDA orders GPUs fastest first (CUDA_DEVICE_ORDER), NVML by PCI bus: on a box of mixed GPUs
    the run's cuda:0 can be NVML's GPU 1. The figures were those of NVML's GPU 0."""
    cuda_says({0: "abc", 1: "def"})
    gpus = NvmlReader([0, 1], ranks=[0, 1]).read()
    assert [(g.index, g.rank, g.util) for g in gpus] == [(0, 0, 5.0), (1, 1, 15.0)]  # GPU-abc, then a MIG slice


def test_a_device_cuda_cannot_name_is_found_by_its_index(fake_nvml: dict, cuda_says) -> None:
    cuda_says({0: "not-in-nvml"})
    gpus = NvmlReader([0, 1]).read()
    assert [(g.index, g.util) for g in gpus] == [(0, 40.0), (1, 90.0)]


def test_a_figure_the_gpu_does_not_report_is_missing_not_an_error(fake_nvml: dict,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(h):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", unsupported)
    (g,) = NvmlReader([0]).read()
    assert g.power_w is None and g.util == 40.0


def test_no_driver_is_a_note_and_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_driver():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    reader = NvmlReader([0])
    assert reader.read() == ()
    assert reader.note.startswith("GPU metrics unavailable (NVML:")
