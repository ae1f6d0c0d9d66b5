"""The server renders Tables with kubectl's columns and the words kubectl users expect."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.server.rest.componentstatus import component_statuses
from nodeagent.server.rest.printing import format_label_selector, node_status, pod_status_reason
from nodeagent.server.rest.tables import render_table

NOW = 1_795_000_000.0  # 2026-11-18T11:06:40Z
CREATED = "2026-11-18T11:06:36Z"  # NOW - 4 s


def _names(table: Obj) -> list[str]:
    return [c["name"] for c in table["columnDefinitions"]]


def _narrow(table: Obj) -> list[str]:
    return [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]


def _ds() -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "fluentd-elasticsearch",
            "namespace": "kube-system",
            "uid": "u1",
            "resourceVersion": "111",
            "creationTimestamp": CREATED,
            "labels": {"k8s-app": "fluentd-logging"},
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {
            "selector": {"matchLabels": {"name": "fluentd-elasticsearch"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "fluentd", "image": "fluentd:v2.5.2"},
                        {"name": "side", "image": "busybox"},
                    ]
                }
            },
        },
        "status": {
            "desiredNumberScheduled": 2,
            "currentNumberScheduled": 2,
            "numberReady": 1,
            "updatedNumberScheduled": 2,
            "numberAvailable": 1,
        },
    }


def _pod(**status: Any) -> Obj:
    return {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "creationTimestamp": CREATED},
        "spec": {"nodeName": "node-2", "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Pending", **status},
    }


def _running(ready: bool = True, restarts: int = 0, **extra: Any) -> Obj:
    return {
        "name": "c",
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": CREATED}},
        **extra,
    }


def _waiting(reason: str) -> Obj:
    return {
        "name": "c",
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": reason}},
    }


class TestDaemonSets:
    def test_columns_and_cells_as_kubectl_prints_them(self) -> None:
        """NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE, wide extras."""
        table = render_table("daemonsets", [_ds()], resource_version="113", now=NOW)
        assert table["kind"] == "Table"
        assert table["apiVersion"] == "meta.k8s.io/v1"
        assert table["metadata"] == {"resourceVersion": "113"}
        assert _narrow(table) == [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
        ]
        assert _names(table)[-3:] == ["Containers", "Images", "Selector"]
        assert table["columnDefinitions"][0]["format"] == "name"
        (row,) = table["rows"]
        assert row["cells"] == [
            "fluentd-elasticsearch",
            2,
            2,
            1,
            2,
            1,
            "<none>",
            "4s",
            "fluentd,side",
            "fluentd:v2.5.2,busybox",
            "name=fluentd-elasticsearch",
        ]

    def test_row_object_carries_metadata_for_all_namespaces_and_labels(self) -> None:
        """-A and --show-labels read namespace and labels from the row's object."""
        (row,) = render_table("daemonsets", [_ds()], resource_version="1", now=NOW)["rows"]
        obj = row["object"]
        assert obj["kind"] == "PartialObjectMetadata"
        assert obj["metadata"]["namespace"] == "kube-system"
        assert obj["metadata"]["labels"] == {"k8s-app": "fluentd-logging"}
        assert obj["metadata"]["uid"] == "u1"
        assert "managedFields" not in obj["metadata"]

    def test_include_object_object_and_none(self) -> None:
        """includeObject=Object carries the whole object (--sort-by reads it); None, none."""
        ds = _ds()
        (whole,) = render_table(
            "daemonsets", [ds], resource_version="1", now=NOW, include_object="Object"
        )["rows"]
        assert whole["object"] == ds
        (bare,) = render_table(
            "daemonsets", [ds], resource_version="1", now=NOW, include_object="None"
        )["rows"]
        assert "object" not in bare

    def test_node_selector_and_missing_status(self) -> None:
        """A fresh DaemonSet (no status yet) shows zeros; nodeSelector prints sorted."""
        ds = _ds()
        del ds["status"]
        ds["spec"]["template"]["spec"]["nodeSelector"] = {"b": "2", "a": "1"}
        (row,) = render_table("daemonsets", [ds], resource_version="1", now=NOW)["rows"]
        assert row["cells"][1:7] == [0, 0, 0, 0, 0, "a=1,b=2"]

    def test_watch_tables_may_leave_out_columns(self) -> None:
        """Watch events carry rows only; kubectl reuses the list's columns."""
        table = render_table(
            "daemonsets", [_ds()], resource_version="1", now=NOW, include_column_definitions=False
        )
        assert table["columnDefinitions"] == []
        assert len(table["rows"]) == 1


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        ({"matchLabels": {"name": "x"}}, "name=x"),
        (
            {
                "matchLabels": {"b": "2"},
                "matchExpressions": [
                    {"key": "a", "operator": "In", "values": ["y", "x"]},
                    {"key": "c", "operator": "NotIn", "values": ["z"]},
                    {"key": "d", "operator": "Exists"},
                    {"key": "e", "operator": "DoesNotExist"},
                ],
            },
            "a in (x,y),b=2,c notin (z),d,!e",
        ),
        ({}, "<none>"),
        (None, "<none>"),
    ],
    ids=["match-labels", "expressions", "empty", "absent"],
)
def test_label_selector_format(selector: Any, text: str) -> None:
    """Selectors print as metav1.FormatLabelSelector does."""
    assert format_label_selector(selector) == text


class TestPods:
    def test_wide_columns_and_running_row(self) -> None:
        """NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES."""
        pod = _pod(phase="Running", podIP="10.0.0.6", containerStatuses=[_running()])
        table = render_table("pods", [pod], resource_version="1", now=NOW)
        assert _names(table) == [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates",
        ]
        (row,) = table["rows"]
        assert row["cells"] == [
            "p",
            "1/1",
            "Running",
            "0",
            "4s",
            "10.0.0.6",
            "node-2",
            "<none>",
            "<none>",
        ]

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            ({"phase": "Running", "containerStatuses": [_running()]}, "Running"),
            (
                {"phase": "Pending", "containerStatuses": [_waiting("ContainerCreating")]},
                "ContainerCreating",
            ),
            (
                {"phase": "Running", "containerStatuses": [_waiting("CrashLoopBackOff")]},
                "CrashLoopBackOff",
            ),
            ({"phase": "Pending", "containerStatuses": [_waiting("ErrImagePull")]}, "ErrImagePull"),
            (
                {"phase": "Pending", "containerStatuses": [_waiting("ImagePullBackOff")]},
                "ImagePullBackOff",
            ),
            (
                {
                    "phase": "Succeeded",
                    "containerStatuses": [
                        {
                            "name": "c",
                            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                        }
                    ],
                },
                "Completed",
            ),
            (
                {
                    "phase": "Failed",
                    "containerStatuses": [
                        {"name": "c", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
                    ],
                },
                "Error",
            ),
            (
                {
                    "phase": "Failed",
                    "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 3}}}],
                },
                "ExitCode:3",
            ),
            ({"phase": "Pending"}, "Pending"),
            ({"phase": "Failed", "reason": "Evicted"}, "Evicted"),
        ],
        ids=[
            "running",
            "creating",
            "crashloop",
            "errimagepull",
            "imagepullbackoff",
            "completed",
            "error",
            "exitcode",
            "pending",
            "evicted",
        ],
    )
    def test_status_words(self, status: Obj, expected: str) -> None:
        """STATUS follows printPod: the container's waiting/terminated reason wins."""
        pod = _pod()
        pod["status"] = status
        assert pod_status_reason(pod) == expected

    def test_terminating_and_node_lost(self) -> None:
        """deletionTimestamp shows Terminating; a NodeLost pod shows Unknown."""
        pod = _pod(phase="Running", containerStatuses=[_running()])
        pod["metadata"]["deletionTimestamp"] = CREATED
        assert pod_status_reason(pod) == "Terminating"
        pod["status"]["reason"] = "NodeLost"
        assert pod_status_reason(pod) == "Unknown"

    def test_init_containers(self) -> None:
        """Init:0/1 while the init container runs, PodInitializing after it."""
        pod = _pod(
            initContainerStatuses=[
                {"name": "init", "state": {"running": {}}, "ready": False, "restartCount": 0}
            ],
            containerStatuses=[_waiting("PodInitializing")],
        )
        pod["spec"]["initContainers"] = [{"name": "init", "image": "i"}]
        assert pod_status_reason(pod) == "Init:0/1"
        pod["status"]["initContainerStatuses"][0]["state"] = {
            "terminated": {"exitCode": 0, "reason": "Completed"}
        }
        assert pod_status_reason(pod) == "PodInitializing"
        pod["status"]["initContainerStatuses"][0]["state"] = {
            "terminated": {"exitCode": 1, "reason": "Error"}
        }
        assert pod_status_reason(pod) == "Init:Error"

    def test_restarts_with_last_restart_age(self) -> None:
        """RESTARTS is `3 (5m ago)` after restarts, `0` otherwise; ready counts running+ready."""
        finished = "2026-11-18T11:01:40Z"  # NOW - 300 s
        status = _running(
            ready=False,
            restarts=3,
            lastState={"terminated": {"exitCode": 1, "finishedAt": finished}},
        )
        pod = _pod(phase="Running", containerStatuses=[status])
        (row,) = render_table("pods", [pod], resource_version="1", now=NOW)["rows"]
        assert row["cells"][1] == "0/1"
        assert row["cells"][3] == "3 (5m ago)"

    def test_finished_pods_carry_row_conditions(self) -> None:
        """Succeeded and Failed pods are marked Completed rows, as the apiserver does."""
        (row,) = render_table("pods", [_pod(phase="Succeeded")], resource_version="1", now=NOW)[
            "rows"
        ]
        assert row["conditions"][0]["type"] == "Completed"


class TestNodes:
    def _node(self, ready: str | None = "True", **spec: Any) -> Obj:
        conditions = [{"type": "MemoryPressure", "status": "False"}]
        if ready is not None:
            conditions.append({"type": "Ready", "status": ready})
        return {
            "kind": "Node",
            "metadata": {
                "name": "node-1",
                "creationTimestamp": CREATED,
                "labels": {"node-role.kubernetes.io/control-plane": "", "disktype": "ssd"},
            },
            "spec": spec,
            "status": {
                "conditions": conditions,
                "addresses": [
                    {"type": "Hostname", "address": "node-1"},
                    {"type": "InternalIP", "address": "10.1.0.2"},
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.37.0",
                    "osImage": "Debian GNU/Linux 13",
                    "kernelVersion": "6.1.0",
                    "containerRuntimeVersion": "podman://5.4.2",
                },
            },
        }

    def test_columns_and_cells(self) -> None:
        """NAME STATUS ROLES AGE VERSION, wide: INTERNAL-IP ... CONTAINER-RUNTIME."""
        table = render_table("nodes", [self._node()], resource_version="1", now=NOW)
        assert _narrow(table) == ["Name", "Status", "Roles", "Age", "Version"]
        assert table["rows"][0]["cells"] == [
            "node-1",
            "Ready",
            "control-plane",
            "4s",
            "v1.37.0",
            "10.1.0.2",
            "<none>",
            "Debian GNU/Linux 13",
            "6.1.0",
            "podman://5.4.2",
        ]

    @pytest.mark.parametrize(
        ("ready", "unschedulable", "text"),
        [
            ("True", False, "Ready"),
            ("False", False, "NotReady"),
            ("Unknown", False, "NotReady"),
            (None, False, "Unknown"),
            ("True", True, "Ready,SchedulingDisabled"),
        ],
    )
    def test_status_cell(self, ready: str | None, unschedulable: bool, text: str) -> None:
        """Ready condition True/other/absent, plus SchedulingDisabled when cordoned."""
        node = self._node(ready, unschedulable=unschedulable)
        assert node_status(node) == text

    def test_no_roles(self) -> None:
        """Without node-role labels ROLES is <none>."""
        node = self._node()
        node["metadata"]["labels"] = {}
        assert (
            render_table("nodes", [node], resource_version="1", now=NOW)["rows"][0]["cells"][2]
            == "<none>"
        )


def test_controllerrevisions() -> None:
    """NAME CONTROLLER REVISION AGE, the controller as kind.group/name."""
    cr = {
        "metadata": {
            "name": "fluentd-6293322412",
            "creationTimestamp": CREATED,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "fluentd",
                    "controller": True,
                }
            ],
        },
        "revision": 2,
    }
    table = render_table("controllerrevisions", [cr], resource_version="1", now=NOW)
    assert _names(table) == ["Name", "Controller", "Revision", "Age"]
    assert table["rows"][0]["cells"] == ["fluentd-6293322412", "daemonset.apps/fluentd", 2, "4s"]


def test_events() -> None:
    """LAST SEEN TYPE REASON OBJECT MESSAGE; the object as kind/name."""
    ev = {
        "metadata": {"name": "fluentd.1", "namespace": "kube-system"},
        "involvedObject": {"kind": "DaemonSet", "name": "fluentd"},
        "reason": "SuccessfulCreate",
        "type": "Normal",
        "message": "Created pod: fluentd-abcde ",
        "firstTimestamp": CREATED,
        "lastTimestamp": CREATED,
        "count": 1,
        "source": {"component": "daemonset-controller"},
    }
    table = render_table("events", [ev], resource_version="1", now=NOW)
    assert _narrow(table) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    cells = dict(zip(_names(table), table["rows"][0]["cells"], strict=True))
    assert cells["Last Seen"] == "4s"
    assert cells["Object"] == "daemonset/fluentd"
    assert cells["Message"] == "Created pod: fluentd-abcde"
    assert cells["Source"] == "daemonset-controller"


def test_leases_namespaces_and_unknown_resources() -> None:
    """Leases show the holder, namespaces their phase, anything else Name and Age."""
    meta = {"name": "node-1", "creationTimestamp": CREATED}
    lease = {"metadata": meta, "spec": {"holderIdentity": "node-1"}}
    assert render_table("leases", [lease], resource_version="1", now=NOW)["rows"][0]["cells"] == [
        "node-1",
        "node-1",
        "4s",
    ]
    ns = {"metadata": meta, "status": {"phase": "Active"}}
    assert render_table("namespaces", [ns], resource_version="1", now=NOW)["rows"][0]["cells"] == [
        "node-1",
        "Active",
        "4s",
    ]
    other = render_table("widgets", [{"metadata": {"name": "w"}}], resource_version="1", now=NOW)
    assert other["rows"][0]["cells"] == ["w", "<unknown>"]


def test_component_statuses_from_readiness_checks() -> None:
    """Each readiness check is a ComponentStatus: Healthy with `ok`, or Unhealthy with the
    check's problem as the error (printComponentStatus's columns)."""
    items = component_statuses({"store": "", "etcd": "context deadline exceeded"})
    table = render_table("componentstatuses", items, resource_version="", now=0.0)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Message", "Error"]
    assert [r["cells"] for r in table["rows"]] == [
        ["etcd", "Unhealthy", "", "context deadline exceeded"],
        ["store", "Healthy", "ok", ""],
    ]
