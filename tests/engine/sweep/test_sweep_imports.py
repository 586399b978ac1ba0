"""What the run store and the TUI import of the sweep package stays light: no torch, no Optuna
(the TUI's sweeps screen and form, `petseg runs`' RunSummary.sweep)."""

from __future__ import annotations

import subprocess
import sys


def test_light_sweep_modules_import_neither_torch_nor_optuna() -> None:
    code = ("import sys; import engine.sweep.record, engine.sweep.board, engine.sweep.where, engine.sweep.spec, engine.sweep.spec_file, engine.sweep.launch, "
            "engine.sweep.spec_build, engine.sweep.slots, engine.runs.summary, petseg_tui.screens.sweep, petseg_tui.screens.sweep_form; "
            "print(sorted(m for m in ('torch', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
