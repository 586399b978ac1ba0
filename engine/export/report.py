"""``export.json``: the parity report beside exported model files.

One report per folder, one entry per exported file name (``model.onnx`` and
``model.torchscript.pt`` of a run share ``<run>/export/export.json``), rewritten atomically at
each export. An entry says whether the export was accepted (written) or refused by the parity
rule, with its figures (`engine.export.parity.Parity.as_dict` per size), the metadata and the
timings, and what was written (``bytes``, ``sha256``) so that `file_note` can tell whether the file
there now is still that export. Torch-free: the TUI reads it on its UI thread.
"""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path
from typing import Any

from engine.atomic import folder_lock
from engine.errors import RunStoreError
from engine.runs.layout import (
    EXPORT_DIR,
    EXPORT_REPORT,
    export_report_path,
    inside_folder,
    open_run_file,
    plain_file_name,
    read_run_file,
    write_json_atomic,
)

REPORT_FORMAT = "petseg-export-report/1"


def read_report(folder_or_file: str | Path) -> dict[str, dict[str, Any]]:
    """The entries of the report in a folder (or beside a file): file name -> entry; {} if there
    is none or it is unreadable (a report is informative, never needed to use an export)."""
    path = Path(folder_or_file)
    path = path / EXPORT_REPORT if path.is_dir() else export_report_path(path)
    try:  # as untrusted input: a FIFO there hung the runs table's scan for ever
        data = json.loads(read_run_file(path))
    except (RunStoreError, ValueError, RecursionError):
        return {}
    exports = data.get("exports") if isinstance(data, dict) else None
    if not isinstance(exports, dict):
        return {}
    return {str(k): v for k, v in exports.items() if isinstance(v, dict)}


def is_report(path: str | Path) -> bool:
    """``path`` is a report petseg export wrote (its format tag), readable or not as a whole."""
    try:
        data = json.loads(read_run_file(path))
    except (RunStoreError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("format") == REPORT_FORMAT


def report_may_be_written(exported: Path, overwrite: bool) -> str | None:
    """Why the report beside ``exported`` may not be written (a file of that name that petseg
    export did not write, unless ``overwrite``), or None when it may."""
    path = export_report_path(exported)
    if not (path.exists() or path.is_symlink()) or overwrite or is_report(path):
        return None
    return (f"{path}: already exists and is not a petseg export report, which an export writes beside "
            f"{exported.name}; refusing to replace it (pass --overwrite, or choose another folder)")


def record(exported: Path, entry: dict[str, Any]) -> Path:
    """Add (or replace) ``exported``'s entry in the report beside it; returns the report's path.
    Under the folder's lock: another export recording its entry meanwhile is kept."""
    path = export_report_path(exported)
    with folder_lock(path.parent):
        entries = read_report(exported)
        entries[exported.name] = entry
        write_json_atomic(path, {"format": REPORT_FORMAT, "exports": entries})
    return path


def run_report(run_path: str | Path) -> dict[str, dict[str, Any]]:
    """The export entries of a run (its ``export/`` folder)."""
    return read_report(Path(run_path) / EXPORT_DIR)


def _verdict(entry: dict[str, Any]) -> str:
    """An entry's file and whether it was written: how `summary` and `brief` begin."""
    verdict = "written" if entry.get("accepted") else "REFUSED (agreement below the rule)"
    return f"{entry.get('file', '?')} {verdict}"


def brief(entry: dict[str, Any]) -> str:
    """An entry in a few words, for a list of runs: `summary`'s beginning, with the lowest mask
    agreement over its sizes (the figure the rule judges), "model.onnx written; agreement 1.00000"."""
    agreements = [p.get("mask_agreement") for p in entry.get("parity") or [] if isinstance(p, dict)]
    numbers = [a for a in agreements if isinstance(a, (int, float)) and not isinstance(a, bool)]
    return _verdict(entry) + (f"; agreement {min(numbers):.5f}" if numbers else "")


def summary(entry: dict[str, Any]) -> str:
    """One line of an entry for a notification and a run's screen: file, accepted, agreement, Δ
    and Dice at each size ("model.onnx written; 256x256: agreement 1.00000, |Δp| max 3.0e-06,
    Dice on bundled photos: PyTorch 0.806 export 0.806")."""
    parts = []
    for p in entry.get("parity") or []:
        # the first Dice says whose photos: the parity check scores the sample bundled with petseg,
        # not the run's data, and "Dice PyTorch 0.806" on a run's screen beside its best Dice 0.8349
        # read as the run's own score; the next sizes' photos are some of the same
        dice = "Dice on bundled photos:" if not parts else "Dice"
        try:
            parts.append(f"{p['height']}x{p['width']}: agreement {p['mask_agreement']:.5f}, "
                         f"|Δp| max {p['max_abs_diff']:.1e}, "
                         # named, as `petseg export` prints them: "Dice 0.912/0.912" said not which was which
                         f"{dice} PyTorch {p['dice_pytorch']:.3f} export {p['dice_export']:.3f}")
        except (KeyError, TypeError, ValueError):
            continue
    return f"{_verdict(entry)}; " + "; ".join(parts)


def digest(data: bytes) -> str:
    """The ``sha256`` recorded for written bytes (and compared by `file_note`)."""
    return hashlib.sha256(data).hexdigest()


_hashed: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: a run screen reopened hashes nothing


def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    key = (str(path), size, mtime_ns)
    if key not in _hashed:
        h = hashlib.sha256()
        with open_run_file(path) as fh:  # the export's folder is untrusted: nothing outside it is hashed
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _hashed[key] = h.hexdigest()
    return _hashed[key]


def file_note(folder: str | Path, entry: dict[str, Any]) -> str:
    """Whether the file an accepted ``entry`` wrote in ``folder`` is still there as written: "" if
    it is (or the entry wrote nothing, or records nothing to compare), else what became of it.
    Its size is compared, then its modification time (unchanged: the file as written), else its
    SHA-256 (entries of older petseg versions have only ``bytes``)."""
    if not entry.get("written", entry.get("accepted")):
        return ""
    name = str(entry.get("file", ""))
    path = Path(folder) / name
    try:
        st = path.stat()
    except (OSError, ValueError):  # ValueError: a name with a NUL byte (a hand-edited report)
        return f"{name} is no longer there (deleted or moved since this export)"
    size, sha, mtime = entry.get("bytes"), entry.get("sha256"), entry.get("mtime_ns")
    changed = f"{name} has been replaced since this export (it is not the file written then)"
    if not plain_file_name(name) or not inside_folder(path, folder):
        return changed  # a hand-edited name ("../x", "/etc/x") or a symlink out: nothing outside is read
    if not stat.S_ISREG(st.st_mode) or isinstance(size, int) and st.st_size != size:
        return changed  # a FIFO or a device in its place is never read (it would not end)
    if isinstance(mtime, int) and st.st_mtime_ns == mtime:
        return ""  # untouched since it was written: no need to read it (a run screen opens on the UI thread)
    if isinstance(sha, str):
        try:
            if _file_digest(path, st.st_size, st.st_mtime_ns) != sha:
                return changed
        except OSError as exc:
            return f"{name}: cannot be read ({exc.strerror or exc})"
        except RunStoreError:  # no longer a regular file of the folder since its stat
            return changed
    return ""
