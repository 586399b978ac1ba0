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


_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
DURATION_EXAMPLES = "90s, 10m, 1h30m or 2.5h"


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number with a unit (``90s``, ``10m``, ``2.5h``, ``1d``), several
    (``1h30m``, the way `format_duration` writes them), or a bare number of seconds. ValueError
    with the reason (for a one-line error) if it is not a positive, finite duration."""
    import math
    import re

    s = str(text).strip().lower().replace(" ", "")
    why = f"must be a duration such as {DURATION_EXAMPLES}"
    if not s:
        raise ValueError(why)
    if s.startswith("-") and s[1:] and not s[1:].startswith("-"):
        parse_duration(s[1:])  # "-5s": a duration below 0, said as "0" is; "-x" says what is wrong with x
        raise ValueError(f"{why} (more than 0)")
    try:
        seconds = float(s)  # a bare number: seconds
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)([dhms])", s)
        if not parts or "".join(n + u for n, u in parts) != s:
            raise ValueError(why) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{why} (more than 0)")
    return seconds
