"""Epoch previews: the predicted masks of a few fixed validation images, written as a run trains.

TensorBoard's image tab, for the terminal. After validation the trainer calls
`PreviewWriter.capture`: one forward pass over `PREVIEW_COUNT` validation images (the same
images every epoch, spread evenly over the split) on the training thread, at most once every
`MIN_INTERVAL_S` seconds (the first and the last epoch always); resizing, scoring and PNG
writing happen on a background thread, so training never waits for the disk.

Files in ``<run>/previews/`` (every one written atomically)::

    index.json        names, tile side, mask rule, and one entry per captured epoch:
                      {"epoch": 7, "file": "epoch_0007.png", "dice": [0.91, ...], "t": ...}
    inputs.png        the images as the model saw them, side by side (side×side tiles)
    truth.png         their true masks, side by side (0 / 255)
    epoch_0007.png    the predicted pet probabilities at epoch 7, side by side (0-255)

`read_previews` and `Previews.grid` read them back with numpy and Pillow only (the TUI uses
them; numpy, Pillow and torch are imported by the functions that need them, so the TUI's
start-up path pays nothing for importing this module).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from engine.errors import RunStoreError, first_line, one_line
from engine.runs.layout import PREVIEWS_DIR, RunFileMissing, open_run_file, plain_file_name, read_run_file

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image as PILImage

INDEX_FILE = "index.json"
INPUTS_FILE = "inputs.png"
TRUTH_FILE = "truth.png"
FORMAT = 1

PREVIEW_COUNT = 4  # images per epoch
MAX_SIDE = 128  # pixels per tile: plenty for a terminal, ~10 KB per epoch
MIN_INTERVAL_S = 3.0  # at most one capture per this many seconds (first and last epoch always)
THRESHOLD = 0.5

TRUTH_OUTLINE = (80, 220, 100)  # green: the true outline over the predicted (red) mask


def epoch_file(epoch: int) -> str:
    return f"epoch_{epoch:04d}.png"


def spread_indices(n: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(n)`` (all of them if n <= count)."""
    if n <= count:
        return list(range(n))
    return [(i * n) // count + (n // count) // 2 for i in range(count)]


# ----------------------------------------------------------------------------------------------
# Writing (trainer side)
# ----------------------------------------------------------------------------------------------


class NoPreviews:
    """A data-parallel rank > 0's stand-in for `PreviewWriter`: rank 0 alone writes the run
    folder. A rank 1 with a writer of its own wrote inputs.png, truth.png and index.json there too,
    and swept "stale" temp files in previews/ (on a shared file system: rank 0's, mid-write)."""

    def capture(self, epoch: int, model: Any, final: bool = False) -> bool:
        return False

    def close(self, timeout: float = 10.0) -> None:
        pass


class PreviewWriter:
    """Captures and writes the epoch previews of one run; never raises into training."""

    def __init__(
        self,
        run_path: str | Path,
        dataset: Any,  # engine.data.dataset.PetSegDataset (the validation split)
        *,
        image_size: int,
        mask_rule: str,
        device: Any,
        memory_format: Any = None,
        amp_dtype: Any = None,
        count: int = PREVIEW_COUNT,
        min_interval_s: float = MIN_INTERVAL_S,
        log: Callable[[str], None] = lambda message: None,
    ) -> None:
        import numpy as np
        import torch

        from engine.data.masks import trimap_to_mask
        from engine.infer.inference import preprocess

        self.folder = Path(run_path) / PREVIEWS_DIR
        self.min_interval_s = min_interval_s
        self._log = log
        self._device, self._memory_format, self._amp_dtype = device, memory_format, amp_dtype
        self._last_capture: float | None = None
        self._failed = False
        arrays = dataset.arrays
        self.indices = spread_indices(len(dataset), count)
        self.names = [str(dataset.names[i]) for i in self.indices]
        self.side = min(MAX_SIDE, image_size)
        images = [np.asarray(arrays.images[i]) for i in self.indices]
        truths = [trimap_to_mask(np.asarray(arrays.trimaps[i]), mask_rule) for i in self.indices]
        # preprocess is inference's (and validation's) eval pipeline, with its own transform
        # object: the dataset's transform and its random state are left alone
        self._batch = torch.cat([preprocess(im, image_size) for im in images]) if images else None
        self._truth = truths
        self._index: dict[str, Any] = {
            "format": FORMAT, "names": self.names, "side": self.side, "image_size": image_size,
            "mask_rule": mask_rule, "threshold": THRESHOLD, "epochs": [],
        }
        self._index["epochs"] = self._previous_epochs()
        from engine.atomic import remove_stale_temp_files

        remove_stale_temp_files(self.folder)  # a writer killed mid-write left its temp file
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._write_loop, name=f"previews-{Path(run_path).name}", daemon=True)
        self._thread.start()
        self._queue.put(("inputs", images, truths))

    def _previous_epochs(self) -> list[dict[str, Any]]:
        """Entries of an earlier process of the same run (a resume), if they show the same images."""
        try:  # as untrusted input (a FIFO there hung the resume before its first epoch)
            old = json.loads(read_run_file(self.folder / INDEX_FILE, run_path=self.folder.parent))
        except (RunStoreError, ValueError, RecursionError):
            return []
        if not isinstance(old, dict) or old.get("names") != self.names or old.get("side") != self.side:
            return []
        return [e for e in old.get("epochs", []) if isinstance(e, dict) and isinstance(e.get("epoch"), int)]

    def due(self, epoch: int, final: bool) -> bool:
        now = time.monotonic()
        return (epoch == 1 or final or self._last_capture is None
                or now - self._last_capture >= self.min_interval_s)

    def capture(self, epoch: int, model: Any, final: bool = False) -> bool:
        """Predict the preview images with ``model`` (eval mode, no grad) and queue the write.

        Returns True if a capture was made (False: throttled, disabled after an error, or no
        images). The model's train/eval mode is restored; no random number is drawn.
        """
        if self._failed or self._batch is None or not self.due(epoch, final):
            return False
        import torch

        self._last_capture = time.monotonic()
        was_training = model.training
        try:
            model.eval()
            x = self._batch.to(self._device, memory_format=self._memory_format or torch.contiguous_format)
            amp = self._amp_dtype is not None
            with torch.inference_mode(), torch.autocast(self._device.type, dtype=self._amp_dtype, enabled=amp):
                probs = torch.sigmoid(model(x).float())[:, 0].cpu().numpy()
        except Exception as exc:  # a preview must never cost the run
            self._failed = True
            self._log(f"warning: epoch previews disabled: {one_line(exc)}")
            return False
        finally:
            model.train(was_training)
        self._queue.put(("epoch", epoch, probs))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued writes (the last epoch's preview included)."""
        self._queue.put(None)
        self._thread.join(timeout)

    # ---- background thread -------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                if item[0] == "inputs":
                    self._write_inputs(item[1], item[2])
                else:
                    self._write_epoch(item[1], item[2])
            except Exception as exc:  # a full disk: say so once, keep training
                if not self._failed:
                    self._log(f"warning: could not write epoch previews in {self.folder}: {exc}")
                self._failed = True

    def _tiles(self, arrays: list[np.ndarray], resample: int) -> "PILImage.Image":
        from PIL import Image

        tiles = [Image.fromarray(a).resize((self.side, self.side), resample) for a in arrays]
        strip = Image.new(tiles[0].mode, (self.side * len(tiles), self.side))
        for i, tile in enumerate(tiles):
            strip.paste(tile, (i * self.side, 0))
        return strip

    def _write_inputs(self, images: list[np.ndarray], truths: list[np.ndarray]) -> None:
        from PIL import Image

        from engine.infer.render import save_png

        self.folder.mkdir(parents=True, exist_ok=True)
        save_png(self._tiles(images, Image.BILINEAR), self.folder / INPUTS_FILE)
        save_png(self._tiles([t * 255 for t in truths], Image.NEAREST), self.folder / TRUTH_FILE)
        self._write_index()

    def _write_epoch(self, epoch: int, probs: np.ndarray) -> None:
        import numpy as np
        from PIL import Image

        from engine.eval.mask_scores import dice_iou
        from engine.infer.render import save_png

        dice = [round(dice_iou(p > THRESHOLD, t)[0], 4) for p, t in zip(probs, self._truth)]
        grey = [np.clip(np.rint(p * 255), 0, 255).astype(np.uint8) for p in probs]
        save_png(self._tiles(grey, Image.BILINEAR), self.folder / epoch_file(epoch))
        entries = [e for e in self._index["epochs"] if e["epoch"] != epoch]
        entries.append({"epoch": epoch, "file": epoch_file(epoch), "dice": dice, "t": time.time()})
        self._index["epochs"] = sorted(entries, key=lambda e: e["epoch"])
        self._write_index()

    def _write_index(self) -> None:
        from engine.atomic import atomic_write

        text = json.dumps(self._index, indent=1).encode("utf-8")
        # not write_json_atomic: the run's own JSON files (status, config) are what its crash
        # tests count; previews are written from another thread at their own pace
        atomic_write(self.folder / INDEX_FILE, lambda fh: fh.write(text))


# ----------------------------------------------------------------------------------------------
# Reading (TUI side: numpy and Pillow only)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewEpoch:
    epoch: int
    file: str
    dice: tuple[float, ...]


@dataclass(frozen=True)
class Previews:
    """What ``previews/index.json`` says; `grid` draws one epoch."""

    folder: Path
    names: tuple[str, ...]
    side: int
    mask_rule: str
    epochs: tuple[PreviewEpoch, ...]

    def epoch(self, number: int) -> PreviewEpoch | None:
        return next((e for e in self.epochs if e.epoch == number), None)

    def grid(self, epoch: int, columns: int | None = None, gap: int = 2) -> "PILImage.Image":
        """The preview images of ``epoch``: each photo with the predicted mask tinted red and
        the true outline in green, in a grid of ``columns`` (default: as square as possible).
        Raises RunStoreError (one line) if a file is missing or unreadable."""
        import numpy as np
        from PIL import Image

        from engine.infer.render import mask_edges, overlay_image

        entry = self.epoch(epoch)
        if entry is None:
            raise RunStoreError(self.folder / epoch_file(epoch), "no preview for this epoch")
        inputs = _read_png(self.folder / INPUTS_FILE, "RGB")
        truth = _read_png(self.folder / TRUTH_FILE, "L")
        probs = _read_png(self.folder / entry.file, "L")
        n, s = len(self.names), self.side
        for arr, path in ((inputs, INPUTS_FILE), (truth, TRUTH_FILE), (probs, entry.file)):
            if arr.shape[0] != s or arr.shape[1] != s * n:
                raise RunStoreError(self.folder / path, f"expected {n} tiles of {s}×{s} px, got {arr.shape[1]}×{arr.shape[0]}")
        columns = columns or max(1, int(np.ceil(np.sqrt(n))))
        rows = int(np.ceil(n / columns))
        out = Image.new("RGB", (columns * s + (columns - 1) * gap, rows * s + (rows - 1) * gap), (24, 24, 24))
        for i in range(n):
            tile = inputs[:, i * s:(i + 1) * s]
            pred = probs[:, i * s:(i + 1) * s] > THRESHOLD * 255
            drawn = np.asarray(overlay_image(tile, pred, outline=False)).copy()
            drawn[mask_edges(truth[:, i * s:(i + 1) * s] > 0)] = TRUTH_OUTLINE
            r, c = divmod(i, columns)
            out.paste(Image.fromarray(drawn), (c * (s + gap), r * (s + gap)))
        return out


def _read_png(path: Path, mode: str) -> np.ndarray:
    import numpy as np
    from PIL import Image

    try:  # a run folder is untrusted: no FIFO, nothing outside previews/
        with open_run_file(path, path.parent) as fh, Image.open(fh) as im:
            return np.asarray(im.convert(mode))
    except RunStoreError:
        raise
    except Exception as exc:  # truncated or not a PNG
        raise RunStoreError(path, f"unreadable preview ({first_line(exc)})") from None


def read_previews(run_path: str | Path) -> Previews | None:
    """The run's previews, or None if it has none (yet). RunStoreError if index.json is garbage."""
    folder = Path(run_path) / PREVIEWS_DIR
    path = folder / INDEX_FILE
    try:
        data = json.loads(read_run_file(path, run_path=run_path))
    except RunFileMissing:
        return None
    except (ValueError, RecursionError) as exc:
        raise RunStoreError(path, f"not valid JSON ({exc})") from None
    try:
        names = tuple(str(n) for n in data["names"])
        side = int(data["side"])
        epochs = tuple(
            PreviewEpoch(int(e["epoch"]), str(e["file"]), tuple(float(d) for d in e.get("dice", ())))
            for e in data["epochs"]
        )
        if not names or side < 1:
            raise ValueError("no images")
        for e in epochs:  # a recorded name never leads out of previews/ ("../../x", "/etc/x")
            if not plain_file_name(e.file):
                raise ValueError(f"file {e.file!r} is not a file name in previews/")
    except (KeyError, TypeError, ValueError) as exc:
        raise RunStoreError(path, f"not a previews index ({exc})") from None
    return Previews(folder, names, side, str(data.get("mask_rule", "")), epochs)
