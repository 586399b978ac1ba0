"""Memory of one photo just under the decoder's pixel cap through folder inference, step by step.

    .venv/bin/python bench/huge_photo_memory.py

A 16000 x ~11250 RGB PNG (a gradient: quick to write) is decoded and shrunk (`infer_folder._load`),
predicted by a width-4 UNet at 128 px, and written as a mask and as an overlay at its original
size (`infer_folder._write`). A thread samples the process's RSS every 5 ms; each step prints
its peak over the RSS before it. PNG has no reduced-scale decode, so the decode is the floor.
"""
from __future__ import annotations

import sys
import tempfile
import threading
import time
import numpy as np
import psutil
from pathlib import Path
from PIL import Image
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.data.images import MAX_PIXELS
proc = psutil.Process()
peak = [0]; stop = threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss); time.sleep(0.005)
threading.Thread(target=sample, daemon=True).start()
workdir = tempfile.TemporaryDirectory()  # the huge PNG and its masks go when the script ends
tmp = Path(workdir.name)
pw = 16000; ph = MAX_PIXELS // pw - 10
arr = np.zeros((ph, pw, 3), np.uint8); arr[:, :, 0] = (np.arange(pw) % 256).astype(np.uint8)
Image.fromarray(arr).save(tmp / "huge.png", compress_level=1); del arr
from engine.infer.inference import Predictor
from engine.infer.infer_folder import _load, _write
from engine.models import build_model
pred = Predictor(build_model("unet", width=4), image_size=128, arch_name="unet", device="cpu")
def step(name, fn):
    time.sleep(0.05); base = proc.memory_info().rss; peak[0] = base
    t = time.perf_counter(); r = fn(); time.sleep(0.05)
    print(f"{name:28s} +{(peak[0]-base)/2**20:6.0f} MiB peak over {base/2**20:6.0f} MiB  {time.perf_counter()-t:5.1f}s", flush=True)
    return r
image, x, size = step("load (decode+shrink)", lambda: _load(pred, tmp / "huge.png"))
from engine.infer.inference import photo_probabilities
probs = step("predict", lambda: photo_probabilities(pred.probabilities(x[None]), [image.shape[:2]]))
for overlay in (False, True):
    step(f"write overlay={overlay}", lambda: _write(image, probs[0], size, tmp / f"o{overlay}.png", 0.5, overlay))
stop.set()
