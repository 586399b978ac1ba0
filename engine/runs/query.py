"""The runs filter: ``lr<1e-3 dice>0.8 model:unet tag:best`` parsed into terms and matched
against a run's summary, its config.json and its labels (tags, note).

Terms, separated by spaces, all of which must hold:

    word        the run's name contains it (case-insensitive)
    key:value   the run's value contains ``value`` (text, case-insensitive: ``model:unet``
                also matches resnet34_unet), or equals it (a number); a list (tags) matches
                if one of its items does
    key=value   equals: a number, or the whole text (``model=unet``: only unet)
    key<num  key>num  key<=num  key>=num
                a number compared; a run without that value does not match

Keys are config.json's fields (nested ones flattened with dots: ``distributed.world_size``,
``sweep.name``), their short aliases (`ALIASES`: ``lr``, ``bs``, ``sweep`` ...), the metrics
(`METRICS`: ``dice``, ``iou``, ``epoch``, ``loss``, ``vloss``, ``time``: seconds or a duration,
``time>5m``), ``name``, ``status`` and the
labels (``tag``, ``note``). A term the parser cannot read is left out and said in one line
(`Query.hint`); parsing never raises. No torch, no Textual.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.durations import parse_duration
from engine.field_spec import not_a_number
from engine.runs.labels import RunLabels
from engine.runs.summary import RunSummary

# short names for config.json keys (the long name works too)
ALIASES: dict[str, str] = {
    "lr": "learning_rate",
    "bs": "batch_size",
    "wd": "weight_decay",
    "size": "image_size",
    "sched": "scheduler",
    "aug": "augment_strength",
    "sweep": "sweep.name",
    "trial": "sweep.trial",
    "state": "status",
    "tags": "tag",
    "duration": "time",
}


def name_meant(name: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` (train fields, flags without their dashes) that an unknown ``name`` a
    user typed most likely means: a short name's (`ALIASES`: lr, learning_rate), else the nearest
    spelling (difflib); None when none is near."""
    import difflib

    names = list(names)
    if ALIASES.get(name) in names:
        return ALIASES[name]
    close = difflib.get_close_matches(name, names, n=1)
    return close[0] if close else None


# the figures of a run (its summary), by the names the filter uses
METRICS: dict[str, Callable[[RunSummary], Any]] = {
    "dice": lambda s: s.best_dice,
    "iou": lambda s: s.best_iou,
    "epoch": lambda s: s.epoch,
    "loss": lambda s: s.last_train_loss,
    "vloss": lambda s: s.last_valid_loss,
    "ips": lambda s: s.images_per_s,
    "time": lambda s: s.duration,  # the Time column: training time, in seconds
}
_RUN_KEYS = ("name", "status", "tag", "note")
_OPERATORS = ("<=", ">=", "<", ">", "=", ":")
_TERM = re.compile(r"^([A-Za-z_][\w.\-]*)(<=|>=|<|>|=|:)(.*)$")
_MISSING = object()


def _config_fields() -> frozenset[str]:
    from engine.config import TrainConfig  # torch-free

    return frozenset(f.name for f in dataclasses.fields(TrainConfig))


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"sweep": {"name": "a"}}`` -> ``{"sweep.name": "a"}`` (lists and values kept as they are)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def known_keys(extra: Iterable[str] = ()) -> frozenset[str]:
    """Every key a term may name without being refused (``extra``: keys seen in the runs' configs)."""
    return frozenset(_config_fields() | set(ALIASES) | set(METRICS) | set(_RUN_KEYS) | set(extra))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str):
        return _number(value)
    return None


@dataclass(frozen=True)
class Term:
    """One condition: ``key`` (resolved alias; "" for a bare word), ``op`` and ``value`` as typed."""

    key: str
    op: str
    value: str
    number: float | None = None

    def holds(self, values: Callable[[str], Any]) -> bool:
        if not self.key:
            return self.value.lower() in str(values("name")).lower()
        got = values(self.key)
        if got is _MISSING or got is None:
            return False
        items = got if isinstance(got, (list, tuple)) else [got]
        return any(self._holds_one(item) for item in items)

    def _holds_one(self, got: Any) -> bool:
        if self.op == ":":
            n = _as_number(got)
            if n is not None and self.number is not None:
                return math.isclose(n, self.number, rel_tol=1e-9, abs_tol=1e-12)
            text = ("yes" if got else "no") if isinstance(got, bool) else str(got)
            return self.value.lower() in text.lower()
        if self.op == "=" and self.number is None:
            text = ("yes" if got else "no") if isinstance(got, bool) else str(got)
            return self.value.lower() == text.lower()
        n = _as_number(got)
        if n is None or self.number is None:
            return False
        return {
            "<": n < self.number, ">": n > self.number, "<=": n <= self.number, ">=": n >= self.number,
            "=": math.isclose(n, self.number, rel_tol=1e-9, abs_tol=1e-12),
        }[self.op]


@dataclass(frozen=True)
class Query:
    """A parsed filter: the terms that hold for a matching run and the problems of the others."""

    text: str = ""
    terms: tuple[Term, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def hint(self) -> str:
        """One line saying which terms were left out and why ("" when all were read)."""
        if not self.problems:
            return ""
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return self.problems[0] + more

    def matches(self, summary: RunSummary, labels: RunLabels | None = None) -> bool:
        if not self.terms:
            return True
        flat: dict[str, Any] | None = None

        def values(key: str) -> Any:
            nonlocal flat
            if key == "name":
                return summary.name
            if key == "status":
                return str(summary.state)
            if key in METRICS:
                return METRICS[key](summary)
            if key == "tag":
                return list(labels.tags) if labels else []
            if key == "note":
                return labels.note if labels else ""
            if key == "model" and summary.model:
                return summary.model
            if flat is None:
                flat = flatten(summary.config) if isinstance(summary.config, Mapping) else {}
            return flat.get(key, _MISSING)

        return all(t.holds(values) for t in self.terms)


def parse_query(text: str, extra_keys: Iterable[str] = ()) -> Query:
    """Parse a filter. A term that cannot be read goes into ``problems`` (one line each), never
    an exception; the other terms still apply."""
    known = known_keys(extra_keys)
    terms: list[Term] = []
    problems: list[str] = []
    for word in text.split():
        m = _TERM.match(word)
        if m is None:
            if any(word.startswith(op) for op in _OPERATORS) or any(op in word for op in "<>="):
                problems.append(f"'{word}' left out: write key<number, key>number, key=value or key:text "
                                "(e.g. lr<1e-3 dice>0.8 model:unet)")
            else:
                terms.append(Term("", ":", word))
            continue
        key, op, value = m.group(1).lower(), m.group(2), m.group(3)
        key = ALIASES.get(key, key)
        if not value:
            problems.append(f"'{word}' left out: {op} needs a value after it")
            continue
        if key not in known and "." not in key:
            problems.append(f"'{word}' left out: no key '{m.group(1)}' (lr, bs, dice, epoch, time, model, tag, a config field)")
            continue
        number = _number(value)
        if key == "time" and number is None:  # the Time column's way: 4m18s, as --time_budget takes it
            try:
                number = parse_duration(value)
            except ValueError as e:
                problems.append(f"'{word}' left out: {e}")
                continue
        if op not in (":", "=") and number is None:
            problems.append(f"'{word}' left out: {not_a_number(value, 'float')}")
            continue
        terms.append(Term(key, op, value, number))
    return Query(text=text, terms=tuple(terms), problems=tuple(problems))


def config_keys(summaries: Iterable[RunSummary]) -> set[str]:
    """Every flattened config.json key of these runs: the filter's keys beyond the known ones."""
    return {k for r in summaries if isinstance(r.config, Mapping) for k in flatten(r.config)}


def filter_runs(summaries: Iterable[RunSummary], labels: Mapping[str, RunLabels],
                text: str) -> tuple[list[RunSummary], Query]:
    """The runs the filter ``text`` matches (``labels`` by run name) and the parsed query, whose
    `Query.hint` says which terms were left out."""
    summaries = list(summaries)
    query = parse_query(text, extra_keys=config_keys(summaries))
    return [r for r in summaries if query.matches(r, labels.get(r.name))], query
