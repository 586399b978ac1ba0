"""Where each file of a run folder lives: the only module that knows their names.

Layout of ``<runs>/<name>/``::

    config.json      every hyperparameter, data source, versions, seed (written atomically)
    events.jsonl     append-only, one JSON event per line, flushed per event
    status.json      {"state", "pid", "host", "heartbeat", "message", ...} rewritten atomically
    checkpoints/     best.pt and last.pt, each written to a temp file then renamed
    writer.lock      held (flock) by the one process writing the run, for its whole lifetime
    control.json     a pending stop / pause / resume request for the process training the run
    train.log        stdout and stderr of a run started in the background (`engine.train.launch`)
    error.log        the traceback of an unexpected error that failed the run
    previews/        the predicted masks of a few validation images per epoch (`engine.train.previews`)
    predictions/     ``petseg demo``'s and the TUI's saved predictions: NAME_overlay.png, NAME_mask.png
    eval/            ``petseg eval --worst``'s contact sheets: worst-SPLIT.png
    labels.json      the user's tags, note and archived flag (`engine.runs.labels`), written atomically

Also here: what a run folder is (`is_run_folder`), which checkpoint a run is used with
(`checkpoint_for`), and reading / writing a run's JSON files with one-line errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write
from engine.errors import CheckpointError, RunStoreError

CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"
STATUS_FILE = "status.json"
LOCK_FILE = "writer.lock"
CONTROL_FILE = "control.json"
LOG_FILE = "train.log"
CHECKPOINT_DIR = "checkpoints"
ERROR_LOG = "error.log"
PREVIEWS_DIR = "previews"  # its files and their format are engine.train.previews'
PREDICTIONS_DIR = "predictions"
EVAL_DIR = "eval"  # petseg eval --worst: contact sheets of the worst-scored images
LABELS_FILE = "labels.json"  # tags, note, archived: the user's, never the trainer's (engine.runs.labels)
DELETING_MARK = ".deleting-"  # a run folder being deleted is first renamed to .NAME.deleting-PID (hidden)
BEST_CHECKPOINT = "best.pt"  # the weights of the best validation Dice so far
LAST_CHECKPOINT = "last.pt"  # every epoch (and on stop), with optimizer/RNG state: what a resume reads
CHECKPOINTS = {"best": BEST_CHECKPOINT, "last": LAST_CHECKPOINT}

PREDICTION_KINDS = ("overlay", "mask")


def prediction_path(run_path: str | Path, stem: str, kind: str) -> Path:
    """Where a run keeps a saved prediction of the photo ``stem``: ``kind`` "overlay" (the photo
    with its mask drawn on it) or "mask" (black and white)."""
    if kind not in PREDICTION_KINDS:
        raise ValueError(f"prediction kind {kind!r} is not one of {', '.join(PREDICTION_KINDS)}")
    return Path(run_path) / PREDICTIONS_DIR / f"{stem}_{kind}.png"


def run_worst_sheet(run_path: str | Path, split: str) -> Path:
    """Where ``petseg eval --worst`` writes a run's contact sheet of the ``split``'s worst images."""
    return Path(run_path) / EVAL_DIR / f"worst-{split}.png"


_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def checkpoint_path(run_path: str | Path, which: str) -> Path:
    """Where a run keeps its ``which`` ("best" or "last") checkpoint (it may not exist yet)."""
    return Path(run_path) / CHECKPOINT_DIR / CHECKPOINTS[which]


def checkpoint_for(run_path: str | Path) -> tuple[Path, str]:
    """The checkpoint a run is evaluated and used with: best.pt, else last.pt; and a note for
    the user when it is last.pt. CheckpointError if the run has neither yet."""
    best, last = checkpoint_path(run_path, "best"), checkpoint_path(run_path, "last")
    if best.is_file():
        return best, ""
    if last.is_file():
        return last, f"no {BEST_CHECKPOINT} yet: using {LAST_CHECKPOINT}"
    raise CheckpointError(best, f"run has no checkpoint yet (no {BEST_CHECKPOINT} or {LAST_CHECKPOINT})")


def run_of_checkpoint(checkpoint: str | Path) -> Path | None:
    """The run folder a checkpoint file belongs to, or None for a checkpoint kept elsewhere."""
    ckpt = Path(checkpoint)
    run = ckpt.parent.parent
    if ckpt.parent.name == CHECKPOINT_DIR and (run / CONFIG_FILE).is_file():
        return run
    return None


def is_run_folder(path: Path) -> bool:
    """What a run is: a visible folder that a writer has opened, i.e. that holds config.json,
    status.json or events.jsonl (a detached launch's folder with only train.log is not yet)."""
    if path.name.startswith(".") or not path.is_dir():
        return False
    return any((path / f).exists() for f in (CONFIG_FILE, STATUS_FILE, EVENTS_FILE))


def is_unstarted_run(path: Path) -> bool:
    """A run folder whose writer died before its first write (no config.json, no status.json,
    no event): nothing in it can be lost, so its name may be taken again."""
    if (path / CONFIG_FILE).exists() or (path / STATUS_FILE).exists():
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
        raise RunStoreError(name, "run names use letters, digits, '.', '_' and '-' (max 100)")
    return name


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same folder, fsync, then rename over ``path``."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")), fault_point="json")


def read_run_json(path: Path) -> dict[str, Any]:
    """A run's JSON file as a dict; RunStoreError (one line) if missing, unreadable or not an object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunStoreError(path, "missing") from None
    except OSError as exc:
        raise RunStoreError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunStoreError(path, f"not valid JSON ({exc})") from None
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
