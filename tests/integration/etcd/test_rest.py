"""The server's REST tests (CRUD, semantics, deletes, watches) run again on the etcd store.

The test functions are the server suite's own, imported here, so this module's `server` and
`admin` fixtures (a server on etcd) serve them: one contract, both stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.integration.server.test_crud import (
    test_delete_collection,
    test_every_kind_round_trips,
    test_generate_name,
    test_list_across_namespaces,
    test_namespace_must_exist,
    test_not_found_and_already_exists_messages,
)
from tests.integration.server.test_delete import (
    test_background_delete_removes_owner_then_pods,
    test_bound_pod_is_deleted_gracefully,
    test_delete_preconditions,
    test_foreground_delete_waits_for_pods,
    test_namespace_delete_empties_it,
    test_orphan_delete_keeps_pods,
    test_unbound_pod_goes_at_once,
)
from tests.integration.server.test_node_graph import test_relation_follows_the_pods
from tests.integration.server.test_semantics import (
    test_generation_bumps_on_spec_changes_only,
    test_invalid_update_changes_nothing,
    test_server_side_apply_creates_then_merges,
    test_stale_resource_version_is_a_conflict,
    test_status_subresource_isolation,
)
from tests.integration.server.test_watch import (
    test_label_selector_watch_sees_object_leave,
    test_list_selectors,
    test_live_events_arrive,
    test_node_watch_sees_only_its_pods,
    test_watch_list_sends_initial_events_then_bookmark,
    test_watch_on_an_object_path,
    test_watch_resumes_after_a_version,
)
from tests.support.etcd import EtcdProcess
from tests.support.server import ServerInfo, running_server

# the cases run here (imported, so pytest collects them with this module's fixtures)
__all__ = [
    "test_background_delete_removes_owner_then_pods",
    "test_bound_pod_is_deleted_gracefully",
    "test_delete_collection",
    "test_delete_preconditions",
    "test_every_kind_round_trips",
    "test_foreground_delete_waits_for_pods",
    "test_generate_name",
    "test_generation_bumps_on_spec_changes_only",
    "test_invalid_update_changes_nothing",
    "test_label_selector_watch_sees_object_leave",
    "test_list_across_namespaces",
    "test_list_selectors",
    "test_live_events_arrive",
    "test_namespace_delete_empties_it",
    "test_namespace_must_exist",
    "test_node_watch_sees_only_its_pods",
    "test_not_found_and_already_exists_messages",
    "test_orphan_delete_keeps_pods",
    "test_relation_follows_the_pods",
    "test_server_side_apply_creates_then_merges",
    "test_stale_resource_version_is_a_conflict",
    "test_status_subresource_isolation",
    "test_unbound_pod_goes_at_once",
    "test_watch_list_sends_initial_events_then_bookmark",
    "test_watch_on_an_object_path",
    "test_watch_resumes_after_a_version",
]


@pytest.fixture
async def server(tmp_path: Path, etcd: EtcdProcess) -> AsyncIterator[ServerInfo]:
    """The real server over HTTPS on an empty etcd (controllers off, as in the server suite;
    the garbage collector runs in the elected leader, which is this one)."""
    async with running_server(
        tmp_path / "data",
        run_controllers=False,
        etcd_endpoints=(etcd.url,),
        store_url=f"etcd://{etcd.endpoint}",
    ) as srv:
        yield srv


@pytest.fixture
async def admin(server: ServerInfo) -> AsyncIterator[aiohttp.ClientSession]:
    async with server.session() as session:
        yield session
