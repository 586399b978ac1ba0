"""Listing cost of a run with a huge events.jsonl: time and peak memory of `petseg runs`' listing,
the TUI runs table's first poll and the live view's catch-up read.

Writes (once, under --dir) a run whose events.jsonl is ~200 MB: 1.5 M batch events spread over
--epochs epochs, as the old 5-per-second rule could grow in 3.5 days, plus a few small runs.
Each measurement runs in a fresh interpreter (peak RSS via ``ru_maxrss``), next to an empty
runs folder as baseline, so the memory figure is what the log costs, not the imports.

    python bench/large_events_log.py --dir /tmp/big-log            # target: < 1 s, < 100 MB

``--garbage zeros`` measures instead a run whose events.jsonl is a short real log followed by
garbage: ``--garbage-mib`` of zeros (sparse: no disk, one "line" with no newline; 3 GiB kept the
runs table "scanning …" for ~10 s); ``--garbage lines`` appends that many MiB of short lines
that are not JSON (written for real: keep it small).

    python bench/large_events_log.py --dir /tmp/big-log --garbage zeros --garbage-mib 3072
    python bench/large_events_log.py --dir /tmp/big-log --garbage lines --garbage-mib 16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _machine import load  # noqa: E402


def write_large_log(run: Path, batch_events: int = 1_500_000, epochs: int = 1000) -> int:
    """A complete run folder (config, status, events) whose log holds ``batch_events`` batch
    events over ``epochs`` epochs; returns the log's size in bytes. Test helper too."""
    from engine.config import TrainConfig
    from engine.events import BatchProgress, EpochEnded, EpochStarted, RunFinished, RunStarted, event_to_dict

    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(TrainConfig(epochs=epochs).to_dict()))
    t = 1.7e9
    (run / "status.json").write_text(json.dumps({"state": "finished", "created": t, "heartbeat": t,
                                                 "pid": 1, "host": "bench", "message": "done"}))
    per_epoch = max(1, batch_events // epochs)
    with open(run / "events.jsonl", "w", buffering=1 << 20) as fh:
        def put(ev) -> None:
            fh.write(json.dumps(event_to_dict(ev)) + "\n")

        put(RunStarted(run=run.name, total_epochs=epochs, start_epoch=1, train_size=3680, valid_size=368,
                       device="cuda", data="bench", t=t))
        for ep in range(1, epochs + 1):
            put(EpochStarted(epoch=ep, total_epochs=epochs, batches=per_epoch, t=t))
            for b in range(1, per_epoch + 1):
                t += 0.2
                put(BatchProgress(epoch=ep, batch=b, batches=per_epoch, loss=0.5 + 0.1 / b,
                                  images_per_s=412.3 + b % 7, t=t))
            d = 0.5 + ep / (2 * epochs)
            put(EpochEnded(epoch=ep, total_epochs=epochs, train_loss=0.3, train_dice=d, valid_loss=0.31,
                           valid_dice=d, valid_iou=d * 0.8, valid_dice_per_image=d, valid_iou_per_image=d * 0.8,
                           lr=1e-3, seconds=60.0, images_per_s=412.3, best_dice=d, best_epoch=ep, t=t))
        put(RunFinished(epochs=epochs, best_dice=1.0, best_epoch=epochs, seconds=t - 1.7e9, t=t))
    return (run / "events.jsonl").stat().st_size


GARBAGE_LINE = b"x\n"  # the costliest garbage to parse: one failed JSON parse every 2 bytes


def write_garbage_log(run: Path, kind: str, mib: int) -> int:
    """A finished run of 2 epochs whose events.jsonl goes on with ``mib`` MiB of garbage (``kind``
    "zeros": sparse, or "lines"); returns the log's size in bytes."""
    write_large_log(run, batch_events=200, epochs=2)
    log = run / "events.jsonl"
    with open(log, "r+b") as fh:
        if kind == "zeros":
            fh.truncate(fh.seek(0, os.SEEK_END) + (mib << 20))
        else:
            fh.seek(0, os.SEEK_END)
            block = GARBAGE_LINE * ((1 << 20) // len(GARBAGE_LINE))
            for _ in range(mib):
                fh.write(block)
    return log.stat().st_size


PROBES = {
    "petseg runs (RunStore.list_runs)":
        "from engine.runs import RunStore; rows = RunStore(ROOT).list_runs(); n = rows[0].state",
    "TUI runs table, first poll (RunsWatcher)":
        "from petseg_tui.watch import RunsWatcher; changed, _ = RunsWatcher(ROOT).poll(); "
        "n = changed[0].summary.state",
    "TUI live view catch-up (LiveFollower)":
        "from petseg_tui.live_follow import LiveFollower; import pathlib; "
        "s = LiveFollower(pathlib.Path(ROOT) / 'big').snapshot(); n = f'{s.state},{len(s.epochs)}-epochs'",
}


def probe(code: str, root: Path) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, result) of ``code`` in a fresh interpreter, imports done before
    timing. CPU seconds are printed too: on a shared machine they move less than wall time."""
    script = (
        "import resource, time, sys\n"
        "import engine.runs, petseg_tui.watch, petseg_tui.live_follow\n"
        f"ROOT = {str(root)!r}\n"
        "def cpu():\n"
        "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    return r.ru_utime + r.ru_stime\n"
        "t0, c0 = time.perf_counter(), cpu()\n"
        f"{code}\n"
        "dt, dc = time.perf_counter() - t0, cpu() - c0\n"
        "print(dt, dc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, n)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    dt, dc, rss, n = out.stdout.split()
    return float(dt), float(dc), float(rss), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/petseg-bench-large-log"))
    ap.add_argument("--batch-events", type=int, default=1_500_000)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--garbage", choices=("zeros", "lines"), default=None,
                    help="measure a log of garbage instead (a short real log, then --garbage-mib MiB of it)")
    ap.add_argument("--garbage-mib", type=int, default=3072)
    args = ap.parse_args()
    root = args.dir / ("runs" if args.garbage is None else f"garbage-{args.garbage}-{args.garbage_mib}")
    big = root / "big"
    if args.garbage is not None and not (big / "events.jsonl").exists():
        size = write_garbage_log(big, args.garbage, args.garbage_mib)
        print(f"wrote {big / 'events.jsonl'}: {size / 2**20:.0f} MiB, a 2-epoch run then garbage ({args.garbage})")
    elif not (big / "events.jsonl").exists():
        t0 = time.perf_counter()
        size = write_large_log(big, args.batch_events, args.epochs)
        print(f"wrote {big / 'events.jsonl'}: {size / 1e6:.0f} MB, {args.batch_events} batch events, "
              f"{args.epochs} epochs in {time.perf_counter() - t0:.0f} s")
    else:
        print(f"using {big / 'events.jsonl'}: {(big / 'events.jsonl').stat().st_size / 1e6:.0f} MB")
    empty = args.dir / "empty-runs"
    (empty / "big").mkdir(parents=True, exist_ok=True)
    (empty / "big" / "config.json").write_text("{}")
    (empty / "big" / "status.json").write_text('{"state": "finished"}')
    (empty / "big" / "events.jsonl").write_text("")
    for name, code in PROBES.items():
        _, _, base_rss, _ = probe(code, empty)
        dt, dc, rss, n = probe(code, root)
        print(f"{name:42s} {dt:5.2f} s wall, {dc:5.2f} s CPU, peak RSS {rss:4.0f} MB (+{rss - base_rss:3.0f} MB "
              f"over an empty log) [{n}]  {load()}")
    if args.garbage is None:
        print("target: < 1 s and < 100 MB extra for a 200 MB log")


if __name__ == "__main__":
    main()
