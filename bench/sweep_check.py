"""A sweep as a user runs it, measured: a random search of tiny real runs, N at once, with median
pruning. Prints the wall time, the epochs pruning saved, and the scheduler's gap between one
trial ending and the next starting (as the loop saw it, and from the ended run's last event to
the next child's start).

    python bench/sweep_check.py                     # CPU: 6 trials, 2 at once, the bundled real sample
    python bench/sweep_check.py --trials 12 --parallel 4 --data PATH --image_size 128 --epochs 10

Every trial is a real ``petseg train`` child (`engine.sweep.scheduler`), in a temporary runs folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--image_size", type=int, default=64)
    ap.add_argument("--max_train_images", type=int, default=48)
    ap.add_argument("--prune_warmup", type=int, default=1, help="epochs never pruned on (petseg sweep's default: 1)")
    ap.add_argument("--data", default=None, help="dataset (default: the bundled real sample); @generated: synthetic")
    ap.add_argument("--runs", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    args = ap.parse_args()
    import os

    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    from engine.events import RunFinished, RunStopped
    from engine.runs import RunStore, read_events
    from engine.sweep.scheduler import Scheduler
    from engine.sweep.spec_build import build_spec
    from engine.sweep.study import RUN_ATTR, SPAWNED_ATTR, open_study

    runs = args.runs or Path(tempfile.mkdtemp(prefix="sweep-check-"))
    base = {"epochs": args.epochs, "image_size": args.image_size, "batch_size": 8, "workers": 0, "device": "cpu",
            "max_train_images": args.max_train_images, "compile": "off", "checkpoint_interval": 0.0}
    if args.data:
        base["data_path"] = args.data
    spec = build_spec({"name": "check", "trials": args.trials, "parallel": args.parallel, "sampler": "random",
                       "prune": "median", "prune_warmup": args.prune_warmup, "eval_best": False, "base": base,
                       "params": ["learning_rate=log:1e-5:1e-2", "width=choice:4,8,16"]})
    study = open_study(spec, runs)
    print(f"[load {'/'.join(f'{x:.2f}' for x in os.getloadavg())} at the start]")
    t0 = time.perf_counter()
    stats = Scheduler(spec, runs, study, log=lambda m: print(f"  {time.perf_counter() - t0:6.1f}s {m}")).run()
    wall = time.perf_counter() - t0

    summaries = {s.name: s for s in RunStore(runs).list_runs()}
    ends, spawns = [], []
    run_epochs = planned = 0
    for t in study.get_trials():
        s = summaries.get(t.user_attrs.get(RUN_ATTR, ""))
        if s is None:
            continue
        run_epochs += s.epoch
        planned += args.epochs
        spawns.append(t.user_attrs[SPAWNED_ATTR])
        terminal = [e.t for e in read_events(s.path / "events.jsonl") if isinstance(e, (RunFinished, RunStopped))]
        if terminal:
            ends.append(terminal[-1])
    event_gaps = []
    for spawn in sorted(spawns)[args.parallel:]:  # each later trial waited for a slot: its gap
        before = [e for e in ends if e <= spawn]
        if before:
            event_gaps.append(spawn - max(before))
    states = {}
    for t in study.get_trials():
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    print(f"sweep: {args.trials} trials, {args.parallel} at once, {args.epochs} epochs each (pruning from epoch "
          f"{args.prune_warmup + 1}), "
          f"{args.image_size} px, {args.max_train_images} train images, data {args.data or 'bundled real sample'}")
    print(f"wall time {wall:.1f} s; trials {states}")
    print(f"epochs trained {run_epochs} of {planned} planned: pruning saved {planned - run_epochs} "
          f"({(planned - run_epochs) / max(planned, 1):.0%})")
    if stats.gaps:
        print(f"scheduler gap (process end seen -> next child started): max {max(stats.gaps):.3f} s, "
              f"mean {sum(stats.gaps) / len(stats.gaps):.3f} s over {len(stats.gaps)}")
    if event_gaps:
        print(f"ended run's last event -> next child started: max {max(event_gaps):.2f} s, "
              f"mean {sum(event_gaps) / len(event_gaps):.2f} s (includes the ended child's exit)")
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} logical cores [load {load} at the end]")
    best = study.best_trial
    print(f"best: trial {best.number} valid Dice {best.value:.4f} {best.params}")
    print(f"runs: {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
