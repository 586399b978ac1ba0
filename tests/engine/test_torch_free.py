"""The modules the TUI imports on its UI thread, and the scores it reads, import no torch
(docs/ARCHITECTURE.md, "What must stay torch-free"): each checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNS = sorted(f"engine.runs.{p.stem}" for p in (REPO / "engine" / "runs").glob("*.py") if p.stem != "__init__")
TORCH_FREE = [
    "engine.config", "engine.field_spec", "engine.errors", "engine.events", "engine.run_schema", "engine.json_kinds", "engine.durations",
    "engine.atomic", "engine.made_folders", "engine.faults", "engine.cores", "engine.process_exit", "engine.processes", "engine.exit_writes", "engine.words", "engine.runs", *RUNS, "engine.console_log",
    "engine.sysmetrics", "engine.sysmetrics.record", "engine.sysmetrics.nvml", "engine.sysmetrics.host",
    "engine.sysmetrics.data_wait", "engine.sysmetrics.sampler",
    "engine.eval", "engine.eval.scores", "engine.eval.mask_scores", "engine.eval.gallery", "engine.eval.worst_offer",
    "engine.infer", "engine.infer.render", "engine.infer.outputs",
    "engine.train", "engine.train.previews", "engine.train.resume", "engine.train.resume_budget",
    "engine.train.run_timing",
    "engine.train.launch", "engine.train.launched", "engine.train.distributed", "engine.train.devices_request",
    "engine.train.rank_scratch", "engine.train.rank_failures",
    "engine.data.layout", "engine.data.source", "engine.data.images", "engine.data.masks", "engine.data.samples", "engine.data.dirs",
    "engine.data.augment_spec", "engine.cli", "engine.cli.eval",
    "engine.export", "engine.export.metadata", "engine.export.report", "engine.export.parity", "engine.export.run_export",
]


def test_these_modules_import_without_torch() -> None:
    code = ("import importlib, sys\n"
            "bad = []\n"
            f"for name in {TORCH_FREE!r}:\n"
            "    importlib.import_module(name)\n"
            "    if 'torch' in sys.modules:\n"
            "        bad.append(name); break\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "", f"imports torch: {out.stdout.strip()}"
