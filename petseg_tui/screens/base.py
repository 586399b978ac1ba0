"""`PetsegScreen`: what every full screen of the app shares: its width class and a footer that fits.

Width has one mechanism: the app's ``HORIZONTAL_BREAKPOINTS`` (`WIDTH_BREAKPOINTS`), with which
Textual gives each screen one class, ``-narrow`` (80 columns) up to ``-widest`` (160). The
stylesheet lays screens out by it, and `PetsegScreen.width_class` mirrors it for what CSS cannot
do (which keys the footer shows, which columns a table has, how many charts are drawn).

Below the screen's `FULL_FOOTER_FROM` class the footer is compact, leaves out the command-palette
key and the screen's `NARROW_FOOTER_HIDES` actions (they still work; ``?`` and ``ctrl+p`` list
them), so Quit and Help always show, from 80 columns up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol, cast, runtime_checkable

from textual import events
from textual.app import ComposeResult
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from petseg_tui.exit_mount import NoMountAtExit
from petseg_tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:  # pragma: no cover
    from petseg_tui.app import PetsegApp

# (columns from which, class): Textual puts the last class whose width the terminal reaches on the screen
WIDTH_BREAKPOINTS: list[tuple[int, str]] = [
    (0, "-narrow"), (100, "-medium"), (120, "-wide"), (140, "-wider"), (160, "-widest"),
]
_RANK = {name: rank for rank, (_, name) in enumerate(WIDTH_BREAKPOINTS)}


def width_class_of(screen: Screen) -> str:
    """The width class Textual gave ``screen`` (a dialog's too), ``-narrow`` until it has one."""
    return next((name for _, name in reversed(WIDTH_BREAKPOINTS) if screen.has_class(name)), "-narrow")


def footer_is_narrow(width_class: str, full_from: str = "-wide") -> bool:
    """True when a footer at ``width_class`` is compact: below ``full_from``, the class the full one needs."""
    return _RANK.get(width_class, 0) < _RANK[full_from]


class PetsegFooter(Footer):
    """Textual's footer that drops the keys its screen says have no room at this width, and is
    rebuilt only when the keys it shows change.

    Textual's footer recomposes (a widget per key, each styled) on every ``refresh_bindings()``,
    which the screens call on each cursor move to offer the keys of the highlighted run: ~20
    widgets and most of a cursor move's CPU, for a footer that almost always reads the same.
    """

    narrow: reactive[bool] = reactive(False, recompose=True)
    hidden: reactive[frozenset[str]] = reactive(frozenset(), recompose=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._composed: tuple | None = None  # what the footer's keys say, as last composed

    def watch_narrow(self, narrow: bool) -> None:
        self.compact = narrow
        self.show_command_palette = not narrow

    def shown_keys(self) -> tuple:
        """Everything the composed footer depends on: its keys (enabled or not), width settings."""
        keys = tuple(
            (binding.key, binding.action, binding.description, binding.group and binding.group.description,
             enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == self.app.COMMAND_PALETTE_BINDING
        )
        return keys, self.hidden, self.compact, self.show_command_palette

    async def recompose(self) -> None:
        # checked when the rebuild runs, not when Textual queues it (after the next refresh): a
        # screen that opens queues two or three, and each after the first finds its keys built
        if self.is_attached and self.shown_keys() == self._composed:
            return
        await super().recompose()

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._composed = self.shown_keys()
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action in self.hidden:
                continue
            yield widget


@runtime_checkable
class Form(Protocol):
    """A screen the user fills in (the new-run form, the new-sweep dialog): the app keeps letter
    keys (q) inert on it, and its ctrl+q asks first when it has edits ("This new run's settings
    are not saved", ``FORM_NAME`` naming what), as its Esc and Cancel do (`leave_form`)."""

    IS_FORM: ClassVar[bool]
    FORM_NAME: ClassVar[str]

    @property
    def has_edits(self) -> bool:
        """True when quitting would lose what the user typed here."""
        ...

    @property
    def start_in_flight(self) -> str:
        """What the form is starting in a thread the app's exit does not wait for ("sweep NAME"),
        else "": a quit then waits until it has started or failed (`PetsegApp.start_settled`)."""
        ...


def discard_question(form: Form) -> str:
    """What a form's Esc (or Cancel) asks when it has edits: "Discard the settings of this new run?"."""
    return f"Discard the settings of this {form.FORM_NAME}?"


def leave_form(form: Screen, close: Callable[[], object]) -> None:
    """Esc or Cancel on a form: ``close`` it at once when it has no edits, else only once the user
    says to discard them ("Keep editing" leaves the form as it was)."""
    if not (isinstance(form, Form) and form.has_edits):
        close()
        return

    def answer(discard: bool | None) -> None:
        if discard:
            close()

    form.app.push_screen(ConfirmScreen(discard_question(form), yes="Discard", no="Keep editing"), answer)


class PetsegScreen(NoMountAtExit, Screen):
    # Actions whose keys the footer leaves out below FULL_FOOTER_FROM.
    NARROW_FOOTER_HIDES: ClassVar[frozenset[str]] = frozenset()
    FULL_FOOTER_FROM: ClassVar[str] = "-wide"  # the width class the full footer needs
    IS_FORM: ClassVar[bool] = False  # a form: the app keeps letter keys (q) inert on it
    FORM_NAME: ClassVar[str] = ""  # what a form makes, as its "not saved" question names it

    # The width class Textual gave this screen ("" until its first resize).
    width_class: var[str] = var("", init=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The class Textual will give it at its first resize, given now: its widgets are styled
        # once as they mount, not all over again when the class arrives (~0.1 s for the new-run form).
        try:
            width = self.app.size.width
        except Exception:  # made outside a running app
            return
        name = next((name for columns, name in reversed(WIDTH_BREAKPOINTS) if width >= columns), "-narrow")
        self.add_class(name, update=False)

    @property
    def petseg_app(self) -> "PetsegApp":
        return cast("PetsegApp", self.app)

    @property
    def has_edits(self) -> bool:
        """True when quitting would lose what the user typed here (forms say)."""
        return False

    @property
    def start_in_flight(self) -> str:
        """What a form starts in a thread a quit must wait for (`Form.start_in_flight`): none here."""
        return ""

    def at_least(self, width_class: str) -> bool:
        """True when the screen is at least as wide as ``width_class`` (e.g. ``"-wide"``)."""
        return _RANK.get(self.width_class, 0) >= _RANK[width_class]

    def footer_hides(self) -> frozenset[str]:
        """The actions whose keys the footer leaves out at this width."""
        return self.NARROW_FOOTER_HIDES if footer_is_narrow(self.width_class, self.FULL_FOOTER_FROM) else frozenset()

    def on_resize(self, event: events.Resize) -> None:
        # Textual's Screen._on_resize, which sets the breakpoint class, runs after this handler
        self.call_next(self._read_width_class)

    def _read_width_class(self) -> None:
        self.width_class = width_class_of(self)

    def watch_width_class(self) -> None:
        """Subclasses that lay out by width extend this (and call it)."""
        for footer in self.query(PetsegFooter):
            footer.narrow = footer_is_narrow(self.width_class, self.FULL_FOOTER_FROM)
            footer.hidden = self.footer_hides()
