"""Choosing which data folder a run trains on, and whether it can.

``resolve_data_source(path)`` picks the folder, in this order:

1. ``path`` (the ``--data_path`` flag), else ``$PETSEG_DATA``: that folder, downloaded into
   first if ``--download`` asks and it holds no dataset yet;
2. ``--download`` alone: the full dataset in the cache (downloaded once, then reused);
3. otherwise the real Oxford-IIIT Pet sample bundled with the package (``engine/training_sample``).

The generated (synthetic) set is used only when named: ``GENERATED_DATA`` ("@generated") as the
path or in ``$PETSEG_DATA``. Nothing falls back to it. A full dataset downloaded earlier into the
cache is not picked up silently either: it would change a run's data (and time) without a word.

``data_path_problem(path, download)`` says, before a run folder exists, why training could not
use the data this order picks (the one-line message training would fail with); the CLI and the
TUI's new-run form use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.config import DATA_PATH_ENV, GENERATED_DATA, requested_data_path
from engine.data.dirs import cache_root
from engine.data.layout import TORCHVISION_SUBDIR, PetLayout
from engine.errors import ConfigError, DatasetError


@dataclass
class DataSource:
    """The folder a run trains on: ``kind`` "real" or "generated", and a one-line description."""

    path: Path
    kind: Literal["real", "generated"]
    description: str
    layout: PetLayout | None = field(default=None, repr=False, compare=False)

    def test_every_pair(self) -> None:
        """`PetLayout.test_every_pair` on this source's layout, its description following (the
        counts and the note are the layout's; the words around them stay)."""
        layout = self.layout or PetLayout(self.path)
        before = layout.describe()
        layout.test_every_pair()
        self.layout = layout
        self.description = self.description.replace(before, layout.describe())


def default_download_dir() -> Path:
    """Where ``--download`` without a data path puts the dataset."""
    return cache_root() / TORCHVISION_SUBDIR


def _is_training_sample(folder: Path) -> Path | None:
    for base in (folder, folder / TORCHVISION_SUBDIR):
        if (base / "annotations" / "trainval.txt").is_file() and (base / "images").is_dir():
            from engine.data.synthetic import MARKER

            if not (base / MARKER).exists():
                return base
    return None


def _source_for(layout: PetLayout) -> DataSource:
    kind: Literal["real", "generated"] = "generated" if layout.is_generated else "real"
    prefix = "generated (synthetic) dataset at " if kind == "generated" else "Oxford-IIIT Pet at "
    return DataSource(layout.root, kind, prefix + layout.describe(), layout)


def _generated_source() -> DataSource:
    from engine.data.synthetic import ensure_generated_dataset

    layout = PetLayout(ensure_generated_dataset())
    return DataSource(
        layout.root,
        "generated",
        f"generated (synthetic) pet-like dataset ({GENERATED_DATA}), not real photographs; {layout.describe()}",
        layout,
    )


def _bundled_source() -> DataSource:
    from engine.data.samples import training_sample_dir

    root = training_sample_dir()
    if not (root / "annotations" / "trainval.txt").is_file():
        raise DatasetError(root, "the training sample bundled with petseg is missing from this installation; "
                                 "reinstall petseg or pass --data_path")
    layout = PetLayout(root)
    return DataSource(
        layout.root, "real",
        f"bundled Oxford-IIIT Pet sample (real photos, 3 breeds, 256 px) at {layout.describe()}",
        layout,
    )


def data_path_problem(data_path: str | None, download: bool = False) -> str | None:
    """Why a run could not train on the data `resolve_data_source` would pick for these
    arguments, as the one-line message training would fail with, or None if it can (the
    bundled sample, the generated set, an Oxford-IIIT Pet layout, or a folder ``download`` will
    fill). Cheap (no decoding); checked before a run folder is made, so a typo never leaves a
    failed run and a taken name behind."""
    requested = requested_data_path(data_path)
    if requested == GENERATED_DATA:
        if download:
            return f"--download: {GENERATED_DATA} is generated here, not downloaded; drop one of them"
        return None
    if requested is None:
        return None  # the bundled sample, or --download into the cache
    path = Path(requested).expanduser()
    if download and _is_training_sample(path) is None:
        if path.exists() and not path.is_dir():
            return str(DatasetError(path, "is a file, not a dataset folder"))
        return None  # the download fills it (and says so if it cannot)
    try:
        layout = PetLayout(path)
    except DatasetError as exc:
        if data_path is None:  # as resolve_data_source says it
            return str(DatasetError(exc.path, f"{exc.reason} (named by ${DATA_PATH_ENV})"))
        return str(exc)
    unusable = unusable_pairs_problem(layout)  # the more precise of the two, when both hold
    shortage = trainval_shortage(layout)
    return unusable or (str(DatasetError(layout.root, shortage)) if shortage else None)


def trainval_shortage(layout: PetLayout) -> str | None:
    """Why ``layout`` has too few trainval photos to train on (one to train, one to validate),
    or None. Training fails with it; `data_path_problem` says it before a run folder exists (it
    failed the run after making it, leaving a failed run in the table)."""
    count = len(layout.trainval_names())
    if count >= 2:
        return None
    tested = len(layout.test_names())
    why = (f" (all {tested} photos with a trimap are listed in test.txt)"
           if tested and not layout.has_split_files and tested == len(layout.paired_names) else "")
    return f"only {count} trainval image(s); need at least 2{why}"


def unusable_pairs_problem(layout: PetLayout) -> str | None:
    """None as soon as one photo opens and its trimap decodes to trimap values; else why none
    does (with the first pair's reason), so a folder of unreadable files is refused before a run
    folder exists rather than failing the run after it. Photos are decoded small (JPEG's 1/8
    scale: a few ms), so even a folder where every one is broken is checked quickly."""
    from engine.data.images import load_rgb, load_trimap
    from engine.errors import one_line

    first = ""
    for name in layout.paired_names:
        try:
            load_rgb(layout.image_path(name), max_side=32)
            load_trimap(layout.trimap_path(name))
            return None
        except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds; each is a reason
            if not first:
                first = f"{name}: {one_line(exc)}"
    return str(DatasetError(layout.root, f"none of its {len(layout.paired_names)} photo and trimap pairs can be "
                                         f"read (first: {first})"))


def download_target(data_path: str | None, download: bool) -> Path | None:
    """The folder ``--download`` fills for these arguments (the one ``data_path`` names, or the
    cache without one) when it holds no dataset yet; None when nothing is to be downloaded."""
    requested = requested_data_path(data_path)
    if not download or requested == GENERATED_DATA:
        return None
    target = Path(requested).expanduser() if requested is not None else default_download_dir()
    return None if _is_training_sample(target) is not None else target


def download_requested(data_path: str | None, download: bool) -> None:
    """Fetch the archives ``--download`` asks for into `download_target` (nothing if it holds a
    dataset already). A new run calls it before its run folder is made (run_folder.settle_config),
    so an unreachable server is one line naming the URL and the folder, not a failed run."""
    target = download_target(data_path, download)
    if target is None:
        return
    from engine.data.download import DownloadError, download_oxford_pet

    try:
        download_oxford_pet(target)
    except DownloadError as exc:
        raise ConfigError(f"--download into {target}: {exc}") from None


def resolve_data_source(data_path: str | None, *, download: bool = False) -> DataSource:
    """Choose the training data; see the module docstring. Raises DatasetError/ConfigError."""
    requested = requested_data_path(data_path)
    if requested == GENERATED_DATA:
        if download:
            raise ConfigError(f"--download: {GENERATED_DATA} is generated here, not downloaded; drop one of them")
        return _generated_source()
    download_requested(data_path, download)
    if requested is not None:
        path = Path(requested).expanduser()
        try:
            source = _source_for(PetLayout(path))
        except DatasetError as exc:
            if data_path is None:  # name where the path came from: a forgotten export is easy to miss
                raise DatasetError(exc.path, f"{exc.reason} (named by ${DATA_PATH_ENV})") from None
            raise
        if data_path is None:
            source.description += f" (from ${DATA_PATH_ENV})"
        return source
    if download:
        # --download without a path: the full dataset in the cache, reused once it is there
        target = default_download_dir()
        return _source_for(PetLayout(_is_training_sample(target) or target))
    return _bundled_source()
