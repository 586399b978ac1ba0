"""`NoMountAtExit`: a screen or widget that skips its Mount once the app is ending.

The app ending (q, ctrl+q, SIGTERM/SIGHUP) in the moment a screen opens printed a NoMatches
traceback and exited with code 1: Textual closes the screen it is removing before its compose
mounted the screen's widgets (or before a widget's compose mounted its own), yet still sends it
Mount, and every ``on_mount`` that queries its children (the screens', Textual's own ``Select``'s)
found none. Textual's public ``is_attached`` is False from the moment the app exits, so a Mount
that arrives then is dropped whole: nothing it would set up is ever drawn. One mechanism, in
the bases of the screens and of the composite widgets, instead of a guard in each ``on_mount``.
"""

from __future__ import annotations

from textual import events
from textual.message_pump import MessagePump
from textual.widgets import Select


class NoMountAtExit(MessagePump):
    """Mixin (before the Textual class in the bases): Mount is not handled once the app is ending."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Mount) and not self.is_attached:
            return  # the app is ending: its children may never have mounted (see the module)
        await super().on_event(event)


class PetsegSelect(NoMountAtExit, Select):
    """Textual's ``Select``, whose own Mount (``_on_mount``) queries its overlay: composed by a
    screen the app ended as it opened, it raised NoMatches (`NoMountAtExit`)."""
