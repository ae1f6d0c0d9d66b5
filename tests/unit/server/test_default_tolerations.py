"""DefaultTolerationSeconds: which pods get the 300 s NoExecute tolerations."""

from __future__ import annotations

from nodeagent.api.bodies import Obj
from nodeagent.server.objectrules import add_default_tolerations

NOT_READY, UNREACHABLE = "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"


def _keys(tolerations: list[Obj]) -> list[tuple[str, object]]:
    return [(t.get("key", ""), t.get("tolerationSeconds")) for t in tolerations]


def test_a_pod_without_them_gets_both_for_300_seconds() -> None:
    pod: Obj = {"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}}
    add_default_tolerations(pod)
    assert _keys(pod["spec"]["tolerations"]) == [("x", None), (NOT_READY, 300), (UNREACHABLE, 300)]
    assert pod["spec"]["tolerations"][1] == {
        "key": NOT_READY,
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }


def test_what_is_tolerated_already_is_not_added_again() -> None:
    """A toleration of the key with NoExecute or any effect, or of every key, covers it."""
    daemon: Obj = {
        "spec": {
            "tolerations": [
                {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute"},
                {"key": UNREACHABLE, "operator": "Exists"},
            ]
        }
    }
    add_default_tolerations(daemon)
    assert _keys(daemon["spec"]["tolerations"]) == [(NOT_READY, None), (UNREACHABLE, None)]
    everything: Obj = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    add_default_tolerations(everything)
    assert everything["spec"]["tolerations"] == [{"operator": "Exists"}]
    noschedule: Obj = {"spec": {"tolerations": [{"effect": "NoSchedule", "operator": "Exists"}]}}
    add_default_tolerations(noschedule)
    assert len(noschedule["spec"]["tolerations"]) == 3
