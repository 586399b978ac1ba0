"""How a length of time is written for people, the same in the CLI and the TUI."""

from __future__ import annotations


def format_duration(seconds: float | None, missing: str = "—") -> str:
    """``5s``, ``1m05s``, ``2h03m``, ``3d04h``: the two largest units, the second zero-padded;
    ``missing`` when unknown. Hours count on to 47 before days begin (a two-day run reads
    ``47h59m``, not ``1d23h``)."""
    if seconds is None:
        return missing
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
