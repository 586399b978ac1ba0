"""Helpers of the new-run form's tests: opening the form ready for typing, setting a field, and
what the form says beside a field, opening its More options."""

from __future__ import annotations

from tui_helpers import wait_for, widget_text

from petseg_tui.screens.new_run import NewRunScreen


def _set(screen, field: str, value) -> None:
    w = screen.query_one(f"#f-{field}")
    w.value = value


def error_text(form, field: str) -> str:
    """What the form shows beside a field: its hint, or ✗ and what is wrong."""
    return widget_text(form.query_one(f"#err-{field}"))


async def open_form(pilot, key: str = "n") -> NewRunScreen:
    """Open the form and wait until it is ready for typing (its first field has the focus)."""
    app = pilot.app
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen) and app.screen.query_one("#f-model").has_focus,
                   what="the new-run form, its first field focused")
    return app.screen


async def open_more_options(pilot, form) -> None:
    """Open the "More options" section as a user does (its title, enter) and wait for its fields."""
    form.query_one("#more-options CollapsibleTitle").focus()
    await wait_for(pilot, lambda: form.query_one("#more-options CollapsibleTitle").has_focus, what="the title focused")
    await pilot.press("enter")
    await wait_for(pilot, lambda: bool(form.query("#f-seed")) and form.query_one("#f-seed").region.height == 1,
                   what="the More options fields shown")
