"""One meaning per key, app-wide: every screen's bindings (found by walking the petseg_tui.screens
and petseg_tui.widgets packages, so a new screen is checked without an edit here), the app's and
the widgets', and the destructive keys (stop, delete) bound to nothing else. Dialogs answer with
their own keys but never bind a destructive one. The help screen lists every screen found."""

from __future__ import annotations

import importlib
import io
import pkgutil
from collections import defaultdict

from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widget import Widget

import petseg_tui.screens
import petseg_tui.widgets
from petseg_tui.app import PetsegApp
from petseg_tui.keys import (
    APP_BINDINGS,
    DESTRUCTIVE_ACTIONS,
    PALETTE_BINDING,
    binding_keys,
    meaning,
)
from petseg_tui.screens.base import PetsegScreen
from petseg_tui.screens.help import screen_classes, screen_sections


def _classes(package, base: type) -> list[type]:
    out = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        out += [o for o in vars(module).values()
                if isinstance(o, type) and issubclass(o, base) and o.__module__ == module.__name__]
    return out


def _own_bindings(cls: type) -> list[Binding]:
    """The bindings a petseg class declares, its petseg base classes' included (not Textual's)."""
    out: list[Binding] = []
    for klass in cls.__mro__:
        if klass.__module__.startswith("petseg_tui"):
            out += [b for b in vars(klass).get("BINDINGS", []) if isinstance(b, Binding)]
    return out


def _full_screens() -> list[type]:
    return [c for c in _classes(petseg_tui.screens, Screen) if not issubclass(c, ModalScreen)]


def _dialogs() -> list[type]:
    return _classes(petseg_tui.screens, ModalScreen)


def _app_wide() -> dict[str, list[tuple[str, str]]]:
    """key -> [(where, meaning)] over the app, every full screen and every petseg widget."""
    owners: list[tuple[str, list[Binding]]] = [("app", list(APP_BINDINGS) + [PALETTE_BINDING]
                                                + [b for b in PetsegApp.BINDINGS if isinstance(b, Binding)])]
    owners += [(c.__name__, _own_bindings(c)) for c in _full_screens()]
    owners += [(c.__name__, _own_bindings(c)) for c in _classes(petseg_tui.widgets, Widget)]
    keys: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for where, bindings in owners:
        for b in bindings:
            for key in binding_keys(b):
                keys[key].append((where, meaning(b.action)))
    return keys


def test_the_walk_finds_every_screen() -> None:
    names = {c.__name__ for c in _full_screens()}
    assert {"RunsScreen", "LiveRunScreen", "CompareScreen", "InferenceScreen", "WorstScreen", "NewRunScreen"} <= names
    assert {"ConfirmScreen", "HelpScreen", "SortMenu", "LabelsDialog"} <= {c.__name__ for c in _dialogs()}
    assert all(issubclass(c, PetsegScreen) for c in _full_screens())


def test_each_key_has_one_meaning_app_wide() -> None:
    clashes = {key: sorted(set(uses)) for key, uses in _app_wide().items() if len({m for _, m in uses}) > 1}
    assert clashes == {}, f"keys with more than one meaning: {clashes}"


def test_destructive_keys_mean_nothing_else_anywhere() -> None:
    keys = _app_wide()
    destructive = {key for key, uses in keys.items() if any(m in DESTRUCTIVE_ACTIONS for _, m in uses)}
    assert destructive == {"x", "D"}  # stop, delete
    for key in destructive:
        assert {m for _, m in keys[key]} <= DESTRUCTIVE_ACTIONS, (key, keys[key])
    for dialog in _dialogs():
        bound = {k for b in _own_bindings(dialog) for k in binding_keys(b)}
        assert not bound & destructive, f"{dialog.__name__} binds {bound & destructive}"


def test_the_keys_that_used_to_change_meaning_now_have_one() -> None:
    keys = _app_wide()
    assert {m for _, m in keys["x"]} == {"stop"}
    assert {m for _, m in keys["p"]} == {"pause"}
    assert {m for _, m in keys["n"]} == {"new_run"}
    assert {m for _, m in keys["m"]} == {"next_metric"}
    assert {m for _, m in keys["s"]} == {"sort_menu"}
    assert {m for _, m in keys["r"]} == {"run"}


def test_help_lists_every_screen_found() -> None:
    titled = {title for title, _, _ in screen_sections()}
    assert len(titled) == len(screen_classes()) + 1  # and "Everywhere"
    assert {"Runs", "Live run", "Compare", "Inference", "Worst samples", "New run"} <= titled
    runs = next(b for t, _, b in screen_sections() if t == "Runs")
    assert {b.action for b in runs} >= {"sort_menu", "delete_run", "toggle_archive", "edit_labels"}


async def _help_lines(runs_dir) -> list[str]:
    """The help screen's text at 160 columns, line by line, as `?` shows it."""
    from rich.console import Console
    from textual.widgets import Static

    from petseg_tui.screens.help import HelpScreen

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=160, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-text", Static).content)
        return [line.strip() for line in console.export_text().splitlines()]


async def test_help_has_a_section_only_for_screens_the_user_opens(runs_dir) -> None:
    """`?` lists the screens the app shows, nothing else: the shared base classes (PetsegScreen,
    ImageScreen) used to appear as sections "Petseg" and "Image" listing Tab, Shift+Tab and ^c as
    if they were screens of their own."""
    lines = await _help_lines(runs_dir)
    heads = {line.split("  ")[0] for line in lines if line}
    assert {"Runs", "New run", "Live run", "Compare", "Inference", "Worst samples", "Sweep"} <= heads
    assert not {"Petseg", "Image"} & heads
    assert not any(line.startswith(("tab ", "shift+tab")) for line in lines)


async def test_help_keys_and_notes_are_legible_in_light_themes(runs_dir) -> None:
    """The help's key column is text to read, yet its cyan read at 3.0:1 on textual-light's
    surface (3.5:1 on solarized-light and catppuccin-latte), and its dim notes at 2.5:1 on
    solarized-light: both reach WCAG's 4.5:1 for text, or the theme's own text where that is
    less, after a theme switch made with the help open."""
    from textual.widgets import Static
    from tui_helpers import light_theme_contrasts

    from petseg_tui.screens.help import HelpScreen

    app = PetsegApp(runs_dir=runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.query_one("#help-text", Static)
        shown = await light_theme_contrasts(pilot, text, ("^q", "?  ", "Everywhere", "Every key below",
                                                          "closes this help"))
    for theme, ratios in shown.items():
        assert ratios["^q"] >= 4.5 and ratios["?  "] >= 4.5, (theme, ratios)
        plain = min(4.5, ratios["Everywhere"])  # the theme's own text (solarized-light's: 4.4:1)
        assert ratios["Every key below"] >= plain and ratios["closes this help"] >= plain, (theme, ratios)


async def test_the_help_says_ctrl_q_asks_first_while_a_run_trains_here_too(runs_dir) -> None:
    """^q's line said only "asks first if the form has edits", yet it asks too while a run trains
    in this process (Stop and quit?), as q's line says."""
    lines = await _help_lines(runs_dir)
    ctrl_q = [line for line in lines if line.startswith("^q")]
    assert ctrl_q and all("has edits" in line and "run trains in this process" in line for line in ctrl_q), ctrl_q


async def test_help_says_the_runs_tables_rates_are_medians(runs_dir) -> None:
    """The runs table's img/s and s/epoch are medians over a run's epochs (as `petseg runs` says
    under its table), so 20 epochs x s/epoch need not add up to Time on a busy machine: `?` says so."""
    text = " ".join(" ".join(await _help_lines(runs_dir)).split())
    assert "img/s and s/epoch: the median of the run's epochs; Time: its whole training time, pauses left out" in text
