"""Small text formatters shared by the screens (numbers, times, coloured states)."""

from __future__ import annotations

import math
import time

from rich.text import Text

STATE_STYLES = {
    "running": "bold green",
    "paused": "bold yellow",
    "finished": "cyan",
    "stopped": "magenta",
    "failed": "bold red",
    "diverged": "bold red",
    "interrupted": "dark_orange",
    "broken": "red reverse",
    "starting": "italic green",
    "unknown": "dim",
}

# One fixed palette: a run's colour is its position in the compared list (same in chart,
# legend and table). Distinct on dark and light backgrounds.
PALETTE = ("#4e9af1", "#f5a623", "#7ed321", "#e94b8a", "#50e3c2", "#b58cff", "#f8e71c")
MAX_COMPARE = len(PALETTE)


def palette_rgb(index: int) -> tuple[int, int, int]:
    h = PALETTE[index % len(PALETTE)].lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def fmt_float(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_lr(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2e}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def fmt_started(t: float | None) -> str:
    if not isinstance(t, (int, float)):
        return "—"
    return time.strftime("%m-%d %H:%M", time.localtime(t))


def fmt_epoch(epoch: int, total: int) -> str:
    return f"{epoch}/{total}" if total else (str(epoch) if epoch else "—")
