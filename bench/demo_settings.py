"""Choosing `petseg demo`'s settings: wall time and real-photo Dice of each candidate.

    .venv/bin/python bench/demo_settings.py [--setting SIZE,WIDTH,EPOCHS,BATCH[,AMP]] ... [--rounds 1]

Each setting runs ``petseg demo`` as a user would (a fresh process with a cold decode cache, the
bundled training sample, ``--runs`` in a temporary folder) and prints its wall and CPU time (CPU
time barely moves with the load; with ``--threads 1`` it is the cost in core-seconds), the Dice on
the sample's test split (photo size, border ignored: the demo's headline) and the mean Dice on
the six bundled demo photos and on those of them not in the training split, with the load
average beside it. AMP is the demo's ``--amp`` (default ``auto``, which the demo uses too): compare
``auto`` with ``off`` before trusting bf16 on a new CPU.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, load  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS = ["96,16,20,8", "96,16,20,8,off", "128,16,12,8", "96,24,15,8", "128,24,10,16"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_demo(size: int, width: int, epochs: int, batch: int, amp: str) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory(prefix="petseg-demo-bench-") as tmp:
        env = dict(os.environ, PETSEG_CACHE=str(Path(tmp) / "cache"), PETSEG_PLAIN_PROGRESS="1",
                   PYTHONPATH=str(REPO))
        env.pop("PETSEG_DATA", None)
        cmd = [sys.executable, "-m", "engine.cli", "demo", "--runs", str(Path(tmp) / "runs"),
               "--image_size", str(size), "--width", str(width), "--epochs", str(epochs), "--batch_size", str(batch), "--amp", amp]
        start, cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
        seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    test = re.search(r"test photos .*?Dice ([0-9.]+)", proc.stdout)
    six = re.search(r"mean Dice ([0-9.]+) on all six", proc.stdout)
    unseen = re.search(r"([0-9.]+) on the \d+ not in training", proc.stdout)
    return {"seconds": seconds, "cpu": cpu, "test": float(test.group(1)) if test else float("nan"),
            "six": float(six.group(1)) if six else float("nan"),
            "unseen": float(unseen.group(1)) if unseen else float("nan")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setting", action="append", default=None, help="SIZE,WIDTH,EPOCHS,BATCH[,AMP]; repeatable")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--threads", type=int, default=None,
                   help="OMP_NUM_THREADS for the demo (default: torch's own choice, all cores). On a "
                        "shared, busy machine 1 thread is far steadier: 2 threads that wait on each other "
                        "at every barrier ran 7x slower than 1 thread at load 7 on 2 cores")
    args = p.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    for r in range(1, args.rounds + 1):
        for setting in args.setting or DEFAULT_SETTINGS:
            parts = setting.split(",")
            size, width, epochs, batch = (int(v) for v in parts[:4])
            amp = parts[4] if len(parts) > 4 else "auto"
            res = run_demo(size, width, epochs, batch, amp)
            label = f"round {r} size {size:4d} width {width:3d} epochs {epochs:3d} batch {batch:3d} amp {amp:4s}"
            if "error" in res:
                print(f"{label}: failed: {res['error']}  [{load()}]", flush=True)
            else:
                print(f"{label}: {res['seconds']:6.1f}s wall {res['cpu']:6.1f}s CPU  test Dice {res['test']:.3f}  demo photos {res['six']:.3f}"
                      f" (not in training {res['unseen']:.3f})"
                      f"  [{load()}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
