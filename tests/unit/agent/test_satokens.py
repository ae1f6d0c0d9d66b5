"""The token manager over a fake TokenRequest endpoint and a clock: kubelet's refresh rules,
the old token served while a refresh fails, FailedMount when there is none."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nodeagent.agent.podvolumes import PodVolumes
from nodeagent.agent.satokens import TokenError, TokenManager
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.api import errors
from nodeagent.api import satoken as T
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.runtime.fake import FakeRuntime

from .helpers import UID, pod
from .helpers import reconciler as make

SPEC = T.TokenSpec(
    namespace="default",
    service_account="default",
    audience="",
    expiration_seconds=600,
    pod_name="web",
    pod_uid=UID,
)


@dataclass
class FakeTokenAPI:
    """TokenRequest answering `token-N` valid for `ttl` seconds from `clock`, or failing."""

    clock: list[float]
    ttl: float = 600.0
    fail: Exception | None = None
    requests: list[tuple[str, Obj]] = field(default_factory=list)

    async def create(self, path: str, body: Obj) -> Obj:
        self.requests.append((path, body))
        if self.fail is not None:
            raise self.fail
        expiry = format_time(self.clock[0] + self.ttl)
        return {"status": {"token": f"token-{len(self.requests)}", "expirationTimestamp": expiry}}


def manager(api: FakeTokenAPI) -> TokenManager:
    return TokenManager(clock=lambda: api.clock[0], jitter=lambda: 0.0, client=api)


async def test_refresh_after_80_percent_of_the_ttl() -> None:
    """Served from the cache until 80 % of the 600 s passed (480 s), then fetched again."""
    api = FakeTokenAPI(clock=[1_000_000.0])
    tokens = manager(api)
    assert await tokens.get(SPEC) == "token-1"
    api.clock[0] += 479
    assert await tokens.get(SPEC) == "token-1"
    api.clock[0] += 1
    assert await tokens.get(SPEC) == "token-2"
    assert len(api.requests) == 2
    assert api.requests[0][0] == "/api/v1/namespaces/default/serviceaccounts/default/token"


async def test_failed_refresh_serves_the_old_token_until_it_expires() -> None:
    """A refresh that fails keeps the old token, retried with back-off (not on every call);
    once the old one expired the failure is kubelet's message."""
    api = FakeTokenAPI(clock=[1_000_000.0])
    tokens = manager(api)
    await tokens.get(SPEC)
    api.fail = errors.Forbidden("forbidden")
    api.clock[0] += 500
    assert await tokens.get(SPEC) == "token-1"
    assert await tokens.get(SPEC) == "token-1"  # within the 0.5 s back-off: not asked again
    assert len(api.requests) == 2
    api.clock[0] += 1
    assert await tokens.get(SPEC) == "token-1"
    assert len(api.requests) == 3
    api.clock[0] += 100  # past the expiry
    with pytest.raises(TokenError, match="expired and refresh failed: forbidden"):
        await tokens.get(SPEC)
    api.fail = None
    api.clock[0] += 200
    assert await tokens.get(SPEC) == "token-5"  # the 4th request failed


async def test_no_token_no_server() -> None:
    """With no token yet, a failure is `failed to fetch token: ...`."""
    tokens = TokenManager(clock=lambda: 0.0)
    with pytest.raises(TokenError, match=r"^failed to fetch token: no API server to ask$"):
        await tokens.get(SPEC)


async def test_tokens_of_gone_pods_are_dropped() -> None:
    api = FakeTokenAPI(clock=[1_000_000.0])
    tokens = manager(api)
    await tokens.get(SPEC)
    tokens.keep_pods({UID})
    assert tokens.held() == {SPEC}
    tokens.keep_pods(set())
    assert tokens.held() == frozenset()


NAMESPACE_SOURCE: Obj = {
    "downwardAPI": {
        "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
    }
}
TOKEN_VOLUME = {
    "name": "kube-api-access-x1y2z",
    "projected": {
        "defaultMode": 0o644,
        "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 600}},
            NAMESPACE_SOURCE,
        ],
    },
}  # fmt: skip


async def test_volume_written_and_refreshed(tmp_path: Path) -> None:
    """The token file is written at setup and replaced by a resync once due."""
    api = FakeTokenAPI(clock=[1_000_000.0])
    volumes = PodVolumes(
        volume_dir=lambda uid: str(tmp_path / uid), allocatable={}, tmpfs=False, tokens=manager(api)
    )
    p = pod(volumes=[TOKEN_VOLUME])
    await volumes.setup(p, {})
    token = tmp_path / UID / "kube-api-access-x1y2z" / "token"
    assert token.read_text() == "token-1"
    assert (token.parent / "namespace").read_text() == "default"
    await volumes.resync([(p, {})])
    assert token.read_text() == "token-1"
    api.clock[0] += 480
    await volumes.resync([(p, {})])
    assert token.read_text() == "token-2"
    await volumes.resync([])
    assert volumes.tokens.held() == frozenset()


async def test_failed_fetch_is_a_failed_mount(tmp_path: Path) -> None:
    """The pod waits in ContainerCreating with kubelet's FailedMount event."""
    api = FakeTokenAPI(clock=[1_000_000.0], fail=errors.Forbidden("no relationship found"))
    fake = FakeRuntime(images={"busybox:1"})
    r = make(fake, str(tmp_path))
    r.executor.volumes = PodVolumes(
        volume_dir=r.executor.volume_dir, allocatable={}, tmpfs=False, tokens=manager(api)
    )
    r.apply(SourceUpdate(source=SourceName.API, pods=(pod(volumes=[TOKEN_VOLUME]),)))
    await r.reconcile_once()
    await r.executor.drain()
    await r.reconcile_once()
    message = (
        'MountVolume.SetUp failed for volume "kube-api-access-x1y2z" : '
        "failed to fetch token: no relationship found"
    )
    assert ("Warning", "FailedMount", message) in [e for _uid, e in r.state.pod_events]
    waiting = r.state.pods[UID].status["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "ContainerCreating", "message": message}
