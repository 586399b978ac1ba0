"""Running a trained checkpoint on photos: `Predictor`, `Prediction` and flip test-time augmentation.

Preprocessing is training's own ``eval_transform``: a straight area resize to
``image_size``² (no aspect preservation), scaling to [-1, 1] (mean = std = 0.5). The probability map is bilinearly
upsampled back to the photo's own size, so callers always get one value per input pixel.
``Predictor.probabilities`` runs a batch of preprocessed photos in one forward pass and
``to_photo_size`` brings each result to its photo's size; the one-photo methods go through the
same two steps, so batched and single results are the same computation.
``output_picture`` turns a result into the PNG ``petseg infer`` writes (mask or overlay, at the
photo's original size). Rendering helpers (overlay, mask image, PNG save) live in
`engine.infer.render` and are re-exported here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from engine.data.images import load_photo, orient_as_shown, shown_size
from engine.device import resolve_device
from engine.errors import CheckpointError, PetsegError
from engine.infer.render import mask_to_image, overlay_image, save_png

__all__ = [
    "Prediction",
    "Predictor",
    "flip_tta",
    "load_predictor",
    "mask_to_image",
    "original_size",
    "output_picture",
    "overlay_image",
    "photo_probabilities",
    "preprocess",
    "save_png",
    "to_photo_size",
]

# Photos are decoded no larger than this: models see at most 2048 px, so more pixels add only
# memory (docs/RELIABILITY.md, "Bad input").
DEFAULT_MAX_SIDE = 2048


@dataclass
class Prediction:
    """One photo's result: the RGB image used (downscaled if huge) and its pet probabilities."""

    image: np.ndarray  # (H, W, 3) uint8
    prob: np.ndarray  # (H, W) float32 in [0, 1], same H×W as ``image``
    source: Path
    seconds: float  # decode + preprocess + forward + upsample

    def mask(self, threshold: float = 0.5) -> np.ndarray:
        """(H, W) uint8, 1 where the pet probability exceeds ``threshold``."""
        return (self.prob > threshold).astype(np.uint8)


def preprocess(image: np.ndarray, size: int) -> Tensor:
    """(H, W, 3) uint8 → (1, 3, size, size) float32 in [-1, 1], through training's own eval pipeline."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    # The very transform validation uses (area resize, mean = std = 0.5), so a photo reaches
    # the model exactly as validation images did; a hand-written copy could drift from it.
    return _eval_transform(size)(image=np.ascontiguousarray(image))["image"].float().unsqueeze(0)


_per_thread = threading.local()


def _eval_transform(size: int) -> Any:
    # One pipeline per thread: folder inference preprocesses in loader threads, and an
    # albumentations Compose carries per-call state it was not written to share.
    cache = getattr(_per_thread, "transforms", None)
    if cache is None:
        cache = _per_thread.transforms = {}
    if size not in cache:
        from engine.data.transforms import eval_transform

        cache[size] = eval_transform(size)
    return cache[size]


def flip_tta(model: nn.Module, x: Tensor) -> Tensor:
    """Mean of the probabilities of ``x`` and of its horizontal mirror (mirrored back).

    Both views go through the model as one batch of 2N; with the model in eval mode
    BatchNorm uses running statistics, so this equals two separate passes.
    """
    n = x.shape[0]
    probs = torch.sigmoid(model(torch.cat([x, x.flip(-1)], dim=0)).float())
    return (probs[:n] + probs[n:].flip(-1)) / 2


def to_photo_size(prob: Tensor, size: tuple[int, int]) -> Tensor:
    """(N, 1, s, s) probabilities → (N, 1, H, W) float32 for a photo of ``size`` (H, W): bilinear
    on the probabilities (not on a thresholded mask, whose staircase edges would be blown up),
    half-pixel centres (``align_corners=False``), clamped to [0, 1].

    On the CPU OpenCV does it (same rule, within 3e-5): torch's intra-op threads made this
    single pass wait for every core (docs/PERFORMANCE.md, "Threads on a shared 2-core CPU").
    """
    with torch.inference_mode():
        if prob.device.type == "cpu":
            return _cv2_to_photo_size(prob, size)
        return _torch_to_photo_size(prob, size)


def _cv2_to_photo_size(prob: Tensor, size: tuple[int, int]) -> Tensor:
    h, w = size
    src = prob.float().numpy()
    out = np.empty((src.shape[0], 1, h, w), np.float32)
    for i in range(src.shape[0]):
        out[i, 0] = cv2.resize(np.ascontiguousarray(src[i, 0]), (w, h), interpolation=cv2.INTER_LINEAR)
    # Bilinear weights are convex, but float error can step a hair outside [0, 1].
    return torch.from_numpy(np.clip(out, 0.0, 1.0, out=out))


def _torch_to_photo_size(prob: Tensor, size: tuple[int, int]) -> Tensor:
    """The same on the tensor's device (GPU)."""
    if prob.shape[-2:] != tuple(size):
        prob = F.interpolate(prob.float(), size=tuple(size), mode="bilinear", align_corners=False)
    return prob.float().clamp(0.0, 1.0)


def photo_probabilities(probs: Tensor, sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """A batch's (N, 1, S, S) probabilities → for each photo, (H, W) float32 at ``sizes[i]``."""
    if probs.shape[0] != len(sizes):
        raise ValueError(f"{probs.shape[0]} probability maps but {len(sizes)} sizes")
    return [to_photo_size(probs[i : i + 1], size)[0, 0].cpu().numpy().astype(np.float32, copy=False)
            for i, size in enumerate(sizes)]


class Predictor:
    """A model in eval mode plus what is needed to feed it: image size, device, provenance."""

    # photos every forward pass holds: set by a model exported for a fixed batch (`OnnxPredictor`); None: any
    fixed_batch: int | None = None
    file_word = "checkpoint"  # what its file is called in the lines that name it

    def __init__(
        self,
        model: nn.Module,
        *,
        image_size: int,
        arch_name: str,
        mask_rule: str = "pet_border",
        device: str | torch.device = "cpu",
        checkpoint_path: Path | None = None,
        epoch: int | None = None,
        best_dice: float | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.image_size = int(image_size)
        self.trained_size: int | None = self.image_size  # a checkpoint runs at the size it trained at
        self.arch_name = arch_name
        self.mask_rule = mask_rule
        self.checkpoint_path = checkpoint_path
        self.epoch = epoch
        self.best_dice = best_dice
        self.config = dict(config or {})  # the run's saved TrainConfig dict (cache_dir, valid_every, ...)
        self.warnings: list[str] = []  # e.g. NaN weights: shown by the CLI and the TUI, never fatal
        self.valid_precision: str | None = None  # what its valid Dice was scored in; None: not recorded
        # Built now (it imports albumentations) so the first Prediction.seconds is the real cost.
        _eval_transform(self.image_size)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", expect_arch: str | None = None) -> "Predictor":
        """Load a petseg checkpoint (CheckpointError, one line, if it cannot be used).

        ``expect_arch`` (``petseg infer --model``): the architecture the caller believes it is;
        a checkpoint of another one is refused before any weights are loaded.
        """
        from engine.checkpoint import build_model_from_checkpoint, load_checkpoint, nonfinite_weights

        path = Path(path)
        ckpt = load_checkpoint(path, map_location="cpu")  # fields bounded (check_record) before use
        if expect_arch is not None and ckpt["arch"]["name"] != expect_arch:
            raise CheckpointError(path, f"is a {ckpt['arch']['name']} checkpoint, not {expect_arch} "
                                        f"(drop --model or name the matching one)")
        model = build_model_from_checkpoint(ckpt, path)
        bad = nonfinite_weights(ckpt)
        warnings = [f"{path}: {len(bad)} weight tensor(s) hold NaN or Inf (first: {bad[0]}); its masks "
                    "will be meaningless — was it saved from a diverged run?"] if bad else []
        predictor = cls(
            model,
            image_size=_image_size(ckpt, path),
            arch_name=ckpt["arch"]["name"],
            mask_rule=str(ckpt.get("mask_rule") or "pet_border"),
            device=resolve_device(device),
            checkpoint_path=path,
            epoch=_optional(ckpt.get("epoch"), int),
            best_dice=_optional(ckpt.get("best_dice"), float),
            config=ckpt.get("config") if isinstance(ckpt.get("config"), dict) else None,
        )
        recorded = ckpt.get("valid_precision")
        predictor.valid_precision = recorded if isinstance(recorded, str) and recorded else None
        predictor.warnings = warnings
        return predictor

    def preprocess(self, image: np.ndarray) -> Tensor:
        """(H, W, 3) uint8 → (3, S, S) model input; thread-safe, so loaders can run it ahead."""
        return preprocess(image, self.image_size)[0]

    def probabilities(self, x: Tensor, tta: bool = False) -> Tensor:
        """(N, 3, S, S) preprocessed batch → (N, 1, S, S) float32 pet probabilities, on the device."""
        with torch.inference_mode():
            x = x.to(self.device, non_blocking=True)
            return flip_tta(self.model, x) if tta else torch.sigmoid(self.model(x).float())

    def predict_array(self, image: np.ndarray, tta: bool = False) -> np.ndarray:
        """(H, W, 3) uint8 RGB → (H, W) float32 pet probabilities at the image's own size."""
        h, w = image.shape[:2]
        prob = to_photo_size(self.probabilities(preprocess(image, self.image_size), tta), (h, w))
        return prob[0, 0].cpu().numpy().astype(np.float32, copy=False)

    def predict_batch(self, images: Sequence[np.ndarray], tta: bool = False) -> list[np.ndarray]:
        """Several (H, W, 3) uint8 photos of any sizes → their probabilities, one forward pass."""
        probs = self.probabilities(torch.stack([self.preprocess(image) for image in images]), tta)
        return photo_probabilities(probs, [image.shape[:2] for image in images])

    def predict_file(self, path: str | Path, tta: bool = False, max_side: int = DEFAULT_MAX_SIDE, *,
                     with_trimap: bool = False) -> Prediction:
        """Decode ``path`` (BadImageError if unusable), downscaling past ``max_side``, and predict;
        the photo and its probabilities as viewers show it. ``with_trimap``: it will be scored
        against its dataset trimap, so the model is given its stored pixels, as training and
        ``petseg eval`` give it (`engine.data.images.load_photo`), turned upright afterwards."""
        start = time.perf_counter()
        image, turn = load_photo(path, max_side, with_trimap=with_trimap)
        prob = self.predict_array(image, tta=tta)
        image, prob = orient_as_shown(image, turn), orient_as_shown(prob, turn)
        return Prediction(image=image, prob=prob, source=Path(path), seconds=time.perf_counter() - start)


def load_predictor(path: str | Path, device: str = "auto", expect_arch: str | None = None,
                   image_size: int | None = None) -> Predictor:
    """The predictor of a model file: an ONNX export (``.onnx``) runs on ONNX Runtime
    (`engine.infer.onnx_model`), anything else is a petseg checkpoint. ``image_size``: only for
    an ONNX file without petseg metadata (a checkpoint records its own)."""
    if Path(path).suffix.lower() == ".onnx":
        from engine.infer.onnx_model import OnnxPredictor

        return OnnxPredictor.from_file(path, device, image_size=image_size, expect_arch=expect_arch)
    from engine.export.metadata import torchscript_props

    if torchscript_props(path):  # a petseg TorchScript export: for LibTorch and torch.jit.load, not here
        raise CheckpointError(Path(path), "is a TorchScript export (petseg export --format torchscript); petseg "
                                          "runs checkpoints and ONNX exports: use best.pt or model.onnx")
    predictor = Predictor.from_checkpoint(path, device=device, expect_arch=expect_arch)
    if image_size is not None and image_size != predictor.image_size:
        # refused as for an ONNX file of a fixed size: ignored, the outputs read as made at the size typed
        raise PetsegError(f"--image_size {image_size}: {path} predicts at {predictor.image_size}×{predictor.image_size}, "
                          "the size it was trained at (--image_size is for an ONNX file)")
    return predictor


def original_size(path: str | Path) -> tuple[int, int] | None:
    """(W, H) of the photo as viewers show it (EXIF rotation applied), from its header only;
    None if the header cannot be read (the decoder will then say why). `images.shown_size`."""
    return shown_size(path)


def output_picture(
    image: np.ndarray, prob: np.ndarray, threshold: float, overlay: bool, size: tuple[int, int] | None
) -> Image.Image:
    """What ``petseg infer`` writes for one photo: the mask (white pet on black) or, with
    ``overlay``, the photo with the mask tinted and outlined; resized to ``size`` = (W, H), the
    photo's original size, when a huge photo was predicted downscaled."""
    mask = (prob > threshold).astype(np.uint8)
    picture = overlay_image(image, mask) if overlay else mask_to_image(mask)
    if size is not None and picture.size != size:
        picture = picture.resize(size, Image.BILINEAR if overlay else Image.NEAREST)
    return picture


def _image_size(ckpt: dict[str, Any], path: Path) -> int:
    from engine.checkpoint import recorded_image_size

    size = recorded_image_size(ckpt)  # already bounded by load_checkpoint's check_record
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise CheckpointError(path, f"no valid image_size recorded (found {size!r})")
    return size


def _optional(value: Any, kind: type) -> Any:
    try:
        return None if value is None else kind(value)
    except (TypeError, ValueError):
        return None
