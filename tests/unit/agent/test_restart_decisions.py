"""An agent that restarts (or boots without its server) disturbs nothing: orphans of an unseen
source stay, Ready keeps its value until the engine is checked, mirror pods stay, and a pod
whose run finished while the engine was being listed is not planned again from that listing."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from nodeagent.agent.checkpoint import checkpoint_path
from nodeagent.agent.conditions import checkpoint_condition, ready_condition
from nodeagent.agent.plan import plan
from nodeagent.agent.podsyncplan import Reported, plan_pod_sync
from nodeagent.agent.serversync import CheckpointKeeper
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.state import AgentState
from nodeagent.api.bodies import Obj
from nodeagent.runtime.fake import FakeRuntime
from nodeagent.runtime.protocol import ContainerInfo

from .helpers import container, pod, sandbox
from .helpers import reconciler as make


def _from_api(c: ContainerInfo) -> ContainerInfo:
    return dataclasses.replace(
        c, source="api", labels={"io.nodeagent.termination-grace-period": "5"}
    )


def test_an_orphan_of_an_unseen_source_keeps_running() -> None:
    """The server away and no trustworthy checkpoint: the API pods' containers are not
    orphans yet (kubelet removes orphans once all sources are ready); once seen, they are."""
    observed = [_from_api(sandbox()), _from_api(container("app"))]
    kept = plan(
        desired={}, observed=observed, restarts={}, probes={}, now=0.0,
        unseen_sources=frozenset({"api"}),
    )  # fmt: skip
    assert kept == []
    removed = plan(desired={}, observed=observed, restarts={}, probes={}, now=0.0)
    assert {type(a).__name__ for a in removed} == {"StopContainers", "RemoveContainers"}


NODE_READY: Obj = {
    "conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "posting"}
    ]
}


def test_ready_is_held_until_the_engine_is_checked() -> None:
    """Before the first runtime check a restarted agent sends the Node's Ready as it was
    (no flap to False, no NodeNotReady/NodeReady); a new Node says False, as before."""
    held = ready_condition(runtime_error="not checked", checked=False, previous=NODE_READY)
    assert (held.status, held.reason) == ("True", "KubeletReady")
    fresh = ready_condition(runtime_error="container runtime not checked yet", checked=False)
    assert fresh.status == "False"
    down = ready_condition(runtime_error="container runtime is down: x", previous=NODE_READY)
    assert down.status == "False"


def test_checkpoint_condition_only_after_a_corruption() -> None:
    """CheckpointCorrupt is absent until a corrupt checkpoint is seen, True while the server's
    pods wait for the server, False once they were checkpointed again."""
    assert checkpoint_condition(corrupt=None, rewritten=None) is None
    corrupt = checkpoint_condition(corrupt="payload does not match its sha256", rewritten=None)
    assert corrupt is not None
    assert corrupt.status == "True"
    over = checkpoint_condition(corrupt=None, rewritten="was bad")
    assert over is not None
    assert (over.status, over.reason) == ("False", "CheckpointRewritten")


def test_mirror_pods_are_kept_before_the_first_reconcile() -> None:
    """No records yet (the reconcile has not run), the static sources seen: a mirror pod whose
    static pod the sources want is kept, not deleted and created again."""
    mirror = {
        "metadata": {
            "name": "web-node-a",
            "namespace": "default",
            "uid": "m1",
            "annotations": {"kubernetes.io/config.mirror": "h1"},
        },
        "spec": {},
    }

    def sync(wanted: frozenset[tuple[str, str]]) -> list[str]:
        actions = plan_pod_sync(
            records={},
            server_pods={"m1": mirror},
            server_synced=True,
            static_sources_synced=True,
            static_wanted=wanted,
            api_seen=True,
            reported=Reported(),
            rejected={},
            now=0.0,
        )
        return [type(a).__name__ for a in actions]

    assert sync(frozenset({("default", "web-node-a")})) == []
    assert sync(frozenset()) == ["DeletePod"]


class _SlowListing(FakeRuntime):
    """A listing taken before the executor's runs finish and returned after: what a slow
    engine does when a pod's start completes while the agent lists its containers."""

    drain: Callable[[], Awaitable[None]] | None = None

    async def list_containers(self) -> list[ContainerInfo]:
        snapshot = await super().list_containers()
        if self.drain is not None:
            await self.drain()
        return snapshot


async def test_a_pod_that_finished_during_the_listing_is_not_planned_again(
    tmp_path: Path,
) -> None:
    """The first start's run completes between the listing and the plan: the stale listing
    shows no container, and the pod is left for the next pass instead of started twice."""
    fake = _SlowListing(images={"busybox:1"})
    r = make(fake, str(tmp_path))
    r.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(hostNetwork=True),)))
    await r.reconcile_once()  # plans the start; the run is in flight
    fake.drain = r.executor.drain
    await r.reconcile_once()  # lists before the run ends, plans after: stale
    await r.executor.drain()
    fake.drain = None
    await r.reconcile_once()
    await r.executor.drain()
    assert fake.names_called().count("create_container") == 1
    assert len(fake.containers) == 1


def test_no_checkpoint_or_a_corrupt_one_leaves_the_server_source_unseen(tmp_path: Path) -> None:
    """The API source gets None (it sends nothing) for a missing or a corrupt checkpoint; a
    corrupt one is also a Node condition and a Warning event, over once saved again."""
    state = AgentState(node_name="n1")
    keeper = CheckpointKeeper(state=state)
    assert keeper.load(str(tmp_path)) is None
    assert state.checkpoint_corrupt is None
    checkpoint_path(tmp_path).write_text("{half")
    assert keeper.load(str(tmp_path)) is None
    assert state.checkpoint_corrupt is not None
    assert [(kind, reason) for kind, reason, _m in state.node_events] == [
        ("Warning", "CheckpointCorrupt")
    ]
    keeper.save(str(tmp_path), [pod()])
    assert state.checkpoint_corrupt is None
    assert state.checkpoint_rewritten is not None
    assert keeper.load(str(tmp_path)) == [pod()]
