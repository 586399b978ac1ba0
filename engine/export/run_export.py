"""``petseg export`` of a run: its best checkpoint (else last) to ONNX or TorchScript, checked for
parity with PyTorch before the file is written.

Bad input is refused before any work, in one line, with nothing written: a run with no
checkpoint, an output in a missing folder, an output that is a folder or an input, and, unless
``overwrite``, an existing file that an export would replace with a loss (`export_loss`): one
``petseg export`` did not write (the model file or the ``export.json`` the report goes to), or
one it wrote that is not the export this one would write again (another checkpoint, or the same
file since changed, or other options: a user may be deploying it). Over its own export of the
same checkpoint with the same options an export just runs again: nothing is lost. The TUI's
``E`` asks "Replace?" where the CLI needs ``--overwrite``. The model is exported
to memory, checked (``onnx.checker``, then `engine.export.parity` on the bundled test photos at
each size) and only then written, atomically (`engine.atomic`). A refused export writes nothing
but its entry in ``export.json`` (accepted false), so no file looks like a valid export.

The run's ``export/`` folder is made only then, when there is something to write in it: an
export that ends before (an error, the dashboard quit mid-export, whose process ends without
waiting for its worker) leaves no empty folder. And a process that ends while an export writes
waits for that write to finish, and starts no other (`engine.exit_writes.whole_write`): no temp
file nor a model without its ``export.json`` is left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write
from engine.errors import PetsegError
from engine.exit_writes import whole_write
from engine.export.metadata import ExportMetadata, is_petseg_export
from engine.export.parity import MIN_AGREEMENT, SECOND_SIZE_PHOTOS, Parity
from engine.infer.outputs import LINKS_OUT, OutputRefused, folder_write_problem, links_out
from engine.made_folders import make_folder, remove_if_empty
from engine.runs.layout import EXPORT_FILES, checkpoint_for, export_path
from engine.version import petseg_version

FORMATS = tuple(EXPORT_FILES)  # onnx, torchscript
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass
class ExportResult:
    """What an export did: where, with which figures, and whether the file was written."""

    path: Path
    format: str
    metadata: ExportMetadata
    checkpoint: Path
    parity: list[Parity] = field(default_factory=list)
    report_path: Path | None = None
    export_seconds: float = 0.0
    parity_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # "no best.pt yet", NaN weights

    @property
    def accepted(self) -> bool:
        return bool(self.parity) and all(p.ok for p in self.parity)


@dataclass(frozen=True)
class ExportStep:
    """One step of an export as it starts, in the words of both its screens: ``doing`` in a few
    words (the dashboard's progress line: "exporting to ONNX: checking it against PyTorch at
    256x256 on the bundled test photos… (started 12 s ago)"), ``detail`` what the CLI's line adds
    after them (the checkpoint, the model)."""

    doing: str
    detail: str = ""

    def __str__(self) -> str:
        """The CLI's line."""
        return f"{self.doing} {self.detail}" if self.detail else self.doing


class NotAnExportRefused(OutputRefused):
    """``path`` (the model file or its ``export.json``) exists and an export would replace it with
    a loss (`export_loss`): ``overwrite`` would replace it. The dashboard catches it to ask the user
    instead of naming a flag; ``why`` says what the file is, after "It exists and" in its question."""

    def __init__(self, message: str, path: Path, why: str = "was not written by petseg export") -> None:
        super().__init__(message)
        self.path = path
        self.why = why


def export_loss(output: Path, fmt: str, checkpoint: Path, *, opset: int | None = None,
                dynamic_size: bool = False) -> str:
    """What writing this export (``fmt`` of ``checkpoint`` with these options) at ``output`` would
    lose, said of the file there ("was not written by petseg export", "holds the export of best.pt
    as it was on ..."); "" when nothing: no file there, or petseg export's own export of the same
    checkpoint file (by name, size and modification time, as its ``export.json`` entry recorded
    them), still as written, with the same options, which the new export would write again.
    Torch-free (the dashboard asks at once). A petseg export that is not that one may be the model
    a user deploys: the CLI refuses it without --overwrite, the TUI asks."""
    from engine.export.metadata import DEFAULT_OPSET
    from engine.export.report import file_note, read_report

    if not (output.exists() or output.is_symlink()):
        return ""
    if links_out(output):
        return LINKS_OUT
    if not is_petseg_export(output):
        return "was not written by petseg export"
    entry = read_report(output).get(output.name)
    if entry is None or not entry.get("written", entry.get("accepted")):
        return "holds a petseg export that its export.json does not record"
    note = file_note(output.parent, entry)
    if note:
        return f"holds a petseg export, but {note}"
    made = str(entry.get("created") or "?").replace("T", " ")[:16] + " UTC"
    was = Path(str(entry.get("checkpoint") or "?")).name
    if was != checkpoint.name:
        return f"holds the export of {was} (made {made}); this export would be of {checkpoint.name}"
    try:
        st = checkpoint.stat()
    except OSError:
        return ""  # checkpoint_for found it: gone since, the export itself says so
    if entry.get("checkpoint_mtime_ns") != st.st_mtime_ns or entry.get("checkpoint_bytes") != st.st_size:
        return f"holds the export of {was} as it was on {made}; {checkpoint.name} has changed since"
    if fmt == "onnx" and entry.get("opset") != (opset or DEFAULT_OPSET):
        return f"holds an export at opset {entry.get('opset')}; this one would be at opset {opset or DEFAULT_OPSET}"
    props = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
    if (props.get("dynamic_size") == "true") != dynamic_size:
        return ("holds an export of any size (--dynamic_size); this one would be of a fixed size" if not dynamic_size
                else "holds an export of a fixed size; this one would be of any size (--dynamic_size)")
    return ""


def check_export_output(output: Path, fmt: str, inputs: tuple[Path, ...], overwrite: bool, *,
                        opset: int | None = None, dynamic_size: bool = False, create_folder: bool = False) -> Path:
    """``output`` if an export of ``inputs[0]`` (the checkpoint) may be written there; a one-line
    PetsegError otherwise (`NotAnExportRefused` when only ``overwrite`` is missing).
    ``create_folder``: its folder is made when the export writes (the run's ``export/``)."""
    from engine.infer.outputs import check_output

    # the shared guard for suffix, folders and inputs; which existing file may go is an export's own rule
    check_output(output, inputs=inputs, overwrite=True, suffix=SUFFIXES[fmt], flag="--output",
                 create_folder=create_folder)
    loss = "" if overwrite else export_loss(output, fmt, inputs[0], opset=opset, dynamic_size=dynamic_size)
    if loss:
        raise NotAnExportRefused(f"{output}: already exists and {loss}; refusing to replace it "
                                 "(pass --overwrite to replace it)", output, loss)
    from engine.export.report import report_may_be_written
    from engine.runs.layout import export_report_path

    refused = report_may_be_written(output, overwrite)
    if refused:
        raise NotAnExportRefused(refused, export_report_path(output),
                                 "is not a petseg export report")
    return output


def check_before_export(run_path: Path, fmt: str = "onnx", *, overwrite: bool = False) -> None:
    """The refusals an export of ``run_path`` into its own export folder (default options) meets
    before any work: no checkpoint yet, or a file there it would replace with a loss
    (`NotAnExportRefused`). Torch is not imported nor the model loaded (seconds, ~15 on a busy
    machine): the dashboard asks "Replace?" at once. `export_run` checks the same again."""
    checkpoint, _ = checkpoint_for(run_path)
    output = export_path(run_path, fmt)
    if output.parent.is_dir():  # no export folder yet: nothing there to replace
        check_export_output(output, fmt, (checkpoint,), overwrite)


def export_run(
    run_path: Path,
    fmt: str = "onnx",
    *,
    output: Path | None = None,
    opset: int | None = None,
    dynamic_size: bool = False,
    overwrite: bool = False,
    parity_photos: int | None = None,
    on_step: Callable[[ExportStep], None] | None = None,
) -> ExportResult:
    """Export ``run_path``'s model (see the module docstring). ``parity_photos`` limits the test
    photos (tests); ``on_step`` hears each step as it starts (the CLI prints it, the dashboard
    shows it in its progress line)."""
    from engine.export import parity as par
    from engine.export.model import load_for_export

    if fmt not in FORMATS:
        raise PetsegError(f"--format {fmt}: must be one of {', '.join(FORMATS)}")
    step = on_step or (lambda _msg: None)
    if opset is not None and fmt == "onnx":
        from engine.export.onnx_export import opset_problem

        problem = opset_problem(opset)
        if problem:
            raise PetsegError(problem)
    checkpoint, note = checkpoint_for(run_path)
    default = output is None
    output = Path(output) if output is not None else export_path(run_path, fmt)
    if default and not output.parent.is_dir():  # made when the export writes (`_write`): can it be?
        problem = folder_write_problem(run_path)
        if problem:
            raise PetsegError(f"{output.parent}: cannot create the export folder ({problem})")
    check_export_output(output, fmt, (checkpoint,), overwrite, opset=opset, dynamic_size=dynamic_size,
                        create_folder=default)

    step(ExportStep("loading the model", f"from {checkpoint}"))  # torch imported: seconds on a busy machine
    loaded = load_for_export(checkpoint, run_path.name)
    from dataclasses import replace

    loaded.metadata = replace(loaded.metadata, dynamic_size=dynamic_size)
    result = ExportResult(output, fmt, loaded.metadata, checkpoint, notes=[n for n in [note, *loaded.warnings] if n])
    step(ExportStep("converting the model", f"to {fmt} ({loaded.metadata.describe()})"))
    start = time.perf_counter()
    if fmt == "onnx":
        from engine.export.metadata import DEFAULT_OPSET
        from engine.export.onnx_export import export_onnx

        opset = opset or DEFAULT_OPSET
        data = export_onnx(loaded, opset=opset, dynamic_size=dynamic_size)
        exported = par.onnx_runner(data)
    else:
        from engine.export.torchscript_export import export_torchscript, load_torchscript

        data = export_torchscript(loaded)
        exported = par.torchscript_runner(load_torchscript(data))
    result.export_seconds = time.perf_counter() - start

    start = time.perf_counter()
    meta = loaded.metadata
    pairs = par.test_pairs(parity_photos)
    reference = par.torch_runner(loaded.network)
    for i, size in enumerate(par.parity_sizes(meta.input_size, meta.stride, dynamic_size)):
        step(ExportStep(f"checking it against PyTorch at {size[0]}x{size[1]} on the bundled test photos"))
        photos = pairs if i == 0 else pairs[:SECOND_SIZE_PHOTOS]
        result.parity.append(par.measure(reference, exported, photos, size, mean=meta.mean, std=meta.std,
                                         threshold=meta.threshold, mask_rule=meta.mask_rule))
    result.parity_seconds = time.perf_counter() - start
    _write(result, _entry(result, opset if fmt == "onnx" else None, data), data)
    return result


def _write(result: ExportResult, entry: dict[str, Any], data: bytes) -> None:
    """The model file if it was accepted, then its entry in ``export.json``: the export's folder
    made first if missing (removed again if nothing went into it), the whole a `whole_write`."""
    from engine.export.report import record

    output = result.path
    with whole_write():
        try:
            made = make_folder(output.parent)
        except OSError as exc:
            raise PetsegError(f"{output.parent}: cannot create the export folder ({exc.strerror or exc})") from None
        try:
            if result.accepted:
                try:
                    atomic_write(output, lambda fh: fh.write(data))
                except OSError as exc:
                    raise PetsegError(f"{output}: cannot write the export ({exc.strerror or exc})") from None
                try:  # the file as written: the run screen then checks it without hashing (report.file_note)
                    entry["mtime_ns"] = output.stat().st_mtime_ns
                except OSError:
                    pass
            result.report_path = record(output, entry)
        finally:
            remove_if_empty(made)


def _checkpoint_stat(checkpoint: Path) -> dict[str, int]:
    try:
        st = checkpoint.stat()
    except OSError:
        return {}
    return {"checkpoint_bytes": st.st_size, "checkpoint_mtime_ns": st.st_mtime_ns}


def _entry(result: ExportResult, opset: int | None, data: bytes) -> dict[str, Any]:
    from engine.export.report import digest

    exporter = "torch.onnx.export(dynamo=True)" if result.format == "onnx" else "torch.jit.trace + freeze"
    return {
        "file": result.path.name,
        "format": result.format,
        "accepted": result.accepted,
        "written": result.accepted,  # refused: nothing written; an earlier export at that path is left as it was
        "rule": f"mask agreement >= {MIN_AGREEMENT} at every size",
        "parity": [p.as_dict() for p in result.parity],
        "checkpoint": str(result.checkpoint),
        **_checkpoint_stat(result.checkpoint),  # which state of it: a later export tells its own (export_loss)
        "metadata": result.metadata.to_props(),
        "opset": opset,
        "exporter": exporter,
        "bytes": len(data),
        "sha256": digest(data),  # what was written: the run screen tells a file replaced since (report.file_note)
        "export_seconds": round(result.export_seconds, 3),
        "parity_seconds": round(result.parity_seconds, 3),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "petseg_version": petseg_version(),
        "notes": result.notes,
    }
