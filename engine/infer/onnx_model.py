"""Running an exported ONNX model (``petseg export``) with ONNX Runtime: `OnnxPredictor`.

It is a `engine.infer.inference.Predictor` whose forward pass is an ONNX Runtime session, so
``petseg infer`` (one photo or a folder), ``petseg eval`` and the TUI get the same
preprocessing, upsampling to the photo's size, thresholding and outputs as with a checkpoint.
Providers (`_providers`): with ``auto``, CUDAExecutionProvider when this onnxruntime has it, then
CPUExecutionProvider; ``cuda`` / ``cuda:N`` that it cannot honour is refused in one line. The
probabilities come back as CPU tensors either way.

A petseg export carries its input size, mask rule, model and run in its metadata
(`engine.export.metadata`); a foreign ONNX model (no petseg metadata) needs ``image_size``
(or a fixed square input) and is taken to output one channel of logits, as petseg's own
networks do (probabilities when its output comes out of a Sigmoid: `ends_in_sigmoid`), with
petseg's normalisation (mean = std = 0.5); a model exported for a fixed batch size is fed
batches of that size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from engine.errors import CheckpointError, ConfigError, PetsegError, first_line
from engine.infer.inference import Predictor, _eval_transform

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def _providers(device: str) -> list[Any]:
    """ONNX Runtime's providers for ``--device``: auto takes CUDA when this onnxruntime has it;
    an explicit device it cannot honour is a one-line ConfigError, never a silent CPU run."""
    from engine.device import check_device_name
    from engine.infer.ort_runtime import onnxruntime

    ort = onnxruntime()
    check_device_name(device)
    has_cuda = CUDA in ort.get_available_providers()
    if device == "auto":
        return [CUDA, CPU] if has_cuda else [CPU]
    if device == "cpu":
        return [CPU]
    if device == "mps":
        raise ConfigError("--device mps: ONNX models run on ONNX Runtime's CUDA or CPU provider; use auto or cpu")
    if not has_cuda:
        raise ConfigError(f"--device {device}: this onnxruntime {ort.__version__} has no CUDA provider (the CPU-only "
                          "package; install onnxruntime-gpu); use auto or cpu")
    return [(CUDA, {"device_id": int(device.partition(":")[2] or 0)}), CPU]


# ORT's graph optimisation levels by name (bench/infer_latency.py --ort-opt tries them)
OPT_LEVELS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED", "basic": "ORT_ENABLE_BASIC",
              "disable": "ORT_DISABLE_ALL"}


def _session(path: Path, device: str, threads: int | None, ort_opt: str = "all") -> Any:
    from engine.infer.ort_runtime import onnxruntime

    ort = onnxruntime()

    if not path.is_file():
        raise CheckpointError(path, "no such ONNX file" if not path.exists() else "is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "empty file (0 bytes), not an ONNX model")
    try:  # ONNX Runtime says only "Load model from F failed:system error number 13" of it
        path.open("rb").close()
    except OSError as exc:
        raise CheckpointError(path, f"cannot read ({exc.strerror or exc})") from None
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[ort_opt])
    options.log_severity_level = 3  # errors only: its warnings are not the user's business
    if threads:
        options.intra_op_num_threads = threads
    providers = _providers(device)
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # InvalidProtobuf, Fail, NoSuchFile...: ORT's own exception types
        text = first_line(exc)
        if "protobuf" in text.lower() or "parsing failed" in text.lower():
            raise CheckpointError(path, "not a readable ONNX model (truncated or corrupt file?)") from None
        raise CheckpointError(path, f"ONNX Runtime cannot load it ({text[:160]})") from None
    if device.startswith("cuda") and CUDA not in session.get_providers():  # ORT falls back to the CPU quietly
        raise ConfigError(f"--device {device}: ONNX Runtime could not start its CUDA provider (CUDA or cuDNN "
                          "libraries missing?); use auto or cpu")
    return session


def _input_dims(session: Any, path: Path) -> tuple[int | None, ...]:
    """The declared (N, C, H, W) of the model's input, None where a dimension is symbolic."""
    shape = list(session.get_inputs()[0].shape)
    if len(shape) != 4:
        raise PetsegError(f"{path}: its input has shape {shape}; petseg feeds images as (N, 3, H, W)")
    dims = tuple(d if isinstance(d, int) and d > 0 else None for d in shape)
    if dims[1] not in (None, 3):
        raise PetsegError(f"{path}: its input has {dims[1]} channels; petseg feeds RGB images (3 channels)")
    return dims


def _foreign_image_size(dims: tuple[int | None, ...], image_size: int | None, path: Path) -> int:
    """The side of the squares a model without petseg metadata takes: its fixed H = W, or
    ``image_size`` when H and W are free; one line when they disagree or neither says."""
    h, w = dims[2], dims[3]
    if h is not None and w is not None:
        if h != w:
            raise PetsegError(f"{path}: its input is fixed at {h}×{w}; petseg feeds square images")
        if image_size is not None and image_size != h:
            raise PetsegError(f"--image_size {image_size}: {path} takes {h}×{h} only (a fixed input size)")
        return h
    if image_size is None:
        raise PetsegError(f"{path}: not a petseg export (no petseg metadata); pass --image_size N, "
                          "the side of the square the model takes")
    return image_size


# ops that carry a probability through unchanged in meaning (shape, layout, size, type)
_SHAPE_OPS = {"Identity", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Flatten", "Cast", "Resize", "Upsample",
              "Slice"}


def ends_in_sigmoid(path: Path) -> bool:
    """True if the model's output comes out of a Sigmoid (through shape-only ops): it outputs
    probabilities, which a second sigmoid would push above 0.5 everywhere (an all-pet mask);
    a petseg export stripped of its metadata is one, as are most exported binary segmenters."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 - ONNX Runtime read it; a graph onnx cannot parse says nothing here
        return False
    producers = {out: node for node in graph.node for out in node.output}
    node = producers.get(graph.output[0].name) if graph.output else None
    for _ in range(len(graph.node)):
        if node is None or node.op_type not in _SHAPE_OPS or not node.input:
            break
        node = producers.get(node.input[0])
    return node is not None and node.op_type == "Sigmoid"


class OnnxPredictor(Predictor):
    """A `Predictor` running an ONNX model on ONNX Runtime (see the module docstring)."""

    file_word = "ONNX model"

    def __init__(self, session: Any, path: Path, *, image_size: int, arch_name: str, mask_rule: str,
                 outputs_probability: bool, best_dice: float | None = None, epoch: int | None = None,
                 config: dict[str, Any] | None = None, trained_size: int | None = None,
                 valid_precision: str | None = None) -> None:
        # not Predictor.__init__: there is no torch module; the attributes callers read are set here
        self.session = session
        self.model = None
        self.device = torch.device("cpu")  # where the probabilities are handed back
        self.image_size = int(image_size)
        self.trained_size = trained_size  # the export's input_size (a dynamic one may run at another); None: unknown
        self.arch_name = arch_name
        self.mask_rule = mask_rule
        self.checkpoint_path = path
        self.epoch = epoch
        self.best_dice = best_dice
        self.config = dict(config or {})
        self.valid_precision = valid_precision
        self.warnings: list[str] = []
        self.outputs_probability = outputs_probability
        self.input_name = session.get_inputs()[0].name
        self.fixed_batch = _input_dims(session, path)[0]  # a model exported for batch 1 gets batches of 1
        self.providers = list(session.get_providers())
        _eval_transform(self.image_size)

    @classmethod
    def from_file(cls, path: str | Path, device: str = "auto", *, image_size: int | None = None,
                  expect_arch: str | None = None, threads: int | None = None, ort_opt: str = "all",
                  ) -> "OnnxPredictor":
        """Load an ONNX file; a one-line CheckpointError / PetsegError if it cannot be used."""
        from engine.export.metadata import ExportMetadata

        path = Path(path)
        session = _session(path, device, threads, ort_opt)
        meta = ExportMetadata.from_props(session.get_modelmeta().custom_metadata_map, path)
        if meta is None:
            image_size = _foreign_image_size(_input_dims(session, path), image_size, path)
            return cls(session, path, image_size=image_size, arch_name=expect_arch or "onnx",
                       mask_rule="pet_border", outputs_probability=ends_in_sigmoid(path))
        if expect_arch is not None and meta.model != expect_arch:
            raise CheckpointError(path, f"is a {meta.model} export, not {expect_arch} (drop --model or name the matching one)")
        if image_size is not None and image_size != meta.input_size and not meta.dynamic_size:
            raise PetsegError(f"--image_size {image_size}: {path} takes {meta.input_size}×{meta.input_size} "
                              "only (exported without --dynamic_size)")
        if image_size is not None and image_size % meta.stride:
            raise PetsegError(f"--image_size {image_size}: must be a multiple of {meta.stride} for {path}")
        return cls(session, path, image_size=image_size or meta.input_size, arch_name=meta.model,
                   mask_rule=meta.mask_rule, outputs_probability=True, best_dice=meta.valid_dice,
                   epoch=meta.epoch, config=meta.config, trained_size=meta.input_size,
                   valid_precision=meta.valid_precision or None)

    def _run(self, x: np.ndarray) -> np.ndarray:
        b = self.fixed_batch
        if b is None or len(x) == b:
            return self._run_batch(x)
        parts = []
        for i in range(0, len(x), b):  # the model's own batch size; the last one padded
            chunk = x[i : i + b]
            n = len(chunk)
            if n < b:
                chunk = np.concatenate([chunk, np.zeros((b - n, *chunk.shape[1:]), chunk.dtype)])
            parts.append(self._run_batch(chunk)[:n])
        return np.concatenate(parts)

    def _run_batch(self, x: np.ndarray) -> np.ndarray:
        try:
            out = self.session.run(None, {self.input_name: x})[0]
        except Exception as exc:  # ORT's InvalidArgument & co.: its reason is on later lines
            detail = " ".join(str(exc).split())
            raise PetsegError(f"{self.checkpoint_path}: ONNX Runtime refused a batch of shape {tuple(x.shape)} "
                              f"({detail[-200:]})") from None
        if out.ndim == 3:
            out = out[:, None]
        if out.ndim != 4 or out.shape[1] != 1:
            raise PetsegError(f"{self.checkpoint_path}: the model outputs {out.shape}, expected (N, 1, H, W)")
        out = out.astype(np.float32, copy=False)
        return out if self.outputs_probability else 1.0 / (1.0 + np.exp(-out))

    def probabilities(self, x: Tensor, tta: bool = False) -> Tensor:
        """(N, 3, S, S) preprocessed batch → (N, 1, S, S) float32 pet probabilities (CPU)."""
        arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        if not tta:
            return torch.from_numpy(self._run(arr))
        n = arr.shape[0]
        probs = self._run(np.concatenate([arr, arr[..., ::-1]], axis=0))
        return torch.from_numpy((probs[:n] + probs[n:, ..., ::-1]) / 2)
