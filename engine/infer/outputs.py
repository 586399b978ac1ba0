"""Files the user names as outputs: the one guard that keeps petseg from destroying them.

`check_output` is called before every write to a path the user chose (``petseg infer
--output``, ``petseg plot --out``, eval's PNGs, each file of a folder inference):

* an output that is one of the command's inputs (the photo, the checkpoint) is refused, also
  when it is the same file through a symlink, a hard link or another spelling of its name on a
  case-insensitive file system — ``--overwrite`` does not change that;
* so is a file a run's training writes (its checkpoints, previews, config and logs:
  `engine.runs.layout.training_file_of`), which only training again could make again;
* an existing file is replaced only if petseg wrote it (a PNG whose ``Software`` text chunk
  starts with ``petseg``, see `PNG_SOFTWARE`), or with ``--overwrite``;
* a folder, a missing parent folder (unless the command makes it: ``petseg infer``,
  `made_folder`), a folder petseg may not create files in (read-only, no permission) or a
  wrong suffix is a one-line error — said before the command's work (an
  export, an evaluation), not when its result is written (`folder_write_problem`).

Every PNG petseg writes carries that text chunk (`png_info`, `PNG_METADATA`), so re-running
a command over its own earlier output just works.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.errors import PetsegError
from engine.made_folders import make_folder, remove_if_empty
from engine.runs.layout import inside_folder, open_regular_file, training_file_of
from engine.version import petseg_version

PNG_SOFTWARE = f"petseg {petseg_version()}"
PNG_METADATA = {"Software": PNG_SOFTWARE}  # for matplotlib's savefig(metadata=...)


class OutputRefused(PetsegError):
    """Writing this output would destroy a file the user did not ask petseg to replace."""


def png_info():
    """PIL ``PngInfo`` with the petseg ``Software`` chunk, for ``Image.save(..., pnginfo=)``."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", PNG_SOFTWARE)
    return info


def is_petseg_output(path: str | Path) -> bool:
    """True if ``path`` is a PNG that petseg wrote (its ``Software`` chunk says petseg).

    Reads the header chunks only (PIL reads text chunks placed before the image data on open).
    """
    from PIL import Image

    try:  # a FIFO named like an output hung `petseg eval --worst` and the dashboard's S in open()
        with open_regular_file(path) as fh, Image.open(fh) as im:
            return im.format == "PNG" and str(im.info.get("Software", "")).startswith("petseg")
    except Exception:  # unreadable, not an image: certainly not ours
        return False


def same_file(a: str | Path, b: str | Path) -> bool:
    """True if ``a`` and ``b`` name the same file (symlinks, hard links, case-insensitive names)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where the names lead
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


@contextlib.contextmanager
def made_folder(folder: Path) -> Iterator[None]:
    """``folder`` made with its missing parents for the block (``petseg infer``'s output folder,
    for one photo or a folder of them; the dashboard's saved pictures in a run); the folders it made are removed again if they are still
    empty after it (an error, or every photo skipped): the rule of `engine.made_folders`. One that
    cannot be made is a one-line PetsegError."""
    try:
        made = make_folder(folder)
    except OSError as exc:
        raise PetsegError(f"{folder}: cannot create the output folder ({exc.strerror or exc})") from None
    try:
        yield
    finally:
        remove_if_empty(made)


def folder_write_problem(folder: str | Path) -> str | None:
    """Why no file can be created in ``folder`` (read-only file system, no permission, disk
    quota), or None when one can: a real file is created and removed, since the mode bits do
    not tell (root ignores them, a read-only mount or an ACL is not in them)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".petseg-write-test-", dir=folder)
    except FileNotFoundError as exc:
        if Path(folder).is_dir():  # /proc answers a new file so: "folder … (No such file or directory)" misled
            return "a kernel file system like /proc, where no file can be created"
        return str(exc.strerror or exc)
    except OSError as exc:
        return str(exc.strerror or exc)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def into_folder(output: Path, default: str | Path) -> Path:
    """``output`` as the user named it, or, when it is an existing folder, ``default``'s file name in
    it, as ``cp FILE DIR/`` means (``export --output DIR``, ``eval --worst_out DIR``)."""
    return output / Path(default).name if output.is_dir() else output


def check_output(
    output: str | Path,
    *,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    suffix: str | None = ".png",
    flag: str = "--output",
    create_folder: bool = False,
) -> Path:
    """Return ``output`` if it may be written; raise a one-line PetsegError otherwise.

    ``inputs``: files the command reads (None entries are ignored); ``overwrite``: the user
    passed ``--overwrite``; ``suffix``: required suffix (case-insensitive), None for any;
    ``flag``: how the message names the option; ``create_folder``: a missing parent folder is
    made when the output is written (`made_folder`), so it is checked that it can be.
    """
    out = Path(output)
    if suffix is not None and out.suffix.lower() != suffix:
        raise PetsegError(f"{out}: {flag} must be a {suffix} file")
    for source in inputs:
        if source is not None and same_file(out, source):
            kind = "input" if Path(source) == out else f"input {source}"
            raise OutputRefused(
                f"{out}: is the {kind} itself (same file); choose another {flag} — "
                "petseg never writes over its input, even with --overwrite"
            )
    owned = training_file_of(out)
    if owned:
        raise OutputRefused(
            f"{out}: is {owned[1]} of the run {owned[0].name}, which its training wrote; choose another {flag} — "
            "petseg never writes over a run's own files, even with --overwrite"
        )
    if out.is_dir():
        raise PetsegError(f"{out}: is a folder; {flag} needs a file name such as {out / ('mask' + (suffix or ''))}")
    parent = out.parent
    if not parent.is_dir() and not create_folder:
        raise PetsegError(f"{parent}: {flag} folder does not exist (create it first)")
    if not parent.is_dir():  # made when the output is written (`made_folder`): it must be possible
        above = next(p for p in (parent, *parent.parents) if p.exists() or p.is_symlink() or p == p.parent)
        if not above.is_dir():
            raise PetsegError(f"{above}: is not a folder, so {flag} {out} cannot be written")
        parent = above
    problem = folder_write_problem(parent)
    if problem:
        raise PetsegError(f"{parent}: {flag} folder is not writable ({problem}); nothing was done")
    if (out.exists() or out.is_symlink()) and not overwrite:
        if links_out(out):
            raise OutputRefused(f"{out}: already exists and {LINKS_OUT}; refusing to replace it "
                                "(pass --overwrite to replace it)")
        if not is_petseg_output(out):
            raise OutputRefused(
                f"{out}: already exists and was not written by petseg; refusing to replace it "
                "(pass --overwrite to replace it)"
            )
    return out


LINKS_OUT = "is a symbolic link out of its folder (petseg writes a file in its place, never through it)"


def links_out(path: Path) -> bool:
    """``path`` is a symlink leading out of its own folder (a run folder's is untrusted): what it
    points to is not read to judge whether petseg may replace it."""
    return path.is_symlink() and not inside_folder(path, path.parent)
