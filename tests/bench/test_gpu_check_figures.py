"""bench/gpu_check.py is run once, on a GPU box a session is lent for 15 minutes: what it runs and
what it reads must still match the engine and the bench scripts, or that one call is lost (it
was once, to a blank inference row, when infer_latency.py began each row with its backend's name).
Here, on the CPU: every command it starts is one its program accepts, every module and name its
phases import (CUDA-only ones too) exists, and each row of its table reads what the real code
prints and writes (train, eval, inference, throughput, sync check, each in this process)."""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import json
import sys
import time
from argparse import ArgumentParser, Namespace
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import gpu_check  # noqa: E402
from _gpu_report import recommend_auto, table  # noqa: E402
from gpu_check import (PHASES, REAL, SMOKE, TRAIN_DONE, Check, Sizes, inference_figures, sync_verdict,  # noqa: E402
                       train_figures)
from infer_latency import _large_photo, _time_photos  # noqa: E402

from engine.data.samples import sample_image_paths  # noqa: E402


def _script(path: Path) -> Any:
    """A bench script loaded as a module (its own folder on the path, as when it runs)."""
    spec = importlib.util.spec_from_file_location(f"_gpu_check_phase_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(tmp_path: Path, sizes: Sizes, train_compile: str = "auto", phases: tuple[str, ...] = PHASES
              ) -> list[list[str]]:
    """The argv of every process ``run_all`` starts, none of them run (train_throughput.py's JSON
    lines written as it writes them: a row per mode and batch size it was given)."""
    started: list[list[str]] = []

    def run(self: Check, name: str, argv: list[str], limit: float, done_line: Any = None) -> dict[str, Any]:
        started.append(argv)
        if "train" in argv and "gpu30" in argv:  # eval and inference follow the run's best.pt
            best = gpu_check.checkpoint_path(self.runs / "gpu30", "best")
            best.parent.mkdir(parents=True)
            best.touch()
        if argv[0].endswith("train_throughput.py"):
            flag = dict(zip(argv[1::2], argv[2::2]))
            with open(flag["--json"], "a") as fh:
                for mode in flag["--compile"].split(","):
                    for batch in flag["--batch-size"].split(","):
                        fh.write(json.dumps({"model": flag["--model"], "compile": mode, "batch_size": int(batch)}) + "\n")
        return {"code": 0, "seconds": 0.0, "timed_out": False, "lines": []}

    check = Check(tmp_path / "out", tmp_path / "work", "DATA", sizes, budget=600, smoke=sizes is SMOKE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Check, "run", run)
        mp.setattr(Check, "preflight", lambda self: True)  # REAL wants CUDA
        check.run_all(frozenset(phases), train_compile)
    return started


@pytest.mark.parametrize("sizes, train_compile", [(SMOKE, "auto"), (REAL, "auto"), (REAL, "reduce-overhead")],
                         ids=["smoke", "gpu", "gpu-compiled-run"])
def test_every_command_the_check_starts_is_one_its_program_accepts(tmp_path: Path, sizes: Sizes,
                                                                   train_compile: str) -> None:
    """A flag renamed or dropped in petseg or a bench script fails here, not in the phase's log on the GPU."""
    from engine.cli import build_parser

    commands = _commands(tmp_path, sizes, train_compile)
    assert [c[2] if c[0] == "-m" else Path(c[0]).name for c in commands] == [
        "sync_check.py", "train_throughput.py", "train_throughput.py", "train", "eval", "infer_latency.py",
        "train", "ddp_overhead.py", "train_throughput.py", "train_throughput.py"]
    parsed = []
    for argv in commands:
        if argv[:2] == ["-m", "engine.cli"]:
            parsed.append(build_parser().parse_args(argv[2:]))  # SystemExit names an unknown flag
            continue

        class Parsed(Exception):
            pass

        real_parse = ArgumentParser.parse_args

        def parse_then_stop(self: ArgumentParser, args: Any = None, namespace: Any = None) -> Namespace:
            parsed.append(real_parse(self, args, namespace))
            raise Parsed

        with pytest.MonkeyPatch.context() as mp, pytest.raises(Parsed):
            mp.setattr(ArgumentParser, "parse_args", parse_then_stop)
            _script(Path(argv[0])).main(argv[1:])
    train = parsed[3]
    assert (train.epochs, train.image_size, train.compile) == (sizes.epochs, sizes.image_size, train_compile)
    assert parsed[6].augment_on == "cpu"  # the exit phase: the worker data path
    ddp = parsed[7]  # the ddp phase: the check's sizes, both models
    assert (ddp.device, ddp.image_size, ddp.models) == (sizes.device, sizes.image_size, "unet,resnet34_unet")
    assert ddp.amp == ("off" if sizes is SMOKE else "bf16") and ddp.json == tmp_path / "out" / "ddp_overhead.json"
    assert train.augment_on == ("device" if sizes is SMOKE else "auto")  # the smoke: the data path auto takes on CUDA


def test_the_compile_phase_measures_off_when_the_throughput_phase_did_not(tmp_path: Path) -> None:
    """``--phases train,eval,compile`` (the documented call for what is still unmeasured) had no
    compile-off row to judge the modes against: its table ended "compile off was not measured for
    both models: no recommendation"."""
    def compile_modes(phases: tuple[str, ...], folder: str) -> list[str]:
        commands = _commands(tmp_path / folder, REAL, "reduce-overhead", phases)
        return [c[c.index("--compile") + 1] for c in commands if c[0].endswith("train_throughput.py")
                and c[c.index("--batch-size") + 1] == str(REAL.compile_batch)]

    every_mode = ",".join(gpu_check.COMPILE_MODES)
    assert compile_modes(("train", "eval", "compile"), "a") == [f"off,{every_mode}"] * 2
    assert compile_modes(PHASES, "b") == [every_mode] * 2  # phase 1 measured off at batch 32


def _imported_names(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from engine... import`` and bench-local import in ``path``,
    inside functions too (sync_check imports the trainer only once it has a CUDA device)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            top = node.module.split(".")[0]
            if top == "engine" or (BENCH / f"{top}.py").is_file():
                found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "engine"]
    return found


def test_every_engine_name_a_phase_imports_exists(tmp_path: Path) -> None:
    """A module moved into a subpackage breaks the phase that imports it, on the GPU only when the
    import is a CUDA-only one (sync_check's): each is looked up here."""
    scripts = {BENCH / "gpu_check.py", BENCH / "_gpu_report.py"}
    scripts |= {Path(c[0]) for c in _commands(tmp_path, REAL, "auto") if c[0] != "-m"}
    scripts |= {BENCH / f"{module}.py" for s in list(scripts) for module, _ in _imported_names(s)
                if (BENCH / f"{module}.py").is_file()}  # the helpers they import (_flops, _machine)
    missing = []
    for script in sorted(scripts):
        for module, name in _imported_names(script):
            try:
                imported = importlib.import_module(module)
            except ImportError as exc:
                missing.append(f"{script.name}: {module} ({exc})")
                continue
            if name and not hasattr(imported, name) and importlib.util.find_spec(f"{module}.{name}") is None:
                missing.append(f"{script.name}: {module}.{name}")
    assert not missing, missing
    assert any(m == "engine.train.trainer" for m, _ in _imported_names(BENCH / "sync_check.py"))  # lazy ones seen


class _Mask:
    def mask(self, threshold: float) -> np.ndarray:
        return np.zeros((4, 4), np.uint8)


class _Predictor:
    device = torch.device("cpu")

    def predict_file(self, path: Path, tta: bool = False) -> _Mask:
        return _Mask()


def test_the_inference_row_reads_what_infer_latency_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    photos = sample_image_paths()
    if not photos:
        pytest.skip("engine/demo_assets is missing from this installation")
    _time_photos([("pytorch", _Predictor()), ("onnxruntime", _Predictor())], photos[:2], _large_photo(tmp_path, 80, 60),
                 Namespace(warmup=0, runs=2, tta=False))
    figures = inference_figures(capsys.readouterr().out.splitlines())
    assert set(figures) == {"p50_ms", "p95_ms", "large", "large_p50_ms", "large_p95_ms"}, figures
    assert figures["large"] == "80x60" and figures["p95_ms"] >= figures["p50_ms"] >= 0


def test_the_sync_row_reads_what_sync_check_prints_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("with CUDA it runs the check itself")
    assert _script(BENCH / "sync_check.py").main([]) == 0
    assert sync_verdict(capsys.readouterr().out.splitlines()) == "skipped (no CUDA device)"


def test_the_train_rows_read_what_petseg_train_prints() -> None:
    """The ``finished:`` line starts the exit clock and gives the best Dice (the CLI's own printer)."""
    from engine.cli.progress import ProgressReporter
    from engine.console_log import plain
    from engine.events import RunFinished

    class Lines:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def print(self, text: str, markup: bool = False) -> None:
            self.lines.append(plain(text, markup))

    console = Lines()
    ProgressReporter(console, plain=True)(RunFinished(epochs=30, best_dice=0.8494, best_epoch=27, seconds=24.0, t=1.0))
    [line] = console.lines
    assert line.startswith(TRAIN_DONE)
    assert train_figures(console.lines) == {"best_dice": 0.8494, "best_epoch": 27}


# tiny sizes: every phase in seconds on the CPU, the generated set (no data folder needed)
TINY = replace(SMOKE, unet_width=4, batch_sizes="4", steps=1, warmup=1, epochs=2, workers=0, infer_runs=1,
               large="120x90", train_extra=["--max_train_images", "16", "--width", "4", "--batch_size", "8"])


def _in_this_process(self: Check, name: str, argv: list[str], limit: float, done_line: Any = None) -> dict[str, Any]:
    """`Check.run` without the child process: petseg's or the script's main(), output read as the
    real one reads it (stdout and stderr together, a line each)."""
    out = io.StringIO()
    t0, threads = time.monotonic(), torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if argv[:2] == ["-m", "engine.cli"]:
                from engine.cli import main

                code = main(argv[2:])
            else:
                code = _script(Path(argv[0])).main(argv[1:])
    finally:
        torch.set_num_threads(threads)  # a script may set its own
    lines = out.getvalue().splitlines()
    result = {"code": code, "seconds": round(time.monotonic() - t0, 1), "timed_out": False, "lines": lines}
    if done_line is not None and any(done_line(line) for line in lines):
        result["exit_after_s"] = 0.0  # no process to wait for here
    return result


@pytest.mark.slow
def test_each_row_of_the_table_reads_what_its_phase_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          generated_data: str) -> None:
    """The phases for real at tiny sizes (train, eval, inference, throughput), as `run_all` calls
    them: every figure the table shows comes back, from the lines, run files and JSON the engine
    writes today."""
    monkeypatch.setattr(Check, "run", _in_this_process)
    check = Check(tmp_path / "out", tmp_path / "work", generated_data, TINY, budget=600, smoke=True)
    check.results.update(image_size=TINY.image_size, compile_batch=TINY.compile_batch)
    train = check.train("train", "gpu30", ["--workers", "0", "--compile", "auto"], TINY.epochs, limit=300)
    assert train["code"] == 0 and train["epochs"] == TINY.epochs, train
    assert 0 < train["train_share"] <= 1 and train["wall_s"] > 0 and "best_dice" in train
    assert train["resolved"]["augment_on_resolved"] == "cpu" and train["resolved"]["compile_resolved"] == "off"
    assert train["system"]["samples"] >= 1 and train["system"]["gpu_samples"] == 0, train["system"]  # a CPU run
    check.evaluate("gpu30", limit=300)
    check.inference("gpu30", limit=300)
    check.throughput("throughput unet compile off", "unet", "off", TINY.batch_sizes, TINY.steps, TINY.warmup, limit=300)
    phases = check.results["phases"]
    assert {k: phases["eval"].get(k) is not None for k in ("images", "dice", "iou", "scored")} == dict.fromkeys(
        ("images", "dice", "iou", "scored"), True), phases["eval"]
    assert phases["eval"]["scored"].startswith("photo size")
    assert phases["inference"]["large"] == "120x90" and phases["inference"]["p50_ms"] > 0, phases["inference"]
    [row] = check.results["throughput"]
    assert (row["model"], row["compile"], row["batch_size"]) == ("unet", "off", 4)
    assert row["engine"] > 0 and row["model_only"] > 0 and phases["throughput unet compile off"]["not_measured"] == []

    text = table(check.results, smoke=True)
    assert "| unet w4 | off | 4 | " in text
    runs = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert f"training steps {train['train_s']:.1f} s = **{train['train_share']:.2f}**" in runs[
        f"| `petseg train` {TINY.epochs} epochs, real sample, 64 px (cpu data path, amp " + train["resolved"]["amp_resolved"]
        + ", compile off)"]
    e = phases["eval"]
    assert f"{e['images']} images, Dice {e['dice']:.4f}, IoU {e['iou']:.4f} at photo size" in runs["| `petseg eval` (test split)"]
    assert "demo photos p50 " in runs["| inference latency (file in, mask out)"] and "120x90 p50 " in text

    assert "ddp: not run" in text  # before its phase ran
    check.ddp_overhead(limit=300)
    assert check.results["phases"]["ddp"]["code"] == 0
    unet, resnet = check.results["ddp"]
    assert (unet["model"], resnet["model"], unet["world_size"], unet["batch"]) == ("unet w4", "resnet34_unet", 1, 4)
    ddp_rows = {line.split(" | ")[0]: line for line in table(check.results, smoke=True).splitlines()
                if line.startswith("| unet w4 | 4 | fp32") or line.startswith("| resnet34_unet | 4 | fp32")}
    assert len(ddp_rows) == 2, ddp_rows
    assert f"**{100 * unet['ddp_overhead']:+.1f} %**" in ddp_rows["| unet w4"]
    assert f"MB in {resnet['allreduce_ms']:.2f} ms" in ddp_rows["| resnet34_unet"]


def test_the_system_row_reads_the_runs_system_jsonl(tmp_path: Path) -> None:
    """Issue 20's sampler is checked for real only on a GPU box, and the check's table never read
    it: the train run's system.jsonl (NVML through the sampler's own record) is now a row, its
    GPU figures or the note written instead of them."""
    from engine.runs.system_log import SystemLogWriter
    from engine.sysmetrics.record import GpuSample, SystemSample

    gib = 1 << 30
    on_gpu, on_cpu = tmp_path / "gpu30", tmp_path / "cpu"
    for run in (on_gpu, on_cpu):
        run.mkdir()
    log = SystemLogWriter(on_gpu)
    for k, (util, mem, power, temp) in enumerate(((80.0, 30, 300.0, 60.0), (90.0, 32, 320.0, 65.0))):
        log.append(SystemSample(t=1000.0 + 2 * k, gpus=(GpuSample(index=0, util=util, mem_used=mem * gib,
                                                                  mem_total=80 * gib, power_w=power, temp_c=temp),),
                                cpu_percent=100.0 + 20 * k))
    SystemLogWriter(on_cpu).append(SystemSample(t=1000.0, gpu_note="no GPU", cpu_percent=150.0))

    def row(run: Path) -> str:
        results = {"phases": {"train": {"code": 0, **gpu_check.run_figures(run)}}, "image_size": 256}
        [line] = [line for line in table(results, smoke=False).splitlines() if line.startswith("| system metrics")]
        return line

    assert gpu_check.run_figures(on_gpu)["system"] == {
        "samples": 2, "gpu_samples": 2, "gpus": 1, "note": "", "util_mean": 85.0, "power_mean_w": 310.0,
        "temp_max_c": 65.0, "mem_peak_gib": 32.0, "mem_total_gib": 80.0, "cpu_mean": 110.0}
    assert ("2 samples, 2 with GPU figures (1 GPU): utilisation mean 85 %, memory peak 32.0 of 80 GiB, "
            "power mean 310 W, temperature max 65 °C") in row(on_gpu)
    assert "1 sample, 0 with GPU figures: **no GPU**" in row(on_cpu)
    assert "**no samples**" in row(tmp_path)


def test_a_run_left_by_an_earlier_call_is_not_reported_as_this_ones(tmp_path: Path) -> None:
    """Its figures (wall time, exit, Dice) were read back as this call's while petseg refused to train it."""
    check = Check(tmp_path / "out", tmp_path / "work", "DATA", SMOKE, budget=600, smoke=True)
    (check.runs / "gpu30").mkdir(parents=True)
    result = check.train("train", "gpu30", [], SMOKE.epochs, limit=60)
    assert result["skipped"] == f"{check.runs / 'gpu30'} is an earlier call's run (give a new --work)"
    row = next(line for line in table(check.results, smoke=True).splitlines() if line.startswith("| `petseg train`"))
    assert row.endswith(f"| not run: {check.runs / 'gpu30'} is an earlier call's run (give a new --work) |")


def test_a_mode_slower_for_one_model_is_not_recommended() -> None:
    """A geometric mean 2.96x off, with ResNet34-UNet 4x slower: the line said mode="default",
    min_steps=1000000000 ("pays back after inf steps")."""
    rows = [{"model": m, "compile": c, "batch_size": 4, "engine": e, "warmup_s": w}
            for m, c, e, w in (("unet", "off", 4.24, 2.2), ("unet", "default", 149.0, 94.4),
                               ("resnet34_unet", "off", 10.0, 9.8), ("resnet34_unet", "default", 2.48, 165.8))]
    line, why = recommend_auto(rows, 4)
    assert line == 'AUTO_CUDA = AutoCompile(mode="off", min_steps=3000)'
    assert why.endswith("-> default is no faster than off for resnet34_unet: keep off"), why
    faster = [dict(r, engine=r["engine"] * 8) if r["compile"] == "default" else r for r in rows]
    assert recommend_auto(faster, 4)[0].startswith('AUTO_CUDA = AutoCompile(mode="default", min_steps=')
