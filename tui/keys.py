"""Keys that are never dropped, even when they come faster than the screen redraws (a busy CPU).

Textual hands a key to the widget focused when the App takes it off its queue. A binding that is not
``priority`` runs only once that key has travelled up from the widget to the App, so keys pressed right
after it have already gone to the old focus: a focus change made by such a binding (open a note field,
move to the next form field) arrives too late for them, and they are typed in the wrong place or lost.

Two rules keep every key:

- a binding that moves the focus, or that reads what was typed, is ``priority=True``: it runs on the App's
  own turn, before the next key is handed out, and it moves the focus with ``Screen.set_focus`` (at once;
  ``Widget.focus()`` waits for a later turn);
- before such a binding reads a text field, :func:`caught_up` waits until that field has handled every key
  already handed to it.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def caught_up(*nodes: Any, timeout: float = 2.0) -> None:
    """Return once each node has handled every message (keys) queued for it before this call."""
    waits = []
    for node in nodes:
        if node is None or not getattr(node, "is_running", False):
            continue
        done = asyncio.Event()
        node.call_later(done.set)
        waits.append(done.wait())
    if waits:
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except asyncio.TimeoutError:  # a node that stopped meanwhile: nothing more is coming from it
            pass
