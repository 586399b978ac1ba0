"""`InOrderInput`: a text field whose editing keys act in the order they were typed.

Textual 8.2.8's Input inserts a typed character as soon as the key reaches it, but runs its own
bound keys (backspace, arrows, home/end, ctrl+w ...) only after the key has bubbled back up to the
App. Keys that arrive in one read from the terminal (typing over a slow SSH link, a paste without
bracketed paste, a key macro) are therefore applied out of order: ``y``, backspace, ``z`` leaves
``y``, and ``ab``, left, ``c`` gives ``abc`` with the cursor moved afterwards. Upstream:
Textualize/textual#6605 (fix proposed in #6631); this does what that fix does, for our fields.

`after_typed_keys`: the same order for a priority key that reads the fields (a form's ctrl+s, and
ctrl+q, which asks first when a field was edited).
"""

from __future__ import annotations

from typing import Callable

from textual import events
from textual.screen import Screen
from textual.widgets import Input


def after_typed_keys(screen: Screen, callback: Callable[[], object]) -> None:
    """Run ``callback`` once the focused widget has taken the keys typed before the one calling
    this. A priority binding runs as its key reaches the App, while the keys before it still wait
    in the field's queue: "2", then "0" and ctrl+s in one read (a slow SSH link) started a run of
    2 epochs from a form that showed 20."""
    focused = screen.focused
    if focused is None or not focused.call_later(callback):  # its queue: after the keys in it
        callback()


class InOrderInput(Input):
    """An Input that runs its own (non-priority) key bindings when the key reaches it, before the
    next key, instead of after the key has bubbled to the App. The App would run the same binding
    first anyway: the focused widget heads its binding chain, and priority bindings ran before the
    key was handed to the field."""

    async def _on_key(self, event: events.Key) -> None:
        # Textual calls each class's `_on_key` down the MRO until one prevents the default, so
        # Input's own handler (characters, the cursor's blink) runs after this one unless a
        # binding took the key
        if not event.is_printable:
            await self.run_own_binding(event)

    async def run_own_binding(self, event: events.Key) -> bool:
        """Run this field's binding for ``event``'s key, if it has one that acts now; then the key
        goes no further (the App must not run it a second time)."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return True
        return False
