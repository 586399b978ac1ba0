"""The new-sweep form (n on the sweeps screen): the fields of ``petseg sweep``, checked by the
engine's own spec rules (`engine.sweep.launch.checked_spec`) so a bad field is one line here,
then the sweep started in the background like a detached run (`engine.sweep.launch.spawn_sweep`;
its output in runs/.sweeps/NAME.log). Dismisses with the sweep's name, or None when cancelled.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from engine.errors import PetsegError, one_line

# (id, label, placeholder, default): the CLI's flags, in its --help order
FIELDS = (
    ("name", "Name", "the sweep's name (its trials are NAME-t000, ...)", ""),
    ("params", "Search", "learning_rate=log:1e-4:3e-3 width=choice:32,64", "learning_rate=log:1e-4:3e-3"),
    ("trials", "Trials", "budget", "10"),
    ("sampler", "Sampler", "tpe, random or grid", "tpe"),
    ("sampler_seed", "Sampler seed", "blank: fresh draws; N: the same trials again", ""),
    ("prune", "Pruning", "median or none", "median"),
    ("prune_warmup", "Never prune", "the first N epochs of a trial", "1"),
    ("parallel", "At once (CPU)", "trials at once on a CPU", "1"),
    ("devices", "GPUs", "indices such as 0,1 (blank: the CPU)", ""),
    ("per_device", "Per GPU", "trials at once on each GPU", "1"),
    ("devices_per_trial", "GPUs a trial", "data-parallel processes per trial", "1"),
    ("storage", "Storage", "an Optuna storage URL (blank: runs/.sweeps/NAME.journal)", ""),
    ("train", "Train flags", "every trial's base: --epochs 20 --image_size 128", "--epochs 10"),
)


class SweepFormScreen(ModalScreen[str | None]):
    """The fields of ``petseg sweep``; ctrl+s (or Start) checks them and starts the sweep."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start"),
    ]
    DEFAULT_CSS = """
    SweepFormScreen { align: center middle; }
    SweepFormScreen > VerticalScroll { width: 90%; max-width: 110; height: auto; max-height: 90%;
                                       border: round $accent; padding: 0 1; background: $surface; }
    SweepFormScreen .sweep-form--row { height: auto; }
    SweepFormScreen .sweep-form--row Label { width: 16; padding: 0 1; }
    SweepFormScreen .sweep-form--row Input { width: 1fr; }
    SweepFormScreen #sweep-form-error { color: $text-error; height: auto; padding: 0 1; }
    SweepFormScreen #sweep-form-buttons { height: auto; align-horizontal: right; }
    """

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("[b]New sweep[/b]  every trial is a run; enter a value per field, ctrl+s starts it")
            for key, label, placeholder, default in FIELDS:
                with Horizontal(classes="sweep-form--row"):
                    yield Label(label)
                    yield Input(value=default, placeholder=placeholder, id=f"sweep-{key}", compact=True)
            yield Static("", id="sweep-form-error")
            with Horizontal(id="sweep-form-buttons"):
                yield Button("Cancel", id="sweep-cancel")
                yield Button("Start", variant="primary", id="sweep-start")

    def on_mount(self) -> None:
        self.query_one("#sweep-name", Input).focus()

    def value(self, key: str) -> str:
        return self.query_one(f"#sweep-{key}", Input).value.strip()

    def settings(self) -> dict:
        """The form as the settings `engine.sweep.spec.build_spec` takes (raises SweepSpecError)."""
        from engine.sweep.launch import parse_train_flags
        from engine.sweep.spec import SweepSpecError

        out: dict = {"name": self.value("name"), "params": self.value("params").split(),
                     "sampler": self.value("sampler") or None, "prune": self.value("prune") or None,
                     "devices": self.value("devices") or None, "storage": self.value("storage") or None,
                     "base": parse_train_flags(self.value("train"))}
        for key in ("trials", "sampler_seed", "parallel", "per_device", "prune_warmup", "devices_per_trial"):
            text = self.value(key)
            if text:
                try:
                    out[key] = int(text)
                except ValueError:
                    raise SweepSpecError(f"--{key} {text}: must be an integer") from None
        if out["devices"] is None and out.get("per_device") == 1:
            out.pop("per_device")
        if out["devices"] is not None and out.get("parallel") == 1:
            out.pop("parallel")
        return out

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sweep-start":
            self.action_start()
        else:
            self.action_cancel()

    def on_input_submitted(self) -> None:
        self.action_start()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_start(self) -> None:
        from engine.sweep.launch import checked_spec, spawn_sweep

        error = self.query_one("#sweep-form-error", Static)
        try:
            spec = checked_spec(self.settings())
            pid = spawn_sweep(spec, self.runs_dir)
        except PetsegError as exc:
            error.update(one_line(exc))
            return
        except OSError as exc:
            error.update(f"cannot start the sweep: {one_line(exc)}")
            return
        self.app.notify(f"sweep {spec.name} started (pid {pid}); its output: runs/.sweeps/{spec.name}.log")
        self.dismiss(spec.name)
