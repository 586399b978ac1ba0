"""bench/ddp_overhead.py, issue 18's GPU rows (the DDP wrapper at world size 1 against the plain
model, the per-batch agreement, the gradient all-reduce) run end to end on the CPU at tiny sizes:
the same engine calls a GPU call makes, so that call does not fail on its first line."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_ddp_overhead_bench_measures_every_variant_on_a_world_of_one(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR",
                                                            "MASTER_PORT")}
    done = subprocess.run([sys.executable, "bench/ddp_overhead.py", "--device", "cpu", "--models", "unet", "--width", "4",
                           "--image_size", "32", "--batch_size", "2", "--warmup", "1", "--steps", "1", "--rounds", "1",
                           "--json", str(out)], cwd=REPO, env=dict(env, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    [row] = json.loads(out.read_text())
    assert (row["model"], row["world_size"], row["batch"], row["amp"]) == ("unet w4", 1, 2, "fp32")
    assert all(row[k] > 0 for k in ("plain_ms", "ddp_ms", "agree_ms", "allreduce_ms"))
    from engine.models import build_model, count_parameters

    assert row["params"] == count_parameters(build_model("unet", width=4))  # the bytes DDP moves: every parameter
    assert "| unet w4 | 1 | 2 | fp32 |" in done.stdout and "- (1 process)" in done.stdout
