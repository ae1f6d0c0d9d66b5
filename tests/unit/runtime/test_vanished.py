"""A container removed while the agent lists its containers is absent, not an engine outage."""

from __future__ import annotations

from typing import Any

import aiodocker
import pytest

from nodeagent.runtime.docker import DockerRuntime
from nodeagent.runtime.protocol import RuntimeError_
from nodeagent.runtime.sessions import engine_errors

GONE = "container 5f659d5eb74f does not exist in database: no such container"


class _VanishingRuntime(DockerRuntime):
    """Lists one container whose inspect fails as podman 4.3 fails it mid-removal (HTTP 500)."""

    async def _list_raw(self, extra_labels: Any = ()) -> list[dict[str, Any]]:
        return [{"Id": "5f659d5eb74f", "Labels": {}}]

    async def _json(self, what: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
        with engine_errors(what):
            raise aiodocker.DockerError(500, GONE)


async def test_container_gone_mid_listing_is_skipped() -> None:
    """The listing leaves it out; before, the agent logged runtime_unavailable and went NotReady."""
    runtime = _VanishingRuntime("/nonexistent.sock", node_name="n1")
    try:
        assert await runtime.list_containers() == []
    finally:
        await runtime.close()


async def test_other_engine_errors_still_raise() -> None:
    """Any other 500 is still an error the caller sees."""
    runtime = DockerRuntime("/nonexistent.sock", node_name="n1")
    try:
        with pytest.raises(RuntimeError_) as info, engine_errors("inspect"):
            raise aiodocker.DockerError(500, "storage is broken")
        assert info.value.reason == "RuntimeError"
    finally:
        await runtime.close()
