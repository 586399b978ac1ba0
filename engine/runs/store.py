"""All runs under one folder: `RunStore` lists, loads, creates and reopens them.

Creating a run is ``mkdir`` of its folder (the claim) plus its writer lock (a folder made
earlier, e.g. for a detached run's train.log, is claimed by whoever locks it first).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from engine.errors import RunStoreError, one_line
from engine.runs.follower import RunFollower
from engine.runs.history import RunHistory
from engine.runs.layout import (
    ensure_folder,
    is_run_folder,
    is_unstarted_run,
    started_at,
    validate_run_name,
)
from engine.runs.lock import RunBusyError, RunLock
from engine.runs.state import RunState
from engine.runs.summary import RunSummary
from engine.runs.writer import RunWriter

_TAKEN = "a run with this name already exists (use --resume to continue it)"


def check_runs_root(root: Path) -> None:
    """RunStoreError (one line) when the runs folder ``root`` is a file: every command that
    looks a run up under it says so (they said "ROOT/RUN: no such run folder", and a sweep
    "Not a directory" of a journal named as if given with --storage). A missing root is no
    error here: the commands that need a run say that the run is missing."""
    if root.exists() and not root.is_dir():
        raise RunStoreError(root, "is a file, not a runs folder; give --runs a folder")


def named_run_folder(root: str | Path, name_or_path: str | Path, base: str | Path | None = None) -> Path:
    """The folder ``name_or_path`` names as `RunStore.resolve` takes it, whether or not it is
    there: a run by that name under the runs folder ``root``, else the path itself where only
    that is a folder. A relative one is read against ``base`` (another process's working
    directory), else left relative; ``root/r`` given with ``root`` is that run, not ``root/root/r``."""
    root, p = Path(root), Path(name_or_path)
    named = p if p.parent == root and p.name not in ("", "..") else root / str(name_or_path)
    if base is not None:
        named, p = Path(base) / named, Path(base) / p
    return p if p.is_dir() and not named.is_dir() else named


def _taken(path: Path) -> bool:
    """Whether a run has started in ``path`` (a folder made for a detached run's train.log, or
    one whose writer was killed before its config.json was in place, is no clash)."""
    return is_run_folder(path) and not is_unstarted_run(path)


class RunStore:
    """All runs under one folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def run_dirs(self) -> list[Path]:
        """The run folders (`is_run_folder`) under the root, the most recently started or
        resumed first (the run a user just trained heads any list built from this)."""
        if not self.root.is_dir():
            return []
        dirs = [p for p in self.root.iterdir() if is_run_folder(p)]
        dirs.sort(key=lambda d: d.name)
        return sorted(dirs, key=started_at, reverse=True)  # stable: equal times stay in name order

    def path(self, name: str) -> Path:
        return self.root / name

    def resolve(self, name_or_path: str | Path) -> Path:
        """A run by name under the root, or a run folder given as a path. A folder this returned
        resolves to itself: a caller that hands it on to another of the store's methods (a resume
        opening the run it resolved) got ``../runs/../runs/r`` of a relative root."""
        p, cand = Path(name_or_path), named_run_folder(self.root, name_or_path)
        if cand.is_dir():
            if cand.resolve() == self.root.resolve() and not is_run_folder(cand):
                # "--run ." (or "") named the runs folder: "runs/checkpoints/best.pt: run has
                # no checkpoint yet" read as if a run of that name were there
                raise RunStoreError(cand, "is the runs folder itself, not a run in it; give a run's name "
                                          "(petseg runs lists them)")
            return cand
        check_runs_root(self.root)
        if p.is_file():  # a run's checkpoint or export given as --run: "no such run folder" of a file that is there
            return self._file_given(p)
        raise RunStoreError(self.root / str(name_or_path), "no such run folder" + self._missing_hint(p.name))

    @staticmethod
    def _file_given(path: Path) -> Path:
        """The refusal of a file given where a run folder is asked for, naming the run it is in
        (its checkpoints/ or export/) and, for a model file, the flag that takes one."""
        run = next((d for d in list(path.absolute().parents)[:2] if is_run_folder(d)), None)
        where = f"; it is in the run {run}: pass that" if run is not None else ""
        model = ("; eval and infer take a checkpoint or .onnx file as --checkpoint"
                 if path.suffix.lower() in (".pt", ".pth", ".onnx") else "")
        raise RunStoreError(path, f"is a file, not a run folder{where}{model}")

    def _missing_hint(self, name: str) -> str:
        """Why a run named ``name`` may not be found: a runs folder that does not exist (the run
        trained with --runs elsewhere, not given again), or the name of a run that is there."""
        from engine.runs.query import name_meant  # the query module reads summaries this one makes

        if not self.root.is_dir():
            return f" (the runs folder {self.root} does not exist: give --runs the folder the run was trained in)"
        names = [d.name for d in self.run_dirs()]
        starts = sorted(n for n in names if n.startswith(name)) if name else []
        if len(starts) > 1:  # the start of several names: naming one of them hid the others
            more = f" or {len(starts) - 3} more" if len(starts) > 3 else ""
            return f" (did you mean one of {', '.join(starts[:3])}{more}?)"
        meant = name_meant(name, names)
        return f" (did you mean {meant}?)" if meant else ""

    def load(self, name_or_path: str | Path) -> RunHistory:
        """Read a run fully. Raises RunStoreError if config.json is missing or garbage."""
        path = self.resolve(name_or_path)
        follower = RunFollower(path)
        follower.poll()
        if follower.config_error is not None:
            raise follower.config_error
        return follower.history

    def summary(self, name_or_path: str | Path) -> RunSummary:
        follower = RunFollower(self.resolve(name_or_path), keep_batches=0)
        follower.poll()
        return follower.summary()

    def list_runs(self) -> list[RunSummary]:
        out = []
        for d in self.run_dirs():
            try:
                f = RunFollower(d, keep_batches=0)
                f.poll()
                summary = f.summary()
            except Exception as exc:  # one bad folder must never hide the others
                detail = one_line(exc)  # "[Errno 13] Permission denied: '...'" read as a crash
                message = detail if detail.startswith(str(d)) else f"{d}: {detail}"
                summary = RunSummary(name=d.name, path=d, state=RunState.BROKEN, message=message)
            if d.is_dir():  # else deleted since the listing (a dashboard's D): gone, not broken
                out.append(summary)
        return out

    def follow(self, name_or_path: str | Path) -> RunFollower:
        return RunFollower(self.resolve(name_or_path))

    def new_run_name(self, model: str) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{model}-{stamp}"
        name, i = base, 1
        while (self.root / name).exists():
            i += 1
            name = f"{base}-{i}"
        return name

    def check_new_name(self, name: str) -> Path:
        """The folder a new run called ``name`` would take; RunStoreError (the one line `create`
        says) when the name is not a run name or a run already has it. For a launcher that asks
        before it starts processes (`petseg train --devices N`); `create` asks again under the lock."""
        path = self.root / validate_run_name(name)
        if path.exists() and not path.is_dir():
            raise RunStoreError(path, "exists and is not a folder; choose another --run_name")
        if _taken(path):
            raise RunStoreError(path, _TAKEN)
        return path

    def create(self, config: dict[str, Any], name: str | None = None) -> RunWriter:
        """Make a new run folder with its config.json and a 'running' status.

        Of two processes creating the same name at once exactly one succeeds: the folder's
        mkdir, then its writer lock, decide; the loser gets RunStoreError before writing."""
        check_runs_root(self.root)  # the line every command says of a runs folder that is a file
        ensure_folder(self.root, "runs folder")
        name = validate_run_name(name) if name else self.new_run_name(str(config.get("model", "run")))
        path = self.root / name
        try:
            path.mkdir()
            fresh = True
        except FileExistsError:
            fresh = False
            if not path.is_dir():
                raise RunStoreError(path, "exists and is not a folder; choose another --run_name") from None
        except OSError as exc:
            raise RunStoreError(path, f"cannot create the run folder ({exc.strerror or exc}); "
                                      "choose a --runs folder you can write to") from None
        try:
            lock = RunLock.acquire(path)
        except RunBusyError as exc:  # two creators of one name: the other one got there first
            raise RunBusyError(path, exc.holder, "choose another --run_name") from None
        # a detached launch makes the folder first, for train.log; and a writer killed before
        # config.json was renamed into place leaves only an empty events.jsonl: no clash. The
        # check runs under the lock, so a creator that got here first has written its config.
        if not fresh and _taken(path):
            lock.release()
            raise RunStoreError(path, _TAKEN)
        try:
            writer = RunWriter(path, lock=lock)
            writer.write_config(config)
            writer.set_status(RunState.RUNNING)
        except BaseException:
            lock.release()
            if fresh:  # a full disk: no half-made folder for every runs table to list as broken
                shutil.rmtree(path, ignore_errors=True)
            raise
        return writer

    def open_for_resume(self, name_or_path: str | Path) -> RunWriter:
        """A writer for an existing run; RunStoreError if another process is writing it."""
        path = self.resolve(name_or_path)
        return RunWriter(path)
