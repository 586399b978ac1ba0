"""One command for a GPU box: throughput, a real 30-epoch run, eval, inference, exit times: one table.

    python bench/gpu_check.py --out OUT [--work /tmp/gpu-check] [--data .devdata/oxford-pet-sample] [--budget 345]
    python bench/gpu_check.py --out OUT --phases train,eval,compile --train_compile reduce-overhead --budget 540
    python bench/gpu_check.py --out /tmp/smoke --smoke --budget 1200  # tiny sizes on the CPU (~10 min
                                                                      # on 2 busy cores, compiling most of it)

Phases, each a fresh process with its own time limit (a slow phase cannot eat the others'
time), in this order, partial results printed as each one ends (``--phases`` picks some by the
name in brackets; ``--train_compile MODE`` compiles phase 2's whole run):

0. [sync] ``bench/sync_check.py``: a few training steps on the device data path with CUDA's sync debug
   mode set to "error" (no step may make the host wait for the GPU);
1. [throughput] compile off: ``bench/train_throughput.py`` for UNet width 64 and ResNet34-UNet at
   256 px, engine (a) against model-only (c), batch 32, 64 and 128, with MFU;
2. [train] ``petseg train`` for 30 epochs on the real sample at 256 px (defaults: UNet-64, batch 16):
   seconds from its ``finished`` line to the process's exit, and the share of wall time from its
   first batch to ``finished`` spent in training steps (``engine.train.run_timing``, from its events),
   and what its system sampler recorded (``system.jsonl``: NVML's GPU figures, issue 20);
3. [eval] ``petseg eval`` of that run on the test split (Dice, IoU, exit time);
4. [inference] latency of that run's best.pt (``bench/infer_latency.py``);
5. [exit] the worker data path's exit (``--augment_on cpu --workers 4``: pinned memory + persistent
   workers, the pair that hung on an H200);
6. [ddp] ``bench/ddp_overhead.py`` for both models: the data-parallel wrapper at world size 1 against
   the plain model (issue 18's <= 3 % goal), the per-batch agreement a data-parallel run adds, and
   the gradient all-reduce alone; it also starts the engine's NCCL process group once;
7. [compile] throughput of every torch.compile mode at batch 32, UNet then ResNet34-UNet, in the time
   left (the modes that did not fit are marked so), and of compile off if phase 1 did not measure it.

Then ONE table, also written to ``OUT/gpu_check.md`` (and ``OUT/gpu_check.json``), with the
targets next to the figures and the measured rule for ``engine.train.compile.AUTO_CUDA``.
Needs: torch, torchvision, numpy, pillow, albumentations (+ opencv-python-headless and its other
dependencies); rich and textual are not needed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))  # engine.train.run_timing and engine.runs (no torch) read each run's files here

from engine.runs import checkpoint_path  # noqa: E402  (after the path insert)

# --phases names, in the order they run (the numbered list of the module docstring)
PHASES = ("sync", "throughput", "train", "eval", "inference", "exit", "ddp", "compile")
from _gpu_report import COMPILE_MODES, TARGETS, recommend_auto, table  # noqa: E402,F401  (the report: bench/_gpu_report.py)


# The lines each phase's output is read by (the engine's own wording: tests/bench/test_gpu_check_figures.py
# feeds these what the real code prints, so a reworded line fails a test, not the GPU call)
TRAIN_DONE = "finished:"  # petseg train's last line (engine.cli.progress), where its exit clock starts
EVAL_DONE = "test Dice"  # petseg eval's headline, its last line


def sync_verdict(lines: list[str]) -> str | None:
    """`bench/sync_check.py`'s verdict: "passed, ...", "FAILED, ..." or "skipped (...)"."""
    return next((line.split(":", 1)[1].strip() for line in lines
                 if line.startswith("sync check: ") and ("passed" in line or "FAILED" in line or "skipped" in line)), None)


def train_figures(lines: list[str]) -> dict[str, Any]:
    """The best valid Dice and its epoch, from `petseg train`'s ``finished:`` line."""
    for line in lines:
        m = re.match(re.escape(TRAIN_DONE) + r" best valid Dice ([0-9.]+) at epoch (\d+)", line)
        if m:
            return {"best_dice": float(m.group(1)), "best_epoch": int(m.group(2))}
    return {}


def run_figures(run: Path) -> dict[str, Any]:
    """Where a finished run's wall time went (`engine.train.run_timing`, from its events) and what
    its config.json says it resolved (data path, precision, compile mode)."""
    from engine.errors import RunStoreError
    from engine.runs.layout import read_run_config
    from engine.train.run_timing import run_time_breakdown

    out: dict[str, Any] = {}
    b = run_time_breakdown(run)
    if b is not None:
        out.update(train_share=round(b.train_share, 3), wall_s=round(b.wall, 2), train_s=round(b.train, 2),
                   valid_s=round(b.valid, 2), checkpoint_snapshot_s=round(b.checkpoint_snapshots, 3),
                   checkpoint_write_s=round(b.checkpoint_writes, 2), other_s=round(b.other, 2), epochs=b.epochs)
    out["system"] = system_figures(run)
    try:
        config = read_run_config(run)
    except RunStoreError:  # no config.json, or not a JSON object (a run that never got going)
        return out
    out["resolved"] = {k: config.get(k) for k in ("device_resolved", "amp_resolved", "augment_on_resolved",
                                                   "compile_resolved", "data_placement")}
    return out


def system_figures(run: Path) -> dict[str, Any]:
    """What the run's system sampler recorded (issue 20: NVML and psutil, checked for real only on a
    GPU box): how many samples, how many with GPU figures, and their GPU utilisation, memory,
    power and temperature; else the note it wrote instead ("no GPU", NVML's error)."""
    from statistics import fmean

    from engine.runs.system_log import read_system

    samples = read_system(run)
    gpus = [g for s in samples for g in s.gpus]

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(fmean(known), 1) if known else None

    mem = [g.mem_used for g in gpus if g.mem_used is not None]
    temps = [g.temp_c for g in gpus if g.temp_c is not None]
    return {"samples": len(samples), "gpu_samples": sum(1 for s in samples if s.gpus),
            "gpus": len({g.index for g in gpus}), "note": samples[-1].gpu_note if samples else "",
            "util_mean": mean([g.util for g in gpus]), "power_mean_w": mean([g.power_w for g in gpus]),
            "temp_max_c": max(temps) if temps else None,
            "mem_peak_gib": round(max(mem) / (1 << 30), 2) if mem else None,
            "mem_total_gib": round(gpus[-1].mem_total / (1 << 30), 1) if gpus and gpus[-1].mem_total else None,
            "cpu_mean": mean([s.cpu_percent for s in samples])}


def eval_figures(lines: list[str]) -> dict[str, Any]:
    """The test split's size and headline Dice / IoU (and where they were scored) from `petseg eval`."""
    out: dict[str, Any] = {}
    for line in lines:
        m = re.match(r"test: (\d+) images", line)
        if m:
            out["images"] = int(m.group(1))
        m = re.match(EVAL_DONE + r" ([0-9.]+)\s+IoU ([0-9.]+).*? at (.*)$", line)  # the headline
        if m:
            out.update(dice=float(m.group(1)), iou=float(m.group(2)), scored=m.group(3))
    return out


def inference_figures(lines: list[str]) -> dict[str, Any]:
    """PyTorch's p50 / p95 over the demo photos and p50 of the large photo, from the rows
    `bench/infer_latency.py` prints (each starts with its backend: "pytorch", "onnxruntime")."""
    out: dict[str, Any] = {}
    for line in lines:
        m = re.match(r"\s*pytorch\s+demo photos \(all \d+\): p50 ([0-9.]+) ms\s+p95 ([0-9.]+) ms", line)
        if m:
            out.update(p50_ms=float(m.group(1)), p95_ms=float(m.group(2)))
        m = re.match(r"\s*pytorch\s+large_(\S+)\.jpg\s+\S+\s+p50\s+([0-9.]+) ms\s+p95\s+([0-9.]+) ms", line)
        if m:
            out.update(large=m.group(1), large_p50_ms=float(m.group(2)), large_p95_ms=float(m.group(3)))
    return out


@dataclass
class Sizes:
    """What each phase runs: the real check, or the CPU smoke test of the same code paths."""

    device: str
    image_size: int
    unet_width: int
    batch_sizes: str
    compile_batch: int
    steps: int
    warmup: int
    compile_steps: int
    compile_warmup: int
    epochs: int
    workers: int
    train_extra: list[str] = field(default_factory=list)
    infer_runs: int = 20
    large: str = "4000x3000"
    compile_modes: tuple[str, ...] = COMPILE_MODES
    augment_on: str = "auto"  # the train phase's data path (the exit phase's is the workers')
    ddp: list[str] = field(default_factory=list)  # the ddp phase's sizes (bench/ddp_overhead.py flags)


REAL = Sizes(device="cuda", image_size=256, unet_width=64, batch_sizes="32,64,128", compile_batch=32, steps=30,
             warmup=10, compile_steps=20, compile_warmup=5, epochs=30, workers=8,
             ddp=["--batch_size", "32", "--amp", "bf16", "--warmup", "5", "--steps", "10", "--rounds", "5"])
# the smoke's train phase takes the GPU's data path too (auto picks it on CUDA only)
SMOKE = Sizes(device="cpu", image_size=64, unet_width=8, batch_sizes="4,8", compile_batch=4, steps=2, warmup=1,
              compile_steps=2, compile_warmup=2, epochs=3, workers=2, train_extra=["--max_train_images", "32", "--width", "8"],
              infer_runs=3, large="800x600", compile_modes=("default",), augment_on="device",
              ddp=["--batch_size", "4", "--amp", "off", "--warmup", "1", "--steps", "2", "--rounds", "2"])


class Check:
    """Runs the phases, keeps the results, prints them as they come."""

    def __init__(self, out: Path, work: Path, data: str, sizes: Sizes, budget: float, smoke: bool) -> None:
        self.out, self.data, self.sizes, self.smoke = out, data, sizes, smoke
        self.runs = work / "runs"  # checkpoints (hundreds of MB): kept out of OUT
        self.deadline = time.monotonic() + budget
        self.started = time.time()
        self.results: dict[str, Any] = {"phases": {}, "throughput": []}
        self.env = dict(os.environ)
        self.env.update(PYTHONPATH=os.pathsep.join([str(REPO), self.env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                        PETSEG_CACHE=str(work / "cache"), PETSEG_PLAIN_PROGRESS="1", PYTHONUNBUFFERED="1")
        self.env.pop("PETSEG_RUNS", None)
        (out / "logs").mkdir(parents=True, exist_ok=True)

    # ---- running one process ------------------------------------------------------------------
    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, name: str, argv: list[str], limit: float, done_line: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """Run ``python ARGV`` with a time limit, echoing and logging its output. Returns
        {code, seconds, timed_out, lines, exit_after_s (from the first ``done_line`` to exit)}."""
        limit = max(0.0, min(limit, self.left()))
        if limit < 5:
            return {"code": None, "seconds": 0.0, "timed_out": True, "lines": [], "skipped": "no time left"}
        log = open(self.out / "logs" / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") + ".log"), "w")
        print(f"\n=== {name} (limit {limit:.0f} s): {' '.join(argv)}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.env, cwd=REPO, start_new_session=True)
        lines: "queue.Queue[tuple[float, str | None]]" = queue.Queue()

        def read() -> None:
            for line in proc.stdout:
                lines.put((time.monotonic(), line.rstrip("\n")))
            lines.put((time.monotonic(), None))

        threading.Thread(target=read, daemon=True).start()
        seen: list[str] = []
        done_at = None
        timed_out = False
        while True:
            try:
                at, line = lines.get(timeout=max(0.05, t0 + limit - time.monotonic()))
            except queue.Empty:
                timed_out = True
                break
            if line is None:
                break
            seen.append(line)
            log.write(line + "\n")
            print(f"  | {line}", flush=True)
            if done_at is None and done_line is not None and done_line(line):
                done_at = at
        if timed_out:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the whole group: DataLoader workers too
            except ProcessLookupError:
                pass
        try:
            code = proc.wait(timeout=max(1.0, t0 + limit + 10 - time.monotonic()))
        except subprocess.TimeoutExpired:  # output closed but the process lingers: that is a hang
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        exited = time.monotonic()
        log.close()
        result = {"code": code, "seconds": round(exited - t0, 1), "timed_out": timed_out, "lines": seen}
        if done_at is not None:
            result["exit_after_s"] = round(exited - done_at, 2)
        print(f"=== {name}: exit {code}{' (TIME LIMIT)' if timed_out else ''} after {exited - t0:.1f} s"
              + (f"; exited {result['exit_after_s']} s after its last line" if "exit_after_s" in result else ""),
              flush=True)
        return result

    def record(self, name: str, result: dict[str, Any]) -> None:
        result = {k: v for k, v in result.items() if k != "lines"}
        self.results["phases"][name] = result
        self.save()

    def save(self) -> None:
        (self.out / "gpu_check.json").write_text(json.dumps(self.results, indent=1, default=str))

    # ---- phases -------------------------------------------------------------------------------
    def preflight(self) -> bool:
        info: dict[str, Any] = {"python": platform.python_version(), "host": platform.node()}
        missing = []
        for module in ("torch", "torchvision", "numpy", "PIL", "cv2", "albumentations"):
            try:
                __import__(module)
            except Exception as exc:  # ImportError, or a broken binary wheel
                missing.append(f"{module} ({type(exc).__name__}: {exc})")
        try:
            __import__("rich")
        except ImportError:
            info["rich"] = "not installed (petseg prints plain lines)"
        if not missing:
            import torch

            info["torch"] = torch.__version__
            info["cuda_available"] = torch.cuda.is_available()
            if torch.cuda.is_available():
                info["device"] = torch.cuda.get_device_name(0)
                info["cuda"] = torch.version.cuda
        info["data"] = self.data
        data_ok = (Path(self.data) / "annotations" / "trainval.txt").is_file()
        self.results["machine"] = info
        print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
        problems = [f"missing modules: {', '.join(missing)}"] if missing else []
        if not data_ok:
            problems.append(f"{self.data}: no annotations/trainval.txt (an Oxford-IIIT Pet folder; ../shared/tools/device-sample makes one)")
        if self.sizes.device == "cuda" and not missing and not info.get("cuda_available"):
            problems.append("CUDA is not available to torch")
        self.results["preflight_problems"] = problems
        for p in problems:
            print(f"PREFLIGHT: {p}", flush=True)
        self.save()
        return not problems

    def sync_check(self, limit: float) -> None:
        result = self.run("sync check", [str(BENCH / "sync_check.py"), "--data", self.data], limit)
        result["verdict"] = sync_verdict(result["lines"])
        self.record("sync check", result)

    def throughput(self, name: str, model: str, modes: str, batch_sizes: str, steps: int, warmup: int,
                   limit: float) -> None:
        s = self.sizes
        jsonl = self.out / "throughput.jsonl"
        before = len(self._read_jsonl(jsonl))
        argv = [str(BENCH / "train_throughput.py"), "--model", model, "--width", str(s.unet_width),
                "--image-size", str(s.image_size), "--batch-size", batch_sizes, "--compile", modes, "--skip", "b",
                "--steps", str(steps), "--warmup", str(warmup), "--device", s.device, "--data", self.data,
                "--workers", str(s.workers), "--json", str(jsonl)]
        result = self.run(name, argv, limit)
        new = self._read_jsonl(jsonl)[before:]
        self.results["throughput"].extend(new)
        wanted = [(m, int(b)) for m in modes.split(",") for b in batch_sizes.split(",")]
        got = {(r["compile"], r["batch_size"]) for r in new}
        result["not_measured"] = [f"{m} batch {b}" for m, b in wanted if (m, b) not in got]
        self.record(name, result)

    @staticmethod
    def _read_jsonl(path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def train(self, name: str, run_name: str, extra: list[str], epochs: int, limit: float) -> dict[str, Any]:
        s = self.sizes
        run = self.runs / run_name
        if run.exists():  # petseg train refuses it; its figures would be an earlier call's, read as this one's
            result = {"code": None, "seconds": 0.0, "timed_out": False,
                      "skipped": f"{run} is an earlier call's run (give a new --work)"}
            print(f"\n=== {name}: not run: {result['skipped']}", flush=True)
            self.record(name, result)
            return result
        argv = ["-m", "engine.cli", "train", "--data_path", self.data, "--runs", str(self.runs),
                "--run_name", run_name, "--epochs", str(epochs), "--image_size", str(s.image_size),
                "--device", s.device, *s.train_extra, *extra]
        result = self.run(name, argv, limit, done_line=lambda line: line.startswith(TRAIN_DONE))
        if run.is_dir():
            result.update(run_figures(run))
        result.update(train_figures(result["lines"]))
        self.record(name, result)
        return result

    def evaluate(self, run_name: str, limit: float) -> None:
        argv = ["-m", "engine.cli", "eval", "--runs", str(self.runs), "--run", run_name,
                "--device", self.sizes.device, "--data_path", self.data]
        result = self.run("eval", argv, limit, done_line=lambda line: line.startswith(EVAL_DONE))
        result.update(eval_figures(result["lines"]))
        self.record("eval", result)

    def ddp_overhead(self, limit: float) -> None:
        s = self.sizes
        rows = self.out / "ddp_overhead.json"
        argv = [str(BENCH / "ddp_overhead.py"), "--device", s.device, "--image_size", str(s.image_size),
                "--width", str(s.unet_width), *s.ddp, "--json", str(rows)]
        rows.unlink(missing_ok=True)  # an earlier call's rows are not this one's
        result = self.run("ddp", argv, limit)
        self.results["ddp"] = json.loads(rows.read_text()) if rows.exists() else []
        self.record("ddp", result)

    def inference(self, run_name: str, limit: float) -> None:
        ckpt = checkpoint_path(self.runs / run_name, "best")
        argv = [str(BENCH / "infer_latency.py"), "--checkpoint", str(ckpt), "--device", self.sizes.device,
                "--runs", str(self.sizes.infer_runs), "--warmup", "3", "--large", self.sizes.large]
        result = self.run("inference", argv, limit)
        result.update(inference_figures(result["lines"]))
        self.record("inference", result)

    # ---- the whole check ----------------------------------------------------------------------
    def run_all(self, phases: frozenset[str] = frozenset(PHASES), train_compile: str = "auto") -> None:
        s = self.sizes
        if not self.preflight():
            return
        if "sync" in phases:
            self.sync_check(limit=60 if not self.smoke else 120)
        if "throughput" in phases:
            for model in ("unet", "resnet34_unet"):
                self.throughput(f"throughput {model} compile off", model, "off", s.batch_sizes, s.steps, s.warmup,
                                limit=90 if not self.smoke else 240)
        if "train" in phases:
            # a compiled run also pays its compile time inside the phase: give it the time it needs
            compiled = train_compile not in ("auto", "off")
            limit = (330 if compiled else 150) if not self.smoke else (900 if compiled else 300)
            self.train("train", "gpu30", ["--workers", str(s.workers), "--compile", train_compile, "--augment_on", s.augment_on],
                       s.epochs, limit=limit)
        if checkpoint_path(self.runs / "gpu30", "best").exists():
            if "eval" in phases:
                self.evaluate("gpu30", limit=60 if not self.smoke else 120)
            if "inference" in phases:
                self.inference("gpu30", limit=60 if not self.smoke else 120)
        if "exit" in phases:
            self.train("exit, worker data path", "gpu-workers", ["--augment_on", "cpu", "--workers", str(min(s.workers, 4))],
                       2, limit=60 if not self.smoke else 240)
        if "ddp" in phases:
            self.ddp_overhead(limit=90 if not self.smoke else 240)
        if "compile" in phases:
            for share, model in ((2, "unet"), (1, "resnet34_unet")):
                # each mode is judged against off at the same batch (the AUTO_CUDA rule): measured here
                # too when the throughput phase did not (``--phases train,eval,compile``)
                off = any((r["model"], r["compile"], r["batch_size"]) == (model, "off", s.compile_batch)
                          for r in self.results["throughput"])
                modes = ",".join(s.compile_modes if off else ("off", *s.compile_modes))
                self.throughput(f"throughput {model}, compile modes", model, modes, str(s.compile_batch),
                                s.compile_steps, s.compile_warmup, limit=self.left() / share)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the table, its JSON and the logs")
    p.add_argument("--work", type=Path, default=None,
                   help="folder for the runs (checkpoints: hundreds of MB) and the decoded cache (default: OUT/work); "
                        "a run an earlier call left there is not trained again (its phase says so)")
    p.add_argument("--data", default=str(REPO / ".devdata" / "oxford-pet-sample"),
                   help="Oxford-IIIT Pet folder (default: .devdata/oxford-pet-sample, made by ../shared/tools/device-sample)")
    p.add_argument("--budget", type=float, default=345.0, help="seconds for everything (default: under 6 minutes)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: checks the script, measures nothing")
    p.add_argument("--phases", default=",".join(PHASES),
                   help=f"comma list of the phases to run (default: all of {','.join(PHASES)}); eval and inference "
                        "need the train phase's run (in --work) from this or an earlier call")
    p.add_argument("--train_compile", default="auto", choices=("auto", "off", *COMPILE_MODES),
                   help="--compile of the train phase's run (default auto, petseg's own: off for 30 epochs; e.g. "
                        "reduce-overhead: a whole run compiled, its compile time inside the run's wall time)")
    args = p.parse_args(argv)
    phases = frozenset(x.strip() for x in args.phases.split(",") if x.strip())
    if phases - set(PHASES) or not phases:
        p.error(f"--phases: expected a comma list of {', '.join(PHASES)}, got {args.phases!r}")
    sizes = SMOKE if args.smoke else REAL
    args.out.mkdir(parents=True, exist_ok=True)
    check = Check(args.out, args.work or args.out / "work", args.data, sizes, args.budget, args.smoke)
    check.results.update(started=check.started, image_size=sizes.image_size, compile_batch=sizes.compile_batch,
                         smoke=args.smoke)
    try:
        check.run_all(phases, args.train_compile)
    finally:  # whatever happened, the table of what was measured
        check.results["total_s"] = round(time.time() - check.started, 1)
        check.save()
        text = table(check.results, args.smoke) + f"\ntotal {check.results['total_s']:.0f} s\n"
        (args.out / "gpu_check.md").write_text(text)
        print("\n" + text, flush=True)
        print(f"(written to {args.out / 'gpu_check.md'} and {args.out / 'gpu_check.json'})")
    return 0 if not check.results.get("preflight_problems") else 1


if __name__ == "__main__":
    sys.exit(main())
