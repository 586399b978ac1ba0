"""What the TUI shows, as the text a user reads: a widget's lines, the notifications, the footer,
the runs screen's detail line and a runs table's cell, the terminal's rows, the palette's list,
the app's exit message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from petseg_tui.widgets.runs_table import RunsTable


def widget_text(widget) -> str:
    """The text a widget shows on screen now: its rendered lines, without padding and border."""
    from textual.geometry import Region

    size, gutter = widget.region.size, widget.styles.gutter
    lines = widget.render_lines(Region(0, 0, size.width, size.height))
    rows = lines[gutter.top: max(gutter.top, size.height - gutter.bottom)]
    return "\n".join(strip.text[gutter.left: max(gutter.left, size.width - gutter.right)] for strip in rows)


def rendered(widget) -> str:
    """What a widget renders, as plain text, before it is laid out in lines (no wrapping)."""
    return str(widget.render())


def toasts(app) -> str:
    """The notifications on screen now (the app must run with ``run_test(notifications=True)``)."""
    return " | ".join(" ".join(rendered(t).split()) for t in app.screen.query("Toast"))


def run_detail(screen) -> str:
    """The runs screen's detail line: the highlighted run's name, state and what is wrong with it."""
    return str(screen.query_one("#run-detail").render())


def footer_text(screen) -> str:
    """The footer as shown: each key and its label, in order (the keys are the footer's children)."""
    from textual.widgets._footer import FooterKey, FooterLabel

    return " ".join(widget_text(w).strip() for w in screen.query("Footer *") if isinstance(w, (FooterKey, FooterLabel)))


def screen_rows(app) -> list[str]:
    """The terminal's rows as the user reads them, a dialog over its screen included (the screen
    beneath shows through where the dialog draws nothing): drawn as ``App.export_screenshot`` does."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).splitlines()


def seen_at(app, widget) -> str:
    """What the terminal shows where ``widget`` lies (a toast or dialog over it included), its rows
    joined and its spaces squeezed: what a user reads there."""
    region = widget.region
    rows = screen_rows(app)[region.y: region.bottom]
    return " ".join(" ".join(row[region.x: region.right] for row in rows).split())


def palette_titles(app) -> list[str]:
    """The commands the open command palette lists now, as their plain titles."""
    from textual.command import CommandList

    listed = app.screen.query_one(CommandList)
    return [listed.get_option_at_index(i).hit.text for i in range(listed.option_count)]


def exit_messages(app, monkeypatch) -> list[str | None]:
    """The messages ``app`` exits with (``App.exit(message=...)``: what the terminal shows after
    the dashboard), appended as it exits."""
    exits: list[str | None] = []
    real_exit = app.exit

    def exit_spy(*args, **kwargs) -> None:
        exits.append(kwargs.get("message"))
        real_exit(*args, **kwargs)

    monkeypatch.setattr(app, "exit", exit_spy)
    return exits


def cell(table: RunsTable, name: str, column: str) -> str:
    value = table.get_cell(name, column)
    return getattr(value, "plain", str(value))
