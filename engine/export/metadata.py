"""What an exported model carries for whoever runs it: the petseg metadata.

ONNX files keep it in ``metadata_props`` (string keys and values, readable by any ONNX tool and
by ONNX Runtime's ``get_modelmeta().custom_metadata_map``); TorchScript files keep the same
mapping as the JSON extra file `TORCHSCRIPT_EXTRA`. `FORMAT_KEY` = `FORMAT` marks a petseg
export: a file without it is "not a petseg export" (inference then asks for ``--image_size``).

The input is NCHW float32 RGB, resized straight to ``input_size``² (area), scaled to [0, 1] and
normalised with ``mean``/``std``; the output is the pet probability per pixel (the sigmoid is
in the graph), a pixel is pet where it exceeds ``threshold``. Torch-free.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from engine.errors import CheckpointError, PetsegError
from engine.runs.layout import open_regular_file
from engine.version import petseg_version as installed_version

FORMAT = "petseg-export/1"
FORMAT_KEY = "petseg_format"
# the ONNX opset of an export without --opset: the widest reach among runtimes; newer opsets bring
# nothing these networks use (here, torch-free: whether an export would replace another is told
# before torch is imported)
DEFAULT_OPSET = 18
TORCHSCRIPT_EXTRA = "petseg.json"  # the metadata of a TorchScript export (an extra file in its zip)
INPUT_NAME, OUTPUT_NAME = "image", "probability"


@dataclass(frozen=True)
class ExportMetadata:
    """The petseg facts stored in an exported model (see the module docstring)."""

    model: str  # architecture name (engine.models)
    input_size: int  # the side of the square the photos are resized to
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    threshold: float
    mask_rule: str
    run: str = ""
    valid_dice: float | None = None
    epoch: int | None = None
    checkpoint: str = ""  # best.pt or last.pt
    stride: int = 32  # with dynamic_size, any H and W that are multiples of it
    dynamic_size: bool = False
    petseg_version: str = field(default_factory=installed_version)
    config: dict[str, Any] = field(default_factory=dict)  # the run's TrainConfig (data_path, valid_every...)
    valid_precision: str = ""  # what the valid Dice was scored in (fp32, bfloat16, ...); "": not recorded

    def to_props(self) -> dict[str, str]:
        """String key -> string value, as ONNX ``metadata_props`` holds them."""
        props = {FORMAT_KEY: FORMAT, "input_layout": f"NCHW float32 RGB, {INPUT_NAME} -> {OUTPUT_NAME}"}
        for key, value in asdict(self).items():
            if isinstance(value, (list, tuple)):
                props[key] = ",".join(f"{v:g}" for v in value)
            elif isinstance(value, dict):
                props[key] = json.dumps(value, sort_keys=True, default=str)
            elif isinstance(value, bool):
                props[key] = "true" if value else "false"
            else:
                props[key] = "" if value is None else str(value)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str], path: str | Path) -> "ExportMetadata | None":
        """The metadata of a petseg export; None if ``props`` has no petseg format marker;
        CheckpointError (one line) if it has one but a field is unusable."""
        if props.get(FORMAT_KEY) is None:
            return None
        if props[FORMAT_KEY] != FORMAT:
            raise CheckpointError(path, f"petseg export format {props[FORMAT_KEY]!r} is not {FORMAT!r} "
                                        "(written by another petseg version?)")
        try:
            triple = lambda key: tuple(float(v) for v in props[key].split(","))  # noqa: E731
            meta = cls(
                model=props["model"], input_size=int(props["input_size"]), mean=triple("mean"), std=triple("std"),
                threshold=float(props["threshold"]), mask_rule=props["mask_rule"], run=props.get("run", ""),
                valid_dice=float(props["valid_dice"]) if props.get("valid_dice") else None,
                epoch=int(props["epoch"]) if props.get("epoch") else None,
                checkpoint=props.get("checkpoint", ""), stride=int(props.get("stride") or 32),
                dynamic_size=props.get("dynamic_size") == "true",
                petseg_version=props.get("petseg_version", ""),
                config=json.loads(props["config"]) if props.get("config") else {},
                valid_precision=props.get("valid_precision", ""),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(path, f"petseg metadata is malformed ({type(exc).__name__}: {exc})") from None
        if len(meta.mean) != 3 or len(meta.std) != 3 or not 32 <= meta.input_size <= 2048 \
                or not 0 < meta.threshold < 1 or not isinstance(meta.config, dict):
            raise CheckpointError(path, "petseg metadata is out of range (input_size, mean/std or threshold)")
        return meta

    def describe(self) -> str:
        """One line for the CLI: model, size, run."""
        size = f"any H×W multiple of {self.stride} (trained at {self.input_size})" if self.dynamic_size \
            else f"{self.input_size}×{self.input_size}"
        dice = f", valid Dice {self.valid_dice:.4f}" if self.valid_dice is not None else ""
        return f"{self.model}, input {size}, mask rule {self.mask_rule}, run {self.run or '?'}{dice}"


ONNX_FIRST_BYTE = b"\x08"
MAX_ONNX_BYTES = 2 << 30  # protobuf's limit on one message: a bigger model keeps its weights outside


def onnx_props(path: str | Path) -> dict[str, str] | None:
    """An ONNX file's ``metadata_props``; None if it is not a readable ONNX model (a FIFO or a
    device in its place is never waited on: `open_regular_file`)."""
    try:
        with open_regular_file(path) as fh:
            # a saved ModelProto starts with its field 1, ir_version (a varint: byte 0x08); any other
            # first byte is not a model, told without importing onnx (~1 s on a busy machine, which
            # the dashboard's "Replace?" question waited for)
            if fh.read(1) != ONNX_FIRST_BYTE or os.fstat(fh.fileno()).st_size > MAX_ONNX_BYTES:
                return None
            import onnx

            fh.seek(0)
            model = onnx.load_model_from_string(fh.read())  # its external data (none of ours has any) never loaded
    except Exception:  # a truncated or foreign file: not one of ours
        return None
    return {p.key: p.value for p in model.metadata_props}


def torchscript_props(path: str | Path) -> dict[str, str] | None:
    """A TorchScript file's petseg extra file as a mapping; None if it has none or is unreadable."""
    try:
        with open_regular_file(path) as fh, zipfile.ZipFile(fh) as z:
            name = next((n for n in z.namelist() if n.endswith(f"/extra/{TORCHSCRIPT_EXTRA}")), None)
            if name is None:
                return None
            data = json.loads(z.read(name))
    except (OSError, PetsegError, zipfile.BadZipFile, ValueError, KeyError):
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def is_petseg_export(path: str | Path) -> bool:
    """True if ``path`` is a model file that ``petseg export`` wrote (the format marker is in it)."""
    props = onnx_props(path) if Path(path).suffix.lower() == ".onnx" else torchscript_props(path)
    return bool(props) and props.get(FORMAT_KEY) == FORMAT
