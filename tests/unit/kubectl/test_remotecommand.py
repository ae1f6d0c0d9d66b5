"""kubectl exec's channel protocol, the log options the server checks, and the agent's `since`."""

from __future__ import annotations

import pytest

from nodeagent.agent.containerapi import log_since
from nodeagent.api import remotecommand as rc
from nodeagent.server.rest.proxy import log_options_errors

V5, V4 = rc.PROTOCOLS


def test_client_messages_by_channel() -> None:
    """Channel 0 is stdin, 4 a terminal size, [255, 0] stdin's end in v5 only."""
    assert rc.decode_client_message(b"\x00hello", V5) == rc.StdinData(data=b"hello")
    size = rc.decode_client_message(b'\x04{"Width":120,"Height":40}', V5)
    assert size == rc.Resize(width=120, height=40)
    assert rc.decode_client_message(b"\xff\x00", V5) == rc.StdinClosed()
    assert isinstance(rc.decode_client_message(b"\xff\x00", V4), rc.Ignored)


@pytest.mark.parametrize(
    "message",
    [b"", b"\x01out", b"\x03{}", b"\x04not json", b'\x04{"Width":0,"Height":3}', b"\x04[]"],
)
def test_messages_the_agent_does_not_act_on(message: bytes) -> None:
    """Output channels from the client, empty or broken resizes are ignored, not fatal."""
    assert isinstance(rc.decode_client_message(message, V5), rc.Ignored)


def test_exec_options_from_the_query() -> None:
    """kubectl's booleans; with a terminal stderr is part of the one stream (as kubelet)."""
    options = rc.exec_options({"stdin": "true", "stdout": "true", "tty": "true"}, ["sh"])
    assert options == rc.ExecOptions(command=("sh",), stdin=True, stdout=True, tty=True)
    options = rc.exec_options({"stdout": "1", "stderr": "true", "tty": "true"}, ["sh"])
    assert not options.stderr
    assert options.problem() == ""


def test_exec_options_problems() -> None:
    """No command, or no stream at all, is refused with kubelet's words."""
    assert rc.exec_options({"stdout": "true"}, []).problem() == (
        "you must specify at least 1 command"
    )
    assert rc.exec_options({}, ["ls"]).problem() == (
        "you must specify at least 1 of stdin, stdout, stderr"
    )


def test_failure_status_words() -> None:
    """A lookup failure keeps its reason; anything else is kubelet's InternalError."""
    missing = rc.failure_status("pod default/x is not on this node", code=404)
    assert (missing["reason"], missing["code"]) == ("NotFound", 404)
    broken = rc.failure_status("error executing command in container: boom")
    assert broken["reason"] == "InternalError"
    assert broken["message"] == (
        "Internal error occurred: error executing command in container: boom"
    )


def test_log_options_checked_as_the_api_server_does() -> None:
    """sinceSeconds > 0, tailLines >= 0, limitBytes > 0, not both since forms."""
    assert log_options_errors({"sinceSeconds": "10", "tailLines": "0"}) == []
    bad = log_options_errors({"sinceSeconds": "0", "tailLines": "-1", "limitBytes": "x"})
    assert [e.field for e in bad] == ["tailLines", "sinceSeconds", "limitBytes"]
    both = log_options_errors({"sinceSeconds": "5", "sinceTime": "2026-11-23T12:00:00Z"})
    assert [str(e) for e in both] == [
        "sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
    ]


def test_log_since_on_the_agent_clock() -> None:
    """sinceSeconds counts back from the agent's now; sinceTime is an RFC 3339 moment."""
    assert log_since({}, 1000.0) is None
    assert log_since({"sinceSeconds": "30"}, 1000.0) == 970.0
    assert log_since({"sinceTime": "1970-01-01T00:16:40Z"}, 5.0) == 1000.0
    with pytest.raises(ValueError, match="sinceSeconds"):
        log_since({"sinceSeconds": "-3"}, 1000.0)
    with pytest.raises(ValueError, match="sinceTime"):
        log_since({"sinceTime": "yesterday"}, 1000.0)
