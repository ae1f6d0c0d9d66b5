"""Which ConfigMaps and Secrets a pod may read, and what the agent keeps of them on disk."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from pathlib import Path
from typing import Any, cast

from nodeagent.agent.apiclient import ApiClient, Unreachable
from nodeagent.agent.objectcache import SAVED_NAME, ObjectCache
from nodeagent.api.bodies import Obj
from tests.support.wait import wait_for


def static_pod(origin: str, config_map: str) -> Obj:
    return {
        "metadata": {
            "name": "p",
            "namespace": "default",
            "annotations": {
                "kubernetes.io/config.source": "file",
                "nodeagent.io/manifest": origin,
            },
        },
        "spec": {"volumes": [{"name": "v", "configMap": {"name": config_map}}]},
    }


def api_pod(secret: str) -> Obj:
    return {
        "metadata": {"name": "q", "namespace": "ns"},
        "spec": {"volumes": [{"name": "v", "secret": {"secretName": secret}}]},
    }


def cm(name: str, value: str) -> Obj:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"k": value}}  # fmt: skip


def test_a_static_pod_reads_its_own_file_only(tmp_path: Path) -> None:
    """A manifest file's objects serve its pods; another file's and the server's do not."""
    changes: list[int] = []
    cache = ObjectCache(state_dir=str(tmp_path), on_change=lambda: changes.append(1))
    cache.set_file_objects({"/m/a.yaml": [cm("c", "a")], "/m/b.yaml": [cm("c", "b")]})
    cache.api[("ConfigMap", "default", "c")] = {"k": b"server"}
    assert cache.objects_for(static_pod("/m/a.yaml", "c")) == {
        ("ConfigMap", "default", "c"): {"k": b"a"}
    }
    assert cache.objects_for(static_pod("/m/b.yaml", "c")) == {
        ("ConfigMap", "default", "c"): {"k": b"b"}
    }
    assert cache.objects_for(static_pod("/m/c.yaml", "c")) == {}
    assert changes == [1]
    cache.set_file_objects({"/m/a.yaml": [cm("c", "a")], "/m/b.yaml": [cm("c", "b")]})
    assert changes == [1]  # the same set again is no change


def test_a_server_pod_reads_what_it_references(tmp_path: Path) -> None:
    """Of the server's objects, a pod sees only those it names."""
    cache = ObjectCache(state_dir=str(tmp_path))
    cache.api[("Secret", "ns", "mine")] = {"k": b"1"}
    cache.api[("Secret", "ns", "other")] = {"k": b"2"}
    assert cache.objects_for(api_pod("mine")) == {("Secret", "ns", "mine"): {"k": b"1"}}


def test_fetched_values_are_kept_0600_and_read_back(tmp_path: Path) -> None:
    """The server's values are saved (0600) for a boot without the server, for wanted keys."""
    cache = ObjectCache(state_dir=str(tmp_path))
    cache.want_for_pods([api_pod("s")])
    secret = {"kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
              "data": {"k": base64.b64encode(b"v4lue").decode()}}  # fmt: skip
    cache.set_object(("Secret", "ns", "s"), secret)
    path = tmp_path / SAVED_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"v4lue" not in path.read_bytes()  # base64, as the API has it (not encryption)
    assert json.loads(path.read_bytes())["objects"][0]["name"] == "s"
    again = ObjectCache(state_dir=str(tmp_path))
    again.load_saved()
    assert again.objects_for(api_pod("s")) == {("Secret", "ns", "s"): {"k": b"v4lue"}}


def test_a_damaged_saved_file_is_no_values(tmp_path: Path) -> None:
    """An unreadable objects.json gives nothing (the pods wait for the server)."""
    (tmp_path / SAVED_NAME).write_text("{not json")
    cache = ObjectCache(state_dir=str(tmp_path))
    cache.load_saved()
    assert cache.api == {}


class _AwayClient:
    """An API client whose server is away: every list fails as unreachable."""

    async def list(self, path: str, *, params: Any = None) -> Obj:
        raise Unreachable(f"list {path}: connection refused")


async def test_values_no_pod_needs_leave_the_disk(tmp_path: Path) -> None:
    """When the last pod naming a Secret goes, its value leaves objects.json too; meanwhile a
    watch that cannot reach the server counts as listed (a start does not hang on it)."""
    cache = ObjectCache(state_dir=str(tmp_path))
    task = asyncio.create_task(cache.run_api(cast("ApiClient", _AwayClient())))
    cache.want_for_pods([api_pod("s")])
    await wait_for(lambda: ("Secret", "ns", "s") in cache.synced, timeout=5, message="listed")
    secret = {"kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
              "data": {"k": base64.b64encode(b"v4lue").decode()}}  # fmt: skip
    cache.set_object(("Secret", "ns", "s"), secret)
    assert json.loads((tmp_path / SAVED_NAME).read_bytes())["objects"]
    cache.want_for_pods([])

    def saved() -> list[Obj]:
        objects: list[Obj] = json.loads((tmp_path / SAVED_NAME).read_bytes())["objects"]
        return objects

    await wait_for(lambda: saved() == [] or None, timeout=5, message="the value is dropped")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
