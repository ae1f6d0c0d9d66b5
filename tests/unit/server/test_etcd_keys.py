"""The etcd store's key layout (kube-apiserver's) and prefix ranges. Pure."""

from __future__ import annotations

import pytest

from nodeagent.server.store.etcd import etcd_key, parse_key
from nodeagent.server.store.etcdclient import prefix_end


@pytest.mark.parametrize(
    ("resource", "namespace", "name", "key"),
    [
        ("pods", "default", "web-1", "/registry/pods/default/web-1"),
        ("nodes", "", "node1", "/registry/nodes/node1"),
        ("daemonsets", "kube-system", "fluentd", "/registry/daemonsets/kube-system/fluentd"),
        ("leases", "kube-node-lease", "node1", "/registry/leases/kube-node-lease/node1"),
    ],
)
def test_keys_round_trip(resource: str, namespace: str, name: str, key: str) -> None:
    assert etcd_key(resource, namespace, name) == key
    assert parse_key(key) == (resource, namespace, name)


@pytest.mark.parametrize("key", ["compact_rev_key", "/registry/pods", "/registry/a/b/c/d"])
def test_other_keys_are_not_objects(key: str) -> None:
    assert parse_key(key) is None


def test_prefix_end_covers_the_prefix_only() -> None:
    end = prefix_end("/registry/")
    assert end == "/registry0"
    assert "/registry/" <= "/registry/zzz" < end
    assert not "/registry/" <= "/registrx" < end
