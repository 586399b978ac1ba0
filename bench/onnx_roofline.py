"""How close each backend's forward pass comes to one CPU core's FP32 peak (issue 22's 0.7x goal).

    .venv/bin/python bench/onnx_roofline.py [--models unet,resnet34_unet] [--image-size 128]
        [--width 32] [--runs 20] [--warmup 5]

For each model: the forward FLOPs (torch's flop counter), the one-thread forward time of PyTorch
and of ONNX Runtime (the model exported by ``petseg export``'s exporter, ORT_ENABLE_ALL; the two
take turns run by run), the GFLOP/s each reaches as a share of the core's FP32 peak measured by
`_cpu_peak` (a compiled FMA loop), and the GFLOP/s ORT would need to run in 0.7x PyTorch's time.
A need above 100 % of the peak means no fp32 ONNX Runtime setting can meet the goal on this
core; only less work (fewer FLOPs) or a lower precision could. ORT's time by operator type comes
from its own profiler.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cpu_peak import fp32_peak_gflops  # noqa: E402
from _flops import forward_flops  # noqa: E402
from _machine import cpu_model, load  # noqa: E402

GOAL = 0.7


def _median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def _ort_session(model, image_size: int, folder: Path, profile: bool):
    import onnxruntime as ort

    from engine.data.augment_spec import MEAN, STD
    from engine.export.metadata import ExportMetadata
    from engine.export.model import LoadedModel, ProbabilityModel, model_stride
    from engine.export.onnx_export import export_onnx

    name = model.arch_name
    meta = ExportMetadata(model=name, input_size=image_size, mean=MEAN, std=STD, threshold=0.5,
                          mask_rule="pet_border", stride=model_stride(name), dynamic_size=False)
    path = folder / f"{name}.onnx"
    path.write_bytes(export_onnx(LoadedModel(ProbabilityModel(model).eval(), meta, Path("bench"), [])))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = str(folder / f"{name}-profile")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _ort_by_op(session) -> list[tuple[str, float]]:
    """Share of ORT's kernel time per operator type, from its profile."""
    events = json.loads(Path(session.end_profiling()).read_text())
    per_op: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]
    total = sum(per_op.values()) or 1
    return [(op, us / total) for op, us in per_op.most_common()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="unet,resnet34_unet")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--width", type=int, default=32, help="the UNet's width")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from engine.models import build_model

    torch.set_num_threads(1)
    peak = fp32_peak_gflops()
    print(f"{cpu_model()}; one thread each; FP32 FMA peak of one core: "
          + (f"{peak:.1f} GFLOP/s (measured)" if peak else "not measured (no C compiler)") + f"  [{load()}]")
    x = np.random.default_rng(0).standard_normal((1, 3, args.image_size, args.image_size)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="petseg-roofline-") as tmp:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            torch.manual_seed(0)
            net = build_model(name, width=args.width).eval()
            net.arch_name = name
            flops = forward_flops(name, args.width, args.image_size)
            session = _ort_session(net, args.image_size, Path(tmp), profile=True)
            feed = {session.get_inputs()[0].name: x}
            xt = torch.from_numpy(x)
            times: dict[str, list[float]] = {"pytorch": [], "onnxruntime": []}
            with torch.inference_mode():
                for i in range(args.warmup + args.runs):
                    t0 = time.perf_counter()
                    net(xt)
                    t1 = time.perf_counter()
                    session.run(None, feed)
                    t2 = time.perf_counter()
                    if i >= args.warmup:
                        times["pytorch"].append(t1 - t0)
                        times["onnxruntime"].append(t2 - t1)
            pt, ort_s = _median(times["pytorch"]), _median(times["onnxruntime"])
            print(f"\n{name}" + (f" width {args.width}" if name == "unet" else "")
                  + f", {args.image_size} px: {flops / 1e9:.2f} GFLOP per forward  [{load()}]")
            for label, secs in (("pytorch", pt), ("onnxruntime", ort_s)):
                rate = flops / secs / 1e9
                share = f" = {rate / peak:5.1%} of peak" if peak else ""
                print(f"  {label:11s} {secs * 1000:7.1f} ms  {rate:6.1f} GFLOP/s{share}")
            need = flops / (GOAL * pt) / 1e9
            print(f"  ORT / PyTorch {ort_s / pt:.2f}x; {GOAL}x would need {need:.1f} GFLOP/s"
                  + (f" = {need / peak:.0%} of peak" if peak else ""))
            print("  ORT kernel time by operator: "
                  + ", ".join(f"{op} {share:.1%}" for op, share in _ort_by_op(session)[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
