"""Peak memory of folder inference: the byte-bounded read-ahead against the old count window.

    .venv/bin/python bench/infer_memory.py [--count 400] [--side 2048x1365] [--image-size 128] [--png]

Generates ``--count`` photos of ``--side`` (JPEG, quality 90, a smooth picture with noise, like a
camera's) in a temporary folder, then segments the folder in a fresh child process per variant
(an untrained UNet width 4 at ``--image-size`` px on the CPU: the model is not what is
measured) and prints each child's peak RSS, and its peak over the RSS it had once the model was
loaded (what the photos cost):

* ``before, batch B``: the count window of issue 8 (2·B + workers photos read ahead, no byte
  bound): B = 128 is what CUDA's default gave at 128 px (32 · (256/128)²), B = 8 the CPU's;
* ``after``: the default now — the batch sized by the photos (`default_batch_size` with
  `photo_footprint`), the read-ahead bounded by `READ_AHEAD_BYTES`.

``--png`` adds two PNGs just under the decoder's pixel cap (engine.data.images.MAX_PIXELS),
segmented with 4 threads: the old code decoded both at once, now one waits for the other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import torch
from engine.infer.infer_folder import READ_AHEAD_BYTES, default_batch_size, photo_footprint, plan_folder, segment_folder
from engine.infer.inference import Predictor
from engine.models import build_model
src, dst, image_size, batch, max_bytes, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
torch.manual_seed(0)
pred = Predictor(build_model("unet", width=4), image_size=image_size, arch_name="unet", device="cpu")
plan = plan_folder(Path(src), Path(dst))
Path(dst).mkdir(exist_ok=True)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if batch == "auto":  # as `petseg infer` on CUDA: the base batch 32 at 256 px, then sized by the photos
    sample = [p for p, _ in plan.items[:: max(1, len(plan.items) // 32)]]
    big = max(photo_footprint(p, image_size) for p in sample)
    b = min(default_batch_size(torch.device("cuda"), image_size), default_batch_size(torch.device("cuda"), image_size, big))
else:
    b = int(batch)
mb = None if max_bytes == "default" else int(max_bytes)
t = time.perf_counter()
n = []
segment_folder(pred, plan.items, n.append, batch_size=b, workers=workers, max_bytes=mb)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"batch": b, "photos": len(n), "errors": sum(1 for r in n if r.error), "base": base,
                  "peak": peak, "seconds": time.perf_counter() - t}))
"""


def make_photos(folder: Path, count: int, w: int, h: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    for i in range(count):
        base = np.stack([(x * (i + 1) // 7) % 256, (y * 3) % 256, ((x + y) // 5 + 40 * i) % 256], -1)
        noise = rng.integers(0, 24, (h, w, 3))
        Image.fromarray((base + noise).clip(0, 255).astype(np.uint8)).save(folder / f"photo_{i:04d}.jpg", quality=90)


def run(src: Path, image_size: int, batch: str, max_bytes: str, workers: int = 4) -> dict:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", CHILD, str(src), out, str(image_size), batch, max_bytes, str(workers)],
                              capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=400)
    p.add_argument("--side", default="2048x1365")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--png", action="store_true", help="also one PNG just under the pixel cap")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.side.split("x"))
    sys.path.insert(0, str(REPO / "bench"))
    from _machine import load

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        t = time.perf_counter()
        make_photos(src, args.count, w, h)
        size = sum(f.stat().st_size for f in src.iterdir())
        print(f"{args.count} JPEGs of {w}x{h} ({size / args.count / 1e6:.1f} MB each) in {time.perf_counter() - t:.0f}s; "
              f"unet width 4 at {args.image_size} px, CPU, 4 threads; {load()}")
        variants = [("before, batch 128 (CUDA's default at 128 px)", "128", str(1 << 62)),
                    ("before, batch 8 (the CPU's default)", "8", str(1 << 62)),
                    ("after, default batch (sized by the photos)", "auto", "default"),
                    ("after, batch 8", "8", "default")]
        for label, batch, max_bytes in variants:
            r = run(src, args.image_size, batch, max_bytes)
            print(f"{label:46s} batch {r['batch']:3d}  peak RSS {r['peak'] / 2**20:6.0f} MiB  "
                  f"(+{(r['peak'] - r['base']) / 2**20:5.0f} MiB over the loaded model)  {r['seconds']:5.1f}s  "
                  f"{r['photos']} photos, {r['errors']} errors; {load()}")
        if args.png:
            import numpy as np
            from PIL import Image

            from engine.data.images import MAX_PIXELS

            big = Path(tmp) / "big"
            big.mkdir()
            pw = 16000
            ph = MAX_PIXELS // pw - 10
            arr = np.zeros((ph, pw, 3), np.uint8)
            arr[:, :, 0] = (np.arange(pw) % 256).astype(np.uint8)
            Image.fromarray(arr).save(big / "huge.png", compress_level=1)
            del arr
            (big / "huge2.png").hardlink_to(big / "huge.png")  # two, with 4 threads: decoded at once before
            for label, max_bytes in (("before (no byte bound)", str(1 << 62)), ("after", "default")):
                r = run(big, args.image_size, "1", max_bytes)
                print(f"two {pw}x{ph} PNGs, {label:24s} peak RSS {r['peak'] / 2**20:6.0f} MiB  "
                      f"(+{(r['peak'] - r['base']) / 2**20:5.0f} MiB)  {r['seconds']:5.1f}s; {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
