"""Command palette (ctrl+p): every key binding active on the current screen (and the app, and
the petseg widgets' own, e.g. the runs table's First run; not Textual's scrolling keys), plus
"Open run: NAME" for each run and "Worst samples: NAME" for each run with a checkpoint. A binding's label is the title, its
tooltip the help line. Not Textual's own screen keys (Tab, shift+Tab, ctrl+c: focus and copy, no
action of a screen), which opened the short list above New run."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable, cast

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from petseg_tui.keys import describe, key_label

if TYPE_CHECKING:  # pragma: no cover
    from petseg_tui.app import PetsegApp

TEXTUAL_SCREEN_ACTIONS = frozenset(b.action for b in Screen.BINDINGS if isinstance(b, Binding))


class PetsegCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = cast("PetsegApp", self.app)
        out: list[tuple[str, str, Callable[[], Any]]] = []
        seen: set[str] = set()

        def add(title: str, help: str, cb: Callable[[], Any]) -> None:
            if title not in seen:
                seen.add(title)
                out.append((title, help, cb))

        # what the keys do here and now (check_action decides: no Stop on a finished run)
        for namespace, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not enabled or binding.system or not binding.description or binding.action == "command_palette":
                continue
            if binding.action in TEXTUAL_SCREEN_ACTIONS:
                continue
            if not isinstance(namespace, (Screen, App)) and not binding.tooltip:
                continue  # a focused widget's own navigation (Scroll Up, Page Left, Cursor down): not a command
            add(binding.description, f"{describe(binding)} · key: {key_label(binding)}",
                partial(namespace.run_action, binding.action))
        add("New run", "key: n (runs screen)", app.action_new_run)
        add("Help: keys of every screen", "key: ?", app.action_help)
        add("Runs: go to the runs table", "", app.go_home)
        add("Sweeps", "hyper-parameter sweeps, live · key: g (runs screen)", app.runs_screen.action_sweeps)
        add("Inference", "segment images with a run's best checkpoint", partial(app.action_infer, None))
        rows = app.runs_screen.run_rows()
        for row in sorted(rows, key=lambda r: r.name):
            add(f"Open run: {row.name}", f"{row.summary.model} · {row.state}", partial(app.open_run, row.path))
            if row.summary.has_checkpoint and not row.no_worst:  # offered only when it can act, as w is
                add(f"Worst samples: {row.name}", "its lowest-Dice test images · key: w (runs screen)",
                    partial(app.open_worst, row.path))
        if app.runs_screen.table.selected:  # offered only when it can act
            add("Compare selected runs", "key: c (runs screen; more than 7: the best 7 by Dice)",
                app.runs_screen.action_compare)
        return out

    async def discover(self) -> Hits:
        for title, help, cb in self._commands():
            if title.startswith(("Open run: ", "Worst samples: ")):
                continue  # listed when searching, not in the short default list
            yield DiscoveryHit(title, cb, help=help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help, cb in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, text=title, help=help)
