"""Command palette (ctrl+p): every key binding of the current screen and the app, plus
"Open run: NAME" and "Worst samples: NAME" for each run."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider


class PetsegCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        from petseg_tui.screens.help import DESCRIPTIONS, _key_label

        app: Any = self.app
        screen: Any = self.screen
        out: list[tuple[str, str, Callable[[], Any]]] = []
        seen: set[str] = set()

        def add(title: str, help: str, cb: Callable[[], Any]) -> None:
            if title not in seen:
                seen.add(title)
                out.append((title, help, cb))

        for node, bindings in ((screen, getattr(type(screen), "BINDINGS", [])), (app, type(app).BINDINGS)):
            for b in bindings:
                if not getattr(b, "description", ""):
                    continue
                title = DESCRIPTIONS.get(b.action, b.description)
                add(title, f"key: {_key_label(b)}", partial(node.run_action, b.action))
        add("New run", "key: n (runs screen)", app.action_new_run)
        add("Help: keys of every screen", "key: ?", app.action_help)
        add("Runs: go to the runs table", "", app.go_home)
        add("Inference", "segment images with a run's best checkpoint", partial(app.action_infer, None))
        rows = []
        try:
            rows = app.runs_screen.run_rows()
        except Exception:
            pass
        for row in sorted(rows, key=lambda r: r.name):
            add(f"Open run: {row.name}", f"{row.summary.model} · {row.state}", partial(app.open_run, row.path))
            add(f"Worst samples: {row.name}", "its lowest-Dice test images · key: w (runs screen)",
                partial(app.open_worst, row.path))
        if rows:
            add("Compare selected runs", "key: c (runs screen)", app.runs_screen.action_compare)
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
