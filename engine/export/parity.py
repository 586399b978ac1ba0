"""Parity: does the exported model give the masks PyTorch gives? Measured on every export.

Both run on the bundled sample's test photos (``engine/training_sample``, its ``test.txt``: real
Oxford-IIIT Pet photos, the split ``petseg eval`` scores a run on by default), each photo resized
straight to the model's input (area, as inference does) and normalised with the export's
mean/std. Per size we report over all pixels of all photos: the max and mean |Δ probability|, the
mask agreement (Dice between the two masks thresholded at the export's threshold), and the
pooled Dice of each mask against the trimaps at that size (border band left out, as ``petseg
eval``'s headline). An export is accepted when every size's agreement is at least
`MIN_AGREEMENT`.

The models are callables from an (N, 3, H, W) float32 array to (N, 1, H, W) probabilities, so
this module does not care whether the export is ONNX (`onnx_runner`) or TorchScript.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.config import EVAL_IGNORE_BORDER
from engine.errors import DatasetError, PetsegError, first_line

MIN_AGREEMENT = 0.999  # mask Dice between PyTorch and the export below which an export is refused
BATCH = 8
SECOND_SIZE_PHOTOS = 32  # --dynamic_size: photos checked at the second (non-square) size

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Parity:
    """PyTorch against the export at one input size (H, W)."""

    height: int
    width: int
    photos: int
    max_abs_diff: float
    mean_abs_diff: float
    mask_agreement: float  # Dice between the two thresholded masks, pooled over every pixel
    dice_pytorch: float  # pooled Dice against the trimaps, at this size
    dice_export: float

    @property
    def ok(self) -> bool:
        return self.mask_agreement >= MIN_AGREEMENT

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def line(self) -> str:
        """The figures as the CLI prints them."""
        return (f"{self.height}x{self.width}, {self.photos} bundled test photos: |Δp| max {self.max_abs_diff:.2e} "
                f"mean {self.mean_abs_diff:.2e}, mask agreement {self.mask_agreement:.6f} "
                f"({'ok' if self.ok else f'< {MIN_AGREEMENT}'}), Dice vs trimaps PyTorch {self.dice_pytorch:.4f} "
                f"export {self.dice_export:.4f}")


def parity_sizes(input_size: int, stride: int, dynamic_size: bool) -> list[tuple[int, int]]:
    """The model's own square; with a dynamic size also a non-square one (other multiples of the stride)."""
    sizes = [(input_size, input_size)]
    if dynamic_size:
        sizes.append((input_size + stride, max(stride, input_size - stride)))
    return sizes


def test_pairs(limit: int | None = None) -> list[tuple[Any, Any]]:
    """(image path, trimap path) of the bundled sample's test photos, in list order."""
    from engine.data.layout import PetLayout
    from engine.data.samples import training_sample_dir

    root = training_sample_dir()
    try:
        layout = PetLayout(root)
    except DatasetError as exc:
        raise DatasetError(exc.path, f"{exc.reason}; the parity check needs the sample bundled with petseg") from None
    names = layout.test_names()[:limit]
    if not names:
        raise DatasetError(root, "the bundled sample has no test photos for the parity check")
    return [(layout.image_path(n), layout.trimap_path(n)) for n in names]


def _inputs(pairs: list[tuple[Any, Any]], size: tuple[int, int], mean: tuple[float, ...], std: tuple[float, ...]
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of (N, 3, H, W) float32 inputs and (N, H, W) trimaps at ``size``."""
    import cv2

    from engine.data.cache import decode_pair

    h, w = size
    m = np.asarray(mean, np.float32).reshape(1, 1, 3)
    s = np.asarray(std, np.float32).reshape(1, 1, 3)
    images, trimaps = [], []
    for image_path, trimap_path in pairs:
        try:
            rgb, trimap = decode_pair(image_path, trimap_path)
        except (PetsegError, ValueError, OSError):
            continue  # a damaged sample photo is not the export's fault; the count says how many ran
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        images.append(((small - m) / s).transpose(2, 0, 1))
        trimaps.append(cv2.resize(trimap, (w, h), interpolation=cv2.INTER_NEAREST_EXACT))
        if len(images) == BATCH:
            yield np.stack(images), np.stack(trimaps)
            images, trimaps = [], []
    if images:
        yield np.stack(images), np.stack(trimaps)


def measure(reference: Runner, exported: Runner, pairs: list[tuple[Any, Any]], size: tuple[int, int], *,
            mean: tuple[float, ...], std: tuple[float, ...], threshold: float, mask_rule: str) -> Parity:
    """`Parity` of ``exported`` against ``reference`` on ``pairs`` at ``size``."""
    from engine.eval.mask_scores import trimap_overlap
    from engine.eval.scores import dice_from_counts

    photos, max_diff, sum_diff, pixels = 0, 0.0, 0.0, 0
    agree = np.zeros(3, np.int64)  # |A∩B|, |A|, |B|
    truth = {"ref": np.zeros(3, np.int64), "exp": np.zeros(3, np.int64)}
    for x, trimaps in _inputs(pairs, size, mean, std):
        p_ref = np.asarray(reference(x), np.float32)[:, 0]
        p_exp = np.asarray(exported(x), np.float32)[:, 0]
        if p_exp.shape != p_ref.shape:
            raise PetsegError(f"the export outputs {p_exp.shape} where PyTorch outputs {p_ref.shape}")
        diff = np.abs(p_ref.astype(np.float64) - p_exp)
        if not np.isfinite(diff).all():
            diff = np.nan_to_num(diff, nan=1.0, posinf=1.0)
        max_diff = max(max_diff, float(diff.max()))
        sum_diff += float(diff.sum())
        pixels += diff.size
        photos += len(x)
        m_ref, m_exp = p_ref > threshold, p_exp > threshold
        agree += [np.count_nonzero(m_ref & m_exp), np.count_nonzero(m_ref), np.count_nonzero(m_exp)]
        for key, masks in (("ref", m_ref), ("exp", m_exp)):
            for mask, trimap in zip(masks, trimaps):
                o = trimap_overlap(mask, trimap, mask_rule, EVAL_IGNORE_BORDER)
                truth[key] += [o.inter, o.pred, o.truth]
    if photos == 0:
        raise DatasetError(pairs[0][0] if pairs else "engine/training_sample", "none of the test photos could be read for the parity check")
    return Parity(
        height=size[0], width=size[1], photos=photos, max_abs_diff=max_diff, mean_abs_diff=sum_diff / max(pixels, 1),
        mask_agreement=float(dice_from_counts(*agree.tolist())),
        dice_pytorch=float(dice_from_counts(*truth["ref"].tolist())),
        dice_export=float(dice_from_counts(*truth["exp"].tolist())),
    )


def torch_runner(network: Any) -> Runner:
    """PyTorch in eval mode on the CPU, as the reference."""
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(x)).float().numpy()

    return run


def onnx_runner(model: bytes) -> Runner:
    """ONNX Runtime (CPU provider) on a serialized ONNX model."""
    from engine.infer.ort_runtime import onnxruntime

    ort = onnxruntime()

    try:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PetsegError(f"ONNX Runtime cannot load the exported model ({first_line(exc)[:200]})") from None
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def torchscript_runner(module: Any) -> Runner:
    """A loaded TorchScript module."""
    return torch_runner(module)
