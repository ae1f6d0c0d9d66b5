"""The agent's two HTTP applications, as kubelet has its healthz port and its 10250.

`make_app`: the plain-HTTP `listen` port: /healthz and /readyz for anyone, /pods and /metrics
for callers on this host (loopback) only. `make_serving_app`: the TLS serving port
(servingport.py): /containerLogs, /exec and /attach (containerapi.py) for the server's
kubectl logs/exec/attach proxy, and /pods and /metrics, each only for a client
certificate of the fleet CA that is the server's kubelet client. Who may call which port is
authentication.py's.
"""

from __future__ import annotations

import prometheus_client
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from nodeagent.agent.authentication import kubelet_client_only, loopback_only
from nodeagent.agent.containerapi import attach_stream, container_logs, exec_stream
from nodeagent.agent.httpkeys import RUNTIME_OF, STATE, RuntimeOf
from nodeagent.agent.state import AgentState
from nodeagent.api.bodies import Obj

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


class AgentMetrics:
    """The agent's Prometheus metrics, in a registry of its own (several agents per process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.pods = Gauge("nodeagent_pods", "Pods on this node by phase", ["phase"], registry=r)
        self.restarts = Gauge(
            "nodeagent_container_restarts", "Sum of container restart counts", registry=r
        )
        self.manifest_errors = Gauge(
            "nodeagent_manifest_errors", "Manifests currently rejected", registry=r
        )
        self.runtime_up = Gauge("nodeagent_runtime_up", "1 when the engine answers", registry=r)
        self.reconcile = Histogram(
            "nodeagent_reconcile_duration_seconds", "Time of one reconcile pass", registry=r
        )
        self.probe_failures = Counter("nodeagent_probe_failures", "Failed probes", registry=r)

    def refresh(self, state: AgentState) -> None:
        counts = dict.fromkeys(PHASES, 0)
        restarts = 0
        for record in state.pods.values():
            phase = str(record.status.get("phase", "Unknown"))
            counts[phase] = counts.get(phase, 0) + 1
            for s in record.status.get("containerStatuses") or []:
                restarts += int(s.get("restartCount", 0))
        for phase, n in counts.items():
            self.pods.labels(phase=phase).set(n)
        self.restarts.set(restarts)
        self.manifest_errors.set(len(state.rejected))
        self.runtime_up.set(0 if state.runtime_error else 1)


METRICS = web.AppKey("metrics", AgentMetrics)


def pods_view(state: AgentState) -> Obj:
    """The /pods document: this node's pods and the manifests rejected."""
    pods = []
    for uid, record in sorted(state.pods.items(), key=lambda kv: kv[1].pod["metadata"]["name"]):
        meta, status = record.pod["metadata"], record.status
        statuses = (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        )
        containers = []
        for s in statuses:
            state_name, raw = next(iter(s["state"].items()), ("waiting", {}))
            detail: Obj = raw or {}
            containers.append(
                {
                    "name": s["name"],
                    "id": record.container_ids.get(s["name"], ""),
                    "state": state_name,
                    "reason": detail.get("reason", ""),
                    "message": detail.get("message", ""),
                    "ready": s["ready"],
                    "restartCount": s["restartCount"],
                    "startedAt": detail.get("startedAt", ""),
                }
            )
        pods.append(
            {
                "name": meta["name"],
                "namespace": meta.get("namespace", "default"),
                "uid": uid,
                "source": record.source.value,
                "phase": status.get("phase"),
                "ready": all(c["ready"] for c in containers if c["name"] in _app_names(record.pod)),
                "restarts": sum(c["restartCount"] for c in containers),
                "containers": containers,
            }
        )
    return {
        "node": state.node_name,
        "pods": pods,
        "rejected": [
            {"origin": r.origin, "error": r.error}
            for r in sorted(state.rejected.values(), key=lambda r: r.origin)
        ],
        "runtime": {"error": state.runtime_error, **state.runtime_info},
        "sourcesSynced": state.sources_synced,
        "checkpointError": state.checkpoint_corrupt,
    }


def _app_names(pod: Obj) -> set[str]:
    return {c["name"] for c in pod.get("spec", {}).get("containers") or []}


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state.runtime_error:
        return web.Response(status=503, text=f"not ready: {state.runtime_error}\n")
    if not state.sources_synced:
        missing = ", ".join(sorted(state.sources_expected - state.sources_seen))
        why = f" ({state.checkpoint_corrupt})" if state.checkpoint_corrupt else ""
        text = f"not ready: sources not synced yet: {missing}{why}\n"
        return web.Response(status=503, text=text)
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    m.refresh(request.app[STATE])
    body = prometheus_client.generate_latest(m.registry)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


async def pods(request: web.Request) -> web.Response:
    return web.json_response(pods_view(request.app[STATE]))


def _base_app(
    *, state: AgentState, runtime_of: RuntimeOf, metrics_: AgentMetrics, middleware: Middleware
) -> web.Application:
    app = web.Application(middlewares=[middleware])
    app[STATE] = state
    app[RUNTIME_OF] = runtime_of
    app[METRICS] = metrics_
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/pods", pods)
    return app


def make_app(
    *, state: AgentState, runtime_of: RuntimeOf, metrics_: AgentMetrics
) -> web.Application:
    """The plain-HTTP `listen` port: health for all, /pods and /metrics for this host."""
    app = _base_app(state=state, runtime_of=runtime_of, metrics_=metrics_, middleware=loopback_only)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def make_serving_app(
    *, state: AgentState, runtime_of: RuntimeOf, metrics_: AgentMetrics
) -> web.Application:
    """The TLS serving port's application: logs, exec, attach, /pods and /metrics, for the
    server's kubelet-client certificate only."""
    app = _base_app(
        state=state, runtime_of=runtime_of, metrics_=metrics_, middleware=kubelet_client_only
    )
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    app.router.add_get("/exec/{namespace}/{pod}/{container}", exec_stream)
    app.router.add_post("/exec/{namespace}/{pod}/{container}", exec_stream)
    app.router.add_get("/attach/{namespace}/{pod}/{container}", attach_stream)
    app.router.add_post("/attach/{namespace}/{pod}/{container}", attach_stream)
    return app
