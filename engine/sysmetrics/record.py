"""One sample of a run's system metrics and its JSON line in ``system.jsonl``.

The line is a flat JSON object with short keys and a format version ``v``; a reader skips
what it does not know and treats a missing key as "not measured", so files written by older
or newer petseg versions read the same. Memory and disk figures are bytes, power watts,
temperature degrees C, utilisation and CPU per cent (CPU: of one core, so 4 busy workers
read 400), the data wait a share from 0 to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = 1


@dataclass(frozen=True)
class GpuSample:
    """One GPU the run uses: ``index`` is its CUDA device index in the run, ``rank`` the
    data-parallel rank that trains on it (None for a one-process run)."""

    index: int
    name: str = ""
    util: float | None = None  # % of the sample period a kernel ran
    mem_used: int | None = None
    mem_total: int | None = None
    power_w: float | None = None
    temp_c: float | None = None
    rank: int | None = None

    @property
    def mem_share(self) -> float | None:
        if self.mem_used is None or not self.mem_total:
            return None
        return self.mem_used / self.mem_total

    def to_json(self) -> dict[str, Any]:
        d = {"i": self.index, "name": self.name, "util": self.util, "mem": self.mem_used, "mem_total": self.mem_total,
             "power": self.power_w, "temp": self.temp_c}
        if self.rank is not None:
            d["rank"] = self.rank
        return {k: v for k, v in d.items() if v is not None and v != ""}

    @classmethod
    def from_json(cls, d: Any) -> "GpuSample | None":
        if not isinstance(d, dict) or not _is_int(d.get("i")):
            return None
        return cls(index=d["i"], name=str(d.get("name") or ""), util=_num(d.get("util")), mem_used=_int(d.get("mem")),
                   mem_total=_int(d.get("mem_total")), power_w=_num(d.get("power")), temp_c=_num(d.get("temp")),
                   rank=_int(d.get("rank")))


@dataclass(frozen=True)
class SystemSample:
    """What the sampler read at time ``t`` (``time.time()``). ``gpu_note`` says why ``gpus`` is
    empty ("no GPU": the run is not on CUDA; or why NVML could not be read)."""

    t: float
    gpus: tuple[GpuSample, ...] = ()
    gpu_note: str = ""
    cpu_percent: float | None = None  # the training process and its children, % of one core
    rss: int | None = None  # the same processes' resident memory, summed (shared pages once per process)
    pss: int | None = None  # their proportional set size: shared pages split among them (Linux; every 30 s)
    ram_used: int | None = None  # the host's
    ram_total: int | None = None
    data_wait: float | None = None  # share of step time spent waiting for the next batch, 0..1
    disk_free: int | None = None  # free bytes under the runs folder

    @property
    def gpu_util(self) -> float | None:
        """The mean utilisation of the run's GPUs (None: no GPU figure)."""
        values = [g.util for g in self.gpus if g.util is not None]
        return sum(values) / len(values) if values else None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"v": FORMAT_VERSION, "t": round(self.t, 3), "gpus": [g.to_json() for g in self.gpus]}
        for key, value in (("gpu_note", self.gpu_note), ("cpu", _round(self.cpu_percent, 1)), ("rss", self.rss),
                           ("pss", self.pss), ("ram", self.ram_used), ("ram_total", self.ram_total),
                           ("data_wait", _round(self.data_wait, 4)), ("disk_free", self.disk_free)):
            if value is not None and value != "":
                d[key] = value
        return d

    @classmethod
    def from_json(cls, d: Any) -> "SystemSample | None":
        """The sample of a parsed line; None when it is not one (no time stamp)."""
        if not isinstance(d, dict) or not _is_num(d.get("t")):
            return None
        gpus = d.get("gpus") if isinstance(d.get("gpus"), list) else []
        return cls(
            t=float(d["t"]),
            gpus=tuple(g for g in (GpuSample.from_json(x) for x in gpus) if g is not None),
            gpu_note=d["gpu_note"] if isinstance(d.get("gpu_note"), str) else "",
            cpu_percent=_num(d.get("cpu")), rss=_int(d.get("rss")), pss=_int(d.get("pss")), ram_used=_int(d.get("ram")),
            ram_total=_int(d.get("ram_total")), data_wait=_num(d.get("data_wait")), disk_free=_int(d.get("disk_free")),
        )


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> float | None:
    return float(v) if _is_num(v) else None


def _int(v: Any) -> int | None:
    return int(v) if _is_num(v) else None


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)
