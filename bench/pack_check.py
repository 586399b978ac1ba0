"""Runs packed on one card (issue 19, item 9): 1, then 2, then 4 identical small ``petseg train``
runs started together on the same device, as ``petseg sweep --devices 0 --per_device K`` packs
its trials. Prints each K's img/s per run and in total (each run's median epoch img/s, the runs
table's figure), the total against one run alone, and how long the K runs trained side by side:
when packing runs on a card pays.

    python bench/pack_check.py --device cuda --data .devdata/oxford-pet-sample        # a GPU box
    python bench/pack_check.py --device cpu --data @generated --counts 1,2 --epochs 2 \
        --image_size 64 --width 4 --max_train_images 24                               # CPU smoke

Every run is a real ``petseg train`` child (on a CPU each gets its share of the cores, as a
sweep's parallel trials do: `engine.cores.threads_env`). A figure is trustworthy only where the
K runs overlapped for most of their training: the "side by side" column says how long they did.
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
sys.path.insert(0, str(REPO))


def train_argv(runs: Path, name: str, args: argparse.Namespace) -> list[str]:
    """One packed run's command line: the same small run for every K."""
    argv = [sys.executable, "-m", "engine.cli", "train", "--runs", str(runs), "--run_name", name,
            "--device", args.device, "--epochs", str(args.epochs), "--image_size", str(args.image_size),
            "--model", args.model, "--width", str(args.width), "--batch_size", str(args.batch_size),
            "--workers", str(args.workers), "--compile", "off", "--checkpoint_interval", "0"]
    if args.data:
        argv += ["--data_path", args.data]
    if args.max_train_images:
        argv += ["--max_train_images", str(args.max_train_images)]
    return argv


def pack(runs: Path, k: int, args: argparse.Namespace, prefix: str = "pack") -> dict:
    """K runs started together on the one device; their img/s and how long they trained side by side."""
    from engine.cores import threads_env
    from engine.events import EpochStarted, RunFailed, RunFinished, RunStopped
    from engine.runs import RunStore, read_events

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if args.device == "cpu":
        env.update(threads_env(k))
    names = [f"{prefix}{k}-{i}" for i in range(k)]
    t0 = time.perf_counter()
    children = [subprocess.Popen(train_argv(runs, name, args), env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.STDOUT) for name in names]
    codes = [child.wait() for child in children]
    wall = time.perf_counter() - t0
    summaries = {s.name: s for s in RunStore(runs).list_runs()}
    rates, starts, ends = [], [], []
    for name in names:
        summary = summaries.get(name)
        if summary is None or summary.images_per_s is None:
            continue
        rates.append(summary.images_per_s)
        events = read_events(summary.path / "events.jsonl")
        first = [e.t for e in events if isinstance(e, EpochStarted)]
        last = [e.t for e in events if isinstance(e, (RunFinished, RunStopped, RunFailed))]
        if first and last:
            starts.append(min(first))
            ends.append(max(last))
    trained = [end - start for start, end in zip(starts, ends)]
    overlap = max(0.0, min(ends) - max(starts)) if len(starts) == k else 0.0
    return {"k": k, "exit_codes": codes, "per_run": rates, "total": sum(rates) if len(rates) == k else None,
            "side_by_side_s": overlap, "shortest_run_s": min(trained) if trained else None, "wall_s": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (cuda:0: one card) or cpu (a smoke of the same path)")
    ap.add_argument("--counts", default="1,2,4", help="how many runs share the device, each count in turn")
    ap.add_argument("--data", default=None, help="dataset (default: petseg's own; @generated: synthetic)")
    ap.add_argument("--model", default="unet")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--image_size", type=int, default=128)
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4, help="DataLoader workers per run (0 on a small CPU)")
    ap.add_argument("--max_train_images", type=int, default=None)
    ap.add_argument("--runs", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    runs = args.runs or Path(tempfile.mkdtemp(prefix="pack-check-"))
    print(f"[load {'/'.join(f'{x:.2f}' for x in os.getloadavg())} at the start] device {args.device}, "
          f"{args.model} width {args.width}, {args.image_size} px, batch {args.batch_size}, {args.epochs} epochs, "
          f"{args.workers} workers, data {args.data or 'petseg default'}")
    # one unmeasured run first: it fills the decoded-data cache and the --amp auto probe's cached
    # answer, which the measured runs then read (the first K=1 run paid both: 30 img/s against 225)
    pack(runs, 1, argparse.Namespace(**{**vars(args), "epochs": 1}), prefix="warm")
    rows = []
    for k in counts:
        row = pack(runs, k, args)
        rows.append(row)
        alone = rows[0]["total"] if rows[0]["k"] == 1 else None
        gain = f"{row['total'] / alone:.2f}x one run" if alone and row["total"] else "—"
        per_run = ", ".join(f"{r:.1f}" for r in row["per_run"]) or "—"
        total = f"{row['total']:.1f}" if row["total"] is not None else "— (a run failed: exit codes "
        total += "" if row["total"] is not None else f"{row['exit_codes']})"
        print(f"{k} at once: img/s per run {per_run}; total {total} ({gain}); side by side "
              f"{row['side_by_side_s']:.1f} s of the shortest run's {row['shortest_run_s'] or 0:.1f} s; "
              f"wall {row['wall_s']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(f"[load {'/'.join(f'{x:.2f}' for x in os.getloadavg())} at the end] runs: {runs}")
    return 0 if all(r["total"] is not None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
