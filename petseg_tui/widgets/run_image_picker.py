"""`RunImagePicker`: the left column of the inference screen: the trained runs to choose from (when
the screen was not opened on one), the image tree and the path box.

It only lays them out and fills the run list; what a choice does is the screen's (it handles the
list's, the tree's and the box's messages, which bubble up through this column), and so is the
listing itself (`list_runs_with_checkpoints`, in the screen's thread worker: it reads each run's
checkpoint folder and config, some 250 ms for 500 runs on a cold disk).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from engine.errors import CheckpointError
from engine.runs import checkpoint_for
from petseg_tui.widgets.image_picker import ImageTree
from petseg_tui.widgets.path_input import PathInput


def list_runs_with_checkpoints(runs_dir: Path) -> list[tuple[Path, str]]:
    """Runs under ``runs_dir`` that have best.pt or last.pt, with a short description."""
    from engine.errors import PetsegError
    from engine.runs import RunStore, read_run_config

    out = []
    for run in RunStore(runs_dir).run_dirs():
        try:
            _, note = checkpoint_for(run)
        except CheckpointError:
            continue
        model = ""
        try:  # read_run_config: the folder is untrusted (no FIFO, no symlink out, bounded size)
            model = str(read_run_config(run).get("model", ""))
        except PetsegError:
            pass
        desc = model + (" · last.pt" if note else "")
        out.append((run, desc))
    return out


def default_start_dir() -> Path:
    """The bundled sample photos if present, else the working directory."""
    from engine.data.samples import sample_image_paths

    paths = sample_image_paths()
    return paths[0].parent if paths else Path.cwd()


class RunImagePicker(Vertical):
    """Run list (``#inf-runs``, only with ``choose_run``), image tree (``#inf-tree``), path box (``#inf-path``)."""

    def __init__(self, start_dir: Path, choose_run: bool, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.start_dir = start_dir
        self.choose_run = choose_run

    def compose(self) -> ComposeResult:
        if self.choose_run:
            yield Label("Run", classes="inf-heading")
            yield OptionList(id="inf-runs")
        yield Label("Image", classes="inf-heading")
        yield ImageTree(self.start_dir, id="inf-tree")
        yield PathInput(placeholder="or type an image path ⏎", id="inf-path")

    def show_listing(self) -> str:
        """While the runs are listed: the list says so; return what the model line says meanwhile."""
        options = self.query_one("#inf-runs", OptionList)
        options.clear_options()
        options.add_option(Option(Text("listing runs …", style="italic"), disabled=True))
        return "Listing the runs with a checkpoint …"

    def show_runs(self, runs_dir: Path, runs: list[tuple[Path, str]]) -> str:
        """Show ``runs`` (`list_runs_with_checkpoints` of ``runs_dir``); return what to say while none is chosen."""
        options = self.query_one("#inf-runs", OptionList)
        options.clear_options()
        if not runs:
            options.add_option(Option(Text(f"no trained runs in {runs_dir}/"), disabled=True))
            return f"No run with a checkpoint in {runs_dir}/ — train one first."
        for path, desc in runs:
            # Text: a folder copied by hand may be named "run [copy]", which markup would cut
            options.add_option(Option(Text.assemble(path.name, "  ", (desc, "dim")), id=str(path)))
        return "Pick a run (↑↓ Enter), then an image."

    def focus_first(self) -> None:
        """Focus the first step: the run list when there is a run to choose, else the image tree."""
        run_list = next(iter(self.query("#inf-runs").results(OptionList)), None)
        if run_list is not None and run_list.option_count and not run_list.get_option_at_index(0).disabled:
            run_list.highlighted = 0
            run_list.focus()
        else:
            self.query_one("#inf-tree").focus()
