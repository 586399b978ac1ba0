"""Checkpoints: atomic save, safe load (``weights_only=True``) and rebuilding the model.

A checkpoint is a plain dict of tensors and primitives::

    {"format": "petseg-checkpoint/1", "arch": {"name": ..., "kwargs": {...}}, "model": state_dict,
     "image_size", "mask_rule", "epoch", "best_dice", "best_epoch", "config",
     "optimizer", "scheduler", "scaler", "rng"}   # the last four only in training checkpoints

``arch`` lets inference rebuild the network with no extra flags. Loading never unpickles
arbitrary objects: a file made by ``torch.save(model)`` is refused with a clear message.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path
from typing import Any

import torch

from engine.atomic import atomic_write
from engine.errors import CheckpointError, first_line
from engine.runs.layout import file_kind

FORMAT = "petseg-checkpoint/1"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    A crash or a full disk during the write leaves the previous file at ``path`` intact; the
    temp file is removed on error. Raises CheckpointError with the OS reason.
    """
    path = Path(path)
    try:
        atomic_write(path, lambda fh: torch.save(state, fh), fault_point="checkpoint")
    except (OSError, RuntimeError) as exc:
        cause = _os_error_in(exc)
        reason = (cause.strerror if cause is not None else None) or first_line(exc)
        raise CheckpointError(path, f"could not save checkpoint ({reason})") from None


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: itself, or the one it was raised while handling. torch.save's
    zip writer turns a failed write (a full disk) into ``RuntimeError: [enforce fail at
    inline_container.cc:...] unexpected pos 704 vs 598`` and keeps the "No space left on
    device" only as the error's context."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def pickles_objects(exc: BaseException) -> bool:
    """``torch.load(weights_only=True)`` refused a class or function the file pickles (a whole
    model saved with ``torch.save(model)``), as opposed to bytes that are no torch file at all
    (which it also reports as "Weights only load failed")."""
    return "Unsupported global" in str(exc)


NOT_A_TORCH_FILE = "not a file torch.save wrote"


def load_failure_detail(exc: BaseException) -> str:
    """A few words on why ``torch.load`` could not read a file that `pickles_objects` does not
    explain: the first sentence of its error (torch's zip reader appends a long "internal miniz
    error" hint), or `NOT_A_TORCH_FILE` where that sentence says nothing (the safe unpickler's
    "Weights only load failed" advice, a junk opcode's KeyError '105')."""
    if "Weights only load failed" in str(exc):
        return NOT_A_TORCH_FILE
    first = first_line(exc).split(". ")[0][:120]
    return first if first and not first.strip("'\"").isdigit() else NOT_A_TORCH_FILE


ZIP_MAGIC = b"PK\x03\x04"  # what every file torch.save writes (its zip format) starts with

# files a user gives as a checkpoint by mistake (a photo after --model_path, the flags swapped; a
# run's config.json), known by their first bytes: "corrupt or truncated checkpoint" misled
OTHER_FILES = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"GIF8", "a GIF image"),
               (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"))


def other_file_kind(path: Path) -> str | None:
    """What ``path`` is when its first bytes say it is no checkpoint ("a JPEG image", "a JSON
    file"), else None (torch.load and `zip_damage` judge it)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    for magic, kind in OTHER_FILES:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    return "a JSON file" if head.lstrip()[:1] in (b"{", b"[") else None


def zip_damage(path: Path) -> str | None:
    """Why a checkpoint's bytes are not what ``torch.save`` wrote, or None when they are (or the
    file is no zip at all: torch.load then says what it is).

    ``torch.load`` reads the tensors of its zip by offset and never checks the CRC-32 each entry
    carries: a flipped block in the weights (a bad disk, an interrupted copy over the file) loads
    and gives wrong masks with no word. Every entry is read once and checked here (0.17 s for a
    294 MB ResNet34-UNet last.pt on this CPU, half of what torch.load takes). A file cut short lacks the zip's directory, which sits at its end."""
    try:
        with path.open("rb") as fh:
            if fh.read(len(ZIP_MAGIC)) != ZIP_MAGIC:
                return None
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.CRC == 0 and info.file_size:  # saved with torch's compute_crc32 off: nothing to check
                    continue
                with archive.open(info) as entry:
                    while entry.read(1 << 22):
                        pass
    except zipfile.BadZipFile as exc:
        text = str(exc)
        if "Bad CRC-32" in text:
            return f"corrupt checkpoint: its entry {text.split('file ', 1)[-1]} does not match the checksum " \
                   "torch.save recorded (damaged on disk or in a copy)"
        if "not a zip file" in text.lower():
            return "truncated checkpoint: the zip directory at its end is missing (an interrupted copy or save?)"
        return f"corrupt or truncated checkpoint ({first_line(exc)})"
    except UnicodeDecodeError:  # an entry's name in the directory is garbled
        return "corrupt checkpoint: its zip directory is damaged (damaged on disk or in a copy)"
    except (OSError, EOFError, ValueError) as exc:  # a cut-short entry, a header that points nowhere
        return f"corrupt or truncated checkpoint ({getattr(exc, 'strerror', None) or first_line(exc)})"
    return None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a petseg checkpoint safely; every failure is a one-line CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, not a checkpoint file")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):  # a FIFO or a device has no size: it was "empty file (0 bytes)"
        raise CheckpointError(path, f"is {file_kind(mode)}, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "empty file (0 bytes), not a checkpoint")
    try:  # a file that cannot be opened was "corrupt or truncated checkpoint (Permission denied)"
        path.open("rb").close()
    except OSError as exc:
        raise CheckpointError(path, f"cannot read ({exc.strerror or exc})") from None
    other = other_file_kind(path)
    if other:
        raise CheckpointError(path, f"is {other}, not a checkpoint (give the .pt file petseg train wrote, "
                                    "e.g. <run>/checkpoints/best.pt, or an .onnx export)")
    damage = zip_damage(path)
    if damage:
        raise CheckpointError(path, damage)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # the unpickler raises many types (IndexError, EOFError, ...) on junk
        if pickles_objects(exc):
            raise CheckpointError(
                path,
                "refused: it pickles Python objects (a whole model saved with torch.save(model)?); "
                "only state_dict checkpoints are loaded, with weights_only=True",
            ) from None
        raise CheckpointError(path, f"corrupt or truncated checkpoint ({load_failure_detail(exc)})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "arch" not in ckpt:
        raise CheckpointError(path, "not a petseg checkpoint (no architecture record); was it saved by petseg?")
    arch = ckpt["arch"]
    if not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
        raise CheckpointError(path, "not a petseg checkpoint (malformed architecture record)")
    if ckpt.get("format", FORMAT) != FORMAT:  # none recorded: a hand-made or seed-era file, read as before
        raise CheckpointError(path, f"checkpoint format {ckpt['format']!r} is not {FORMAT!r} "
                                    "(written by another petseg version?)")
    check_record(ckpt, path)
    return ckpt


def recorded_image_size(ckpt: dict[str, Any]) -> Any:
    """The input size a checkpoint records (older or hand-made ones keep it only in ``config``)."""
    config = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    return ckpt.get("image_size") if ckpt.get("image_size") is not None else config.get("image_size")


def check_record(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> None:
    """Refuse a checkpoint whose fields training could never have written, before anything
    is allocated from them: a checkpoint is untrusted input (docs/RELIABILITY.md, "Checkpoint
    fields are untrusted input"). The limits are training's own
    (`TrainConfig.field_errors`): model, width, image_size, mask_rule; unknown arch kwargs."""
    from engine.config import TrainConfig
    from engine.config import MODELS
    from engine.models import model_kwargs

    arch = ckpt["arch"]
    name = arch["name"]
    if name not in MODELS:
        raise CheckpointError(path, f"unknown architecture {name!r} (known: {', '.join(MODELS)})")
    kwargs = arch.get("kwargs") if arch.get("kwargs") is not None else {}
    if not isinstance(kwargs, dict):
        raise CheckpointError(path, "malformed architecture record (kwargs is not a mapping)")
    allowed = set(model_kwargs(name, 64))
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise CheckpointError(path, f"unknown {name} setting(s) in its architecture record: {', '.join(map(str, unknown))}")
    size = recorded_image_size(ckpt)
    if size is None:
        raise CheckpointError(path, "no image_size recorded")
    rule = ckpt.get("mask_rule") if ckpt.get("mask_rule") is not None else "pet_border"
    probe = TrainConfig(model=name, width=kwargs.get("width", TrainConfig.width), image_size=size, mask_rule=rule)
    errors = probe.field_errors()
    labels = {"width": "arch.kwargs.width", "image_size": "image_size", "mask_rule": "mask_rule"}
    for key, label in labels.items():
        if key in errors:
            value = {"width": probe.width, "image_size": size, "mask_rule": rule}[key]
            raise CheckpointError(path, f"{label} {value!r} {errors[key]} — not a checkpoint petseg could have written")


def nonfinite_weights(ckpt: dict[str, Any]) -> list[str]:
    """Names of weight tensors holding NaN or Inf (a checkpoint saved from a diverged state)."""
    state = ckpt.get("model")
    if not isinstance(state, dict):
        return []
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def build_model_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> torch.nn.Module:
    """Rebuild the recorded architecture and load its weights; eval mode."""
    from engine.models import build_model

    check_record(ckpt, path)  # bounded before build_model allocates anything from it
    arch = ckpt["arch"]
    name = arch["name"]
    try:
        model = build_model(name, **dict(arch.get("kwargs") or {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"cannot rebuild {name} from its record ({exc})") from None
    state = ckpt["model"]
    if not isinstance(state, dict):
        raise CheckpointError(path, "model weights are not a state_dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        own = model.state_dict()
        missing = sum(1 for k in own if k not in state)
        unexpected = sum(1 for k in state if k not in own
                         or getattr(state[k], "shape", None) != own[k].shape)  # a width the record does not say
        raise CheckpointError(
            path,
            f"weights do not fit a {name} network ({missing} missing, {unexpected} unexpected or "
            f"mis-shaped tensors) — is it a checkpoint of another architecture?",
        ) from None
    model.eval()
    return model
