"""What an attach request gets, as kubelet decides it from the query and the container's
spec, and where pods/attach is listed for kubectl."""

from __future__ import annotations

import pytest

from nodeagent.api import remotecommand as rc
from nodeagent.server.rest import discovery

KUBECTL_IT = {"stdin": "true", "stdout": "true", "stderr": "false", "tty": "true"}
KUBECTL_PLAIN = {"stdout": "true", "stderr": "true"}


@pytest.mark.parametrize(
    ("query", "container", "expected"),
    [
        pytest.param(
            KUBECTL_IT,
            {"name": "c", "stdin": True, "tty": True},
            rc.ExecOptions(command=(), stdin=True, stdout=True, tty=True),
            id="-it to a shell with stdin and tty",
        ),
        pytest.param(
            {**KUBECTL_IT, "tty": "false", "stderr": "true"},
            {"name": "c", "stdin": True, "tty": True},
            rc.ExecOptions(command=(), stdin=True, stdout=True, tty=True),
            id="the container's terminal whatever the request says; stderr is in it",
        ),
        pytest.param(
            KUBECTL_IT,
            {"name": "c"},
            rc.ExecOptions(command=(), stdout=True),
            id="-it to a container without stdin or tty: output only",
        ),
        pytest.param(
            KUBECTL_PLAIN,
            {"name": "c", "stdin": True},
            rc.ExecOptions(command=(), stdout=True, stderr=True),
            id="no -i: no stdin even if the container has one",
        ),
    ],
)
def test_attach_options(
    query: dict[str, str], container: dict[str, object], expected: object
) -> None:
    """stdin only when asked and the spec opens it; the terminal is the spec's."""
    assert rc.attach_options(query, container) == expected


def test_a_request_without_streams_is_refused() -> None:
    """kubelet's words when stdin, stdout and stderr are all off; exec still needs a command."""
    assert rc.exec_options({}, ()).streams_problem() == (
        "you must specify at least 1 of stdin, stdout, stderr"
    )
    assert rc.exec_options({"stdout": "true"}, ()).streams_problem() == ""
    assert (
        rc.exec_options({"stdout": "true"}, ()).problem() == "you must specify at least 1 command"
    )


def test_pods_attach_is_listed_beside_exec() -> None:
    """Aggregated and legacy discovery both list pods/attach (create, get) as PodAttachOptions."""
    doc = discovery.aggregated_discovery(core=True)
    pods = next(r for r in doc["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["attach"]["responseKind"]["kind"] == "PodAttachOptions"
    assert sorted(subs["attach"]["verbs"]) == sorted(subs["exec"]["verbs"])
    legacy = {r["name"]: r for r in discovery.api_resource_list("", "v1")["resources"]}
    assert legacy["pods/attach"]["kind"] == "PodAttachOptions"
    assert legacy["pods/attach"]["verbs"] == legacy["pods/exec"]["verbs"]
