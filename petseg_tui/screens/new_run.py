"""New run: a form over `TrainConfig` with live validation, started detached or in-process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static, Switch

from engine.config import DATA_PATH_ENV, DEVICES, GENERATED_DATA, MODELS, SCHEDULERS, TrainConfig
from engine.errors import RunStoreError
from engine.store import validate_run_name


@dataclass(frozen=True)
class Field:
    name: str  # TrainConfig field, or a form-only field (run_name, detached)
    label: str
    kind: str  # int | float | str | optstr | optint | select | switch
    choices: tuple[str, ...] = ()
    placeholder: str = ""
    hint: str = ""


FIELDS: tuple[Field, ...] = (
    Field("model", "Model", "select", MODELS, hint="resnet34_unet ignores the width"),
    Field("epochs", "Epochs", "int"),
    Field("batch_size", "Batch size", "int"),
    Field("learning_rate", "Learning rate", "float"),
    Field("image_size", "Image size", "int", hint="pixels, multiple of 32"),
    Field("width", "UNet width", "int", hint="base channels of the UNet"),
    Field("scheduler", "LR scheduler", "select", SCHEDULERS),
    Field("data_path", "Data path", "optstr", placeholder="bundled real sample",
          hint=f"{GENERATED_DATA}: synthetic; blank: ${DATA_PATH_ENV} if set"),
    Field("download", "Download data", "switch", hint="fetch Oxford-IIIT Pet if missing"),
    Field("device", "Device", "select", DEVICES),
    Field("max_train_images", "Max train images", "optint", placeholder="all"),
    Field("workers", "Loader workers", "int"),
    Field("run_name", "Run name", "optstr", placeholder="auto: <model>-<date>-<time>"),
    Field("detached", "Detached", "switch", hint="keeps training if you quit or SSH drops"),
)
FIELD_NAMES = {f.name for f in FIELDS}


def initial_values(config: TrainConfig | None = None) -> dict[str, Any]:
    c = config or TrainConfig()
    values = {f.name: getattr(c, f.name, None) for f in FIELDS}
    values["run_name"] = ""
    values["detached"] = True
    return values


def parse_form(raw: dict[str, Any], runs_dir=None) -> tuple[TrainConfig, str | None, bool, dict[str, str]]:
    """Form values (strings from Inputs, values from Selects/Switches) -> config, name, detached, errors."""
    errors: dict[str, str] = {}
    cfg = TrainConfig()
    for f in FIELDS:
        if f.name in ("run_name", "detached"):
            continue
        v = raw.get(f.name)
        if f.kind in ("int", "optint", "float"):
            text = str(v if v is not None else "").strip()
            if not text and f.kind == "optint":
                setattr(cfg, f.name, None)
                continue
            if not text:
                errors[f.name] = "required"
                continue
            try:
                num: Any = int(text) if f.kind in ("int", "optint") else float(text)
            except ValueError:
                if f.kind == "float":
                    errors[f.name] = "not a number"
                else:
                    try:
                        float(text)
                        errors[f.name] = "must be a whole number"
                    except ValueError:
                        errors[f.name] = "not a number"
                continue
            if f.kind == "optint" and num < 1:
                errors[f.name] = "must be at least 1 (blank: all)"
                continue
            setattr(cfg, f.name, num)
        elif f.kind == "optstr":
            text = str(v or "").strip()
            setattr(cfg, f.name, text or None)
        elif f.kind == "switch":
            setattr(cfg, f.name, bool(v))
        else:
            if v is None or v == Select.BLANK:
                errors[f.name] = "required"
                continue
            setattr(cfg, f.name, v)
    for name, msg in cfg.field_errors().items():
        if name in FIELD_NAMES:
            errors.setdefault(name, msg)
        else:
            errors.setdefault("_other", f"{name}: {msg}")
    run_name = str(raw.get("run_name") or "").strip() or None
    if run_name:
        try:
            validate_run_name(run_name)
        except RunStoreError as exc:
            errors["run_name"] = exc.reason
        else:
            if runs_dir is not None and (runs_dir / run_name).exists():
                errors["run_name"] = "a run with this name already exists"
    return cfg, run_name, bool(raw.get("detached", True)), errors


class NewRunScreen(Screen):
    """Hyperparameters of a new run; errors show beside each field as you type."""

    HELP = "Defaults come from TrainConfig; errors show beside each field as you type."
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, config: TrainConfig | None = None) -> None:
        super().__init__()
        self.values = initial_values(config)
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="new-run-form"):
            yield Static("New training run", id="new-run-title")
            for f in FIELDS:
                with Horizontal(classes="field-row", id=f"row-{f.name}"):
                    yield Label(f.label, classes="field-label")
                    yield self._widget(f)
                    yield Static(f.hint, classes="field-error hint", id=f"err-{f.name}")
            yield Static(id="form-other-error", classes="field-error")
            with Horizontal(id="new-run-buttons"):
                yield Button("Start (ctrl+s)", variant="success", id="start")
                yield Button("Cancel (esc)", id="cancel")
        yield Footer()

    def _widget(self, f: Field) -> Widget:
        v = self.values.get(f.name)
        wid = f"f-{f.name}"
        if f.kind == "select":
            return Select([(c, c) for c in f.choices], value=v, allow_blank=False, compact=True, id=wid, classes="field-input")
        if f.kind == "switch":
            return Switch(value=bool(v), id=wid, classes="field-input")
        text = "" if v is None else (repr(v) if isinstance(v, float) else str(v))
        return Input(value=text, placeholder=f.placeholder, compact=True, id=wid, classes="field-input")

    def on_mount(self) -> None:
        self.sub_title = f"new run in {self.app.runs_dir}"  # type: ignore[attr-defined]
        self.query_one("#f-model").focus()
        self.validate_form()

    # ---- validation -----------------------------------------------------------------------------
    def raw_values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in FIELDS:
            w = self.query_one(f"#f-{f.name}")
            out[f.name] = w.value  # type: ignore[attr-defined]
        return out

    def validate_form(self) -> tuple[TrainConfig, str | None, bool, dict[str, str]]:
        cfg, name, detached, errors = parse_form(self.raw_values(), self.app.runs_dir)  # type: ignore[attr-defined]
        self.errors = errors
        for f in FIELDS:
            label = self.query_one(f"#err-{f.name}", Static)
            msg = errors.get(f.name)
            hint = f.hint
            if f.kind == "switch":
                hint = ("yes — " if self.query_one(f"#f-{f.name}", Switch).value else "no — ") + hint
            label.update(("✗ " + msg) if msg else hint)
            label.set_class(bool(msg), "-invalid")
            label.set_class(not msg, "hint")
            self.query_one(f"#f-{f.name}").set_class(bool(msg), "-invalid-field")
        self.query_one("#form-other-error", Static).update(errors.get("_other", ""))
        self.query_one("#start", Button).disabled = bool(errors)
        return cfg, name, detached, errors

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def _changed(self, event) -> None:
        if self.is_mounted:
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

    def action_start(self) -> None:
        cfg, name, detached, errors = self.validate_form()
        if errors:
            first = next(f.name for f in FIELDS if f.name in errors) if any(f.name in errors for f in FIELDS) else None
            self.notify("Fix the fields marked ✗ first", severity="error")
            if first:
                self.query_one(f"#f-{first}").focus()
            return
        self.query_one("#start", Button).disabled = True
        self.notify(
            ("Starting a detached run …" if detached else "Starting the run in this process (loading torch) …"),
            timeout=3,
        )
        self.app.start_run(cfg, name, detached)  # type: ignore[attr-defined]

    def action_cancel(self) -> None:
        self.app.pop_screen()
