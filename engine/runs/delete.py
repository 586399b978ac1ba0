"""Deleting a run folder, refused while the run trains.

`delete_run` takes the run's writer lock (so no resume can start meanwhile), renames the
folder to a hidden ``.NAME.deleting-PID`` name in the same runs folder (one atomic rename: from
then on no listing shows it, so a delete cut short never leaves a half-deleted folder that looks
like a run), then removes it. A run that is a symlink in the runs folder (runs kept on another
disk, linked in) is the folder it leads to: that folder goes, and the link with it (`folder_words`
names both wherever a delete is asked or said). `sweep_deleting` finishes what a killed delete left.
`remove_refused_launch` removes the console-only folder of a detached launch refused before its run
began. No torch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.atomic import pid_alive
from engine.errors import RunStoreError
from engine.runs.layout import DELETING_MARK, LOG_BACKUP, LOG_FILE, is_run_folder
from engine.runs.lock import DELETING, RunBusyError, RunLock, holder_purpose


def why_not_delete(run_path: str | Path) -> str:
    """Why the run cannot be deleted now ("" when it can): it is not a run folder, or it trains."""
    from engine.runs.store import RunStore  # the store imports this package's modules

    path = Path(run_path)
    if not is_run_folder(path):
        return f"{path} is not a run folder"
    try:
        state = RunStore(path.parent).summary(path).state
    except Exception:
        return ""  # an unreadable run can be deleted (the lock below still guards a live writer)
    if state.is_active:
        return f"{path.name} is {state}: stop it first, then delete it"
    return ""


def folder_words(run_path: str | Path) -> str:
    """The folder a delete of ``run_path`` removes, as the question and the answer name it: the
    path, or for a symlinked run "/disk/r (linked here as runs/r)"."""
    path = Path(run_path)
    return f"{os.path.realpath(path)} (linked here as {path})" if path.is_symlink() else str(path)


def _hidden_name(path: Path) -> Path:
    """Where a folder being removed is renamed first (``.NAME.deleting-PID``: no listing shows it,
    and `sweep_deleting` finishes it if this process dies)."""
    return path.with_name(f".{path.name}{DELETING_MARK}{os.getpid()}")


def delete_run(run_path: str | Path) -> None:
    """Remove the run folder (a symlinked run: the folder it leads to, then the link), or raise
    RunStoreError saying why not (it trains: nothing touched)."""
    link = Path(run_path)
    reason = why_not_delete(link)
    if reason:
        raise RunStoreError(link, reason.removeprefix(f"{link} "))
    sweep_deleting(link.parent)
    # a symlinked run: its folder renamed where it is (the link renamed instead was left, hidden and
    # dangling, with "not fully removed; delete that folder by hand"), then the link removed
    path = Path(os.path.realpath(link)) if link.is_symlink() else link
    try:
        # DELETING: until the rename below, a dashboard polling the run shows it as it was, not "running"
        lock = RunLock.acquire(path, wait=0.0, purpose=DELETING)
    except RunBusyError as exc:
        holder, purpose = exc.holder or "another process", holder_purpose(exc.holder)
        if purpose == DELETING:  # two dashboards' D at once: not "training", nothing to stop
            raise RunStoreError(path, f"is already being deleted ({holder})") from None
        if purpose:  # a sweep rewriting its status, for a moment
            raise RunStoreError(path, f"is busy ({holder}); try again in a moment") from None
        raise RunStoreError(path, f"is training ({holder}): stop it first") from None
    hidden = _hidden_name(path)
    try:
        os.rename(path, hidden)
    except OSError as exc:
        lock.release()
        raise RunStoreError(path, f"cannot delete ({exc.strerror or exc})") from None
    lock.release()
    shutil.rmtree(hidden, ignore_errors=True)
    if link != path:
        try:
            link.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise RunStoreError(link, f"its folder {path} is deleted, but not this link to it "
                                      f"({exc.strerror or exc}); remove it by hand") from None
    if hidden.exists():
        raise RunStoreError(path, f"hidden as {hidden.name} but not fully removed; delete that folder by hand")


def remove_refused_launch(run_path: str | Path) -> bool:
    """Remove the folder a detached launch made for its console when the launch was refused before
    its run began (``petseg train --pretrained imagenet`` offline says why in train.log and exits
    before creating the run): a folder holding nothing but that log. No listing shows it (it is
    no run), so such folders piled up unseen, and the name they hold stayed taken for the next
    try. The caller knows the launch's process has ended and has read its reason from the log.
    True when removed; False, with nothing touched, when the folder holds anything else."""
    path = Path(run_path)
    try:
        names = {p.name for p in path.iterdir()}
    except OSError:
        return False
    if not names or not names <= {LOG_FILE, LOG_BACKUP}:
        return False
    hidden = _hidden_name(path)
    try:
        os.rename(path, hidden)  # hidden at once, as delete_run: never a half-removed folder
    except OSError:
        return False
    shutil.rmtree(hidden, ignore_errors=True)
    return True


def sweep_deleting(root: str | Path) -> list[Path]:
    """Remove what deletes killed midway left (``.NAME.deleting-PID`` of a dead PID), and return
    them. A hidden symlink is what an older petseg's D left of a run linked into the runs folder
    (it renamed the link, not the folder): the link alone goes, dangling or not, never what it
    leads to (that folder is the user's: rmtree refused the link, and ``is_dir`` passed over a
    dangling one, so such links stayed for good). Nothing is said of a sweep."""
    removed: list[Path] = []
    try:
        entries = list(Path(root).iterdir())
    except OSError:
        return removed
    for p in entries:
        name = p.name
        if not (name.startswith(".") and DELETING_MARK in name):
            continue
        pid = name.rsplit(DELETING_MARK, 1)[1]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        if p.is_symlink():
            try:
                p.unlink()  # the link only
            except OSError:
                continue
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            continue
        removed.append(p)
    return removed
