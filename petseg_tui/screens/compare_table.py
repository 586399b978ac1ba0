"""What the compare screen's table and epoch ranges hold, without Textual: the settings that
differ between runs (`differing_keys`), each one's cells cut so that the difference stays in
sight (`distinct_cells`), how the table spells its columns and run names (`TableLayout`), and
the epoch ranges `z` cycles through (`x_windows`)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from engine.config import TrainConfig
from engine.runs.query import ALIASES, flatten
from engine.runs import world_size
from engine.runs.short_name import shorten

IGNORED_KEYS = {"argv"}  # differs between any two runs and says nothing about the model
# how `--amp auto` was chosen (its timings, when, cached or not): amp_resolved says what it chose;
# two runs' probes differ whenever they were measured apart, and filled the table with 7 columns
# a sweep trial's drawn values (sweep.params.*) are its settings' own values, already columns:
# comparing a sweep's top trials showed learning_rate and width twice, pushing the rest off 80 columns
# a data-parallel run's record (distributed.*: world size, backend, batch per process, each rank's
# seeds …) follows from devices, device, batch_size and seed, columns already: beside a plain run
# its seven columns pushed the rest past the right edge, "devices" cut to "device" beside "device"
# a --time_budget run's outcome (time_budget_result.*: seconds trained, epochs reached) is not a
# setting: any two budget runs differ in it, and comparing a time-budget sweep's trials showed
# "time_budget_result.epochs_reached" and ".trained_seconds" columns (the chart shows the epochs)
IGNORED_PREFIXES = ("amp_probe.", "sweep.params.", "distributed.", "time_budget_result.")


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Config keys (flattened, dotted) whose values are not all equal, in a stable order. A run
    with no config to read (config.json broken or not written yet) differs from no one: beside
    it every key of the others "differed", a column of "—" each (time_budget, epochs …), and the
    title said the mask rules differed."""
    flat = [flatten(c) for c in configs if c]
    keys: list[str] = []
    for f in flat:
        for k in f:
            if k not in keys and k not in IGNORED_KEYS and not k.startswith(IGNORED_PREFIXES):
                keys.append(k)
    if len(flat) < 2:
        return []
    missing = object()
    diff = [k for k in keys if len({repr(f.get(k, missing)) for f in flat}) > 1]
    # hyperparameters first, in TrainConfig's order; bookkeeping (versions, data source …) after
    order = {name: i for i, name in enumerate(f.name for f in dataclasses.fields(TrainConfig))}
    return sorted(diff, key=lambda k: (k not in order, order.get(k, 0), keys.index(k)))


def setting_value(config: dict[str, Any], flat: dict[str, Any], key: str) -> Any:
    """A run's value of ``key`` as the table shows it: a record kept as a list of dicts (the
    epoch-budget changes of a resumed run) in a few words, not Python's repr (the runs table's
    line under the run says it whole)."""
    if key == "budget_changes":
        from engine.train.resume_budget import BudgetChange  # torch-free

        recorded = config.get(key)
        changes = [BudgetChange.from_dict(c) for c in recorded] if isinstance(recorded, list) else []
        return ", ".join(f"{c.old}→{c.new} epochs after {c.after_epoch}" for c in changes if c is not None) or None
    if key == "batch_size" and world_size(config) > 1:  # per process, as the live screen says it
        return f"{flat.get(key)}/process"
    return flat.get(key)


CELL_WIDTH = 28  # a setting's column in the table: wide enough for a name, a path's last parts
COMPACT_NAME_WIDTH = 16  # the Run column of the compact table
SHORT_KEYS = {key: alias for alias, key in ALIASES.items()}  # the runs filter's short names (lr, bs, wd …)


@dataclass(frozen=True)
class TableLayout:
    """How the table spells its columns. Wide, in full. Compact (below 120 columns: at 80 the
    full table showed Run, Status and the Dice columns, the settings that differ past the right
    edge): run names cut to what tells them apart (the legend above has the start they share
    once, then each name's rest, in the same colour and marker), the figures headed "best" / "last" (the metric is in the title and the
    Select), the settings by the runs filter's short names (lr, bs, wd)."""

    compact: bool

    def figure_header(self, which: str, label: str) -> str:
        return which if self.compact else f"{which} {label}"

    def setting_header(self, key: str) -> str:
        return SHORT_KEYS.get(key, key) if self.compact else key

    def shared_start(self, names: list[str]) -> str:
        """The start every name shares up to a separator, which the compact names leave out ("" if
        none is left out): the legend says it once (seven trials of a sweep, each name whole on a
        line of its own, took seven rows of an 80x24 terminal and the chart's plot with them)."""
        if not self.compact or all(len(n) <= COMPACT_NAME_WIDTH for n in names) or len(names) < 2:
            return ""
        shared = os.path.commonprefix(names)
        cut = max((i + 1 for i, ch in enumerate(shared) if ch in "/._-" and i > 0), default=0)
        return shared[:cut]

    def names(self, names: list[str]) -> list[str]:
        """Each run's name in the Run column: cut in the middle as the runs table cuts it (a
        long name pushed Status and the figures past the edge of the terminal); compact, also
        without the start they all share (petseg's own names share the model and the date)."""
        if not self.compact:
            return [shorten(n, CELL_WIDTH) for n in names]
        cut = len(self.shared_start(names))  # 0 when every name fits: each is then shown whole
        return [f"…{shorten(n[cut:], COMPACT_NAME_WIDTH - 1)}" if cut else shorten(n, COMPACT_NAME_WIDTH)
                for n in names]


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if v is None:
        return "—"
    return str(v)


def _cut_middle(s: str, width: int) -> str:
    """``s`` in ``width`` characters, its middle left out: a path's or a name's end is what tells
    two runs apart (``/data/oxford-pet-mini``), and its start is what they share."""
    if len(s) <= width:
        return s
    tail = (width - 1) * 2 // 3
    return s[: width - 1 - tail] + "…" + s[-tail:]


def distinct_cells(values: list[Any], width: int = CELL_WIDTH) -> list[str]:
    """One setting's cells, one per run, each at most ``width`` characters: a setting only has a
    column because its runs differ, so a cut must never hide where. Too long a value first loses
    as much of the start every value shares as it must, up to a ``/``, ``.``, ``-`` or ``_``
    (written ``…``), then of the end they share, from such a separator (or ``:``, ``,``) on, then
    its middle; cutting the end made ``/work/shared/data/oxford-pet-mini`` and
    ``/work/shared/data/oxford-pet-sample`` read the same, and cutting the middle made three data
    descriptions, their folders in the middle, all read "Oxford-II…l, 198 test images"."""
    cells = [_fmt_value(v) for v in values]
    if all(len(c) <= width for c in cells):
        return cells
    texts = [c for c, v in zip(cells, values) if v is not None]
    prefix = os.path.commonprefix(texts) if len(texts) > 1 else ""
    cuts = [i + 1 for i, ch in enumerate(prefix) if ch in "/._-" and i > 0]
    need = max(len(t) for t in texts) - width + 1 if texts else 0  # characters to lose, "…" counted
    cut = next((c for c in cuts if c >= need), cuts[-1] if cuts else 0)
    cells = [("…" + c[cut:] if v is not None and cut and len(c) > width else c) for c, v in zip(cells, values)]
    texts = [c for c, v in zip(cells, values) if v is not None]
    drop = _shared_end(texts, max(len(t) for t in texts) - width + 1) if texts else 0
    out = []
    for c, v in zip(cells, values):
        if v is not None and drop and len(c) > width:
            c = c[:-drop] + "…"
        out.append(_cut_middle(c, width))
    return out


def _shared_end(texts: list[str], need: int) -> int:
    """How many characters of the end every text shares to leave out (from a separator on): the
    fewest that lose ``need``, else as many as there are; 0 where they share no such end."""
    if len(texts) < 2 or need <= 0:
        return 0
    shared = os.path.commonprefix([t[::-1] for t in texts])[::-1]
    shared = shared[len(shared) - min(len(shared), min(len(t) for t in texts) - 2):]  # each keeps a start
    drops = sorted(len(shared) - i for i, ch in enumerate(shared) if ch in "/._-:,")
    return next((d for d in drops if d >= need), drops[-1] if drops else 0)


@dataclass(frozen=True)
class XWindow:
    label: str  # "" for all epochs
    lo: float
    hi: float


def x_windows(last_epochs: list[int]) -> list[XWindow | None]:
    """The epoch ranges `x` cycles through: all (None); the epochs every run has, when the runs
    differ in length; the last 20, 10 and 5 epochs, when the longest run has more."""
    done = [n for n in last_epochs if n > 0]
    if not done:
        return [None]
    longest, shortest = max(done), min(done)
    out: list[XWindow | None] = [None]
    if shortest < longest:
        out.append(XWindow(f"epochs 1-{shortest} (every run)", 1, shortest))
    for n in (20, 10, 5):
        if longest > n:
            out.append(XWindow(f"last {n} epochs ({longest - n + 1}-{longest})", longest - n + 1, longest))
    return out
