"""What a run's config.json says about the sweep that started it: ``"sweep": {"name", "trial",
"params"}``, handed to the trial's ``petseg train`` child in an environment variable.

The sweep parent sets `SWEEP_ENV` on each child; `engine.train.config_record` copies it into
config.json when the run is created (a resume keeps it with the rest of the record). Readers
(`engine.runs.summary`, the TUI) use `sweep_of`. No torch, no Optuna.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

SWEEP_ENV = "PETSEG_SWEEP"  # JSON of the trial's record, set by the sweep on its child
SWEEP_KEY = "sweep"  # its key in config.json


@dataclass(frozen=True)
class SweepRecord:
    """A trial's place in its sweep: the sweep's name, the trial number, the sampled values."""

    name: str
    trial: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "trial": self.trial, "params": dict(self.params)}

    def to_env(self) -> dict[str, str]:
        """The child's environment entry that makes its config.json record this trial."""
        return {SWEEP_ENV: json.dumps(self.to_dict(), sort_keys=True)}


def parse_record(value: Any) -> SweepRecord | None:
    """A record as config.json (or the environment) holds it; None if absent or malformed."""
    if not isinstance(value, dict):
        return None
    name, trial, params = value.get("name"), value.get("trial"), value.get("params", {})
    if not isinstance(name, str) or not name or not isinstance(trial, int) or isinstance(trial, bool):
        return None
    return SweepRecord(name, trial, params if isinstance(params, dict) else {})


def record_from_env() -> dict[str, Any] | None:
    """The record a sweep gave this process (`SWEEP_ENV`), as config.json stores it; None outside a sweep."""
    text = os.environ.get(SWEEP_ENV)
    if not text:
        return None
    try:
        record = parse_record(json.loads(text))
    except ValueError:
        return None
    return record.to_dict() if record else None


def sweep_of(config: dict[str, Any]) -> SweepRecord | None:
    """The sweep a run belongs to, from its config.json; None for an ordinary run."""
    return parse_record(config.get(SWEEP_KEY)) if isinstance(config, dict) else None
