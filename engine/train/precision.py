"""``--amp auto`` on a CPU: bf16 or fp32, decided by timing the run's own model, not by CPU flags.

Why measure: "has bf16 instructions" does not mean "bf16 is faster": on one CPU with
AVX512-BF16 bf16 more than doubled a UNet step's speed, on another it was slower than fp32
(docs/PERFORMANCE.md, "CPU precision"). So `cpu_autocast_dtype` times a few training steps (forward,
BCE+Dice, backward, Adam) of the actual architecture at the run's image size, memory format and
batch size, once in fp32 and once under bf16 autocast, in CPU time (see `probe`), and picks bf16
only if it is clearly cheaper (`BF16_MARGIN`). A CPU without bf16 instructions (bf16 emulated: always
slower) is not probed.

The result is cached in ``<cache root>/amp-probe.json`` (``$PETSEG_CACHE``, else
``~/.cache/petseg``: per user, not per machine) under a key made of the CPU model name, a hash of
its feature flags, the torch version, the thread count and the model/size/format/batch, so each
such combination measures once (a few training steps; two machines with the same CPU sharing a
home share it too) and every run records in its config.json what was decided and from which
timings. `KEYED_ON` says that key in words, for the line the probe prints.
"""

from __future__ import annotations

import hashlib
import json
import platform
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch

from engine.atomic import atomic_write
from engine.config import FULL_PRECISION
from engine.data.dirs import cache_root

BF16_MARGIN = 0.9  # bf16 is chosen when its step takes at most this share of the fp32 step
PROBE_WARMUP = 1
PROBE_STEPS = 3  # timed steps per precision, in turns
CACHE_FILE = "amp-probe.json"
_lock = threading.Lock()
# the probe key (`machine_key` and `cpu_autocast_dtype`'s key) in words: the probe's line said
# "once per machine", but the cache is a file of the user's, keyed on these, never on the host
KEYED_ON = "CPU model, torch version, thread count, model, image size, memory format and batch size"


def _cpuinfo() -> tuple[str, list[str]]:
    """(model name, feature flags) of the first CPU in /proc/cpuinfo (x86 or Arm spelling)."""
    model: str | None = None
    flags: list[str] | None = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if model is None and line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif flags is None and line.startswith(("flags", "Features")):
                flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    return model or platform.processor() or "unknown CPU", flags or []


def cpu_has_bf16_instructions() -> bool:
    """AVX512-BF16 or AMX (torch's own probes); without either, bf16 is emulated on the CPU."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(torch.cpu, name)()) for name in probes if hasattr(torch.cpu, name))
    except Exception:  # private probes: a torch without them must still train (in fp32)
        return False


def machine_key() -> str:
    """CPU model, feature-flag hash, torch version and thread count: what the timings depend on."""
    model, flags = _cpuinfo()
    digest = hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:12]
    return f"{model} | flags {digest} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def _step_fn(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, dtype: torch.dtype | None) -> Callable[[], None]:
    from engine.train.losses import BCEDiceLoss

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    criterion = BCEDiceLoss()

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            loss = criterion(model(images), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def probe(build: Callable[[], torch.nn.Module], image_size: int, channels_last: bool, batch_size: int) -> dict[str, Any]:
    """Time a training step of ``build()`` in fp32 and under bf16 autocast: both warmed up, then
    timed in turns (fp32, bf16, fp32, ...), keeping each one's fastest step.

    The steps run on ONE intra-op thread and the decision uses that thread's CPU time per step
    (``fp32_ms``, ``bf16_ms``), not the wall clock (``wall_*_ms``, recorded too): on a machine
    shared with other work the wall clock mostly measures who else was running, and with several
    threads a descheduled one makes the others spin at every barrier; one thread's CPU time is
    what the step costs, and bf16 against fp32 is a per-core ratio. At the
    run's own batch size: autocast re-casts every weight each step whatever the batch, so a
    smaller probe batch would make bf16 look worse than it is (docs/PERFORMANCE.md, "CPU
    precision")."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    g = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, 3, image_size, image_size, generator=g).contiguous(memory_format=fmt)
    masks = (torch.rand(batch_size, 1, image_size, image_size, generator=g) > 0.5).float()
    steps = {name: _step_fn(build().to(memory_format=fmt).train(), images, masks, dtype)
             for name, dtype in ((FULL_PRECISION, None), ("bf16", torch.bfloat16))}
    cpu = {name: float("inf") for name in steps}
    wall = dict(cpu)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, step in steps.items():
            for _ in range(PROBE_WARMUP):
                step()
        for _ in range(PROBE_STEPS):
            for name, step in steps.items():
                c0, t0 = time.thread_time(), time.perf_counter()
                step()
                cpu[name] = min(cpu[name], time.thread_time() - c0)
                wall[name] = min(wall[name], time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    result: dict[str, Any] = {f"{name}_ms": round(sec * 1000, 2) for name, sec in cpu.items()}
    result.update({f"wall_{name}_ms": round(sec * 1000, 2) for name, sec in wall.items()})
    full = result[f"{FULL_PRECISION}_ms"]
    result["choice"] = "bf16" if result["bf16_ms"] <= BF16_MARGIN * full else FULL_PRECISION
    return result


def cpu_autocast_dtype(
    model_name: str,
    width: int,
    image_size: int,
    channels_last: bool,
    batch_size: int,
    *,
    cache_dir: Path | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> tuple[torch.dtype | None, dict[str, Any]]:
    """(bf16 or None for fp32, the record for config.json) for ``--amp auto`` on this CPU."""
    if not cpu_has_bf16_instructions():
        return None, {"choice": FULL_PRECISION, "reason": "no bf16 instructions (AVX512-BF16/AMX) on this CPU"}
    from engine.models import build_model

    key = (f"{machine_key()} | {model_name} width {width} | {image_size} px | "
           f"{'channels_last' if channels_last else 'contiguous'} | batch {batch_size}")
    path = (cache_dir or cache_root()) / CACHE_FILE
    with _lock:
        cached = _read(path).get(key)
        if isinstance(cached, dict) and cached.get("choice") in ("bf16", FULL_PRECISION):
            record = dict(cached, key=key, cached=True)
        else:
            log(f"amp auto: timing fp32 against bf16 on this CPU (once per {KEYED_ON}; kept in {path})")
            state = torch.random.get_rng_state()  # the probe must not move the run's seeded stream
            try:
                record = probe(lambda: build_model(model_name, width=width), image_size, channels_last, batch_size)
            finally:
                torch.random.set_rng_state(state)
            record["measured"] = time.time()
            _write(path, key, record)
            record = dict(record, key=key, cached=False)
    log(f"amp auto: {record['choice']} (step CPU time {FULL_PRECISION} {record[f'{FULL_PRECISION}_ms']:.0f} ms, "
        f"bf16 {record['bf16_ms']:.0f} ms"
        + (", cached" if record["cached"] else "") + ")")
    return (torch.bfloat16 if record["choice"] == "bf16" else None), record


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, key: str, record: dict[str, Any]) -> None:
    """Merge one entry in; a cache that cannot be written only costs a probe next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read(path)
        data[key] = record
        text = json.dumps(data, indent=1, sort_keys=True).encode()
        atomic_write(path, lambda fh: fh.write(text))
    except OSError:
        pass
