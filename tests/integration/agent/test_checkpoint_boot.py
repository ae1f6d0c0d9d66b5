"""Booting with the server unreachable: the checkpointed server pods run; /readyz and /metrics."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from nodeagent.agent.checkpoint import save_checkpoint
from nodeagent.agent.objectcache import ObjectCache
from nodeagent.api.defaults import default_pod
from tests.support.podman import PodmanService
from tests.support.wait import wait_for

from .conftest import Agent, free_port, pod_yaml

pytestmark = pytest.mark.podman


async def test_checkpointed_pods_run_without_the_server(
    make_agent: Callable[..., Agent], busybox: str, tmp_path: Path
) -> None:
    """An agent whose server is down starts the pods of its checkpoint."""
    token = tmp_path / "join-secret"
    token.write_text("s3cret\n")
    agent = make_agent(server_url=f"https://127.0.0.1:{free_port()}", token_file=str(token))
    node = agent.settings.node_name
    pod = default_pod(json.loads(pod_yaml("from-server", busybox)))
    pod["metadata"].update(namespace="default", uid="5f0c1d2e-0000-4000-8000-000000000001")
    pod["spec"]["nodeName"] = node
    save_checkpoint(agent.settings.state_dir, [pod])
    await agent.start()

    async def runs() -> bool:
        view = await agent.pods_view()
        return any(
            p["name"] == "from-server" and p["source"] == "api" and p["phase"] == "Running"
            for p in view["pods"]
        )

    await wait_for(runs, timeout=30, message="the checkpointed pod runs with the server down")


async def test_readyz_and_metrics(make_agent: Callable[..., Agent], busybox: str) -> None:
    """/healthz answers, /readyz is ok once the engine answers and sources synced, /metrics
    counts pods by phase and manifest errors."""
    agent = make_agent()
    (agent.manifests / "m.yaml").write_text(pod_yaml("m", busybox))
    (agent.manifests / "bad.yaml").write_text("kind: Pod\n")
    await agent.start()

    async def ready() -> bool:
        return (await agent.get("/readyz"))[0] == 200

    await wait_for(ready, timeout=30, message="/readyz becomes ok")
    assert (await agent.get("/healthz"))[0] == 200

    async def metrics() -> str | None:
        body = (await agent.get("/metrics"))[1]
        return body if 'nodeagent_pods{phase="Running"} 1.0' in body else None

    body = await wait_for(metrics, timeout=30, message="/metrics shows the running pod")
    assert "nodeagent_manifest_errors 1.0" in body
    assert "nodeagent_runtime_up 1.0" in body
    assert "nodeagent_reconcile_duration_seconds_count" in body


async def test_engine_down_at_boot_is_reported_not_fatal(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    """No engine on the socket: the agent keeps serving, /readyz is 503 naming the runtime."""
    agent = make_agent(runtime_socket=str(tmp_path / "no-engine.sock"))
    await agent.start()

    async def not_ready() -> str | None:
        status, body = await agent.get("/readyz")
        return body if status == 503 and "container runtime is down" in body else None

    await wait_for(not_ready, timeout=20, message="/readyz names the dead runtime")
    assert (await agent.get("/healthz"))[0] == 200
    assert agent.task is not None
    assert not agent.task.done()


async def test_checkpointed_pod_with_a_secret_runs_without_the_server(
    make_agent: Callable[..., Agent], busybox: str, podman_service: PodmanService, tmp_path: Path
) -> None:
    """The checkpoint names the Secret; its value, kept 0600 in objects.json when it was
    fetched, lets the pod start while the server is away."""
    token = tmp_path / "join-secret"
    token.write_text("s3cret\n")
    agent = make_agent(server_url=f"https://127.0.0.1:{free_port()}", token_file=str(token))
    env = [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    pod = default_pod(json.loads(pod_yaml("with-secret", busybox, env=env)))
    pod["metadata"].update(namespace="default", uid="5f0c1d2e-0000-4000-8000-000000000002")
    pod["spec"]["nodeName"] = agent.settings.node_name
    save_checkpoint(agent.settings.state_dir, [pod])
    kept = ObjectCache(state_dir=agent.settings.state_dir)
    kept.want_for_pods([pod])
    secret = {"kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
              "data": {"password": base64.b64encode(b"hunter2-offline").decode()}}  # fmt: skip
    kept.set_object(("Secret", "default", "db"), secret)
    assert (
        b"hunter2-offline"
        not in Path(agent.settings.state_dir, "api-pods.checkpoint.json").read_bytes()
    )
    await agent.start()

    async def container_id() -> str | None:
        view = await agent.pods_view()
        found = next((p for p in view["pods"] if p["name"] == "with-secret"), None)
        if found and found["phase"] == "Running":
            return str(found["containers"][0]["id"]).removeprefix("docker://")
        return None

    cid = await wait_for(container_id, timeout=30, message="the pod runs from the checkpoint")
    printed = podman_service.podman("exec", cid, "/bin/sh", "-c", 'printf %s "$PASSWORD"')
    assert printed.stdout == "hunter2-offline"
