"""How runs are sorted, for ``petseg runs --sort`` and the TUI's runs table alike.

`sort_value` gives a run's value for a sort key as ``(has a value, value)``; `ordered` sorts by
such values with the runs that have none last in both directions. `STATE_ORDER` is the order of
the status column: runs that need a look first. `sort_runs` is the CLI's whole rule (each key in
its natural direction: names A→Z, states in `STATE_ORDER`, figures largest first). No torch import.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, TypeVar

from engine.runs.state import RunState
from engine.runs.summary import RunSummary

T = TypeVar("T")

# the status column's order: training now, then what went wrong, then what is over
STATE_ORDER: tuple[RunState, ...] = (
    RunState.RUNNING, RunState.PAUSED, RunState.INTERRUPTED, RunState.FAILED, RunState.DIVERGED, RunState.BROKEN,
    RunState.STOPPED, RunState.PRUNED, RunState.FINISHED,
)
_STATE_RANK = {s: i for i, s in enumerate(STATE_ORDER)}


def _number(v: float | None) -> tuple[bool, float]:
    ok = v is not None and not (isinstance(v, float) and math.isnan(v))
    return (ok, float(v) if ok else 0.0)  # type: ignore[arg-type]


_VALUES: dict[str, Callable[[RunSummary], tuple[bool, Any]]] = {
    "name": lambda r: (True, r.name.lower()),
    "status": lambda r: (True, _STATE_RANK.get(r.state, len(STATE_ORDER))),  # unknown, starting: last
    "epoch": lambda r: (True, r.epoch),
    "dice": lambda r: _number(r.best_dice),
    "iou": lambda r: _number(r.best_iou),
    "loss": lambda r: _number(r.last_train_loss),
    "vloss": lambda r: _number(r.last_valid_loss),
    "lr": lambda r: _number(r.learning_rate),
    "model": lambda r: (bool(r.model), r.model),
    "ips": lambda r: _number(r.images_per_s),
    "gpu": lambda r: _number(r.gpu_util),
    "eps": lambda r: _number(r.epoch_seconds),
    "started": lambda r: _number(r.started),
    "duration": lambda r: _number(r.duration),
}
_VALUES["state"] = _VALUES["status"]  # the TUI's column key for it

SORT_KEYS = ("started", "name", "status", "dice", "epoch", "duration")  # petseg runs --sort
VALUE_KEYS = tuple(_VALUES)  # every key `sort_value` knows (the TUI sorts by each of its columns)
_ASCENDING = frozenset({"name", "status", "state", "model"})  # the others are figures: largest first


def sort_value(key: str, run: RunSummary) -> tuple[bool, Any]:
    """``(has a value, value)`` of ``run`` for sort key ``key`` (one of `VALUE_KEYS`); a missing
    or NaN figure has none."""
    return _VALUES[key](run)


def ordered(items: Iterable[T], value: Callable[[T], tuple[bool, Any]], descending: bool) -> list[T]:
    """``items`` sorted by ``value`` (``(has a value, value)``), items without a value last in
    both directions; equal values keep the order they came in."""
    if descending:
        return sorted(items, key=lambda x: (value(x)[0], value(x)[1]), reverse=True)
    return sorted(items, key=lambda x: (not value(x)[0], value(x)[1]))


def sort_runs(runs: Iterable[RunSummary], key: str) -> list[RunSummary]:
    """``petseg runs --sort key``: names A→Z, states in `STATE_ORDER`, figures largest first;
    runs without the figure last, equal ones in the order given (the store's: newest first)."""
    return ordered(runs, lambda r: sort_value(key, r), descending=key not in _ASCENDING)
