"""`PetsegApp`: the Textual dashboard for petseg runs.

The app only reads the run store (files) and subscribes to nothing that holds tensors. Starting,
resuming, reaping and stopping runs is `petseg_tui.launcher.RunLauncher`'s; the app calls it from thread
workers (it imports torch and ``engine.train.launch`` lazily), so the first frame never waits for them, and
shows what comes back. SIGHUP and SIGTERM end it as "Stop and quit" would (`petseg_tui.hangup`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import work
from textual.app import App, SystemCommand
from textual.screen import ModalScreen, Screen
from textual.worker import get_current_worker

from engine.config import default_runs_dir
from engine.runs.layout import LOG_FILE
from engine.words import counted
from petseg_tui.commands import PetsegCommands
from petseg_tui.format import MAX_COMPARE, ended_phrase
from petseg_tui.hangup import HangupExit
from petseg_tui.image_modes import IMAGE_MODES
from petseg_tui.keys import APP_BINDINGS
from petseg_tui.launcher import RunLauncher, TrainerLike
from petseg_tui.messages import StartRun
from petseg_tui.screens.base import WIDTH_BREAKPOINTS, Form
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.screens.runs import RunsScreen
from petseg_tui.unwaited import leave_workers_at_exit
from petseg_tui.widgets.in_order_input import after_typed_keys

if TYPE_CHECKING:  # pragma: no cover
    from engine.config import TrainConfig


class PetsegApp(HangupExit, App[None]):
    """Train, compare and use pet-vs-background segmentation models."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "petseg"
    COMMANDS = App.COMMANDS | {PetsegCommands}
    BINDINGS = APP_BINDINGS
    HORIZONTAL_BREAKPOINTS = WIDTH_BREAKPOINTS  # each screen gets one width class: -narrow … -widest

    def __init__(self, runs_dir: str | Path | None = None, image_mode: str = "auto", theme: str | None = None) -> None:
        super().__init__()
        if theme is not None:  # one of Textual's themes (`petseg-tui --theme`); None: Textual's default
            self.theme = theme
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        if image_mode not in IMAGE_MODES:
            raise ValueError(f"image mode must be one of {', '.join(IMAGE_MODES)}")
        self.image_mode: str = image_mode
        self.launcher = RunLauncher(self.runs_dir)
        self._quitting = False
        self._quit_waits = False  # a quit waits for a form's start (`Form.start_in_flight`)
        self._exit_notes: list[str] = []  # what that start came to: said as the app exits
        self._started_unshown: list[tuple[Path, int | None]] = []  # runs started while a question was up
        self.sub_title = str(self.runs_dir)

    def get_default_screen(self) -> Screen:
        return RunsScreen()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's palette commands but its Quit: listed beside petseg's own (ctrl+q, "asks first
        if …"), it read "Quit the application as soon as possible", as if it dropped a run
        training in this process, which every quit stops first, after asking."""
        return (command for command in super().get_system_commands(screen) if command.title != "Quit")

    def on_load(self) -> None:
        # before any screen starts a thread worker: quitting must not wait for one still at work
        leave_workers_at_exit(asyncio.get_running_loop())

    def on_mount(self) -> None:
        self.set_interval(2.0, self.launcher.reap)
        self.screen_change_signal.subscribe(self, self._show_started_unshown)
        self._catch_hangup()

    def on_unmount(self) -> None:
        self._release_hangup()

    @property
    def trainers(self) -> dict[Path, TrainerLike]:
        """Run path -> trainer, for the runs training in this process (the launcher's)."""
        return self.launcher.trainers

    @property
    def spawned(self) -> dict[Path, int]:
        """Run path -> pid, for the detached runs started here and not yet reaped (the launcher's)."""
        return self.launcher.spawned

    # ---- navigation ---------------------------------------------------------------------------
    @property
    def runs_screen(self) -> RunsScreen:
        return cast(RunsScreen, self.screen_stack[0])

    def go_home(self) -> None:
        if any(not screen.is_mounted for screen in self.screen_stack[1:]):
            self.call_after_refresh(self.go_home)  # one is still mounting: pop it once it is up
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def open_run(self, path: Path, pid: int | None = None, unwritten_reason: str = "") -> None:
        """The live screen of the run at ``path``; ``unwritten_reason``: why, if it never wrote its
        config.json and status.json (said instead of "broken: status.json missing")."""
        from petseg_tui.screens.live_run import LiveRunScreen

        self.push_screen(LiveRunScreen(Path(path), pid=pid, unwritten_reason=unwritten_reason))

    def open_compare(self, paths: list[Path]) -> None:
        from petseg_tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(paths))

    def compare_selected(self, chosen: list[tuple[str, Path]],
                         best_first: Callable[[], list[tuple[str, Path]]], noun: str) -> None:
        """Compare the ``chosen`` (name, run folder) pairs, in their order; more than the
        comparison holds (`MAX_COMPARE`): the first of ``best_first()`` (them, best valid Dice
        first), said in a line. The runs table's and the sweeps screen's c."""
        if len(chosen) > MAX_COMPARE:
            best = best_first()[:MAX_COMPARE]
            self.notify(f"{len(chosen)} {noun} selected: comparing the best {MAX_COMPARE} by Dice "
                        f"({', '.join(name for name, _ in best)})", timeout=6, markup=False)
            chosen = best
        self.open_compare([path for _, path in chosen])

    def open_worst(self, path: Path) -> None:
        """The worst-samples gallery of a run (its own module, imported on demand)."""
        from petseg_tui.screens.worst import WorstScreen

        self.push_screen(WorstScreen(Path(path)))

    def say_no_worst(self, path: Path, name: str, no_worst: str) -> None:
        """``w`` where no gallery is offered: why, its data having no test photos (``no_worst``) or
        the run no checkpoint yet (the engine's words); a checkpoint saved since opens the gallery."""
        from engine.runs.layout import why_no_checkpoint

        why = no_worst or why_no_checkpoint(path)
        if why:
            self.notify(f"{name}: {why}", title="No worst samples", severity="warning", markup=False)
        else:
            self.open_worst(path)

    def action_help(self) -> None:
        from petseg_tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
        else:
            self.push_screen(HelpScreen(self.screen))

    def action_new_run(self, copy_of: Path | None = None) -> None:
        """Open the new-run form, with the engine's defaults or a copy of ``copy_of``'s settings."""
        from petseg_tui.screens.new_run import NewRunScreen

        if isinstance(self.screen, NewRunScreen):
            return
        if copy_of is None:
            self.push_screen(NewRunScreen())
            return
        from engine.config import TrainConfig
        from engine.errors import PetsegError
        from engine.runs import read_run_config

        try:
            config = TrainConfig.from_dict(read_run_config(copy_of))
        except (PetsegError, TypeError) as exc:
            self.notify(f"Cannot copy its settings: {exc}", title=Path(copy_of).name, severity="error", markup=False)
            return
        self.push_screen(NewRunScreen(config, copied_from=Path(copy_of).name))

    def action_infer(self, run_path: Path | None = None) -> None:
        """Open the inference screen (another module, imported on demand)."""
        from petseg_tui.screens.inference import InferenceScreen

        self.push_screen(InferenceScreen(run_path, start_dir=None))

    # ---- starting runs ------------------------------------------------------------------------
    def on_start_run(self, message: StartRun) -> None:
        """The new-run form asks for its run: start it (the form stays until the run has started).
        Asked once the app quits (the quit's key came first), it is not started: it would begin
        after the quit, unasked about and unstopped."""
        if self._quitting:
            return
        # counted as starting from here, in the app's thread: a quit before the worker's thread
        # ran found nothing starting, and the run then trained on in a thread about to die (a
        # detached one: trained on, unnamed by the quit's message)
        expected = self.launcher.expect(message.config, message.run_name, message.detached)
        self.start_run(message.config, message.run_name, message.detached, expected)

    @work(thread=True, group="start", exit_on_error=False)
    def start_run(self, config: "TrainConfig", run_name: str | None, detached: bool,
                  expected: str | None = None) -> None:
        """Start a run (in a thread: the in-process trainer imports torch)."""
        from engine.errors import one_line

        try:
            path, pid = self.launcher.start(config, run_name, detached, expected)
            self.call_from_thread(self._started, path, pid, detached)
        except Exception as exc:  # shown, never a crash
            self.call_from_thread(self._start_failed, one_line(exc))

    def _start_failed(self, why: str) -> None:
        from petseg_tui.screens.new_run import NewRunScreen

        self.notify(why, title="Could not start the run", severity="error", markup=False)
        for screen in self.screen_stack:  # the form that asked: it may try again
            if isinstance(screen, NewRunScreen):
                screen.start_failed()

    def _started(self, path: Path, pid: int | None, detached: bool) -> None:
        if self._quitting:
            return  # the quit stops it (detached: leaves it training), the app is ending
        self.runs_screen.rescan()
        self._show_started(path, pid)
        if detached:
            self.notify(
                f"{path.name}: training in the background (pid {pid}); it keeps running if you quit "
                f"or the SSH session drops. Output: {path / LOG_FILE}",
                title="Detached run started",
                timeout=8, markup=False,
            )
        else:
            self.notify(f"{path.name}: training in this process", title="Run started", markup=False)

    def _show_started(self, path: Path, pid: int | None) -> None:
        """The started run's live screen in the form's place, once no question is up: asked
        meanwhile ("Quit?" while torch loaded), it was popped with the form, unanswered. The run
        waits for the screen to change (`_show_started_unshown`), not on a timer."""
        if self._quitting:
            return
        if isinstance(self.screen, ModalScreen):
            self._started_unshown.append((path, pid))
            return
        self.go_home()
        self.open_run(path, pid=pid)

    def _show_started_unshown(self, _screen: Screen) -> None:
        """The screen changed: the runs started while a question was up are shown once it is
        answered (another question straight after keeps them waiting)."""
        if self._started_unshown and not isinstance(self.screen, ModalScreen):
            waiting, self._started_unshown = self._started_unshown, []
            for path, pid in waiting:
                self._show_started(path, pid)

    # ---- resuming runs ------------------------------------------------------------------------
    def confirm_resume(self, path: Path, action: str, state: str, message: str = "", note: str = "",
                       config: dict | None = None) -> None:
        """Ask, then resume (action "resume") or start again ("restart") a run, detached; the
        store's resume plan chose the action. ``note``: the offer's (`ResumeOffer.note`), said in
        the question: a last.pt that trails the epochs reached makes the resume train them again.
        ``config``: the run's config.json; a sweep's trial resumes with its sweep
        (`petseg_tui.sweep_resume`): alone, it trained outside the sweep and Optuna never heard of it."""
        name = Path(path).name
        from engine.sweep.record import sweep_of

        trial = sweep_of(config or {})
        if trial is not None and action in ("resume", "restart"):
            from petseg_tui.sweep_resume import resume_sweep

            resume_sweep(self, trial.name, trial=(name, trial.trial))
            return
        if action == "resume":
            question, yes = (f"Resume {name} ({state})?\n\nIt continues from its last.pt in a detached process; "
                             "output is appended to its train.log."), "Resume"
            if note:
                question += f"\n\nNote: {note}."
        elif action == "restart":
            ended = ended_phrase(state)
            question = (f"Start {name} again?\n\nIt {ended} before its first epoch ended, so there is no last.pt: "
                        "it trains again from epoch 1 with the same settings, in a detached process.")
            if message:
                question += f"\n\nIt {ended} with: {message}"
            yes = "Start again"
        else:
            return

        def answer(ok: bool | None) -> None:
            if ok and not self._quitting:
                # counted as starting from here, in the app's thread: a quit before its process
                # existed did not name the run it then left resuming
                self._resume(Path(path), self.launcher.expect_resume(Path(path)))

        self.push_screen(ConfirmScreen(question, yes=yes, no="Cancel"), answer)

    @work(thread=True, group="resume", exit_on_error=False)
    def _resume(self, path: Path, expected: str | None = None) -> None:
        """Spawn the resume in a thread (engine.train.launch imports the config module, not torch)
        and wait there until its process holds the run: another dashboard may have resumed it
        in the same seconds, and then this one says so instead of "resumed"."""
        from engine.errors import PetsegError

        worker = get_current_worker()
        self.call_from_thread(self.notify, f"{path.name}: starting a petseg process to resume it…",
                              title="Resuming", timeout=3, markup=False)
        try:
            # the app quitting cancels this worker: stop waiting (its exit waits for this thread)
            pid = self.launcher.resume(path, cancelled=lambda: worker.is_cancelled, expected=expected)
        except (PetsegError, OSError) as exc:
            if not worker.is_cancelled:
                self.call_from_thread(self.notify, str(exc), title="Could not resume", severity="error", markup=False)
            return
        if not worker.is_cancelled:
            self.call_from_thread(self._resumed, path, pid)

    def _resumed(self, path: Path, pid: int) -> None:
        self.notify(f"{path.name}: resumed in the background (pid {pid}). Output: {path / LOG_FILE}",
                    title="Run resumed", timeout=6, markup=False)
        self.runs_screen.rescan()
        from petseg_tui.screens.live_run import LiveRunScreen

        if isinstance(self.screen, LiveRunScreen) and self.screen.run_path == path:
            self.pop_screen()  # the live screen of the old process: open the new one instead
        self.open_run(path, pid=pid)

    def trainer_for(self, path: Path) -> TrainerLike | None:
        """The trainer of the run at ``path`` while it trains in this process, else None."""
        return self.launcher.trainer_for(path)

    def running_trainers(self) -> list[TrainerLike]:
        """The trainers still training in this process."""
        return self.launcher.running()

    # ---- quitting -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Letters are not app-wide hotkeys while a form is open, so `q` on a Select or a Switch
        # never quits with the form lost; ctrl+q still quits (asking first).
        if action == "quit" and self._form_open():
            return False
        return True

    def _form_open(self) -> bool:
        return self._open_form() is not None

    def _open_form(self) -> Form | None:
        """The form on screen, a dialog over it included ("Discard the settings of this new
        run?"): the footer beneath it offered "q Quit" as the dialog came up, taken for a screen
        that is no form. A form may be a dialog itself (the new-sweep form)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, Form) and screen.IS_FORM:
                return screen
            if not isinstance(screen, ModalScreen):
                return None
        return None

    async def action_quit(self) -> None:
        await self.action_quit_anywhere()

    async def action_quit_anywhere(self) -> None:
        if self._quitting:
            return
        form = self._open_form()
        if form is not None and form is self.screen:
            # ctrl+q is a priority key: it acts as it reaches the app, while the keys typed before
            # it still wait in the focused field's queue. It read the form before them: a last
            # letter and ctrl+q in one read quit unasked, the letter lost; ctrl+s and ctrl+q quit
            # before the run ctrl+s asked for had started, dropped unsaid. So the quit comes after
            # them (`after_typed_keys`), then behind the form's StartRun, which reaches the app
            # through the form's queue.
            after_typed_keys(form, lambda: form.call_later(self.call_later, self._quit_from_form))
            return
        self._quit_from_form()

    def _quit_from_form(self) -> None:
        """The quit, asking first when a form on screen has edits."""
        if self._quitting:
            return
        form = self._open_form()
        if form is not None and form.has_edits:
            def discard(ok: bool | None) -> None:
                if ok:
                    self._quit_after_form()

            question = f"This {form.FORM_NAME}'s settings are not saved.\n\nDiscard them and quit?"
            self.push_screen(ConfirmScreen(question, yes="Discard and quit", no="Keep editing"), discard)
            return
        self._quit_after_form()

    def _quit_after_form(self) -> None:
        form = self._open_form()
        waiting = form.start_in_flight if form is not None else ""
        if waiting:  # started in a thread the exit would leave: dropped or running unsaid
            self._quit_waits = True
            self.notify(f"Quitting once {waiting} has started …", markup=False)
            return
        live = self.running_trainers()
        starting = self.launcher.starting()  # torch still importing: it would train on after the quit
        if not live and not starting:
            if self.launcher.spawning():  # a detached child being spawned: its run is named on exit
                self._quitting = True
                self._stop_and_exit()
            else:
                self._exit_now()
            return
        names = ", ".join([t.run_name for t in live] + [f"{name} (starting)" for name in starting])

        def answer(ok: bool | None) -> None:
            if ok:
                self._quitting = True
                self.notify("Stopping training and saving last.pt …", timeout=10)
                self._stop_and_exit()

        self.push_screen(
            ConfirmScreen(
                f"Training runs in this process: {names}.\n\n"
                "Quitting stops them: the current batch finishes and last.pt is saved; "
                "R on the runs screen resumes them later. Quit?",
                yes="Stop and quit",
                no="Keep training",
            ),
            answer,
        )

    def start_settled(self, said: str) -> None:
        """A form's start has ended (started or failed, ``said`` in a line): a quit that waited for
        it (`_quit_after_form`) goes on, and the app's last words say it."""
        if self._quit_waits and not self._quitting:
            self._quit_waits = False
            self._exit_notes.append(f"petseg-tui: {said}")
            self._quit_after_form()

    @work(thread=True, group="quit")
    def _stop_and_exit(self) -> None:
        self.launcher.stop_all(timeout=20)
        self.call_from_thread(self._exit_now)

    def _exit_now(self, code: int = 0) -> None:
        """End the app with ``code`` (0: quit; 128 + N: ended by signal N), naming the detached
        runs it leaves training."""
        self._quitting = True  # a run asked for from now on is not started (`on_start_run`)
        seen = self.runs_screen.detached_running() if self.screen_stack else []
        # with those started here that the table has not shown yet (quit before "Detached run started")
        shown = {p.name for p in seen}
        detached = seen + [p for p in self.launcher.detached() if p.name not in shown]
        lines = list(self._exit_notes)
        if detached:
            names = ", ".join(p.name for p in detached[:5]) + (" …" if len(detached) > 5 else "")
            lines.append(
                f"petseg-tui: left {counted(len(detached), 'detached run')} training: {names}. "
                f"Run petseg-tui again to follow them."
            )
            self.notify(lines[-1], timeout=3, markup=False)
        self.exit(return_code=code, message="\n".join(lines) if lines else None)

