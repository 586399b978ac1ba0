"""The Oxford-IIIT Pet folder layout.

``PetLayout(root)`` accepts either the official release extracted into ``root``::

    root/images/NAME.jpg
    root/annotations/trimaps/NAME.png
    root/annotations/trainval.txt, test.txt   "NAME CLASS_ID SPECIES BREED_ID", '#' = comment

or torchvision's ``OxfordIIITPet`` convention, which puts the same tree under
``root/oxford-iiit-pet/``. Only names with both an image and a trimap are used. Without list
files every paired image is "trainval" (``has_split_files`` is False) and there is no test split.
AppleDouble files (``._NAME``, present in the official annotations archive) are ignored.

Which folder a run trains on is chosen in `engine.data.source`.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.data.images import IMAGE_SUFFIXES
from engine.errors import DatasetError
from engine.words import counted

TORCHVISION_SUBDIR = "oxford-iiit-pet"  # torchvision's OxfordIIITPet(root) base folder
_LIST_FILES = ("trainval.txt", "test.txt")
# the one wording of "no split lists, so eval scores every pair as its test split", said once: in
# `describe` (eval's data: line, the worst screen's header), beside the counts it explains
ALL_TEST_NOTE = "no annotations/test.txt or trainval.txt: scoring every image with a trimap as the test split"


def _scan(folder: Path, suffixes: tuple[str, ...], broken: list[Path] | None = None) -> dict[str, Path]:
    """name -> path of files in ``folder`` with one of ``suffixes``; '.jpg' wins over others.
    Symbolic links to nothing (a photo linked in and since moved) are appended to ``broken``."""
    found: dict[str, Path] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for e in entries:
        if e.name.startswith("._") or e.name.startswith("."):
            continue
        stem, dot, suffix = e.name.rpartition(".")
        if not dot or "." + suffix.lower() not in suffixes:
            continue
        if stem in found and found[stem].suffix.lower() == ".jpg":
            continue
        if e.is_file():
            found[stem] = Path(e.path)
        elif broken is not None and e.is_symlink() and not os.path.exists(e.path):
            broken.append(Path(e.path))
    return found


def _files_note(files: list[Path], what: str, why: str, base: Path) -> str:
    """"N WHATs WHY (first: FILE)", FILE the first of ``files`` relative to ``base``, the folder
    the line it goes in names: one form for every count of files a layout leaves out, so a
    user can paste FILE after that folder and find it."""
    return f"{counted(len(files), what)} {why} (first: {files[0].relative_to(base).as_posix()})"


def _broken_links(links: list[Path], base: Path) -> str:
    """"N broken symbolic link(s) to a missing file (first: FILE)": the one wording of links to
    photos or trimaps since moved, wherever a layout counts them (``links`` in the order to
    name them, FILE relative to ``base`` as in `_files_note`)."""
    return _files_note(links, "broken symbolic link", "to a missing file", base)


def _left_out(root: Path, images: dict[str, Path], trimaps: dict[str, Path], broken: list[Path]) -> str:
    """Why files of the folder ``root`` without split lists are not used, for its data line:
    photos without a trimap, trimaps without a photo, links to nothing, each counted with its
    first file (empty when every file is in a pair). Unsaid, a user counting the files in
    images/ could not tell why training saw fewer."""
    # a file whose partner is a broken link is that link's loss, not a second one
    broken_names = {p.name.rpartition(".")[0] for p in broken}
    unpaired_photos = [images[n] for n in sorted(set(images) - set(trimaps) - broken_names)]
    unpaired_trimaps = [trimaps[n] for n in sorted(set(trimaps) - set(images) - broken_names)]
    parts = [_files_note(files, what, why, root) for files, what, why in (
        (unpaired_photos, "photo", "without a trimap"), (unpaired_trimaps, "trimap", "without a photo")) if files]
    if broken:
        parts.append(_broken_links(broken, root))
    return "left out: " + ", ".join(parts) if parts else ""


def _dataset_above(given: Path) -> str:
    """"; it is inside the dataset folder X: pass that" when ``given`` is a folder inside a
    dataset (its images/, annotations/ or annotations/trimaps/, a natural thing to name as the
    data), else ""."""
    for parent in list(given.absolute().parents)[:2]:
        if (parent / "images").is_dir() and (parent / "annotations").is_dir():
            return f"; it is inside the dataset folder {parent}: pass that"
    return ""


def _why_no_trimaps(trimaps_dir: Path) -> str:
    """What stands where the trimaps should be, for the refusal: no such folder, or files that
    are not NAME.png (trimaps saved as JPEG, say), so the user is not left looking at files the
    line says are not there."""
    if not trimaps_dir.is_dir():
        return " (the folder does not exist)"
    try:
        others = sorted(e.name for e in os.scandir(trimaps_dir) if not e.name.startswith(".") and e.is_file())
    except OSError:
        return ""
    if not others:
        return ""
    return f" ({len(others)} other file(s), first {others[0]}: a trimap is NAME.png)"


def _in_subfolders(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Files with one of ``suffixes`` below ``folder``'s subfolders (paths relative to ``folder``,
    sorted): `_scan` reads ``folder`` itself only, so a user's photos sorted into images/cats/
    would be left out without a word."""
    found: list[str] = []
    try:
        subfolders = [e.path for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir()]
    except OSError:
        return found
    for sub in subfolders:
        for top, dirs, files in os.walk(sub):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found += [os.path.relpath(os.path.join(top, f), folder) for f in files
                      if not f.startswith(".") and os.path.splitext(f)[1].lower() in suffixes]
    return sorted(found)


def _listed_name(line: str, paired: set[str]) -> str:
    """The image name of a list line ``NAME CLASS_ID SPECIES BREED_ID``: the line minus its
    three trailing integers, so a name may contain spaces. Lines in another shape: the whole
    line if that names an image, else its first word (the old reading). A name written as its
    photo's file name (``NAME.jpg``, as a hand-made list often is) is that photo's name."""
    parts = line.rsplit(None, 3)
    if len(parts) == 4 and all(p.lstrip("-").isdigit() for p in parts[1:]):
        return _without_suffix(parts[0], paired)
    if line in paired:
        return line
    first = line.split()[0]
    if first in paired:
        return first
    for name in (line, first):
        if (stem := _without_suffix(name, paired)) != name:
            return stem
    return line


def _without_suffix(name: str, paired: set[str]) -> str:
    """``name`` minus an image file suffix when that leaves a paired name, else ``name``."""
    stem, dot, suffix = name.rpartition(".")
    if name not in paired and dot and "." + suffix.lower() in IMAGE_SUFFIXES and stem in paired:
        return stem
    return name


class PetLayout:
    """A validated Oxford-IIIT Pet folder. Raises DatasetError (one line) if unusable.

    Attributes: ``root`` (the folder holding images/ and annotations/), ``images_dir``,
    ``trimaps_dir``, ``has_split_files``, ``missing`` (list-file entries skipped because their
    image or trimap does not exist), ``paired_names`` (sorted names with both files),
    ``warnings`` (duplicated list lines, names in both trainval and test, photos in subfolders of
    images/, which are not read), ``left_out`` (without split lists: the photos, trimaps and
    broken links in no pair, counted with a first file each, in `describe`'s line; else "").

    List files are read as UTF-8 with or without a byte-order mark; a name is the line minus its
    three trailing integers (names may contain spaces); a name listed twice is used once.
    """

    def __init__(self, root: str | Path) -> None:
        given = Path(root).expanduser()
        if not given.exists():
            raise DatasetError(given, "dataset folder does not exist")
        if not given.is_dir():
            raise DatasetError(given, "is a file, not a dataset folder")
        if (given / "images").is_dir():
            base = given
        elif (given / TORCHVISION_SUBDIR / "images").is_dir():
            base = given / TORCHVISION_SUBDIR
        else:
            raise DatasetError(
                given,
                "no images/ folder (expected the Oxford-IIIT Pet layout: images/ and annotations/trimaps/"
                f"{_dataset_above(given)})",
            )
        self.root = base
        self.images_dir = base / "images"
        self.trimaps_dir = base / "annotations" / "trimaps"

        broken_photos: list[Path] = []
        self._images = _scan(self.images_dir, IMAGE_SUFFIXES, broken_photos)
        broken_photos.sort()
        nested = _in_subfolders(self.images_dir, IMAGE_SUFFIXES)
        unread = (f"{len(nested)} image file(s) in subfolders are not read, only images/NAME.jpg "
                  f"(first: {nested[0]})") if nested else ""
        if not self._images:
            # a folder of links to photos since moved reads as full in a listing: say what is there
            links = _broken_links(broken_photos, self.images_dir) if broken_photos else ""
            raise DatasetError(self.images_dir, "; ".join(
                ["no images (expected NAME.jpg files)", *(x for x in (links, unread) if x)]))
        broken_trimaps: list[Path] = []
        self._trimaps = _scan(self.trimaps_dir, (".png",), broken_trimaps)
        broken_trimaps.sort()
        if not self._trimaps:
            why = (f"; {_broken_links(broken_trimaps, base)}" if broken_trimaps
                   else _why_no_trimaps(self.trimaps_dir))
            raise DatasetError(base, f"{len(self._images)} images but no trimaps in annotations/trimaps{why}")
        self.paired_names = sorted(set(self._images) & set(self._trimaps))
        if not self.paired_names:
            raise DatasetError(
                base,
                f"empty dataset: no image has a matching trimap ({len(self._images)} images, "
                f"{len(self._trimaps)} trimaps with different names)",
            )

        self.missing = 0
        self.missing_names: list[str] = []
        self.warnings: list[str] = []  # duplicated list entries, train/test overlap, photos in subfolders
        if unread:
            self.warnings.append(f"{self.images_dir}: {unread}")
        ann = base / "annotations"
        self.has_split_files = (ann / "trainval.txt").is_file()
        self.test_list = ann / "test.txt"  # the test split's names; missing: no test photos
        paired = set(self.paired_names)
        test_listed = self._read_list(self.test_list, paired) if self.test_list.is_file() else []
        if self.has_split_files:
            trainval_listed = self._read_list(ann / "trainval.txt", paired)
            overlap = set(trainval_listed) & set(test_listed)
            if overlap:
                first = next(n for n in trainval_listed if n in overlap)
                self.warnings.append(
                    f"{ann}: {len(overlap)} name(s) are in both trainval.txt and test.txt (first: {first}); "
                    "test scores would be measured on training images"
                )
        else:
            # No official split: every paired image not listed as test is for training.
            test = set(test_listed)
            trainval_listed = [n for n in self.paired_names if n not in test]
        # with lists, the lists say which files count (and `missing` which of them are not there)
        self.left_out = "" if self.has_split_files else _left_out(base, self._images, self._trimaps,
                                                                  broken_photos + broken_trimaps)
        # The lists as written (deduplicated) decide the train/valid split; availability filters
        # afterwards, so a missing file never moves another image between train and valid.
        self._trainval_listed = trainval_listed
        self._trainval = [n for n in trainval_listed if n in paired]
        self._test = [n for n in test_listed if n in paired]
        self.all_test = False  # set by `test_every_pair`: no lists, every pair is the test split

    def test_every_pair(self) -> None:
        """Make every paired image the test split (none trainval): ``petseg eval`` of a user's own
        folder of photos and trimaps with no split list. `describe` then says so (`ALL_TEST_NOTE`);
        no warning repeats it: eval printed the note twice, on stderr and in its data: line."""
        self._test = list(self.paired_names)
        self._trainval = []
        self._trainval_listed = []
        self.all_test = True

    def _read_list(self, path: Path, paired: set[str]) -> list[str]:
        """Names listed in ``path`` in order, each once (duplicates warned about); names whose
        files are missing are kept in the list and counted in ``missing``."""
        try:
            # utf-8-sig: a byte-order mark would otherwise glue itself to the first name
            lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        except OSError as exc:
            raise DatasetError(path, f"cannot read list file ({exc.strerror or exc})") from None
        names: list[str] = []
        seen: set[str] = set()
        duplicates: list[str] = []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name = _listed_name(line, paired)
            if name in seen:
                duplicates.append(name)
                continue
            seen.add(name)
            names.append(name)
        if duplicates:
            self.warnings.append(
                f"{path}: {len(duplicates)} duplicated line(s) ignored (first: {duplicates[0]}); "
                "each image is used once"
            )
        missing = [n for n in names if n not in paired]
        if missing and len(missing) == len(names):
            raise DatasetError(
                path, f"lists {len(missing)} images but none has both images/NAME.jpg and a trimap"
            )
        self.missing += len(missing)
        self.missing_names.extend(missing)
        return names

    def train_valid_names(self, valid_every: int) -> tuple[list[str], list[str]]:
        """(train, valid) names: ``split_trainval`` of trainval.txt as listed, then only the
        names whose image and trimap exist — a missing file never shifts the others; with no
        valid name left, the last train name validates (``borrow_valid``). The one split rule of
        training and of ``petseg eval --split valid``."""
        from engine.data.splits import borrow_valid, split_trainval

        paired = set(self.paired_names)
        train, valid = split_trainval(self._trainval_listed, valid_every)
        return borrow_valid([n for n in train if n in paired], [n for n in valid if n in paired])

    def image_path(self, name: str) -> Path:
        return self._images.get(name, self.images_dir / f"{name}.jpg")

    def trimap_path(self, name: str) -> Path:
        return self._trimaps.get(name, self.trimaps_dir / f"{name}.png")

    def trainval_names(self) -> list[str]:
        return list(self._trainval)

    def test_names(self) -> list[str]:
        return list(self._test)

    @property
    def is_generated(self) -> bool:
        from engine.data.synthetic import MARKER

        return (self.root / MARKER).exists()

    def describe(self) -> str:
        """One line: where, how many images per split, and how the split was decided."""
        text = f"{self.root}: {len(self._trainval)} trainval, {counted(len(self._test), 'test image')}"
        if self.all_test:
            text += f" ({ALL_TEST_NOTE})"
        elif not self.has_split_files and self.test_list.is_file():
            # "every image that has a trimap" would count test.txt's photos as training ones too
            text += " (no annotations/trainval.txt: using every image that has a trimap and is not in test.txt)"
        elif not self.has_split_files:
            text += " (no annotations/trainval.txt: using every image that has a trimap)"
        if self.left_out:
            text += f"; {self.left_out}"
        if self.missing:
            text += (f"; {counted(self.missing, 'listed image')} skipped (image or trimap missing, first: "
                     f"{self.missing_names[0]})")
        return text

    def __repr__(self) -> str:
        return f"PetLayout({str(self.root)!r})"
