"""Legibility: the contrast ratio of a text as a widget draws it, in each light theme."""

from __future__ import annotations

from tui_pilot import settled


LIGHT_THEMES = ("textual-light", "solarized-light", "catppuccin-latte")


def contrast_of(widget, text: str) -> float:
    """The lowest contrast ratio (WCAG: 1 none, 21 black on white) between the colour of ``text``
    and the background it is drawn on, wherever the widget shows it; fails when it shows nowhere.
    What a reader of a light (or dark) theme can or cannot make out: an ANSI colour ("cyan") as the
    app draws it (its ANSI theme's, not Rich's default), a dim one mixed into its background as
    Textual draws dim."""
    from rich.color import Color
    from textual.filter import dim_color

    theme = widget.app.ansi_theme

    def luminance(colour) -> float:
        r, g, b = (c / 255 for c in colour.get_truecolor())
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    ratios = []
    for y in range(widget.size.height):
        for segment in widget.render_line(y):
            style = segment.style
            if text in segment.text and style is not None and style.color and style.bgcolor:
                fg = Color.from_triplet(style.color.get_truecolor(theme, foreground=True))
                bg = Color.from_triplet(style.bgcolor.get_truecolor(theme, foreground=False))
                high, low = sorted((luminance(dim_color(bg, fg) if style.dim else fg), luminance(bg)), reverse=True)
                ratios.append((high + 0.05) / (low + 0.05))
    assert ratios, f"{text!r} is not shown in {widget!r}"
    return min(ratios)


async def light_theme_contrasts(pilot, widget, texts: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """For each of `LIGHT_THEMES`, switched as the command palette switches it: the lowest
    contrast (`contrast_of`) of each of ``texts`` in ``widget``."""
    shown = {}
    for theme in LIGHT_THEMES:
        pilot.app.theme = theme
        await settled(pilot)
        shown[theme] = {text: round(contrast_of(widget, text), 2) for text in texts}
    return shown
