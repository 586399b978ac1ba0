"""What the live screen costs while a real run trains: the app's CPU and its key-to-redraw latency.

    python bench/tui_cost.py [--seconds 20] [--presses 30] [--size 160x48]

Method. A real training run (`petseg train` on the generated data, CPU, 64 px, width 8; it
uses both cores like any CPU run) is started in another process. The dashboard is started in
a tmux pane (a real terminal, the real driver; `petseg-tui --runs <tmp>`), opened on that run
with Enter, and measured from outside with psutil:

* **CPU**: the CPU seconds of the app's process (all its threads: UI, poll worker) over
  ``--seconds`` of wall time while nobody presses a key, as % of one core.
* **CPU per key press**: the CPU the key phase used beyond the no-key rate, per press; unlike
  the latency it does not depend on how busy the machine is.
* **key to redraw**: ``--presses`` presses of `l` (log-y on/off, which redraws the loss chart)
  about 0.6 s apart; each is timed from `tmux send-keys` until `tmux capture-pane` shows the
  chart's header flipped ("log y" in it or not), polled every 10 ms. This is what the user sees:
  the key read, the screen's work, the frame written to the terminal.
* **chart builds**: with ``--headless`` the same run is shown in `App.run_test()` (in this
  process, so plotext's work can be counted, `ChartPlot._build`): how many times per second
  each chart built its plot, how many of those builds had the same data and size as the one
  before (wasted), and the shortest time between two builds (the 2 Hz cap: >= 0.5 s).

The figures depend on the machine's load (printed after them): the training process competes
for the same cores, which is the point.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _machine import load  # noqa: E402

PY = sys.executable


def start_training(runs: Path, name: str = "cost", threads: int | None = None,
                   images: int = 64) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if threads:  # the run's torch threads (OMP_NUM_THREADS): 1 leaves a core to the dashboard
        env["OMP_NUM_THREADS"] = str(threads)
    argv = [PY, "-m", "engine.cli", "train", "--data_path", "@generated", "--device", "cpu", "--image_size", "64",
            "--width", "8", "--batch_size", "8", "--max_train_images", str(images), "--workers", "0", "--epochs", "400",
            "--amp", "off", "--runs", str(runs), "--run_name", name]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_epochs(run: Path, n: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (run / "events.jsonl").read_text().count('"epoch_ended"') >= n:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{run}: fewer than {n} epochs after {timeout:.0f} s")


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def measure_tmux(runs: Path, seconds: float, presses: int, size: tuple[int, int]) -> dict[str, float]:
    import psutil

    session = f"tuicost{os.getpid()}"
    cmd = f"cd {ROOT} && PYTHONPATH={ROOT} exec {PY} -m petseg_tui --runs {runs}"
    tmux("new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]), cmd)
    try:
        proc = psutil.Process(int(tmux("display", "-p", "-t", session, "#{pane_pid}").strip()))

        def screen() -> str:
            return tmux("capture-pane", "-p", "-t", session)

        def until(cond, timeout: float = 60.0) -> str:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                text = screen()
                if cond(text):
                    return text
                time.sleep(0.01)
            raise TimeoutError("the dashboard did not show what was expected:\n" + screen())

        until(lambda s: "cost" in s)
        tmux("send-keys", "-t", session, "Enter")
        until(lambda s: "Loss" in s and "epoch" in s.lower())
        time.sleep(3.0)  # settle: first frames, imports
        c0, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc.cpu_times(), time.monotonic()
        idle_cpu = 100 * ((c1.user + c1.system) - (c0.user + c0.system)) / (t1 - t0)
        lat: list[float] = []
        c0, t0 = proc.cpu_times(), time.monotonic()
        def log_y_shown(text: str) -> bool:  # "log y" in a chart header (the top rows)
            return "log y" in "\n".join(text.splitlines()[:8])

        for _ in range(presses):
            before = log_y_shown(screen())
            s0 = time.monotonic()
            tmux("send-keys", "-t", session, "l")
            until(lambda s, before=before: log_y_shown(s) != before, timeout=10)
            lat.append(time.monotonic() - s0)
            time.sleep(0.6)
        c1, t1 = proc.cpu_times(), time.monotonic()
        keys_cpu = 100 * ((c1.user + c1.system) - (c0.user + c0.system)) / (t1 - t0)
        per_key = (keys_cpu - idle_cpu) / 100 * (t1 - t0) / presses  # CPU seconds a press adds
        return {"cpu_idle": idle_cpu, "cpu_keys": keys_cpu, "per_key": per_key * 1000, "p50": pct(lat, 0.5) * 1000,
                "p95": pct(lat, 0.95) * 1000, "max": max(lat) * 1000}
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


async def measure_headless(runs: Path, seconds: float) -> dict[str, float]:
    """Chart rebuilds per second (and those with unchanged data) in `App.run_test()`."""
    from petseg_tui.app import PetsegApp
    from petseg_tui.widgets.charts import ChartPlot

    builds: dict[str, list] = {}
    times: dict[str, list[float]] = {}
    original = ChartPlot._build

    def counting(self, spec, yr, width, height, theme):  # plotext's build: the costly part of a chart
        cid = getattr(self.parent, "id", None) or "?"
        builds.setdefault(cid, []).append((spec, width, height))
        times.setdefault(cid, []).append(time.monotonic())
        return original(self, spec, yr, width, height, theme)

    ChartPlot._build = counting
    try:
        app = PetsegApp(runs_dir=runs)
        async with app.run_test(size=(160, 48)) as pilot:
            while not getattr(app.screen, "loaded", False):
                await pilot.pause(0.1)
            await pilot.press("enter")
            await pilot.pause(3.0)
            builds.clear()
            times.clear()
            t0 = time.monotonic()
            await pilot.pause(seconds)
            span = time.monotonic() - t0
            out = {}
            for cid, specs in sorted(builds.items()):
                same = sum(1 for a, b in zip(specs, specs[1:]) if a == b)
                gaps = [b - a for a, b in zip(times[cid], times[cid][1:])]
                out[f"{cid} builds/s"] = len(specs) / span
                out[f"{cid} same data as the build before"] = same
                out[f"{cid} shortest gap s"] = min(gaps) if gaps else float("nan")
            return out
    finally:
        ChartPlot._build = original


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of CPU measurement with no key pressed")
    p.add_argument("--presses", type=int, default=30, help="key presses timed")
    p.add_argument("--size", default="160x48", help="terminal size, COLSxROWS")
    p.add_argument("--headless", action="store_true", help="also count chart rebuilds in App.run_test()")
    p.add_argument("--train_threads", type=int, default=None,
                   help="the run's torch threads (default: torch's, every core; 1 leaves a core to the dashboard, "
                        "as a GPU run's single training thread does)")
    p.add_argument("--train_images", type=int, default=64,
                   help="training images per epoch (more: longer epochs, fewer chart and preview updates)")
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    if shutil.which("tmux") is None:
        sys.exit("tui_cost.py: tmux is not installed (the dashboard is measured in a tmux pane)")
    with tempfile.TemporaryDirectory(prefix="petseg-cost-") as tmp:
        runs = Path(tmp)
        train = start_training(runs, threads=args.train_threads, images=args.train_images)
        try:
            wait_epochs(runs / "cost", 3)
            r = measure_tmux(runs, args.seconds, args.presses, size)
            epochs = (runs / "cost" / "events.jsonl").read_text().count('"epoch_ended"')
            threads = f"{args.train_threads} torch thread(s)" if args.train_threads else "torch's default threads"
            print(f"live screen {args.size}, a CPU run training beside it ({threads}, {args.train_images} images an "
                  f"epoch; {epochs} epochs so far):")
            print(f"  app CPU, no keys: {r['cpu_idle']:.1f} % of a core; while keys are pressed: {r['cpu_keys']:.1f} % "
                  f"(~{r['per_key']:.0f} ms of CPU per press)")
            print(f"  key to redraw ({args.presses} presses of l): p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms, "
                  f"max {r['max']:.0f} ms")
            if args.headless:
                import asyncio

                h = asyncio.run(measure_headless(runs, args.seconds))
                print("  chart rebuilds (headless): " + ", ".join(
                    f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in h.items()))
        finally:
            train.terminate()
            try:
                train.wait(30)
            except subprocess.TimeoutExpired:
                train.kill()
    print(load())


if __name__ == "__main__":
    main()
