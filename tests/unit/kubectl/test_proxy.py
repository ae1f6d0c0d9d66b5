"""The logs/exec proxy picks the container and the agent as the API server does."""

from __future__ import annotations

import json

import pytest

from nodeagent.api.errors import BadRequest, ServiceUnavailable
from nodeagent.api.remotecommand import frame
from nodeagent.server.rest.proxy import agent_address, choose_container, exit_status


def _pod(*names: str, default: str = "") -> dict[str, object]:
    annotations = {"kubectl.kubernetes.io/default-container": default} if default else {}
    return {
        "metadata": {"name": "p", "annotations": annotations},
        "spec": {"containers": [{"name": n} for n in names]},
    }


def test_single_container_is_chosen() -> None:
    """With one container no -c is needed."""
    assert choose_container(_pod("main"), "") == "main"


def test_default_container_annotation() -> None:
    """kubectl.kubernetes.io/default-container picks among several."""
    assert choose_container(_pod("a", "b", default="b"), "") == "b"


def test_several_containers_need_a_name() -> None:
    """Without -c and a default, the message lists the choices."""
    with pytest.raises(BadRequest, match=r"choose one of: \[a b\]"):
        choose_container(_pod("a", "b"), "")


def test_unknown_container() -> None:
    """A name that is not in the pod is refused."""
    with pytest.raises(BadRequest, match="container c is not valid for pod p"):
        choose_container(_pod("a"), "c")


def test_agent_address_from_node_status() -> None:
    """InternalIP and the kubelet endpoint port; Hostname when there is no InternalIP."""
    node = {
        "metadata": {"name": "n"},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "10.0.0.5"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    }
    assert agent_address(node) == "10.0.0.5:10250"
    node["status"]["addresses"] = [{"type": "Hostname", "address": "n1"}]  # type: ignore[index]
    assert agent_address(node) == "n1:10250"
    with pytest.raises(ServiceUnavailable, match="no agent endpoint"):
        agent_address({"metadata": {"name": "n"}, "status": {}})


def test_exit_status_and_frames() -> None:
    """Exit code 0 is Success; others carry the code for kubectl to exit with."""
    assert exit_status(0, ["true"]) == {"metadata": {}, "status": "Success"}
    failed = exit_status(3, ["sh", "-c", "exit 3"])
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}
    message = frame(3, json.dumps(failed).encode())
    assert message[0] == 3
    assert json.loads(message[1:]) == failed
