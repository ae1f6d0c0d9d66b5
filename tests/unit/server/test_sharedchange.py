"""A stored change's watch event line: the stored text in its envelope, the same bytes as
encoding the decoded object, encoded once per event type whoever asks."""

from __future__ import annotations

import pytest

from nodeagent.api import jsontext
from nodeagent.server.store.sharedchange import SharedChange, event_line

POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {"name": "p", "namespace": "default", "resourceVersion": "7", "labels": {}},
    "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx:1.27"}]},
    "status": {"phase": "Running", "message": 'ünïcode \u2603 and "quotes" \\ slash'},
}


@pytest.mark.parametrize("type_", ["ADDED", "MODIFIED", "DELETED"])
def test_the_line_is_what_encoding_the_decoded_object_gives(type_: str) -> None:
    """The stored text is spliced into the envelope: byte for byte what each watcher encoded
    before (decode the text, dump {"type", "object"}, a newline)."""
    text = jsontext.dumps(POD)
    line = event_line(type_, text)
    assert line == jsontext.dumpb({"type": type_, "object": jsontext.loads(text)}) + b"\n"
    assert jsontext.loads(line) == {"type": type_, "object": POD}


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError):
        event_line('ADDED","x":"', "{}")


def test_each_type_is_encoded_once_and_shared() -> None:
    change = SharedChange(jsontext.dumps(POD), None)
    first = change.line("MODIFIED")
    assert change.line("MODIFIED") is first
    assert change.encodes == 1
    deleted = change.line("DELETED")  # a selector's "stopped matching": its own line
    assert change.line("DELETED") is deleted
    assert change.encodes == 2
    assert jsontext.loads(deleted)["type"] == "DELETED"
