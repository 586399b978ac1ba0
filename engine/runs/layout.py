"""Where each file of a run folder lives: the only module that knows their names.

Layout of ``<runs>/<name>/``::

    config.json      every hyperparameter, data source, versions, seed (written atomically)
    events.jsonl     append-only, one JSON event per line, flushed per event
    status.json      {"state", "pid", "host", "heartbeat", "message", ...} rewritten atomically
    checkpoints/     best.pt and last.pt, each written to a temp file then renamed
    writer.lock      held (flock) by the one process writing the run, for its whole lifetime
    space.reserve    64 KiB the writer holds while the run is open and gives back when the disk is full,
                     so that the run's end (status.json, the last event) is still recorded; removed at close
    control.json     a pending stop / pause / resume request for the process training the run
    train.log        the run's console: what petseg printed, warnings, a crash's traceback, for every
                     run however started (`engine.console_log`; a detached launch also sends the
                     child's own stdout/stderr here); bounded, the older half in train.log.1
    system.jsonl     system metrics sampled while the run trains (`engine.runs.system_log`)
    error.log        the traceback of an unexpected error that failed the run
    previews/        the predicted masks of a few validation images per epoch (`engine.train.previews`)
    predictions/     ``petseg demo``'s and the TUI's saved predictions: NAME_overlay.png, NAME_mask.png
                     (NAME_t0.60_overlay.png ... when the TUI saved them at a threshold other than 0.5)
    eval/            ``petseg eval --worst``'s contact sheets: worst-SPLIT.png
    export/          ``petseg export``: model.onnx, model.torchscript.pt and their parity report export.json
    labels.json      the user's tags, note and archived flag (`engine.runs.labels`), written atomically

Sweeps keep their Optuna study beside the runs, in a hidden folder no listing takes for a run::

    <runs>/.sweeps/NAME.journal   the study's journal (Optuna's file storage), unless --storage names another
    <runs>/.sweeps/NAME.log       the output of a sweep started from the TUI (in the background)
    <runs>/.sweeps/NAME.pid       {"pid", "host"} of the sweep process running it now (the TUI's x stops it)

Also here: what a run folder is (`is_run_folder`), which checkpoint a run is used with
(`checkpoint_for`), and reading / writing a run's JSON files with one-line errors.

A run folder is untrusted input (it may come from another box or another user): its files are
opened with `open_run_file`, which refuses anything that leads outside the folder (a symlink,
a recorded name with ``..``), anything that is not a regular file (a FIFO would hang a reader,
a device would never end) and, for the JSON files, anything over `MAX_JSON_BYTES`. Its append
modes are how a run's logs are written (train.log, events.jsonl, system.jsonl): a FIFO planted
there is never waited on, a symlink out of the run never written through.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import IO, Any

from engine.atomic import atomic_write
from engine.errors import CheckpointError, PetsegError, RunStoreError, first_line
from engine.words import byte_size

CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"
STATUS_FILE = "status.json"
LOCK_FILE = "writer.lock"
RESERVE_FILE = "space.reserve"  # engine.runs.writer: room kept for recording the run's end on a full disk
CONTROL_FILE = "control.json"
LOG_FILE = "train.log"  # the run's console log (every run; see engine.console_log)
LOG_BACKUP = "train.log.1"  # the console log's older part, once it outgrew its bound
SYSTEM_FILE = "system.jsonl"  # engine.runs.system_log: GPU / CPU / memory / data-wait / disk samples
CHECKPOINT_DIR = "checkpoints"
ERROR_LOG = "error.log"
PREVIEWS_DIR = "previews"  # its files and their format are engine.train.previews'
PREDICTIONS_DIR = "predictions"
EVAL_DIR = "eval"  # petseg eval --worst: contact sheets of the worst-scored images
LABELS_FILE = "labels.json"  # tags, note, archived: the user's, never the trainer's (engine.runs.labels)
DELETING_MARK = ".deleting-"  # a run folder being deleted is first renamed to .NAME.deleting-PID (hidden)
BEST_CHECKPOINT = "best.pt"  # the weights of the best validation Dice so far
LAST_CHECKPOINT = "last.pt"  # at most every --checkpoint_interval s (and at the end, on stop, on pause), with optimizer/RNG state: what a resume reads
CHECKPOINTS = {"best": BEST_CHECKPOINT, "last": LAST_CHECKPOINT}

PREDICTION_KINDS = ("overlay", "mask")
PREDICTION_THRESHOLD = 0.5  # the inference screen's starting threshold: its saves carry no threshold in their name

SWEEPS_DIR = ".sweeps"  # a dot folder: is_run_folder never lists it
SWEEP_JOURNAL_SUFFIX = ".journal"


def sweep_journal(runs_dir: str | Path, sweep: str) -> Path:
    """Where a sweep's study lives by default: ``<runs>/.sweeps/<sweep>.journal``."""
    return Path(runs_dir) / SWEEPS_DIR / f"{sweep}{SWEEP_JOURNAL_SUFFIX}"


def sweep_log(runs_dir: str | Path, sweep: str) -> Path:
    """Where a sweep started in the background (from the TUI) writes its output."""
    return Path(runs_dir) / SWEEPS_DIR / f"{sweep}.log"


def sweep_pid_file(runs_dir: str | Path, sweep: str) -> Path:
    """Which process runs the sweep now (written while ``petseg sweep`` runs, removed at its end)."""
    return Path(runs_dir) / SWEEPS_DIR / f"{sweep}.pid"


def sweep_pid_lock(runs_dir: str | Path, sweep: str) -> Path:
    """The ``flock`` file beside `sweep_pid_file` that its writers take in turn. It stays when the
    sweep ends, empty: removing a lock file another process may be about to lock lets two lock two
    different files."""
    return Path(runs_dir) / SWEEPS_DIR / f"{sweep}.pid.lock"


SWEEP_STORAGE_SUFFIX = ".storage.json"


def sweep_storage_record(runs_dir: str | Path, sweep: str) -> Path:
    """Which storage a sweep kept outside the default journal uses (``--storage``), for the
    dashboard: ``<runs>/.sweeps/<sweep>.storage.json`` (`engine.sweep.where`)."""
    return Path(runs_dir) / SWEEPS_DIR / f"{sweep}{SWEEP_STORAGE_SUFFIX}"


def sweep_journals(runs_dir: str | Path) -> list[Path]:
    """Every sweep journal under ``runs_dir``, by name (none if the folder is missing)."""
    folder = Path(runs_dir) / SWEEPS_DIR
    return sorted(folder.glob(f"*{SWEEP_JOURNAL_SUFFIX}")) if folder.is_dir() else []


def trial_run_name(sweep: str, trial: int) -> str:
    """The run folder of trial ``trial`` of ``sweep``: ``<sweep>-t007``."""
    return f"{sweep}-t{trial:03d}"
MAX_JSON_BYTES = 8 << 20  # a run's JSON files are a few KB; a bigger one is not petseg's


def run_files() -> tuple[str, ...]:
    """Every file petseg writes at a fixed place in a run folder, relative to it (the folders
    ``previews/``, ``predictions/`` and ``eval/`` hold files named by their owners)."""
    return (CONFIG_FILE, EVENTS_FILE, STATUS_FILE, LOCK_FILE, RESERVE_FILE, CONTROL_FILE, LOG_FILE, ERROR_LOG,
            f"{CHECKPOINT_DIR}/{BEST_CHECKPOINT}", f"{CHECKPOINT_DIR}/{LAST_CHECKPOINT}")


TRAINING_DIRS = (CHECKPOINT_DIR, PREVIEWS_DIR)  # folders whose every file training writes


def training_file_of(path: str | Path) -> tuple[Path, str] | None:
    """(run folder, name in it) if ``path`` (symlinks resolved) is a file a run's training writes:
    one of `run_files` or anything in `TRAINING_DIRS`; None otherwise. No command may write there:
    a checkpoint, a preview or the run's record cannot be made again without training again."""
    real = Path(os.path.realpath(path))
    for run, name in ((real.parent, real.name), (real.parent.parent, f"{real.parent.name}/{real.name}")):
        if (name in run_files() or name.split("/")[0] in TRAINING_DIRS and "/" in name) and is_run_folder(run):
            return run, name
    return None


class RunFileMissing(RunStoreError):
    """A file of a run folder does not exist (callers may treat that as "not yet")."""


def inside_folder(path: str | Path, folder: str | Path) -> bool:
    """True if ``path``, symlinks and ``..`` resolved, lies inside ``folder`` (resolved too)."""
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real.startswith(top.rstrip(os.sep) + os.sep)


def plain_file_name(name: object) -> bool:
    """True for a bare file name recorded in a run's file: no folder part, no ``..``, not hidden."""
    return (isinstance(name, str) and bool(name) and not name.startswith(".") and "/" not in name
            and "\\" not in name and "\0" not in name and os.path.basename(name) == name)


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words ("a named pipe (FIFO)"), from its mode."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


# open_run_file's modes: read, append, and read-and-append (a writer that checks the file's last byte)
_OPEN_FLAGS = {"rb": os.O_RDONLY, "ab": os.O_WRONLY | os.O_APPEND | os.O_CREAT,
               "a+b": os.O_RDWR | os.O_APPEND | os.O_CREAT}


def open_run_file(path: str | Path, run_path: str | Path | None = None, mode: str = "rb") -> IO[bytes]:
    """Open a file of the run folder ``run_path`` (default: the file's own folder) as untrusted
    input: RunStoreError (one line naming the file) if it leads outside the folder, is not a
    regular file or cannot be opened; RunFileMissing if it does not exist (reading). Never blocks.
    ``mode``: "rb", or "ab" / "a+b" to append (the file made when missing), for the run's logs."""
    path = Path(path)
    run = Path(run_path) if run_path is not None else path.parent
    done = "not read" if mode == "rb" else "not written"
    if not inside_folder(path, run):
        if mode == "rb" and not os.path.lexists(path):
            raise RunFileMissing(path, "missing")
        raise RunStoreError(path, f"leads outside the run folder (a symlink or a '..' name); {done}")
    try:  # O_NONBLOCK: opening a FIFO must not wait for its other end
        fd = os.open(path, _OPEN_FLAGS[mode] | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o644)
    except FileNotFoundError:  # appending: the folder is gone
        raise RunFileMissing(path, "missing" if mode == "rb" else "cannot write: its folder is gone") from None
    except OSError as exc:
        # to write: a FIFO with no reader (ENXIO, refused rather than waited on), or a folder
        kind = {errno.ENXIO: stat.S_IFIFO, errno.EISDIR: stat.S_IFDIR}.get(exc.errno or 0)
        if kind is not None:
            raise RunStoreError(path, f"is {file_kind(kind)}, not a file; {done}") from None
        raise RunStoreError(path, f"cannot {'read' if mode == 'rb' else 'write'} ({exc.strerror or exc})") from None
    try:
        st_mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(st_mode):
            raise RunStoreError(path, f"is {file_kind(st_mode)}, not a file" + ("" if mode == "rb" else f"; {done}"))
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def open_regular_file(path: str | Path) -> IO[bytes]:
    """A file the user named (a model, an output to replace), read as `open_run_file` reads a
    run's: never blocking on a FIFO, only a regular file; its symlinks followed where they lead."""
    return open_run_file(path, Path(os.path.realpath(path)).parent)


def read_run_file(path: str | Path, limit: int = MAX_JSON_BYTES, run_path: str | Path | None = None) -> bytes:
    """The bytes of a run's file (`open_run_file`), RunStoreError if larger than ``limit``."""
    try:
        with open_run_file(path, run_path) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:  # EIO, a file that vanished under us
        raise RunStoreError(path, f"cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise RunStoreError(path, f"larger than {byte_size(limit)}; not a file petseg writes")
    return data


def prediction_path(run_path: str | Path, stem: str, kind: str, threshold: float | None = None,
                    tta: bool = False) -> Path:
    """Where a run keeps a saved prediction of the photo ``stem``: ``kind`` "overlay" (the photo
    with its mask drawn on it) or "mask" (black and white). A ``threshold`` other than the usual
    `PREDICTION_THRESHOLD` is in the name (``NAME_t0.60_overlay.png``), and so is ``tta``
    (``NAME_tta_overlay.png``), so that saving a photo again another way keeps the earlier pair;
    without either (``petseg demo``), the plain name."""
    if kind not in PREDICTION_KINDS:
        raise ValueError(f"prediction kind {kind!r} is not one of {', '.join(PREDICTION_KINDS)}")
    at = "" if threshold is None or round(threshold, 2) == PREDICTION_THRESHOLD else f"_t{threshold:.2f}"
    return Path(run_path) / PREDICTIONS_DIR / f"{stem}{at}{'_tta' if tta else ''}_{kind}.png"


def run_worst_sheet(run_path: str | Path, split: str) -> Path:
    """Where ``petseg eval --worst`` writes a run's contact sheet of the ``split``'s worst images."""
    return Path(run_path) / EVAL_DIR / f"worst-{split}.png"


EXPORT_DIR = "export"
EXPORT_FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}  # petseg export --format
EXPORT_REPORT = "export.json"  # beside every exported file: its parity figures (engine.export.report)


def export_path(run_path: str | Path, fmt: str) -> Path:
    """Where ``petseg export --format fmt`` writes a run's model when no ``--output`` is given."""
    return Path(run_path) / EXPORT_DIR / EXPORT_FILES[fmt]


def export_report_path(exported: str | Path) -> Path:
    """The parity report beside an exported model file (one report per folder, an entry per file)."""
    return Path(exported).parent / EXPORT_REPORT


_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# _NAME_OK in words, for every line that refuses a name (a run's, a sweep's): ASCII and the first
# character said, or ".hidden" and "chat-été" read as names the rule allows
NAME_RULE = "ASCII letters, digits, '.', '_' and '-', starting with a letter or digit"


def checkpoint_path(run_path: str | Path, which: str) -> Path:
    """Where a run keeps its ``which`` ("best" or "last") checkpoint (it may not exist yet)."""
    return Path(run_path) / CHECKPOINT_DIR / CHECKPOINTS[which]


def has_checkpoint(run_path: str | Path) -> bool:
    """Whether the run holds a checkpoint `checkpoint_for` would give (best.pt or last.pt): what
    the keys that use a run's model (infer, worst, export) need to be offered."""
    return any(checkpoint_path(run_path, which).is_file() for which in ("best", "last"))


def own_checkpoint(run_path: str | Path, which: str) -> Path:
    """`checkpoint_path`, checked as a file of an untrusted folder: CheckpointError if it is there
    but leads outside the run folder (a symlink: a run's checkpoint must be its own) or is no
    regular file (a FIFO, a folder). A missing one is returned as it is (callers say "not yet")."""
    path = checkpoint_path(run_path, which)
    if not os.path.lexists(path):
        return path
    if not inside_folder(path, run_path):
        # a user who moved checkpoints/ to a larger disk is told what petseg does take: a linked run folder
        raise CheckpointError(path, "leads outside the run folder (a symlink); not loaded. To keep a run on "
                                    "another disk, move the whole run folder and link that instead")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return path  # a dangling link inside the run: missing
    if not stat.S_ISREG(mode):
        raise CheckpointError(path, f"is {file_kind(mode)}, not a checkpoint file")
    return path


def checkpoint_for(run_path: str | Path) -> tuple[Path, str]:
    """The checkpoint a run is evaluated and used with: best.pt, else last.pt; and a note for
    the user when it is last.pt. CheckpointError if the run has neither yet, or one that is not
    its own file (`own_checkpoint`: a FIFO best.pt was passed over for last.pt, "no best.pt yet")."""
    best, last = own_checkpoint(run_path, "best"), own_checkpoint(run_path, "last")
    if best.is_file():
        return best, ""
    if last.is_file():
        return last, f"no {BEST_CHECKPOINT} yet: using {LAST_CHECKPOINT}"
    raise CheckpointError(best, f"run has no checkpoint yet (no {BEST_CHECKPOINT} or {LAST_CHECKPOINT})")


def why_no_checkpoint(run_path: str | Path) -> str:
    """`checkpoint_for`'s refusal of the run as one line, "" when it has a checkpoint to use: what
    a key that needs the model (the dashboard's E and w) says instead of acting."""
    try:
        checkpoint_for(run_path)
    except PetsegError as exc:
        return first_line(exc)
    return ""


def run_of_checkpoint(checkpoint: str | Path) -> Path | None:
    """The run folder a model file belongs to (a checkpoint in its ``checkpoints/``, or an export
    in its ``export/``), or None for a file kept elsewhere."""
    ckpt = Path(checkpoint)
    run = ckpt.parent.parent
    if ckpt.parent.name in (CHECKPOINT_DIR, EXPORT_DIR) and (run / CONFIG_FILE).is_file():
        return run
    return None


def is_run_folder(path: Path) -> bool:
    """What a run is: a visible folder that a writer has opened, i.e. that holds config.json,
    status.json or events.jsonl (a detached launch's folder with only train.log is not yet)."""
    if path.name.startswith(".") or not path.is_dir():
        return False
    return any(_may_hold(path, f) for f in (CONFIG_FILE, STATUS_FILE, EVENTS_FILE))


def _may_hold(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` exists, or may: a folder that cannot be searched (its permissions
    taken away) is taken to hold it. `Path.exists` raised PermissionError there, which ended
    `petseg runs` and the dashboard's table over one such folder; a folder petseg cannot look
    into is listed, as a broken run saying why, and its name is never given to a new run."""
    try:
        os.stat(folder / name)
    except OSError as exc:
        return exc.errno not in (errno.ENOENT, errno.ENOTDIR)
    return True


def is_unstarted_run(path: Path) -> bool:
    """A run folder whose writer died before its first write (no config.json, no status.json,
    no event): nothing in it can be lost, so its name may be taken again."""
    if _may_hold(path, CONFIG_FILE) or _may_hold(path, STATUS_FILE):
        return False
    try:
        return (path / EVENTS_FILE).stat().st_size == 0
    except OSError:
        return True


def started_at(path: Path) -> float:
    """When the run in ``path`` was last started or resumed: config.json's modification time
    (each start rewrites it), else the folder's; for listing runs newest first."""
    for p in (path / CONFIG_FILE, path):
        try:
            return p.stat().st_mtime
        except OSError:
            continue
    return 0.0


def validate_run_name(name: str) -> str:
    if not _NAME_OK.match(name or ""):
        raise RunStoreError(name, f"run names use {NAME_RULE} (at most 100)")
    return name


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same folder, fsync, then rename over ``path``."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), fault_point="json")


def read_run_json(path: Path) -> dict[str, Any]:
    """A run's JSON file as a dict; RunStoreError (one line) if missing, unreadable or not an object."""
    raw = read_run_file(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunStoreError(path, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise RunStoreError(path, "not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise RunStoreError(path, "expected a JSON object")
    return data


def read_run_config(run_path: str | Path) -> dict[str, Any]:
    """A run's config.json (RunStoreError, one line, if it is missing or not a JSON object)."""
    return read_run_json(Path(run_path) / CONFIG_FILE)


def ensure_folder(path: Path, what: str) -> Path:
    """Create ``path`` (and parents) or raise RunStoreError saying why, in one sentence."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunStoreError(path, f"is a file, not a folder; choose another {what}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunStoreError(path, f"cannot create the {what} ({exc.strerror or exc}); choose a folder you can write to") from None
    return path
