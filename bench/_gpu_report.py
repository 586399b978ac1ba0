"""`bench/gpu_check.py`'s report: the targets it checks, the table of what one call measured, and
the rule that picks `--compile auto` from the throughput rows (engine/train/compile.py holds
the result)."""

from __future__ import annotations

import math
import time
from typing import Any

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")
TARGETS = {"engine_vs_model_only": 0.95, "unet_model_only": 1300.0, "resnet_model_only": 3000.0,
           "train_share": 0.8, "exit_s": 5.0, "ddp_overhead": 0.03}


def _f(value: Any, fmt: str = "{:.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _ips(value: Any) -> str:
    """images/s: whole numbers where they are large, 3 significant digits where they are not."""
    return "-" if value is None else (f"{value:.0f}" if value >= 100 else f"{value:.3g}")


def _ok(good: bool | None) -> str:
    return "" if good is None else (" (met)" if good else " (NOT met)")


def _not_run(phase: dict[str, Any]) -> str | None:
    """Why a phase has no figures ("not run", "not run: no time left", ...), or None if it ran."""
    if not phase:
        return "not run"
    return f"not run: {phase['skipped']}" if phase.get("skipped") else None


def _exit_code(phase: dict[str, Any]) -> str:
    return f"exit code {phase.get('code')}" + (" (TIME LIMIT)" if phase.get("timed_out") else "")


def _ddp_rows(results: dict[str, Any]) -> list[str]:
    """The ddp phase's rows (bench/ddp_overhead.py): one process, so the wrapper's own cost."""
    phase = results.get("phases", {}).get("ddp", {})
    out = ["## Data-parallel step at world size 1 (bench/ddp_overhead.py; medians, ms per step)", ""]
    if not results.get("ddp"):
        return out + [f"ddp: {_not_run(phase) or 'no rows, ' + _exit_code(phase)}", ""]
    out += ["| model | batch | amp | plain | ddp | ddp+agree | ddp vs plain | ddp+agree vs plain | all-reduce of the gradients |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["ddp"]:
        goal = _ok(r["ddp_overhead"] <= TARGETS["ddp_overhead"])
        out.append(f"| {r['model']} | {r['batch']} | {r['amp']} | {r['plain_ms']:.1f} | {r['ddp_ms']:.1f} | "
                   f"{r['agree_ms']:.1f} | **{100 * r['ddp_overhead']:+.1f} %**{goal} | {100 * r['agree_overhead']:+.1f} % | "
                   f"{4 * r['params'] / 1e6:.0f} MB in {r['allreduce_ms']:.2f} ms |")
    return out + [f"(goal: ddp vs plain <= {TARGETS['ddp_overhead']:.0%})", ""]


def recommend_auto(throughput: list[dict[str, Any]], batch: int) -> tuple[str, str]:
    """(the AUTO_CUDA line to paste, why): the compile mode with the best geometric-mean engine
    img/s over both models at ``batch``, if >= 5% over off; min_steps = twice the steps it takes
    the slower-to-pay-back model to win its extra warm-up (compile) time back."""
    rows = {(r["model"], r["compile"]): r for r in throughput if r["batch_size"] == batch and r.get("engine")}
    models = ("unet", "resnet34_unet")
    if not all((m, "off") in rows for m in models):
        return "", "compile off was not measured for both models: no recommendation"
    best, best_gain, why = "off", 1.0, []
    for mode in COMPILE_MODES:
        if not all((m, mode) in rows for m in models):
            why.append(f"{mode}: not measured for both models")
            continue
        gain = math.sqrt(math.prod(rows[(m, mode)]["engine"] / rows[(m, "off")]["engine"] for m in models))
        why.append(f"{mode}: {gain:.2f}x off")
        if gain > best_gain:
            best, best_gain = mode, gain
    if best == "off" or best_gain < 1.05:
        return "AUTO_CUDA = AutoCompile(mode=\"off\", min_steps=3000)", "; ".join(why) + " -> no mode is >= 5% faster"
    slower = [m for m in models if rows[(m, best)]["engine"] <= rows[(m, "off")]["engine"]]
    if slower:  # auto compiles every model: one it slows down never wins its compile time back
        return ("AUTO_CUDA = AutoCompile(mode=\"off\", min_steps=3000)",
                "; ".join(why) + f" -> {best} is no faster than off for {', '.join(slower)}: keep off")
    payback = 0.0
    for m in models:
        on, off = rows[(m, best)], rows[(m, "off")]
        saved = batch / off["engine"] - batch / on["engine"]  # seconds per step, > 0 (none is slower)
        extra = max((on.get("warmup_s") or 0) - (off.get("warmup_s") or 0), 0)
        payback = max(payback, extra / saved)
    min_steps = int(math.ceil(2 * payback / 500) * 500)
    return (f"AUTO_CUDA = AutoCompile(mode=\"{best}\", min_steps={min_steps})",
            "; ".join(why) + f" -> {best}; compile pays back after {payback:.0f} steps")


def _system_row(sy: dict[str, Any]) -> str:
    """The train run's system.jsonl in a cell: its GPU figures, else the note it wrote instead."""
    if not sy.get("samples"):
        return "**no samples** (system.jsonl missing or empty)"
    from engine.words import counted

    head = f"{counted(sy['samples'], 'sample')}, {sy.get('gpu_samples', 0)} with GPU figures"
    if not sy.get("gpu_samples"):
        return f"{head}: **{sy.get('note') or 'no GPU figures'}**; CPU mean {_f(sy.get('cpu_mean'), '{:.0f}')} %"
    return (f"{head} ({counted(sy.get('gpus') or 0, 'GPU')}): utilisation mean {_f(sy.get('util_mean'), '{:.0f}')} %, memory peak "
            f"{_f(sy.get('mem_peak_gib'), '{:.1f}')} of {_f(sy.get('mem_total_gib'), '{:.0f}')} GiB, power mean "
            f"{_f(sy.get('power_mean_w'), '{:.0f}')} W, temperature max {_f(sy.get('temp_max_c'), '{:.0f}')} °C; "
            f"CPU mean {_f(sy.get('cpu_mean'), '{:.0f}')} %")


def table(results: dict[str, Any], smoke: bool) -> str:
    m = results.get("machine", {})
    phases = results.get("phases", {})
    lines = [f"# petseg GPU check{' (SMOKE: tiny sizes on the CPU, not a measurement)' if smoke else ''}", "",
             f"device: {m.get('device', 'CPU')}; torch {m.get('torch', '?')} (CUDA {m.get('cuda', '-')}); "
             f"Python {m.get('python', '?')}; data {m.get('data', '?')}; "
             f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(results.get('started', time.time())))}", ""]
    if results.get("preflight_problems"):
        lines += ["PREFLIGHT FAILED: " + "; ".join(results["preflight_problems"]), ""]
    lines += ["## Training throughput (img/s; engine = real data path + train step, model-only = train step "
              "on a batch already on the device; MFU = img/s x 3 x fwd FLOPs / dense bf16 peak)", "",
              "| model | compile | batch | engine | model-only | engine/model-only | MFU engine | MFU model-only | warm-up s |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results.get("throughput", []):
        name = f"{r['model']}" + (f" w{r['width']}" if r.get("width") else "")
        ratio = r.get("engine_vs_model_only")
        lines.append(f"| {name} | {r['compile']} | {r['batch_size']} | {_ips(r.get('engine'))} | {_ips(r.get('model_only'))} | "
                     f"{_f(ratio, '{:.2f}')} | {_f(r.get('mfu_engine'), '{:.1%}')} | {_f(r.get('mfu_model_only'), '{:.1%}')} | "
                     f"{_f(r.get('warmup_s'), '{:.1f}')} |")
    for name, p in phases.items():
        if name.startswith("throughput") and p.get("not_measured"):
            lines.append(f"| {name}: not measured (time limit) | {', '.join(p['not_measured'])} |||||||")
    lines.append("")
    t, w, e, i = phases.get("train", {}), phases.get("exit, worker data path", {}), phases.get("eval", {}), phases.get("inference", {})
    sync = phases.get("sync check", {})
    share = t.get("train_share")
    resolved = t.get("resolved") or {}
    lines += ["## Runs", "", "| check | figures |", "|---|---|",
              f"| host syncs in a training step (device data path, sync debug mode 'error') | "
              f"{sync.get('verdict') or ('TIME LIMIT' if sync.get('timed_out') else _not_run(sync) or 'no verdict')} |",
              f"| `petseg train` {t.get('epochs', '-')} epochs, real sample, {results.get('image_size', '')} px "
              f"({resolved.get('augment_on_resolved', '?')} data path, amp "
              f"{resolved.get('amp_resolved', '?')}, compile {resolved.get('compile_resolved', '?')}) | " + (_not_run(t) or
              f"wall {_f(t.get('wall_s'), '{:.1f}')} s from first batch to finished: training steps {_f(t.get('train_s'), '{:.1f}')} s = "
              f"**{_f(share, '{:.2f}')}**{_ok(None if share is None else share >= TARGETS['train_share'])}, validation "
              f"{_f(t.get('valid_s'), '{:.1f}')} s, checkpoint snapshots {_f(t.get('checkpoint_snapshot_s'), '{:.2f}')} s "
              f"(writes {_f(t.get('checkpoint_write_s'), '{:.1f}')} s in the background), other {_f(t.get('other_s'), '{:.1f}')} s; "
              f"best valid Dice {_f(t.get('best_dice'), '{:.4f}')}; process {_f(t.get('seconds'), '{:.0f}')} s, {_exit_code(t)}") + " |",
              "| system metrics of that run (its system.jsonl: NVML, psutil; the live screen's strip) | " + (_not_run(t)
              or _system_row(t.get("system") or {})) + " |",
              f"| exit after `finished` ({resolved.get('augment_on_resolved', '?')} data path) | " + (_not_run(t) or
              f"**{_f(t.get('exit_after_s'), '{:.2f}')} s**"
              f"{_ok(None if t.get('exit_after_s') is None else t['exit_after_s'] < TARGETS['exit_s'])}") + " |",
              "| exit after `finished` (worker data path: pinned memory + persistent workers) | " + (_not_run(w) or
              f"**{_f(w.get('exit_after_s'), '{:.2f}')} s**{_ok(None if w.get('exit_after_s') is None else w['exit_after_s'] < TARGETS['exit_s'])}"
              f", {_exit_code(w)}") + " |",
              "| `petseg eval` (test split) | " + (_not_run(e) or f"{e.get('images', '-')} images, Dice {_f(e.get('dice'), '{:.4f}')}, IoU "
              f"{_f(e.get('iou'), '{:.4f}')} at {e.get('scored', '?')}; exit {_f(e.get('exit_after_s'), '{:.2f}')} s "
              f"after its result, {_exit_code(e)}") + " |",
              "| inference latency (file in, mask out) | " + (_not_run(i) or f"demo photos p50 {_f(i.get('p50_ms'), '{:.1f}')} ms, p95 "
              f"{_f(i.get('p95_ms'), '{:.1f}')} ms; {i.get('large', 'large photo')} p50 {_f(i.get('large_p50_ms'), '{:.1f}')} ms, "
              f"{_exit_code(i)}") + " |",
              ""]
    lines += _ddp_rows(results)
    rows = {(r["model"], r["compile"], r["batch_size"]): r for r in results.get("throughput", [])}
    b = results.get("compile_batch", 32)
    lines += [f"## Targets ({results.get('image_size')} px)", ""]
    for model, key in (("unet", "unet_model_only"), ("resnet34_unet", "resnet_model_only")):
        off = rows.get((model, "off", b), {})
        mine = [r for (mm, _, _), r in rows.items() if mm == model and r.get("model_only")]
        best = max(mine, key=lambda r: r["model_only"], default=None)
        ratio = off.get("engine_vs_model_only")
        best_text = "-" if best is None else (
            f"{_ips(best['model_only'])} img/s (compile {best['compile']}, batch {best['batch_size']}"
            + (f", MFU {best['mfu_model_only']:.1%}" if best.get("mfu_model_only") else "") + ")")
        lines.append(f"- {model}: engine/model-only at batch {b}, compile off {_f(ratio, '{:.2f}')} "
                     f"(target >= {TARGETS['engine_vs_model_only']})"
                     f"{_ok(None if ratio is None else ratio >= TARGETS['engine_vs_model_only'])}; best model-only "
                     f"{best_text} (target >= {TARGETS[key]:.0f})"
                     f"{_ok(None if best is None else best['model_only'] >= TARGETS[key])}")
    line, why = recommend_auto(results.get("throughput", []), b)
    lines += ["", f"compile auto: {why}", f"engine/train/compile.py: `{line}`" if line else "", ""]
    return "\n".join(lines)
