"""PURE: one stored change as every watcher it is offered to sends it: its watch event line
encoded once per event type, the same bytes for all.

The watch window offers each change to its watchers (a pod's to its node's agent and to every
all-pods watch). Each watcher used to decode the stored JSON text and encode its own
`{"type":..,"object":..}` line, ~20 us for a 3 KB pod, per watcher. The stored text already
is the object's compact JSON (what a GET answers), so the line is that text inside the
event's envelope, spliced without decoding; a change that a selector turns from MODIFIED into
ADDED or DELETED gets its own line, also shared. What differs per watcher stays per watcher
(rest/watch.py): Table rows, bookmarks, ERROR events, and the decoding a label or field
selector needs to match (done on the watcher's own copy), except for an agent's own
`spec.nodeName=NAME` selector, which the pod's node before and after (kept here) answers. A
SharedChange lives only while some watcher still has it pending; the window keeps the text.
"""

from __future__ import annotations

from typing import Final

EVENT_TYPES: Final = frozenset({"ADDED", "MODIFIED", "DELETED"})


def event_line(type_: str, text: str) -> bytes:
    """The watch stream's line for an event of `type_` whose object's JSON text is `text`:
    `{"type":"MODIFIED","object":{...}}` and a newline, as rest/watch.py sends it."""
    if type_ not in EVENT_TYPES:  # never a caller's string inside the JSON unescaped
        raise ValueError(f"not a stored change's event type: {type_!r}")
    return b'{"type":"' + type_.encode() + b'","object":' + text.encode() + b"}\n"


class SharedChange:
    """The stored texts of one change (the object after it, and before it when known), a
    pod's spec.nodeName after and before ("" for none, or not a pod), and its event lines,
    each encoded at most once: `encodes` counts the encodings."""

    __slots__ = ("_lines", "encodes", "node", "prev_node", "prev_text", "text")

    def __init__(
        self, text: str, prev_text: str | None, *, node: str = "", prev_node: str = ""
    ) -> None:
        self.text = text
        self.prev_text = prev_text
        self.node = node
        self.prev_node = prev_node
        self._lines: dict[str, bytes] = {}
        self.encodes = 0

    def line(self, type_: str) -> bytes:
        """The event line for `type_` (shared: the same bytes object for every caller)."""
        found = self._lines.get(type_)
        if found is None:
            found = self._lines[type_] = event_line(type_, self.text)
            self.encodes += 1
        return found
