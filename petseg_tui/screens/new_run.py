"""New run: a form over `TrainConfig` with live validation, started detached or in-process.

Its rows are generated from `TrainConfig`'s field declarations (`new_run_fields`; each field's
`FieldSpec`: label, section, hint): the main fields first, every other option in a collapsed "More
options" section. The form can start from a copy of another run's settings; fields it does not
show keep the copied values. The "More options" rows are built only when the section is first
opened (an error in one opens it): until then their values are the form's own, checked as if
shown. Every check is the engine's (`new_run_fields.parse_form`): `TrainConfig.field_errors` for
the values, `data_path_problem` for the data folder (the message ``petseg train`` gives),
`validate_run_name` for the name; on Start, a ``--pretrained`` value is checked as ``petseg train``
checks it before making the run folder (`engine.train.run_folder.check_pretrained`: ImageNet's
weights fetched, a file loaded), in a worker, its refusal said beside the row. Start and Cancel sit below the scrolling fields, so they are on
screen at 80x24.

Letter keys never act app-wide here (`q` on a Select does not quit); ctrl+q and esc ask first
when the form has edits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Button, Collapsible, Input, Label, Select, Static, Switch

from engine.config import TrainConfig
from petseg_tui.exit_mount import PetsegSelect
from petseg_tui.keys import FORM_FOCUS_BINDINGS
from petseg_tui.widgets.header import PetsegHeader
from petseg_tui.screens.base import PetsegFooter, PetsegScreen, leave_form
from petseg_tui.screens.new_run_fields import (ALL_FIELDS, ERROR_FIELD, FIELDS, MORE_FIELDS, Field, as_raw,
                                               initial_values, parse_form)
from petseg_tui.widgets.in_order_input import InOrderInput, after_typed_keys


def _found(f: Field) -> Field:
    """``f`` with the choices and hint its `suggest_from` finds on this machine now (the GPUs:
    NVML, no torch), or a free text row as declared if that fails."""
    import importlib

    module, _, name = f.suggest_from.partition(":")
    try:
        choices, hint = getattr(importlib.import_module(module), name)()
    except Exception:
        return dataclasses.replace(f, kind="str")
    return dataclasses.replace(f, choices=tuple(choices), hint=hint)


def _gpu_count() -> int | None:
    """This box's GPUs as the devices row finds them (NVML, no torch); None if that fails."""
    try:
        from engine.train.devices_request import visible_gpu_count

        return visible_gpu_count()
    except Exception:
        return None


class NewRunScreen(PetsegScreen):
    """Hyperparameters of a new run; errors show beside each field as you type."""

    IS_FORM = True  # the app keeps letter keys (q) inert here
    FORM_NAME = "new run"
    AUTO_FOCUS = "#f-model"  # focusing it after mount restyled the whole form a second time
    HELP = "The engine's options with its defaults (as petseg train); errors show beside each field as you type."
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True, tooltip="Start the run (refused while a field is marked ✗)"),
        Binding("escape", "cancel", "Cancel", tooltip="Back to the runs (asks first if you changed anything)"),
        # q types here; the footer shows how to quit instead (the app's own ctrl+q does it)
        Binding("ctrl+q", "app.quit_anywhere", "Quit", priority=True,
                tooltip="Quit the app (asks first if the form has edits or a run trains in this process)"),
        *FORM_FOCUS_BINDINGS,
    ]

    errors: var[dict[str, str]] = var(dict, init=False, always_update=True)

    def __init__(self, config: TrainConfig | None = None, copied_from: str | None = None) -> None:
        super().__init__()
        self.values = initial_values(config)
        self.base = config or TrainConfig()  # what the form's values go over (a copied run keeps the rest)
        self.copied_from = copied_from
        self._initial_raw: dict[str, Any] | None = None
        self._found = {f.name: _found(f) for f in ALL_FIELDS if f.suggest_from}  # e.g. this box's GPUs
        self.gpus = _gpu_count()  # for the Device row: cuda on a box without a GPU is marked ✗
        # each field's value as its widget holds it (the text of an Input): a row not built yet keeps it here
        self._raw = {f.name: as_raw(f, self.values.get(f.name)) for f in ALL_FIELDS}
        self._shown: dict[str, tuple[Widget, Static]] = {}  # the built rows: field -> (input, hint/error)
        self._focus_when_shown: str | None = None  # a More options field to focus once its row is built
        self._validated: dict[str, Any] | None = None  # the values the last validation read
        self._checking = False  # Start's check of the pretrained weights runs (ctrl+s waits for it)
        self._starting = False  # its run was asked for and is starting: a second ctrl+s starts nothing
        self._ready_at: float | None = None  # when the form was up (Textual's clock, as its events)

    def compose(self) -> ComposeResult:
        yield PetsegHeader()
        with VerticalScroll(id="new-run-form"):
            title = f"New run — a copy of {self.copied_from}'s settings" if self.copied_from else "New training run"
            yield Static(title, id="new-run-title")
            for row in self._rows(FIELDS):
                yield row
            # its rows are built when it is first opened: ~90 widgets fewer to style while the form opens
            yield Collapsible(title="More options: time budget, seed, mask rule, precision, optimizer, regularisation, "
                                    "loss, pretrained, warm-up, EMA, augmentation, compile, checkpoints",
                              collapsed=True,
                              classes="-collapsed",  # Textual sets it at mount, restyling every row again
                              id="more-options")
            yield Static(id="form-other-error", classes="field-error")
        # what a start waits for (the dataset's download): a row of its own, read whole at 80
        # columns; beside the buttons it had 30 columns, under the toasts' corner
        yield Static(id="new-run-status")
        with Horizontal(id="new-run-buttons"):
            yield Button("Start  ctrl+s", variant="success", id="start", compact=True)
            yield Button("Cancel  esc", id="cancel", compact=True)
        yield PetsegFooter()

    def _rows(self, fields: tuple[Field, ...]) -> list[Widget]:
        """A row per field (label, input, hint or error), as the current errors have them."""
        rows = []
        for f in (self._found.get(f.name, f) for f in fields):
            widget = self._widget(f)
            feedback = Static(classes="field-error hint", id=f"err-{f.name}")
            self._shown[f.name] = (widget, feedback)
            self._show_feedback(f, self.errors)
            rows.append(Horizontal(Label(f.label, classes="field-label"), widget, feedback,
                                   classes="field-row", id=f"row-{f.name}"))
        return rows

    def _widget(self, f: Field) -> Widget:
        v = self._raw[f.name]
        wid = f"f-{f.name}"
        if f.kind == "select":
            # a copied run's value the list lacks (cuda:1) is offered too, never dropped
            choices = f.choices if v in f.choices or v is None else (*f.choices, v)
            # Text prompts: a copied value is shown as written, never read as markup ("unet[/]" crashed)
            return PetsegSelect([(Text(str(c)), c) for c in choices], value=v, allow_blank=False, compact=True, id=wid,
                          classes="field-input")
        if f.kind == "switch":
            return Switch(value=v, id=wid, classes="field-input")
        return InOrderInput(value=v, placeholder=f.placeholder, compact=True, id=wid, classes="field-input")

    @on(Collapsible.Expanded, "#more-options")
    async def _more_opened(self) -> None:
        if MORE_FIELDS[0].name in self._shown:
            return
        await self.query_one("#more-options", Collapsible).query_one(Collapsible.Contents).mount_all(
            self._rows(MORE_FIELDS))
        if self._focus_when_shown:
            self.query_one(f"#f-{self._focus_when_shown}").focus()
            self._focus_when_shown = None

    def on_mount(self) -> None:
        self.sub_title = f"new run in {self.petseg_app.runs_dir}"
        self._initial_raw = self.raw_values()
        self.validate_form()
        self._ready_at = Message().time

    # ---- keys typed while the form opened (tmux send-keys n Tab 5) -------------------------------
    # The terminal sends them in one burst, and the app hands each to the widget focused *then*:
    # the runs table (which passes them here, `take_typed_ahead`), or, once the form is pushed and
    # before it has a field to focus, the form itself. Either way they used to be lost.
    TYPED_AHEAD = ("tab", "shift+tab")  # besides printable keys

    class TypedAhead(Message):
        """A key typed before the form was up, in the order typed (the form's own queue)."""

        def __init__(self, key: str, character: str | None) -> None:
            super().__init__()
            self.key, self.character = key, character

    def take_typed_ahead(self, event: events.Key) -> bool:
        """Take a key another screen's widget got after this form was pushed; True if taken."""
        if event.key not in self.TYPED_AHEAD and not event.is_printable:
            return False
        self.post_message(self.TypedAhead(event.key, event.character))
        return True

    def on_new_run_screen_typed_ahead(self, message: TypedAhead) -> None:
        self._type(message.key, message.character)

    def on_key(self, event: events.Key) -> None:
        if self._ready_at is None or event.time >= self._ready_at:
            return
        if event.key in self.TYPED_AHEAD or (event.is_printable and isinstance(self.focused, Input)):
            event.stop()
            event.prevent_default()
            self._type(event.key, event.character)

    def _type(self, key: str, character: str | None) -> None:
        """Do what the key does in the form: Tab moves the focus (at once: the next key is for the
        next field), a character goes into the focused Input (after its focus selected its text)."""
        if key == "tab":
            self.focus_next()
        elif key == "shift+tab":
            self.focus_previous()
        elif isinstance(self.focused, Input) and character:
            self.focused.post_message(events.Key(key, character))

    # ---- validation -----------------------------------------------------------------------------
    def raw_values(self) -> dict[str, Any]:
        """Every field's value as the form holds it (shown or not): what `parse_form` reads."""
        return {name: (shown[0].value if (shown := self._shown.get(name)) else raw)  # type: ignore[attr-defined]
                for name, raw in self._raw.items()}

    @property
    def has_edits(self) -> bool:
        """True when a field differs from what the form opened with."""
        return self._initial_raw is not None and self.raw_values() != self._initial_raw

    def validate_form(self) -> tuple[TrainConfig, str | None, bool, dict[str, str]]:
        self._validated = self.raw_values()
        cfg, name, detached, errors = parse_form(self._validated, self.petseg_app.runs_dir, self.base, self.gpus)
        self.errors = errors
        return cfg, name, detached, errors

    def watch_errors(self, errors: dict[str, str]) -> None:
        for f in (self._found.get(f.name, f) for f in ALL_FIELDS):
            self._show_feedback(f, errors)
        self.query_one("#form-other-error", Static).update(errors.get("_other", ""))
        self.query_one("#start", Button).disabled = bool(errors)
        if any(e in errors for e in (f.name for f in MORE_FIELDS)):
            self.query_one("#more-options", Collapsible).collapsed = False  # never hide an error

    def _show_feedback(self, f: Field, errors: dict[str, str]) -> None:
        """Beside a built row: ✗ and what is wrong, else its hint."""
        if f.name not in self._shown:
            return
        widget, label = self._shown[f.name]
        msg = errors.get(f.name) or errors.get(ERROR_FIELD.get(f.name, ""))
        hint = f.hint
        if f.kind == "switch":
            hint = f.hint if widget.value else f.hint_off  # type: ignore[attr-defined]
        label.update(("✗ " + msg) if msg else hint)
        label.set_class(bool(msg), "-invalid")
        label.set_class(not msg, "hint")
        widget.set_class(bool(msg), "-invalid-field")

    # The focused row's hint is shown whole (app.tcss, `.field-row:focus-within`): a change of
    # text-wrap alone does not lay the row out again, so the row that gains or loses the focus is
    # laid out here (its height follows its hint's lines).
    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._relayout_row(event.widget)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._relayout_row(event.widget)

    def _relayout_row(self, widget: Widget) -> None:
        row = widget.parent
        if row is not None and row.has_class("field-row"):
            for hint in row.query(".field-error"):
                hint.refresh(layout=True)

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def _changed(self, event) -> None:
        # each widget says Changed once as it mounts, with the value the form last checked: skipped
        if self.is_mounted and self.raw_values() != self._validated:
            self.validate_form()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    # ---- actions --------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # ctrl+s is a priority key: typed while the form still opens, it finds no fields yet; and
        # while the run it asked for starts (seconds), another would start a second run
        return self.is_mounted and not self._starting if action == "start" else True

    def action_start(self) -> None:
        after_typed_keys(self, self._start_as_shown)

    def _start_as_shown(self) -> None:
        """Start what the form shows, every key typed before ctrl+s taken (`after_typed_keys`)."""
        if not self.is_attached or self._starting:
            return
        cfg, name, detached, errors = self.validate_form()
        if errors:
            first = next((f.name for f in ALL_FIELDS if f.name in errors), None)
            self.notify("Fix the fields marked ✗ first", severity="error")
            if first in self._shown:
                self._shown[first][0].focus()
            elif first:  # in More options, opening (watch_errors) and built in a moment
                self._focus_when_shown = first
            return
        if self._checking or self._starting:
            return
        self.query_one("#start", Button).disabled = True
        if cfg.pretrained is not None:
            # a detached `petseg train` refused an offline `imagenet` (or a bad file) in its log,
            # after the dashboard had made the run folder for that log: checked here first, as
            # petseg train checks it before making its run folder
            self._checking = True
            self.notify("Checking the pretrained encoder weights …", timeout=3)
            self._check_pretrained_then_start(cfg, name, detached)
            return
        self._start(cfg, name, detached)

    @work(thread=True, exclusive=True, group="pretrained-check", exit_on_error=False)
    def _check_pretrained_then_start(self, cfg: TrainConfig, name: str | None, detached: bool) -> None:
        """The engine's check of ``cfg.pretrained`` (imports torch; may fetch ImageNet's weights)."""
        from engine.errors import one_line
        from engine.train.run_folder import check_pretrained

        try:
            check_pretrained(cfg)
        except Exception as exc:  # noqa: BLE001 (its one line in the form, never a crash)
            self.app.call_from_thread(self._pretrained_refused, one_line(exc))
            return
        self.app.call_from_thread(self._start, cfg, name, detached)

    def _pretrained_refused(self, why: str) -> None:
        self._checking = False
        if not self.is_attached:
            return
        if "pretrained" in self._shown:
            self._shown["pretrained"][0].focus()
        else:  # in More options, which the error opens: focused once its row is built
            self._focus_when_shown = "pretrained"
        self.errors = {**self.errors, "pretrained": why}  # beside its row; Start waits for an edit
        self.notify(why, title="Could not start the run", severity="error", markup=False)

    def _start(self, cfg: TrainConfig, name: str | None, detached: bool) -> None:
        self._checking = False
        if not self.is_attached:  # the form was left while its check ran
            return
        # the run's folder is made once --download has fetched the dataset (minutes, in this
        # process): the form sat still meanwhile, so its status line says so. Said there alone: a
        # toast saying it too lay over that line (toasts fill the bottom right at 80x24)
        target = None
        if not detached:
            from engine.data.source import download_target

            target = download_target(cfg.data_path, cfg.download)
        if target is not None:
            status = self.query_one("#new-run-status", Static)
            status.update(Text(f"Downloading the dataset into {target} (about 800 MB) … then the run starts"))
            status.display = True
        else:
            self.notify(
                ("Starting a detached run …" if detached else "Starting the run in this process (loading torch) …"),
                timeout=3,
            )
        self._initial_raw = self.raw_values()  # started: nothing left to lose
        from petseg_tui.messages import StartRun

        self._starting = True
        self.refresh_bindings()
        self.post_message(StartRun(cfg, name, detached))  # the app starts it and pops this form once it runs

    def start_failed(self) -> None:
        """The app could not start the run (it said why): the form may start it again."""
        self._starting = False
        self.refresh_bindings()
        self.query_one("#start", Button).disabled = bool(self.errors)
        status = self.query_one("#new-run-status", Static)
        status.update("")
        status.display = False

    def action_cancel(self) -> None:
        leave_form(self, self.app.pop_screen)
