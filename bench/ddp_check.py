"""Data-parallel training against one process, as a user runs it: ``petseg train`` with one
process at batch B against ``--devices N`` at batch B/N (the same global batch), same data, seed
and epochs. Prints wall time, the run's img/s (the whole run's) and valid Dice of each.

On a CPU (gloo) this is a correctness run: both see the same images per step, so their Dice
should be close; the speed figure says what gloo costs on this machine, not what GPUs gain.

    python bench/ddp_check.py --devices 2 --epochs 3            # CPU, generated data
    python bench/ddp_check.py --device cuda --devices 8 --data PATH --image_size 256 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train(runs: Path, name: str, devices: int, batch: int, args: argparse.Namespace) -> dict:
    argv = [sys.executable, "-m", "engine.cli", "train", "--runs", str(runs), "--run_name", name,
            "--device", args.device, "--devices", str(devices), "--batch_size", str(batch),
            "--data_path", args.data, "--epochs", str(args.epochs), "--image_size", str(args.image_size),
            "--width", str(args.width), "--workers", "0", "--compile", "off", "--amp", args.amp]
    if args.max_train_images:
        argv += ["--max_train_images", str(args.max_train_images)]
    env = dict(os.environ, PYTHONPATH=str(REPO), PETSEG_PLAIN_PROGRESS="1")
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    events = [json.loads(line) for line in (runs / name / "events.jsonl").read_text().splitlines()]
    epochs = [e for e in events if e["kind"] == "epoch_ended"]
    rates = sorted(e["images_per_s"] for e in epochs[1:] or epochs)  # the first epoch warms up
    return {"processes": devices, "batch": batch, "wall_s": wall, "img_s": rates[len(rates) // 2],
            "best_dice": max(e["valid_dice"] for e in epochs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data", default="@generated")
    p.add_argument("--global_batch", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--image_size", type=int, default=64)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--max_train_images", type=int, default=64)
    p.add_argument("--amp", default="off")
    args = p.parse_args()
    if args.global_batch % args.devices:
        raise SystemExit("--global_batch must be a multiple of --devices")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [train(Path(tmp), "one", 1, args.global_batch, args),
                train(Path(tmp), "ddp", args.devices, args.global_batch // args.devices, args)]
    print(f"{args.device}, {args.data}, {args.image_size} px, UNet w{args.width}, global batch {args.global_batch}, "
          f"{args.epochs} epochs")
    print(f"{'processes':>9} {'batch':>5} {'wall s':>7} {'img/s':>7} {'best valid Dice':>16}")
    for r in rows:
        print(f"{r['processes']:>9} {r['batch']:>5} {r['wall_s']:>7.1f} {r['img_s']:>7.1f} {r['best_dice']:>16.4f}")


if __name__ == "__main__":
    main()
