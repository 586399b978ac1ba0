"""The new-sweep form (n on the sweeps screen): the fields of ``petseg sweep``, ``--spec FILE``
too (the file's settings with the fields typed over them, by the CLI's own rule:
`engine.sweep.spec_file.typed_over_file`; a blank field is a flag not typed), checked by the
engine's own spec rules (`engine.sweep.launch.checked_spec`) so a bad field is one line here,
and against the study of a sweep of that name (`engine.sweep.study.rerun_refusal`: another search
space), then the sweep started in the background like a detached run
(`engine.sweep.launch.start_sweep`; its output in RUNS/.sweeps/NAME.log) and watched until it has
claimed the sweep: a process that exits at once is its ``petseg: error:`` line here, not
"started". Dismisses with the sweep's name, or None when cancelled.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from engine.errors import PetsegError, one_line
from petseg_tui.exit_mount import NoMountAtExit
from petseg_tui.keys import FORM_FOCUS_BINDINGS
from petseg_tui.screens.base import (
    PetsegFooter,
    footer_is_narrow,
    leave_form,
    width_class_of,
)
from petseg_tui.widgets.in_order_input import InOrderInput, after_typed_keys

if TYPE_CHECKING:  # pragma: no cover
    from engine.sweep.spec import SweepSpec
    from petseg_tui.app import PetsegApp

WATCH_S = 10.0  # how long the form watches a started sweep for an early exit before it says "started"

# (id, label, placeholder, default): the CLI's flags, in its --help order. A blank field is a flag
# not typed, as on the command line: the spec file's value, else the engine's default (each
# placeholder says it). Those defaults used to be typed into the fields ("10", "tpe", "1", ...),
# which would have overridden a spec file's values without a word.
FIELDS = (
    ("name", "Name", "the sweep's name (its trials are NAME-t000, ...)", ""),
    ("spec", "Spec file", "a TOML file, as --spec: blank fields take its values, typed ones win", ""),
    ("params", "Search", "learning_rate=log:1e-4:3e-3 width=choice:32,64", "learning_rate=log:1e-4:3e-3"),
    ("trials", "Trials", "the budget (blank: 10)", ""),
    ("sampler", "Sampler", "tpe, random or grid (blank: tpe)", ""),
    ("sampler_seed", "Sampler seed", "blank: fresh draws; N: the same trials again", ""),
    ("prune", "Pruning", "median or none (blank: median)", ""),
    ("prune_warmup", "Never prune", "the first N epochs of a trial (blank: 1)", ""),
    ("parallel", "At once (CPU)", "trials at once on a CPU (blank: 1)", ""),
    ("devices", "GPUs", "indices such as 0,1 (blank: the CPU)", ""),
    ("per_device", "Per GPU", "trials at once on each GPU (blank: 1)", ""),
    ("devices_per_trial", "GPUs a trial", "data-parallel processes per trial (blank: 1)", ""),
    ("storage", "Storage", "an Optuna storage URL (blank: runs/.sweeps/NAME.journal)", ""),
    ("eval_best", "Score best", "yes or no: the best trial scored on the test split at photo size (blank: yes)", ""),
    ("train", "Train flags", "every trial's base: --epochs 20 --image_size 128", "--epochs 10"),
)
# the two fields filled with a start rather than a default: once a spec file is named they are
# emptied while they still hold it (the file's search and train values, not these, then count)
STARTERS = {key: default for key, _label, _placeholder, default in FIELDS if key in ("params", "train")}

# the hint under the form for each field's Input: "Label: what it takes"
HINTS = {f"sweep-{key}": f"{label}: {placeholder}" for key, label, placeholder, _ in FIELDS}


def file_placeholder(key: str, placeholder: str, loaded: dict | None) -> str:
    """A field's placeholder with a spec file named (``loaded``: `engine.sweep.spec_file.load_toml`'s
    dict, None without a readable one): the file's value where it sets this field, the field's own
    placeholder otherwise. "(blank: 10)" beside Trials said what a blank field would not take."""
    if not loaded:
        return placeholder
    if key == "params":
        value = " ".join(loaded.get("params") or []) or None
    elif key == "train":
        base = loaded.get("base") or {}
        value = " ".join(f"--{name} {'none' if v is None else v}" for name, v in base.items()) or None
    else:
        value = loaded.get(key)
        if isinstance(value, bool):
            value = "yes" if value else "no"
    return placeholder if value is None else f"blank: the spec file's {value}"


class SweepFormScreen(NoMountAtExit, ModalScreen[str | None]):
    """The fields of ``petseg sweep``; ctrl+s (or Start) checks them and starts the sweep."""

    # as the new-run form: q types nothing here (a dialog: the app's q does not reach it), ctrl+q
    # quits, asking first when a field was edited (it quit at once, the typed fields lost)
    IS_FORM = True
    FORM_NAME = "new sweep"
    # as the new-run form's: Start then Cancel, each naming its key, ctrl+s a priority key (it starts
    # whichever field has the focus); this form had "Cancel | Start" and no key on either. ctrl+q
    # shown, as there: q types here, so the footer says how to quit instead
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True, tooltip="Check the fields and start the sweep"),
        Binding("escape", "cancel", "Cancel", tooltip="Back to the sweeps (asks first if you changed anything)"),
        Binding("ctrl+q", "app.quit_anywhere", "Quit", priority=True,
                tooltip="Quit the app (asks first if the form has edits or a run trains in this process)"),
        *FORM_FOCUS_BINDINGS,  # Tab 7 typed fast: 7 in the next field
    ]
    DEFAULT_CSS = """
    SweepFormScreen { align: center middle; }
    SweepFormScreen > #sweep-form-dialog { width: 90%; max-width: 110; height: auto; max-height: 100%;
                                           border: round $accent; padding: 0 1; background: $surface; }
    /* the fields scroll in what the lines and buttons docked under them leave (Textual's 1fr there) */
    SweepFormScreen #sweep-form-fields { height: auto; max-height: 1fr; }
    SweepFormScreen #sweep-form-under { dock: bottom; height: auto; }
    SweepFormScreen .sweep-form--row { height: auto; }
    SweepFormScreen .sweep-form--row Label { width: 16; padding: 0 1; }
    SweepFormScreen .sweep-form--row Input { width: 1fr; }
    SweepFormScreen #sweep-form-hint { color: $text-muted; height: auto; padding: 0 1; }
    SweepFormScreen #sweep-form-warning { color: $text-warning; height: auto; padding: 0 1; display: none; }
    SweepFormScreen #sweep-form-error { color: $text-error; height: auto; padding: 0 1; display: none; }
    SweepFormScreen #sweep-spec-error { color: $text-error; height: auto; padding: 0 1 0 16; display: none; }
    SweepFormScreen #sweep-form-buttons { height: 1; padding: 0 0 0 16; }
    SweepFormScreen #sweep-form-buttons Button { margin: 0 2 0 0; }
    """

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.starting = False  # a start is being checked or watched: ctrl+s waits for it
        self._starting_name = ""  # the sweep it starts
        self.gpus: int | None = None  # this box's GPUs (NVML), counted once: the warning is read per key
        self._hints = dict(HINTS)  # the spec file's values in them once one is read

    def compose(self) -> ComposeResult:
        dialog = Vertical(id="sweep-form-dialog")
        # in the border, not a row of its own: at 80x24 the fields, the hint and the buttons fit
        dialog.border_title = "[b]New sweep[/b]  every trial is a run; ctrl+s starts it"
        with dialog:
            # the lines about the whole form and the buttons stay in sight under the fields, which
            # scroll: at 80x24 a spec file's error and petseg sweep's warning pushed Start and
            # Cancel below the terminal's last row (the buttons were the scrolled content's end)
            with VerticalScroll(id="sweep-form-fields"):
                for key, label, placeholder, default in FIELDS:
                    with Horizontal(classes="sweep-form--row"):
                        yield Label(label)
                        yield InOrderInput(value=default, placeholder=placeholder, id=f"sweep-{key}", compact=True)
                    if key == "spec":  # what is wrong with the file, beside its field, as petseg sweep says it
                        yield Static("", id="sweep-spec-error", markup=False)
            with Vertical(id="sweep-form-under"):
                yield Static("", id="sweep-form-hint")
                yield Static("", id="sweep-form-warning")  # petseg sweep's warning, as the fields are typed
                yield Static("", id="sweep-form-error", markup=False)  # shown only with a line to say
                with Horizontal(id="sweep-form-buttons"):
                    yield Button("Start  ctrl+s", variant="success", id="sweep-start", compact=True)
                    yield Button("Cancel  esc", id="sweep-cancel", compact=True)
        # the dialog's own footer, docked over the sweeps screen's: that one offered the sweeps'
        # keys (n, c, P), which type into the form here, and never ctrl+s or ctrl+q
        yield PetsegFooter()

    def on_mount(self) -> None:
        from engine.sweep.slots import visible_gpu_count

        self.gpus = visible_gpu_count()
        self.query_one("#sweep-name", Input).focus()
        # as the field takes each key, not on its Changed message: that reaches this screen after
        # a ctrl+s typed in the same burst has read the form (the start still in its fields)
        self.watch(self.query_one("#sweep-spec", Input), "value", self._spec_typed, init=False)
        self._show_warning()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_warning()

    def _spec_typed(self, value: str) -> None:
        self._show_spec_error("")  # said again on leaving the field or on Start
        if value.strip():
            self._clear_starters()

    def on_input_blurred(self, event: Input.Blurred) -> None:
        # the file read as the field is left: a wrong path is said then, not only on Start
        if event.input.id == "sweep-spec" and self.is_attached and not self.starting:
            from engine.sweep.spec import SweepSpecError
            from engine.sweep.spec_file import load_toml

            path = self.spec_path()
            loaded = None
            try:
                if path is not None:
                    loaded = load_toml(path)
            except SweepSpecError as exc:
                self._show_spec_error(str(exc))
            self._show_file_values(loaded)

    def _show_file_values(self, loaded: dict | None) -> None:
        """Each field's placeholder and hint say the spec file's value where it has one (`file_placeholder`)."""
        for key, label, placeholder, _default in FIELDS:
            if key == "spec":
                continue
            shown = file_placeholder(key, placeholder, loaded)
            self.query_one(f"#sweep-{key}", Input).placeholder = shown
            self._hints[f"sweep-{key}"] = f"{label}: {shown}"

    def _clear_starters(self) -> None:
        """Empty the Search and Train fields while they hold the form's start: with a spec file
        named they would search learning_rate and train 10 epochs over the file's own."""
        for key, start in STARTERS.items():
            field = self.query_one(f"#sweep-{key}", Input)
            if field.value == start:
                field.value = ""

    def _show_error(self, line: str) -> None:
        shown = self.query_one("#sweep-form-error", Static)
        shown.update(Text(line))
        shown.display = bool(line)

    def _show_spec_error(self, line: str) -> None:
        shown = self.query_one("#sweep-spec-error", Static)
        shown.update(Text(line))
        shown.display = bool(line)  # no blank row without one: no row taken from the fields

    def _show_warning(self) -> None:
        """petseg sweep's warning for the values typed so far (more trials at once than cores),
        from its one owner (`engine.sweep.slots.draft_slots_warning`), under the fields: it came
        only as a toast once the sweep had started, the form gone. A word, not a refusal: Start
        still starts."""
        from engine.sweep.slots import draft_slots_warning
        from engine.sweep.spec import SweepSpecError

        try:
            warning = draft_slots_warning(self.settings(), gpus=self.gpus)
        except SweepSpecError:  # a field that does not read yet: Start says what is wrong with it
            warning = ""
        shown = self.query_one("#sweep-form-warning", Static)
        shown.update(Text(f"⚠ {warning}"))
        shown.display = bool(warning)  # no blank row without one: no row taken from the fields

    def on_resize(self, event: events.Resize) -> None:
        # compact below 120 columns, as the new-run form's footer; Textual's Screen._on_resize,
        # which sets the width class, runs after this handler
        self.call_next(self._fit_footer)

    def _fit_footer(self) -> None:
        self.query_one(PetsegFooter).narrow = footer_is_narrow(width_class_of(self))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # the focused field's hint, whole: a hint is the Input's placeholder, which shows only
        # while the field is empty ("Never prune 1", "GPUs a trial 1" said no more) and was
        # cut at 80 columns ("an Optuna storage URL (blank: ")
        if not self.is_attached:  # the app ended as the form opened: its widgets are being removed,
            return  # the first field's focus came after the hint was gone (a NoMatches traceback)
        widget = event.widget
        hint = ""
        if isinstance(widget, Input) and widget.id in self._hints:
            hint = self._hints[widget.id]
        self.query_one("#sweep-form-hint", Static).update(Text(hint))

    @property
    def has_edits(self) -> bool:
        """True when a field differs from its default and the sweep is not starting (its
        settings are handed over then: Esc asked to discard them while the sweep started anyway)."""
        return self.is_mounted and not self.starting and any(self.query_one(f"#sweep-{key}", Input).value != default
                                       for key, _label, _placeholder, default in FIELDS)

    @property
    def petseg_app(self) -> "PetsegApp":
        return cast("PetsegApp", self.app)

    @property
    def start_in_flight(self) -> str:
        """"sweep NAME" while it is being started (`Form.start_in_flight`): a quit waits for it."""
        return f"sweep {self._starting_name}" if self.starting else ""

    def value(self, key: str) -> str:
        return self.query_one(f"#sweep-{key}", Input).value.strip()

    def spec_path(self) -> Path | None:
        """The Spec file field as the path petseg sweep --spec gets (``~`` as a shell expands it)."""
        text = self.value("spec")
        return Path(text).expanduser() if text else None

    def settings(self) -> dict:
        """The form as the settings `engine.sweep.spec_build.build_spec` takes (raises
        SweepSpecError): the spec file's with the fields typed over them, by the CLI's own rule
        (`engine.sweep.spec_file.typed_over_file`); a blank field is a flag not typed."""
        from engine.field_spec import parse_number
        from engine.sweep.launch import parse_train_flags
        from engine.sweep.spec import SweepSpecError
        from engine.sweep.spec_file import INT_KEYS, SPEC_KEYS, typed_over_file

        typed: dict = {key: self.value(key) or None  # as text; eval_best's yes/no as --eval_best reads it
                       for key in SPEC_KEYS if key not in INT_KEYS}
        for key in INT_KEYS:
            text = self.value(key)
            if text:
                try:
                    typed[key] = int(parse_number(text, "int"))
                except ValueError as exc:  # as `petseg sweep --{key} x` says it
                    raise SweepSpecError(f"--{key} {text}: {exc}") from None
        base = parse_train_flags(self.value("train"))
        return typed_over_file(self.spec_path(), typed, self.value("params").split(), base)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sweep-start":
            self.action_start()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter goes on to the next field, as in the new-run form: only ctrl+s (or Start) starts,
        # as the form says. Enter after the name used to start a sweep of the other fields'
        # defaults at once (10 trials of 10 epochs at 256 px) and close the form.
        event.stop()
        self.focus_next()

    def action_cancel(self) -> None:
        # as the new-run form: with a field edited, asks first (it closed at once, the fields lost)
        leave_form(self, lambda: self.dismiss(None))

    def action_start(self) -> None:
        after_typed_keys(self, self._start_as_shown)

    def _start_as_shown(self) -> None:
        """Check and start what the form shows, every key typed before ctrl+s taken."""
        from engine.sweep.launch import checked_spec

        if self.starting or not self.is_attached:
            return
        from engine.sweep.spec_file import about_spec_file

        try:
            spec = checked_spec(self.settings())
        except PetsegError as exc:
            line = one_line(exc)
            about_file = about_spec_file(line, self.spec_path())  # beside its field; the others under the form
            self._show_spec_error(line if about_file else "")
            self._show_error("" if about_file else line)
            return
        self._show_spec_error("")
        self.starting, self._starting_name = True, spec.name
        self._show_error(f"starting sweep {spec.name} …")
        self._start(spec)

    @work(thread=True, exclusive=True, group="sweep-start", exit_on_error=False)
    def _start(self, spec: "SweepSpec") -> None:
        """Check the spec against the sweep's study, start ``petseg sweep`` and watch it until
        it has claimed the sweep (its study opened) or ended: an early failure is its error line,
        never "started" (in a thread: the check reads the study with Optuna)."""
        from engine.sweep.launch import start_watched
        from engine.sweep.slots import cpu_slots_warning
        from engine.sweep.study import rerun_refusal

        why = rerun_refusal(spec, self.runs_dir)
        if why is not None:
            self.app.call_from_thread(self._failed, spec.name, why)
            return
        # petseg sweep's own warning (more trials at once than cores), from its one owner: the
        # form started 99 at once on 2 cores without a word; here (a thread) as it may ask NVML
        slow = cpu_slots_warning(spec)
        try:
            pid, ended = start_watched(spec, self.runs_dir, WATCH_S)
        except PetsegError as exc:
            self.app.call_from_thread(self._failed, spec.name, one_line(exc))
            return
        self.app.call_from_thread(self._started, spec.name, pid, ended, slow)

    def _failed(self, name: str, line: str) -> None:
        self.starting = False
        self.app.notify(line, title=f"Sweep {name} did not start", severity="error", timeout=10, markup=False)
        if self.is_mounted:
            self._show_error(line)
        self.petseg_app.start_settled(f"sweep {name} did not start: {line}")

    def _started(self, name: str, pid: int, ended: bool, slow: str = "") -> None:
        self.starting = False
        if slow:  # a toast: the form closes on start, and the sweep runs anyway (a word, not a refusal)
            self.app.notify(slow, title=f"Sweep {name}: trials time-slice the CPU", severity="warning",
                            timeout=15, markup=False)
        from engine.runs.layout import sweep_log

        # the log in this app's runs folder (--runs): "runs/.sweeps/NAME.log" named a file that
        # is not there whenever the runs folder is another one
        log = sweep_log(self.runs_dir, name)
        if ended:
            said = f"sweep {name} (pid {pid}) ended at once with nothing to do; its output: {log}"
        else:
            said = f"sweep {name} started (pid {pid}); its output: {log}"
        self.app.notify(said, markup=False)
        app = self.petseg_app
        if self.is_current:
            self.dismiss(name)
        app.start_settled(said)  # after the dismiss: a quit that waited for it finds no form
