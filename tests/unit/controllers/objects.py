"""Plain API objects for the controller unit tests (nodes, DaemonSets, pods, revisions)."""

from __future__ import annotations

import copy

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.server.controllers.daemonset import history, plan

NOW = 1_800_000_000.0


def node(
    name: str, *, labels: dict[str, str] | None = None, taints: list[Obj] | None = None
) -> Obj:
    spec: Obj = {"taints": taints} if taints else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels or {}},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def daemonset(
    name: str = "fluentd",
    *,
    image: str = "fluentd:v1",
    node_selector: dict[str, str] | None = None,
    tolerations: list[Obj] | None = None,
    strategy: Obj | None = None,
    min_ready_seconds: int = 0,
    history_limit: int | None = None,
    annotations: dict[str, str] | None = None,
) -> Obj:
    pod_spec: Obj = {"containers": [{"name": "main", "image": image}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    spec: Obj = {
        "selector": {"matchLabels": {"name": name}},
        "template": {"metadata": {"labels": {"name": name}}, "spec": pod_spec},
        "updateStrategy": strategy
        or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "minReadySeconds": min_ready_seconds,
    }
    if history_limit is not None:
        spec["revisionHistoryLimit"] = history_limit
    metadata: Obj = {
        "name": name,
        "namespace": "kube-system",
        "uid": f"uid-ds-{name}",
        "generation": 1,
    }
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata, "spec": spec}


def with_image(ds: Obj, image: str) -> Obj:
    new = copy.deepcopy(ds)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = image
    new["metadata"]["generation"] += 1
    return new


_counter = [0]


def pod_for(
    ds: Obj,
    node_name: str,
    *,
    ready: bool = True,
    ready_since: float = NOW - 3600,
    created: float = NOW - 7200,
    phase: str = "Running",
    hash_: str | None = None,
    terminating: bool = False,
) -> Obj:
    """A daemon pod of ds on node_name, as the controller would have created it."""
    _counter[0] += 1
    pod = plan.new_pod(ds, node_name=node_name, hash_=hash_ or history.current_hash(ds))
    pod["metadata"]["name"] = f"{ds['metadata']['name']}-{_counter[0]:05d}"
    pod["metadata"]["uid"] = f"uid-pod-{_counter[0]}"
    pod["metadata"]["creationTimestamp"] = format_time(created)
    if terminating:
        pod["metadata"]["deletionTimestamp"] = format_time(NOW)
    pod["status"] = {
        "phase": phase,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": format_time(ready_since),
            }
        ],
    }
    return pod


def names(objs: list[Obj]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)
