"""Plays the agents (and the user) against the real server over REST, for controller tests.

Nodes, leases and pod statuses are written as agents write them; terminating pods are
confirmed gone as an agent would after stopping them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from tests.support.server import ServerInfo

NS = "kube-system"
DS_PATH = "/apis/apps/v1/namespaces/{ns}/daemonsets"
PODS_PATH = "/api/v1/namespaces/{ns}/pods"


class APIFailure(Exception):
    def __init__(self, status: int, body: Obj) -> None:
        super().__init__(f"{status}: {body.get('message')}")
        self.status = status
        self.body = body


def daemonset_manifest(
    name: str = "fluentd",
    *,
    image: str = "busybox:v1",
    strategy: Obj | None = None,
    node_selector: dict[str, str] | None = None,
    min_ready_seconds: int = 0,
) -> Obj:
    spec: Obj = {"containers": [{"name": "main", "image": image}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    ds: Obj = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"name": name}},
            "template": {"metadata": {"labels": {"name": name}}, "spec": spec},
            "minReadySeconds": min_ready_seconds,
        },
    }
    if strategy is not None:
        ds["spec"]["updateStrategy"] = strategy
    return ds


class Fleet:
    def __init__(self, server: ServerInfo, http: aiohttp.ClientSession) -> None:
        self.server = server
        self.http = http

    async def call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> Obj:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self.http.request(
            method, self.server.url + path, data=data, headers=headers
        ) as resp:
            payload: Obj = await resp.json(content_type=None)
            if resp.status >= 400:
                raise APIFailure(resp.status, payload)
            return payload

    # --- nodes, as an agent registers and heartbeats them -----------------------------

    async def add_node(self, name: str, *, labels: dict[str, str] | None = None) -> Obj:
        now = format_time(time.time())
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            },
            "spec": {},
        }
        created = await self.call("POST", "/api/v1/nodes", node)
        created["status"] = {
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": "KubeletReady" if t == "Ready" else "KubeletHasNoPressure",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
                for t, s in (
                    ("Ready", "True"),
                    ("MemoryPressure", "False"),
                    ("DiskPressure", "False"),
                    ("PIDPressure", "False"),
                )
            ]
        }
        await self.call("PUT", f"/api/v1/nodes/{name}/status", created)
        await self.renew_lease(name)
        return created

    async def renew_lease(self, name: str) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        now = _micro(time.time())
        try:
            lease = await self.call("GET", path)
        except APIFailure:
            lease = None
        if lease is None:
            await self.call(
                "POST",
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now},
                },
            )
        else:
            lease["spec"]["renewTime"] = now
            await self.call("PUT", path, lease)

    async def node(self, name: str) -> Obj:
        return await self.call("GET", f"/api/v1/nodes/{name}")

    async def label_node(self, name: str, labels: dict[str, str | None]) -> None:
        await self.call(
            "PATCH",
            f"/api/v1/nodes/{name}",
            {"metadata": {"labels": labels}},
            content_type="application/merge-patch+json",
        )

    async def delete_node(self, name: str) -> None:
        await self.call("DELETE", f"/api/v1/nodes/{name}")

    # --- daemonsets ---------------------------------------------------------------------

    async def create_ds(self, manifest: Obj) -> Obj:
        return await self.call("POST", DS_PATH.format(ns=NS), manifest)

    async def ds(self, name: str) -> Obj:
        return await self.call("GET", DS_PATH.format(ns=NS) + f"/{name}")

    async def patch_ds(self, name: str, body: Obj | bytes, content_type: str) -> Obj:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.patch(
            self.server.url + DS_PATH.format(ns=NS) + f"/{name}",
            data=data,
            headers={"Content-Type": content_type},
        ) as resp:
            payload: Obj = await resp.json(content_type=None)
            if resp.status >= 400:
                raise APIFailure(resp.status, payload)
            return payload

    async def set_image(self, name: str, image: str) -> Obj:
        body = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}}
        return await self.patch_ds(name, body, "application/strategic-merge-patch+json")

    async def delete_ds(self, name: str, *, policy: str = "Background") -> None:
        await self.call(
            "DELETE",
            DS_PATH.format(ns=NS) + f"/{name}",
            {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy},
        )

    async def revisions(self, selector: str) -> list[Obj]:
        out = await self.call(
            "GET", f"/apis/apps/v1/namespaces/{NS}/controllerrevisions?labelSelector={selector}"
        )
        return list(out["items"])

    # --- pods, as agents see and report them ---------------------------------------------

    async def pods(self, selector: str = "") -> list[Obj]:
        query = f"?labelSelector={selector}" if selector else ""
        out = await self.call("GET", PODS_PATH.format(ns=NS) + query)
        return list(out["items"])

    async def live_pods(self, selector: str) -> list[Obj]:
        return [p for p in await self.pods(selector) if not p["metadata"].get("deletionTimestamp")]

    async def mark_ready(self, pod: Obj, *, ready: bool = True) -> None:
        now = format_time(time.time())
        pod = dict(pod)
        pod["status"] = {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now}
            ],
        }
        name = pod["metadata"]["name"]
        await self.call("PUT", PODS_PATH.format(ns=NS) + f"/{name}/status", pod)

    async def agents_step(self, selector: str) -> None:
        """What the agents do: confirm terminating pods gone, report new pods Ready."""
        for pod in await self.pods(selector):
            name = pod["metadata"]["name"]
            if pod["metadata"].get("deletionTimestamp"):
                try:
                    await self.call(
                        "DELETE",
                        PODS_PATH.format(ns=NS) + f"/{name}",
                        {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0},
                    )
                except APIFailure as exc:
                    if exc.status != 404:
                        raise
            elif (pod.get("status") or {}).get("phase") != "Running":
                try:
                    await self.mark_ready(pod)
                except APIFailure as exc:
                    if exc.status not in (404, 409):
                        raise

    async def force_delete_pod(self, name: str) -> None:
        await self.call(
            "DELETE",
            PODS_PATH.format(ns=NS) + f"/{name}",
            {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0},
        )


def _micro(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"


def node_of(pod: Obj) -> str:
    return str(pod["spec"].get("nodeName") or "")
