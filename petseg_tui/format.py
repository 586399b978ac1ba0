"""Small text formatters shared by the screens (numbers, times, coloured states)."""

from __future__ import annotations

import math
import time

from rich.style import Style
from rich.text import Text

from engine.durations import format_duration as fmt_duration  # noqa: F401 (the screens' name for it)
from engine.words import format_rate as fmt_rate  # noqa: F401 (the screens' name for it)
from engine.runs.state import RunState

# a run whose training process or folder is gone: the state "interrupted" and the notes beside it
GONE_STYLE = "dark_orange"
STATE_STYLES = {  # one for each RunState (for a dark background: `on_background` for another)
    RunState.RUNNING: "bold green",
    RunState.PAUSED: "bold yellow",
    RunState.FINISHED: "cyan",
    RunState.STOPPED: "magenta",
    RunState.PRUNED: "dim magenta",
    RunState.FAILED: "bold red",
    RunState.DIVERGED: "bold red",
    RunState.INTERRUPTED: GONE_STYLE,
    RunState.BROKEN: "red reverse",
    RunState.STARTING: "italic green",
    RunState.UNKNOWN: "dim",
}

# One fixed palette: a run's colour is its position in the compared list (same in chart,
# legend and table). Bright, for a dark background: drawn on a light theme's, each goes through
# `legible` (its yellow, green and teal had a contrast of 1.0-1.4 on textual-light's grey).
PALETTE = ("#4e9af1", "#f5a623", "#7ed321", "#e94b8a", "#50e3c2", "#b58cff", "#f8e71c")
MAX_COMPARE = len(PALETTE)
# WCAG's least contrast for graphics and large text (3:1: curves, markers, run names), with room
# for the zebra rows and panels a shade off the background (textual-light: #cecece on #e0e0e0)
MIN_CONTRAST = 3.75
# WCAG's least contrast for body text (AA): lines a user reads, such as the help's keys and notes
TEXT_CONTRAST = 4.5


def palette_rgb(index: int) -> tuple[int, int, int]:
    h = PALETTE[index % len(PALETTE)].lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))


def _luminance(rgb: tuple[int, int, int]) -> float:
    lin = [c / 3294.6 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG's contrast ratio of two colours: 1 (the same) to 21 (black on white)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def is_light(background: tuple[int, int, int]) -> bool:
    """Whether text on ``background`` wants darker colours (a light theme's) rather than brighter."""
    return _luminance(background) > 0.18


def legible(rgb: tuple[int, int, int], background: tuple[int, int, int],
            minimum: float = MIN_CONTRAST) -> tuple[int, int, int]:
    """``rgb`` as drawn on ``background``: itself where it stands out (``minimum``: `MIN_CONTRAST`
    for curves and names, `TEXT_CONTRAST` for text to read), else mixed toward black (a light
    background) or white (a dark one) until it does. The hue stays: a run keeps its colour,
    darker, in a light theme."""
    if contrast(rgb, background) >= minimum:
        return rgb
    toward = 0 if is_light(background) else 255
    for step in range(1, 21):
        f = step / 20
        mixed = tuple(round(c + (toward - c) * f) for c in rgb)
        if contrast(mixed, background) >= minimum:
            return mixed  # type: ignore[return-value]
    return (toward,) * 3  # type: ignore[return-value]


def muted(foreground: tuple[int, int, int], background: tuple[int, int, int],
          minimum: float = TEXT_CONTRAST) -> tuple[int, int, int]:
    """Text set back from ``foreground`` as Textual's dim sets it back (a third of the way to the
    background), or less where that would read below ``minimum``: dim read at 2.5:1 on
    solarized-light and solarized-dark. ``foreground`` itself where even that reads below it."""
    for step in range(34, -1, -1):
        f = step / 100
        mixed = tuple(round(c + (b - c) * f) for c, b in zip(foreground, background))
        if contrast(mixed, background) >= minimum:
            return mixed  # type: ignore[return-value]
    return foreground


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def theme_background(app) -> tuple[int, int, int]:
    """The background of the app's current theme (what `legible` draws on): the theme's own, or
    Textual's default for its kind (textual-dark names none; the ANSI themes the terminal's)."""
    from textual.color import Color, ColorParseError

    theme = app.current_theme
    try:
        colour = Color.parse(theme.background) if theme.background else None
    except ColorParseError:
        colour = None
    if colour is not None and colour.ansi is None:  # "ansi_default": the terminal's own, not known here
        return colour.rgb
    return (18, 18, 18) if theme.dark else (255, 255, 255)


def run_colour(index: int, background: tuple[int, int, int]) -> str:
    """Compared run ``index``'s colour (hex) as drawn on ``background``."""
    return hex_colour(legible(palette_rgb(index), background))


def on_background(style: str, background: tuple[int, int, int] | None, minimum: float = MIN_CONTRAST) -> str:
    """A Rich style chosen for a dark background (`STATE_STYLES`, `GONE_STYLE`) as drawn on
    ``background``: unchanged on a dark one (or none known), its colour made `legible` (at
    ``minimum``) on a light one (dark_orange read at 1.6:1 on textual-light's grey, cyan at 2.7:1 on
    its zebra rows). The dim goes there too: Textual draws it by mixing the colour into the
    background, undoing the fix."""
    if background is None or not is_light(background):
        return style
    parsed = Style.parse(style)
    if parsed.color is None:
        return style
    rgb = legible(tuple(parsed.color.get_truecolor()), background, minimum)  # type: ignore[arg-type]
    return str(parsed + Style(color=hex_colour(rgb), dim=False if parsed.dim else None))


def state_text(state: str, background: tuple[int, int, int] | None = None) -> Text:
    """A run's state in its colour, as drawn on ``background`` (`on_background`)."""
    return Text(str(state), style=on_background(STATE_STYLES.get(state, ""), background))


def shown_state_text(state: str, gone: bool, background: tuple[int, int, int] | None = None) -> Text:
    """A followed run's state as a screen shows it: ``folder gone`` once its folder was deleted
    under the screen (what is left reads as broken, which would blame the run), else `state_text`."""
    return Text("folder gone", style=on_background(GONE_STYLE, background)) if gone else state_text(state, background)


def fmt_float(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def fmt_sig(value: float) -> str:
    """Three significant digits; engineering notation (exponent a multiple of 3) outside
    [0.01, 10000): 0.123, 3.81, 412, 1230, 17.2e12, 250e-6. Chart ticks use it."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    a = abs(value)
    if 0.01 <= a < 10_000:
        return f"{value:.0f}" if a >= 1000 else f"{value:.3g}"
    exp3 = int(math.floor(math.log10(a) / 3) * 3)
    mant = value / 10**exp3
    if abs(float(f"{mant:.3g}")) >= 1000:  # 999.95e3 rounds up to the next power
        exp3, mant = exp3 + 3, mant / 1000
    return f"{mant:.3g}e{exp3}"


def fmt_log_tick(value: float) -> str:
    """A log axis's tick (a round 1..9 × 10^k, `chart_scale.log_ticks`): as `fmt_sig` within
    [0.01, 10000), else in scientific notation with its one digit: 1e-7, 5e-12, 2e6 (engineering
    notation made those 100e-9 and 5e-12 beside 10e-12)."""
    if not math.isfinite(value) or value <= 0 or 0.01 <= value < 10_000:
        return fmt_sig(value)
    k = math.floor(math.log10(value))
    mant = value / 10**k
    if float(f"{mant:.2g}") >= 10:  # 1e-7 computed as 9.9999e-8
        k, mant = k + 1, mant / 10
    return f"{mant:.2g}e{k}"


def ended_phrase(state: str) -> str:
    """How a run ended, after "It": "failed", "diverged", "was interrupted", "was stopped", "was pruned"
    (the states are adjectives; "It interrupted before …" is not English)."""
    return f"was {state}" if state in (RunState.INTERRUPTED, RunState.STOPPED, RunState.PRUNED) else str(state)


def fmt_metric(value: float | None) -> str:
    """A loss, Dice or IoU for a table cell: four decimals up to 100, as `petseg runs` prints them
    (a Dice of 2e-12 is 0.0000 there and here), compact above (a diverged loss is 17.2e12, not
    17211663743894.0996)."""
    if value is None or not math.isfinite(value):
        return "—" if value is None or math.isnan(value) else str(value)
    if abs(value) < 100:
        return f"{value:.4f}"
    return fmt_sig(value)


# "LR" read two things: the runs table's configured rate (1.00e-03) and the run screen's rate of
# the latest epoch (7.09e-07 at the end of a cosine run). The words that tell them apart, here
# alone so that every screen says the same:
LR_PEAK = "LR peak"  # config.json's learning_rate: what the schedule warms up to, then lowers
LR_NOW = "LR now"  # the rate of the epoch a run trains (before it records one: its latest epoch's)
LR_LAST = "LR last"  # the same, once the run is over


def fmt_bytes(n: float | None) -> str:
    """A memory or disk size in a cell's few columns: "512M", "3.0G", "500G" (binary units)."""
    if n is None:
        return "—"
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20)):
        if n >= size:
            value = n / size
            return f"{value:.0f}{unit}" if value >= 100 else f"{value:.1f}{unit}"
    return f"{n / 1024:.0f}K"


def fmt_lr(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2e}"


def fmt_started(t: float | None) -> str:
    if not isinstance(t, (int, float)):
        return "—"
    return time.strftime("%m-%d %H:%M", time.localtime(t))




def packed_lines(parts: list[Text], width: int) -> Text:
    """``parts`` two spaces apart, a new line instead where the next would not fit in ``width``
    (0: one line): a header or legend that breaks between its parts, never inside one."""
    out, line = Text(), 0
    for part in parts:
        if line and width and line + 2 + part.cell_len > width:
            out.append("\n")
            line = 0
        elif line:
            out.append("  ")
            line += 2
        out.append_text(part)
        line += part.cell_len
    return out
