"""Downloading and safely extracting the official Oxford-IIIT Pet archives.

* ``download_file``: resumable HTTP download (a ``DEST.part`` file is continued with a
  ``Range`` request; a server answering 200 instead of 206 restarts it), a rich progress bar,
  md5 verification (a mismatch deletes the file) and an atomic rename into place.
* ``download_oxford_pet``: fetches ``images.tar.gz`` and ``annotations.tar.gz`` and extracts them
  into ``root`` (``root/images``, ``root/annotations``) refusing members that would land outside
  ``root`` (absolute paths, ``..``, links pointing out, devices).

The md5s come from ``torchvision.datasets.OxfordIIITPet._RESOURCES`` so we stay in sync with
torchvision; the primary host is the VGG group's current one (thor.robots.ox.ac.uk) and
torchvision's URL is kept as a fallback mirror. Every network failure is one ``DownloadError``
line naming the URL (an archive no URL gave: every URL tried, each with why, `every_url_failed`).
URLs, md5s and the opener are parameters so tests use a local server.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import DatasetError, PetsegError
from engine.made_folders import make_folder, remove_if_empty

OFFICIAL_BASE_URL = "https://thor.robots.ox.ac.uk/datasets/pets"
_CHUNK = 1 << 20

# Used only if torchvision no longer has the private attribute; same values as torchvision 0.29.
_FALLBACK_MD5 = {
    "images.tar.gz": "5c4f3ee8e5d25df40f4fd59a7f44e54c",
    "annotations.tar.gz": "95a8c909bbe2e81eed6a22bccdf3f68f",
}


class DownloadError(PetsegError):
    """A download that failed (network, HTTP status, size or checksum); names the URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


@dataclass(frozen=True)
class Resource:
    """One archive: its file name, URLs to try in order, and md5 (None: not checked)."""

    filename: str
    urls: tuple[str, ...]
    md5: str | None


def oxford_pet_resources() -> list[Resource]:
    """The two official archives, md5s taken from torchvision's OxfordIIITPet."""
    try:
        from torchvision.datasets import OxfordIIITPet

        tv = [(url, md5) for url, md5 in OxfordIIITPet._RESOURCES]
    except (ImportError, AttributeError):
        tv = [(f"https://www.robots.ox.ac.uk/~vgg/data/pets/data/{n}", m) for n, m in _FALLBACK_MD5.items()]
    out = []
    for url, md5 in tv:
        name = url.rsplit("/", 1)[-1]
        official = f"{OFFICIAL_BASE_URL}/{name}"
        urls = (official, url) if url != official else (official,)
        out.append(Resource(name, urls, md5))
    return out


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _progress(enabled: bool, description: str, total: int | None, completed: int):
    """A rich progress bar on stderr, or a no-op stand-in."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    progress.start()
    task = progress.add_task(description, total=total, completed=completed)
    return progress, task


def _network_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"network error ({exc.reason})"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "network error (timed out)"
    return f"network error ({exc})"


def download_file(
    url: str,
    dest: Path,
    md5: str | None,
    *,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify ``md5``, return ``dest``.

    An existing ``dest`` whose md5 matches is kept without any request.
    """
    dest = Path(dest)
    if dest.exists() and (md5 is None or file_md5(dest) == md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0

    headers = {"User-Agent": "petseg-tui"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = opener(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        # An HTTPError is also the open response: left to the garbage collector, its socket
        # leaks (ResourceWarning) until then.
        exc.close()
        if exc.code == 416 and offset:
            # Range starts at or past the end: the .part may already be complete.
            if md5 is not None and file_md5(part) == md5:
                os.replace(part, dest)
                return dest
            part.unlink(missing_ok=True)
            return download_file(url, dest, md5, opener=opener, progress=progress, timeout=timeout)
        raise DownloadError(url, _network_reason(exc)) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(url, _network_reason(exc)) from None

    bar = None
    try:
        status = getattr(resp, "status", None) or resp.getcode()
        length = resp.headers.get("Content-Length")
        if offset and status == 206:
            content_range = resp.headers.get("Content-Range", "")
            if content_range and not content_range.startswith(f"bytes {offset}-"):
                # Appending bytes from another offset would corrupt the file silently.
                part.unlink(missing_ok=True)
                raise DownloadError(
                    url, f"server resumed at the wrong offset ({content_range!r}); run again"
                )
            mode = "ab"
        else:
            # 200 to a Range request: the server sends the whole file, so start over.
            offset, mode = 0, "wb"
        total = int(length) + offset if length is not None else None
        bar = _progress(progress, f"downloading {dest.name}", total, offset)
        received = offset
        with open(part, mode) as f:
            while True:
                try:
                    chunk = resp.read(_CHUNK)
                except (OSError, ValueError) as exc:
                    raise DownloadError(
                        url, f"{_network_reason(exc)} after {received} bytes; run again to resume"
                    ) from None
                if not chunk:
                    break
                f.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar[0].update(bar[1], completed=received)
    finally:
        if bar is not None:
            bar[0].stop()
        resp.close()

    if total is not None and received != total:
        raise DownloadError(
            url, f"incomplete download ({received} of {total} bytes); run again to resume"
        )
    if md5 is not None:
        got = file_md5(part)
        if got != md5:
            part.unlink(missing_ok=True)
            raise DownloadError(
                url, f"checksum mismatch (expected md5 {md5}, got {got}); the file was deleted, run again"
            )
    os.replace(part, dest)
    return dest


def safe_extract(archive: Path, root: Path) -> None:
    """Extract a tar archive into ``root``, refusing any member that would escape it."""
    root = Path(root).resolve()
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                target = (root / member.name).resolve()
                if os.path.isabs(member.name) or not target.is_relative_to(root):
                    raise DatasetError(archive, f"unsafe path in archive: {member.name!r}")
                if member.issym() or member.islnk():
                    link = (target.parent / member.linkname).resolve() if member.issym() else (
                        root / member.linkname
                    ).resolve()
                    if not link.is_relative_to(root):
                        raise DatasetError(archive, f"unsafe link in archive: {member.name!r}")
                elif not (member.isfile() or member.isdir()):
                    raise DatasetError(archive, f"unsupported member type in archive: {member.name!r}")
            # The "data" filter repeats these checks in C-speed and strips odd permissions.
            tar.extractall(root, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(archive, f"cannot extract archive ({exc})") from None


def every_url_failed(failures: Sequence[DownloadError]) -> DownloadError:
    """One error for an archive none of whose URLs gave it: each URL tried, in order, with why it
    failed ("URL1: why1; then URL2: why2"). Only the last was raised: offline, the error named the
    fallback mirror and never the official host tried first, nor that it had failed too."""
    first, *rest = failures
    if not rest:
        return first
    return DownloadError(first.url, "; then ".join([first.reason, *(str(f) for f in rest)]))


def download_oxford_pet(
    root: Path,
    opener: Callable[..., Any] = urllib.request.urlopen,
    *,
    resources: Sequence[Resource] | None = None,
    progress: bool = True,
    keep_archives: bool = False,
) -> Path:
    """Download and extract the dataset so that ``root/images`` and ``root/annotations`` exist.

    Each archive is tried from its URLs in order; after a successful extraction a marker file
    ``.extracted-NAME`` makes later calls skip it. Archives are deleted after extraction unless
    ``keep_archives`` (they are 800 MB and the extracted files are what we use).
    """
    root = Path(root).expanduser()
    made = make_folder(root)
    try:
        _fetch_and_extract(root, resources if resources is not None else oxford_pet_resources(),
                           opener, progress, keep_archives)
    except DownloadError:
        remove_if_empty(made)  # nothing fetched (a .part is kept to resume): no empty folder left
        raise
    for sub in ("images", "annotations"):
        if not (root / sub).is_dir():
            raise DatasetError(root, f"download finished but {sub}/ is missing; the archives are not the official ones")
    return root


def _fetch_and_extract(root: Path, resources: Sequence[Resource], opener: Callable[..., Any],
                       progress: bool, keep_archives: bool) -> None:
    """Each archive of ``resources`` not extracted into ``root`` yet: downloaded and extracted."""
    for res in resources:
        marker = root / f".extracted-{res.filename}"
        if marker.exists():
            continue
        archive = root / res.filename
        failures: list[DownloadError] = []
        for url in res.urls:
            try:
                download_file(url, archive, res.md5, opener=opener, progress=progress)
                failures.clear()
                break
            except DownloadError as exc:
                failures.append(exc)
        if failures:
            raise every_url_failed(failures)
        safe_extract(archive, root)
        marker.write_text(res.md5 or "")
        if not keep_archives:
            archive.unlink(missing_ok=True)

