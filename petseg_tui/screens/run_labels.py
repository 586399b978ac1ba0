"""Tags, note, archive and delete on the runs screen: what the dialogs' answers do to a run folder.

A mixin of `RunsScreen` (its `table`, status and detail lines); the dialogs themselves are in
`run_dialogs`, the rules (labels.json, what may be deleted) in `engine.runs`.
"""

from __future__ import annotations

from dataclasses import replace

from engine.errors import RunStoreError, one_line
from engine.runs import change_labels, delete_run, why_not_archive, why_not_delete
from engine.runs.delete import folder_words
from petseg_tui.screens.confirm import ConfirmScreen
from petseg_tui.screens.run_dialogs import LabelsDialog
from petseg_tui.watch import RunRow
from petseg_tui.widgets.runs_table import RunsTable


class RunLabelActions:
    """`T` tags and note, `A` archive, `h` show archived, `D` delete: the runs screen's keys that change a run."""

    table: RunsTable  # the screen's

    def _set_labels(self, row: RunRow, labels) -> bool:
        """Save what changed from the row's labels to ``labels`` (over what another dashboard may
        have saved meanwhile: only the fields changed here are written)."""
        try:
            labels = change_labels(row.path, row.labels, labels)
        except (OSError, RunStoreError) as exc:
            self.notify(one_line(exc), title="Labels not saved", severity="error", markup=False)
            return False
        current = self.table.rows_by_name.get(row.name, row)  # the row may have changed while a dialog was open
        self.table.apply_updates([replace(current, labels=labels)], [])
        self._update_status()
        self._update_detail()
        return True

    def action_edit_labels(self) -> None:
        row = self.table.highlighted
        if row is None:
            return

        def done(labels) -> None:
            if labels is not None and labels != row.labels:
                self._set_labels(row, labels)

        self.app.push_screen(LabelsDialog(row.name, row.labels), done)

    def action_toggle_archive(self) -> None:
        row = self.table.highlighted
        if row is None:
            return
        archived = not row.labels.archived
        if archived and (reason := why_not_archive(row.path)):  # as D: a run that trains stays in view
            self.notify(reason + " (x on its live screen stops it)", title="Not archived", severity="warning",
                        markup=False)
            return
        if self._set_labels(row, row.labels.with_(archived=archived)):
            if archived and not self.table.show_archived:
                self.notify(f"Archived {row.name}: hidden, still on disk (h shows archived runs, A on it unarchives)",
                            markup=False)
            else:
                self.notify(f"{'Archived' if archived else 'Unarchived'} {row.name}", timeout=2, markup=False)

    def action_toggle_show_archived(self) -> None:
        self.table.set_show_archived(not self.table.show_archived)
        self._update_status()
        self._update_detail()

    def action_delete_run(self) -> None:
        row = self.table.highlighted
        if row is None:
            return
        reason = why_not_delete(row.path)
        if reason:
            self.notify(reason + " (x on its live screen stops it)" if row.active else reason,
                        title="Not deleted", severity="warning", markup=False)
            return

        def answer(ok: bool | None) -> None:
            if not ok:
                return
            try:
                delete_run(row.path)
            except RunStoreError as exc:
                self.notify(one_line(exc), title="Not deleted", severity="error", markup=False)
                return
            self.table.apply_updates([], [row.name])
            self._update_status()
            self._update_detail()
            self.notify(f"Deleted {row.name}", timeout=3, markup=False)

        self.app.push_screen(ConfirmScreen(
            f"Delete run {row.name}?\nIts folder {folder_words(row.path)} goes, checkpoints included; this cannot be undone. "
            "(A archives it instead: hidden, kept on disk.)", yes="Delete", no="Keep"), answer)
