"""What the runs screen's keys open for its highlighted or selected runs: the new-run form (a copy
of a run's settings too), a run's own screen, compare, inference, its worst images, the sweeps
screen, an ONNX export, a resume or a fresh start, each handed to the app, which owns screens and jobs.

A mixin of `RunsScreen` (its `table`), as `run_labels` is for the keys that change a run; which of
these keys are offered for the highlighted run is the screen's `check_action`.
"""

from __future__ import annotations

from engine.runs import ordered, sort_value
from petseg_tui.widgets.runs_table import RunsTable


class RunOpenActions:
    """`n`/`N`, Enter, `c`, `i`, `w`, `g`, `E` and `R`: the runs screen's keys that open something for its runs."""

    table: RunsTable  # the screen's

    def action_new_run(self) -> None:
        self.petseg_app.action_new_run()

    def action_new_run_like(self) -> None:
        row = self.table.highlighted
        if row is None:
            self.notify("No run highlighted", severity="warning")
            return
        self.petseg_app.action_new_run(copy_of=row.path)

    def action_open_run(self) -> None:
        row = self.table.highlighted
        if row is None:
            self.notify("No run highlighted", severity="warning")
            return
        self.petseg_app.open_run(row.path)

    def action_compare(self) -> None:
        t = self.table
        names = [n for n in t.selected if n in t.rows_by_name]
        if not names:
            self.notify("Select runs with space first (up to 7)", severity="warning")
            return
        rows = [t.rows_by_name[n] for n in names]
        self.petseg_app.compare_selected(
            [(r.name, r.path) for r in rows],
            lambda: [(r.name, r.path) for r in ordered(rows, lambda r: sort_value("dice", r.summary), descending=True)],
            "runs")

    def action_infer(self) -> None:
        row = self.table.highlighted
        self.petseg_app.action_infer(row.path if row is not None and row.summary.has_checkpoint else None)

    def action_worst(self) -> None:
        row = self.table.highlighted
        if row is None:
            self.notify("No run highlighted", severity="warning")
            return
        self.petseg_app.open_worst(row.path)

    def action_worst_refused(self) -> None:
        row = self.table.highlighted
        if row is not None:
            self.petseg_app.say_no_worst(row.path, row.name, row.no_worst)

    def action_sweeps(self) -> None:
        from petseg_tui.screens.sweep import SweepScreen

        row = self.table.highlighted
        self.app.push_screen(SweepScreen(row.summary.sweep or None if row is not None else None))

    def action_export(self) -> None:
        row = self.table.highlighted
        if row is None:
            self.notify("No run highlighted", severity="warning")
            return
        from petseg_tui.exporting import start_export

        start_export(self, row.path)

    def action_export_refused(self) -> None:
        row = self.table.highlighted
        if row is not None:
            from petseg_tui.exporting import say_no_checkpoint

            say_no_checkpoint(self, row.path)

    def action_resume_run(self) -> None:
        self._resume_highlighted()

    def action_restart_run(self) -> None:
        self._resume_highlighted()

    def _resume_highlighted(self) -> None:
        row = self.table.highlighted
        if row is not None:
            self.petseg_app.confirm_resume(row.path, row.resume.action, row.state, row.summary.message,
                                           note=row.resume.note, config=row.summary.config)

    def action_resume_refused(self) -> None:
        row = self.table.highlighted
        if row is None:
            self.notify("No run highlighted", severity="warning")
            return
        self.notify(row.resume.reason, title="Cannot resume", severity="warning", markup=False)
