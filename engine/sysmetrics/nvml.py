"""Reading the GPUs a run uses through NVIDIA's management library (``nvidia-ml-py``, ``import
pynvml``): utilisation, memory used/total, power and temperature per GPU.

A run names its GPUs by CUDA device index, which ``CUDA_VISIBLE_DEVICES`` may renumber and
which CUDA orders fastest first by default (``CUDA_DEVICE_ORDER``), while NVML counts every GPU of
the machine in PCI bus order. So a GPU is found by the UUID CUDA itself gives it (`cuda_uuids`,
when this process already runs torch), else by `nvml_ids` (an index or a UUID from
``CUDA_VISIBLE_DEVICES``).
Every problem (no library, no driver, a GPU that does not report its power) becomes a note or
a missing figure, never an exception: metrics must not stop a run.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from engine.errors import first_line
from engine.sysmetrics.record import GpuSample
from engine.train.devices_request import visible_entries


def nvml_ids(cuda_indices: Sequence[int], visible: str | None = None) -> list[int | str]:
    """The NVML identity of each CUDA device index: its machine index, or its UUID when
    ``CUDA_VISIBLE_DEVICES`` (``visible``; default: the environment's) names GPUs by UUID."""
    listed = visible_entries(visible)
    if not listed:
        return list(cuda_indices)
    out: list[int | str] = []
    for i in cuda_indices:
        entry = listed[i] if i < len(listed) else str(i)
        out.append(int(entry) if entry.isdigit() else entry)
    return out


def cuda_uuids(cuda_indices: Sequence[int]) -> list[str | None]:
    """The UUID CUDA gives each device index (without NVML's ``GPU-`` / ``MIG-`` prefix), read
    through the torch this process already imported; None where there is no such torch or device.
    (Never imports torch: the system metrics stay torch-free.)"""
    torch = sys.modules.get("torch")
    out: list[str | None] = []
    for i in cuda_indices:
        try:
            out.append(str(torch.cuda.get_device_properties(i).uuid) if torch is not None else None)
        except (AssertionError, RuntimeError):  # no CUDA build, no driver, no such device
            out.append(None)
    return out


def _handle(nv: Any, uuid: str | None, ident: int | str) -> Any:
    """NVML's handle of the GPU CUDA calls ``uuid`` (a whole GPU, or a MIG slice), else of ``ident``."""
    if uuid:
        bare = uuid.removeprefix("GPU-").removeprefix("MIG-")
        for name in (f"GPU-{bare}", f"MIG-{bare}"):
            try:
                return nv.nvmlDeviceGetHandleByUUID(name)
            except nv.NVMLError:  # not this kind of device (a whole GPU, a MIG slice): try the other
                pass
    return nv.nvmlDeviceGetHandleByUUID(ident) if isinstance(ident, str) else nv.nvmlDeviceGetHandleByIndex(ident)


class NvmlReader:
    """The GPUs of CUDA device indices ``cuda_indices`` (``ranks``: the rank training on each,
    for a data-parallel run). ``note`` is set when NVML cannot be used; `read` then returns ()."""

    def __init__(self, cuda_indices: Sequence[int], ranks: Sequence[int | None] | None = None) -> None:
        self.indices = list(cuda_indices)
        self.ranks = list(ranks) if ranks is not None else [None] * len(self.indices)
        self.note = ""
        self._nvml: Any = None
        self._handles: list[tuple[int, int | None, Any, str]] = []
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            for index, rank, uuid, ident in zip(self.indices, self.ranks, cuda_uuids(self.indices),
                                                nvml_ids(self.indices)):
                handle = _handle(pynvml, uuid, ident)
                self._handles.append((index, rank, handle, _name(pynvml, handle)))
        except Exception as exc:  # no library, no driver, no such GPU: the run trains on
            self.note = f"GPU metrics unavailable (NVML: {first_line(exc) or type(exc).__name__})"
            self.close()

    def read(self) -> tuple[GpuSample, ...]:
        nv = self._nvml
        if nv is None:
            return ()
        out = []
        for index, rank, h, name in self._handles:
            util = _try(lambda: float(nv.nvmlDeviceGetUtilizationRates(h).gpu))
            mem = _try(lambda: nv.nvmlDeviceGetMemoryInfo(h))
            power = _try(lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000.0)  # milliwatts
            temp = _try(lambda: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)))
            out.append(GpuSample(index=index, name=name, util=util, mem_used=int(mem.used) if mem else None,
                                 mem_total=int(mem.total) if mem else None, power_w=power, temp_c=temp, rank=rank))
        return tuple(out)

    def close(self) -> None:
        nv, self._nvml, self._handles = self._nvml, None, []
        if nv is not None:
            _try(nv.nvmlShutdown)


def _name(nv: Any, handle: Any) -> str:
    name = _try(lambda: nv.nvmlDeviceGetName(handle))
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return str(name or "")


def _try(read: Any) -> Any:
    """A figure, or None when this GPU or driver does not report it."""
    try:
        return read()
    except Exception:
        return None
