"""``petseg export``: a run's best checkpoint (else last) as ONNX or TorchScript, with the petseg
metadata in the file and a parity check against PyTorch on the bundled test photos; refused
(exit 1, no file written) when the masks agree less than the parity rule asks
(`engine.export.parity.MIN_AGREEMENT`)."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from engine.cli.common import EXIT_ERROR, EXIT_OK, OneRun, add_flag, add_runs_flag, given_path, given_text, integer, console as new_console
from engine.config import default_runs_dir
from engine.errors import PetsegError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    x = sub.add_parser(
        "export", help="export a run's model to ONNX (or TorchScript), checked against PyTorch",
        description="Export a run's best.pt (else last.pt) in eval mode, with its input size, mean/std, "
                    "threshold, mask rule, model, run and valid Dice in the file, then check it against "
                    "PyTorch on the bundled test photos (|Δ probability|, mask agreement, Dice against the "
                    "trimaps; figures in export.json beside the file). An agreement under 0.999 is refused: "
                    "exit 1 and no file.")
    x.add_argument("--run", type=given_text, action=OneRun, required=True, help="run name (in --runs) or run folder")
    add_runs_flag(x)
    x.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    x.add_argument("--output", "--output_path", "--output-path", dest="output", type=given_path, default=None,
                   help="file to write, or an existing folder for model.onnx / model.torchscript.pt in it "
                        "(default: <run>/export/model.onnx or model.torchscript.pt)")
    x.add_argument("--opset", type=integer, default=None, help="ONNX opset (default 18, the widest reach)")
    add_flag(x, "dynamic_size", action="store_true",
             help="symbolic height and width: any multiple of the model's stride (16 for unet, 32 for the "
                  "*_unet encoder models; the export prints it); "
                  "default: fixed at the run's image size, batch always free")
    x.add_argument("--overwrite", action="store_true",
                   help="replace an existing file that petseg export did not write")
    return x


def cmd_export(args: argparse.Namespace) -> int:
    from engine.export.run_export import export_run
    from engine.runs import RunStore

    if args.opset is not None and args.format != "onnx":
        raise PetsegError(f"--opset {args.opset}: only for --format onnx")
    from engine.device import leave_a_core_for_the_ui

    # the parity check's PyTorch pass: torch's threads on every core of a busy 2-core machine
    # made it 4-7x slower than one thread (docs/PERFORMANCE.md, "Threads on a shared 2-core CPU")
    leave_a_core_for_the_ui()
    console = new_console()
    run = RunStore(args.runs or default_runs_dir()).resolve(args.run)
    if args.output is not None:  # a folder: the default file name, in it
        from engine.infer.outputs import into_folder
        from engine.runs.layout import export_path

        args.output = into_folder(args.output, export_path(run, args.format))
    result = export_run(run, args.format, output=args.output, opset=args.opset, dynamic_size=args.dynamic_size,
                        overwrite=args.overwrite, on_step=lambda step: console.print(str(step), markup=False))
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    console.print(f"export {result.export_seconds:.1f} s, parity {result.parity_seconds:.1f} s "
                  f"(PyTorch vs {'ONNX Runtime' if result.format == 'onnx' else 'TorchScript'}):", markup=False)
    for p in result.parity:
        console.print(f"  {p.line()}", markup=False)
    console.print(f"report: {result.report_path}", markup=False)
    if not result.accepted:
        worst = min(result.parity, key=lambda p: p.mask_agreement)
        earlier = " (the earlier export there is unchanged)" if result.path.exists() else ""
        raise PetsegError(f"{result.path}: not written{earlier}: the export's masks agree with PyTorch's at "
                          f"{worst.mask_agreement:.6f} < 0.999 ({worst.height}x{worst.width}); see {result.report_path}")
    size = (f"dynamic size: any H and W multiple of {result.metadata.stride}" if result.metadata.dynamic_size
            else f"fixed size {result.metadata.input_size}x{result.metadata.input_size}")
    # quoted as a shell needs it: a path with a space ("my models/m.onnx") pasted as printed ran
    # `petseg infer --model_path my` with a stray "models/m.onnx" argument
    console.print(f"{result.path}: {result.format}, {size}, batch free; run it with: petseg infer --model_path "
                  f"{shlex.quote(str(result.path))} --data_path PHOTO --output_path OUT.png"
                  if result.format == "onnx" else f"{result.path}: {result.format}, {size}", markup=False)
    return EXIT_OK if result.accepted else EXIT_ERROR
