"""What the user says about a run: tags, a note and "archived" (`RunLabels`), kept in the run
folder's `LABELS_FILE` and written atomically. The trainer never writes this file, so labelling
a run that trains is safe; a missing or unreadable file reads as no labels, and an unreadable one
(a hand edit gone wrong) is said by `labels_problem` and never replaced by a change. No torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from engine.atomic import folder_lock
from engine.errors import RunStoreError
from engine.runs.layout import LABELS_FILE, RunFileMissing, read_run_json, write_json_atomic

MAX_TAGS = 20
MAX_TAG_CHARS = 32
MAX_NOTE_CHARS = 500
_TAG_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class RunLabels:
    tags: tuple[str, ...] = ()
    note: str = ""
    archived: bool = False

    def with_(self, **changes: object) -> RunLabels:
        return replace(self, **changes)  # type: ignore[arg-type]


NO_LABELS = RunLabels()


def parse_tags(text: str) -> tuple[str, ...]:
    """``"best, lr-test  #baseline"`` -> ``("best", "lr-test", "baseline")``: split on commas and
    spaces, the "#" before a tag dropped, duplicates dropped, each cut to `MAX_TAG_CHARS`, at most `MAX_TAGS`."""
    out: list[str] = []
    for tag in _TAG_SPLIT.split(text):
        # the runs table writes tags "#best": typed that way, "#" was kept and shown "##best"
        tag = tag.strip().lstrip("#")[:MAX_TAG_CHARS]
        if tag and tag not in out:
            out.append(tag)
    return tuple(out[:MAX_TAGS])


def parse_note(text: str) -> str:
    """A note as typed -> as kept: one line (runs of spaces, tabs and newlines made one space),
    cut to `MAX_NOTE_CHARS`; the runs table shows it on the run's one detail line."""
    return " ".join(text.split())[:MAX_NOTE_CHARS]


def read_labels(run_path: str | Path) -> RunLabels:
    """The run's labels; `NO_LABELS` when it has none or the file is not what we write (read as
    untrusted input: a FIFO there hung `petseg runs` and the dashboard's table)."""
    try:
        data = read_run_json(Path(run_path) / LABELS_FILE)
    except RunStoreError:  # missing, or unreadable: `labels_problem` says which
        return NO_LABELS
    tags = data.get("tags")
    note = data.get("note")
    return RunLabels(
        tags=tuple(t for t in tags if isinstance(t, str))[:MAX_TAGS] if isinstance(tags, list) else (),
        note=note[:MAX_NOTE_CHARS] if isinstance(note, str) else "",
        archived=data.get("archived") is True,
    )


def labels_problem(run_path: str | Path) -> RunStoreError | None:
    """What is wrong with the run's labels file (``str()``: one line naming it, "…/labels.json: not
    valid JSON (…)"); None when it is missing or readable. `read_labels` reads it as no labels."""
    try:
        read_run_json(Path(run_path) / LABELS_FILE)
    except RunFileMissing:
        return None
    except RunStoreError as exc:
        return exc
    return None


def write_labels(run_path: str | Path, labels: RunLabels) -> None:
    """Replace the run's labels in one rename (a reader sees the old or the new file, never half)."""
    write_json_atomic(Path(run_path) / LABELS_FILE, {
        "tags": list(labels.tags), "note": labels.note[:MAX_NOTE_CHARS], "archived": labels.archived,
    })


def change_labels(run_path: str | Path, before: RunLabels, after: RunLabels) -> RunLabels:
    """Write what the user changed from ``before`` (the labels the dialog or key started from) to
    ``after`` over the run's labels as they are on disk now, and return the result.

    Another dashboard on the same runs folder may have labelled the run since this one read it:
    writing ``after`` whole put its old copy of every other field back (a tag typed here
    unarchived a run archived there; an archive here dropped a tag added there)."""
    changed = {f.name: getattr(after, f.name) for f in fields(RunLabels)
               if getattr(after, f.name) != getattr(before, f.name)}
    with folder_lock(Path(run_path)):  # and another dashboard changing them at this moment is kept too
        # a file we cannot read may hold the user's words (a hand edit with a stray comma): kept
        problem = labels_problem(run_path)
        if problem is not None:
            raise RunStoreError(problem.path, f"{problem.reason}; labels not changed: correct or delete it first "
                                              "(saving would replace it)")
        merged = read_labels(run_path).with_(**changed)
        write_labels(run_path, merged)
    return merged


def hidden_by_archive(labels: RunLabels, active: bool) -> bool:
    """Whether the run's archive mark leaves it out of the runs table and `petseg runs` (without
    h / --archived): archived and not training. A run that trains stays in view whatever its mark
    (one archived by an older petseg, or resumed while archived), the mark shown beside it."""
    return labels.archived and not active


def why_not_archive(run_path: str | Path) -> str:
    """Why the run cannot be archived now ("" when it can): it trains. Archiving hid it from the
    runs table and `petseg runs` while it ran; refused as `engine.runs.delete.why_not_delete`
    refuses deleting it."""
    from engine.runs.store import RunStore  # the store imports this package's modules

    path = Path(run_path)
    try:
        state = RunStore(path.parent).summary(path).state
    except Exception:
        return ""  # an unreadable run can be archived: it trains nothing
    if state.is_active:
        return f"{path.name} is {state}: stop it first, then archive it"
    return ""
