"""Patches as kubectl v1.37 sends them (recorded bodies) give the objects Kubernetes gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import BadRequest, Invalid, UnsupportedMediaType
from nodeagent.api.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
)


def _ds() -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "fluentd-elasticsearch",
            "namespace": "kube-system",
            "labels": {"k8s-app": "fluentd-logging"},
            "resourceVersion": "7",
        },
        "spec": {
            "selector": {"matchLabels": {"name": "fluentd-elasticsearch"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"name": "fluentd-elasticsearch"}},
                "spec": {
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "fluentd-elasticsearch",
                            "image": "quay.io/fluentd_elasticsearch/fluentd:v2.5.2",
                            "resources": {"limits": {"memory": "200Mi"}},
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "volumeMounts": [
                                {"name": "varlog", "mountPath": "/var/log"},
                            ],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ],
                    "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log"}}],
                },
            },
        },
    }


def _smp(original: Obj, patch: Any, kind: str = "DaemonSet") -> Obj:
    return apply_patch(original, json.dumps(patch).encode(), STRATEGIC_MERGE_PATCH, kind=kind)


def _containers(obj: Obj) -> list[Obj]:
    result: list[Obj] = obj["spec"]["template"]["spec"]["containers"]
    return result


class TestStrategicMergePatch:
    def test_client_side_apply_image_change_merges_by_name(self) -> None:
        """The recorded apply body changes one container's image and keeps the rest of it."""
        original = _ds()
        patch = {
            "metadata": {
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}
            },
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "fluentd-elasticsearch"}],
                        "containers": [
                            {
                                "image": "quay.io/fluentd_elasticsearch/fluentd:v2.6.0",
                                "name": "fluentd-elasticsearch",
                            }
                        ],
                    }
                }
            },
        }
        result = _smp(original, patch)
        first = _containers(result)[0]
        assert first["image"] == "quay.io/fluentd_elasticsearch/fluentd:v2.6.0"
        assert first["resources"] == {"limits": {"memory": "200Mi"}}
        assert [c["name"] for c in _containers(result)] == ["fluentd-elasticsearch", "sidecar"]
        assert result["metadata"]["labels"] == {"k8s-app": "fluentd-logging"}
        assert (
            "kubectl.kubernetes.io/last-applied-configuration" in result["metadata"]["annotations"]
        )
        assert "$setElementOrder/containers" not in result["spec"]["template"]["spec"]
        assert _containers(original)[0]["image"].endswith("v2.5.2"), "original left untouched"

    def test_patch_delete_directive_removes_a_container(self) -> None:
        """`$patch: delete` in a list removes the item with that merge key."""
        result = _smp(
            _ds(),
            {
                "spec": {
                    "template": {"spec": {"containers": [{"$patch": "delete", "name": "sidecar"}]}}
                }
            },
        )
        assert [c["name"] for c in _containers(result)] == ["fluentd-elasticsearch"]

    def test_patch_delete_directive_removes_a_volume(self) -> None:
        """Removing a volume from a manifest sends a delete directive for it."""
        result = _smp(
            _ds(),
            {"spec": {"template": {"spec": {"volumes": [{"$patch": "delete", "name": "varlog"}]}}}},
        )
        assert result["spec"]["template"]["spec"]["volumes"] == []

    def test_retain_keys_switches_a_volume_source(self) -> None:
        """`$retainKeys` drops the old hostPath when a volume becomes an emptyDir."""
        patch: Obj = {
            "spec": {
                "template": {
                    "spec": {
                        "volumes": [
                            {
                                "$retainKeys": ["emptyDir", "name"],
                                "emptyDir": {},
                                "hostPath": None,
                                "name": "varlog",
                            }
                        ]
                    }
                }
            }
        }
        result = _smp(_ds(), patch)
        assert result["spec"]["template"]["spec"]["volumes"] == [{"name": "varlog", "emptyDir": {}}]

    def test_strategy_switch_removes_rolling_update(self) -> None:
        """Switching to OnDelete nulls rollingUpdate, as kubectl's apply patch does."""
        result = _smp(
            _ds(), {"spec": {"updateStrategy": {"rollingUpdate": None, "type": "OnDelete"}}}
        )
        assert result["spec"]["updateStrategy"] == {"type": "OnDelete"}

    def test_null_removes_fields(self) -> None:
        """`null` deletes a field (tolerations, nodeSelector, resources.limits)."""
        patch = {
            "spec": {
                "template": {
                    "spec": {
                        "tolerations": None,
                        "nodeSelector": None,
                        "containers": [
                            {"name": "fluentd-elasticsearch", "resources": {"limits": None}}
                        ],
                    }
                }
            }
        }
        result = _smp(_ds(), patch)
        spec = result["spec"]["template"]["spec"]
        assert "tolerations" not in spec
        assert _containers(result)[0]["resources"] == {}

    def test_rollout_undo_replaces_the_whole_template(self) -> None:
        """The ControllerRevision data `$patch: replace` swaps the template wholesale."""
        template = {
            "metadata": {"labels": {"name": "fluentd-elasticsearch"}},
            "spec": {"containers": [{"image": "old:1", "name": "only"}]},
            "$patch": "replace",
        }
        result = _smp(_ds(), {"spec": {"template": template}})
        assert result["spec"]["template"] == {
            "metadata": {"labels": {"name": "fluentd-elasticsearch"}},
            "spec": {"containers": [{"image": "old:1", "name": "only"}]},
        }
        assert result["spec"]["selector"] == {"matchLabels": {"name": "fluentd-elasticsearch"}}

    def test_taints_list_is_replaced_whole(self) -> None:
        """`kubectl taint` sends the whole new list; taints have no merge key."""
        node = {"kind": "Node", "spec": {"taints": [{"key": "old", "effect": "NoSchedule"}]}}
        new = [
            {"effect": "NoSchedule", "key": "key", "value": "value"},
            {"key": "old", "effect": "NoSchedule"},
        ]
        result = _smp(node, {"spec": {"taints": new}}, kind="Node")
        assert result["spec"]["taints"] == new
        cleared = _smp(result, {"spec": {"taints": None}}, kind="Node")
        assert cleared["spec"] == {}

    def test_cordon_and_uncordon(self) -> None:
        """cordon sets spec.unschedulable; uncordon's null removes it."""
        node = {"kind": "Node", "metadata": {"name": "n1"}, "spec": {}}
        cordoned = _smp(node, {"spec": {"unschedulable": True}}, kind="Node")
        assert cordoned["spec"] == {"unschedulable": True}
        assert _smp(cordoned, {"spec": {"unschedulable": None}}, kind="Node")["spec"] == {}

    def test_env_merges_by_name_and_appends_new(self) -> None:
        """env items merge by name; new ones are appended."""
        patch = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "fluentd-elasticsearch",
                                "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                            }
                        ]
                    }
                }
            }
        }
        env = _containers(_smp(_ds(), patch))[0]["env"]
        assert env == [
            {"name": "A", "value": "1"},
            {"name": "B", "value": "3"},
            {"name": "C", "value": "4"},
        ]

    def test_set_element_order_reorders_and_keeps_server_only_items(self) -> None:
        """$setElementOrder puts patch items in the given order; server-only items stay."""
        patch = {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [
                            {"name": "new"},
                            {"name": "fluentd-elasticsearch"},
                        ],
                        "containers": [{"name": "new", "image": "x"}],
                    }
                }
            }
        }
        names = [c["name"] for c in _containers(_smp(_ds(), patch))]
        assert names == ["new", "fluentd-elasticsearch", "sidecar"]

    def test_delete_from_primitive_list(self) -> None:
        """`$deleteFromPrimitiveList/finalizers` removes values; finalizers merge as a set."""
        obj = {"metadata": {"finalizers": ["a", "b"]}}
        merged = _smp(obj, {"metadata": {"finalizers": ["b", "c"]}})
        assert merged["metadata"]["finalizers"] == ["a", "b", "c"]
        removed = _smp(merged, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
        assert removed["metadata"]["finalizers"] == ["b", "c"]

    def test_conditions_merge_by_type(self) -> None:
        """Status conditions merge by type (a node status patch)."""
        node = {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "MemoryPressure", "status": "False"},
                ]
            }
        }
        result = _smp(
            node, {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}, kind="Node"
        )
        assert result["status"]["conditions"] == [
            {"type": "Ready", "status": "Unknown"},
            {"type": "MemoryPressure", "status": "False"},
        ]

    def test_restart_annotation_added_to_template(self) -> None:
        """rollout restart's body adds the restartedAt annotation to the template."""
        stamp = "2026-11-23T13:00:00Z"
        patch = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}
                }
            }
        }
        meta = _smp(_ds(), patch)["spec"]["template"]["metadata"]
        assert meta["annotations"] == {"kubectl.kubernetes.io/restartedAt": stamp}
        assert meta["labels"] == {"name": "fluentd-elasticsearch"}

    def test_item_without_merge_key_is_a_bad_request(self) -> None:
        """A container without its name cannot be merged."""
        with pytest.raises(BadRequest, match="merge key: name"):
            _smp(_ds(), {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}})

    def test_not_json_is_a_bad_request(self) -> None:
        """A body that is not JSON is refused with 400."""
        with pytest.raises(BadRequest):
            apply_patch(_ds(), b"{not json", STRATEGIC_MERGE_PATCH, kind="DaemonSet")


class TestMergePatch:
    def test_label_and_label_removal(self) -> None:
        """kubectl label sends a merge patch; `key-` sends null."""
        node = {"metadata": {"name": "n1", "labels": {"a": "1"}}}
        body = b'{"metadata":{"labels":{"disktype":"ssd"}}}'
        labelled = apply_patch(
            node, body, "application/merge-patch+json; charset=utf-8", kind="Node"
        )
        assert labelled["metadata"]["labels"] == {"a": "1", "disktype": "ssd"}
        removed = apply_patch(
            labelled, b'{"metadata":{"labels":{"disktype":null}}}', MERGE_PATCH, kind="Node"
        )
        assert removed["metadata"]["labels"] == {"a": "1"}

    def test_lists_are_replaced(self) -> None:
        """A merge patch replaces lists whole, even containers."""
        body = json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}})
        result = apply_patch(_ds(), body.encode(), MERGE_PATCH, kind="DaemonSet")
        assert _containers(result) == [{"name": "x"}]

    def test_non_object_is_refused(self) -> None:
        """A merge patch must be a JSON object."""
        with pytest.raises(BadRequest):
            apply_patch(_ds(), b"[1]", MERGE_PATCH, kind="DaemonSet")


class TestJSONPatch:
    def test_every_operation(self) -> None:
        """add, replace, remove, copy, move and test, in order."""
        ops = [
            {"op": "test", "path": "/metadata/name", "value": "fluentd-elasticsearch"},
            {"op": "add", "path": "/metadata/labels/tier", "value": "node"},
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "v3"},
            {"op": "remove", "path": "/spec/template/spec/containers/1"},
            {"op": "copy", "from": "/metadata/labels/tier", "path": "/metadata/labels/copy"},
            {"op": "move", "from": "/metadata/labels/copy", "path": "/metadata/labels/moved"},
            {"op": "add", "path": "/spec/template/spec/tolerations/-", "value": {"key": "b"}},
            {"op": "add", "path": "/metadata/annotations", "value": {"a~b/c": "x"}},
            {"op": "test", "path": "/metadata/annotations/a~0b~1c", "value": "x"},
        ]
        result = apply_patch(_ds(), json.dumps(ops).encode(), JSON_PATCH, kind="DaemonSet")
        assert result["metadata"]["labels"] == {
            "k8s-app": "fluentd-logging",
            "tier": "node",
            "moved": "node",
        }
        assert [c["image"] for c in _containers(result)] == ["v3"]
        assert result["spec"]["template"]["spec"]["tolerations"][-1] == {"key": "b"}

    def test_failed_test_is_invalid(self) -> None:
        """A failing `test` operation rejects the whole patch with 422."""
        ops = [{"op": "test", "path": "/metadata/name", "value": "other"}]
        with pytest.raises(Invalid, match="test operation failed"):
            apply_patch(_ds(), json.dumps(ops).encode(), JSON_PATCH, kind="DaemonSet")

    def test_missing_path_is_invalid(self) -> None:
        """Removing what is not there is 422."""
        ops = [{"op": "remove", "path": "/spec/nothing"}]
        with pytest.raises(Invalid):
            apply_patch(_ds(), json.dumps(ops).encode(), JSON_PATCH, kind="DaemonSet")


class TestApplyPatch:
    def test_create_when_absent(self) -> None:
        """Server-side apply on a missing object yields the applied manifest."""
        manifest = _ds()
        del manifest["metadata"]["resourceVersion"]
        result = apply_patch({}, json.dumps(manifest).encode(), APPLY_PATCH, kind="DaemonSet")
        assert result == manifest

    def test_yaml_body_merges_with_live_object(self) -> None:
        """A YAML apply body is merged into the live object with merge keys."""
        body = b"""
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd-elasticsearch
spec:
  template:
    spec:
      containers:
      - name: fluentd-elasticsearch
        image: v9
"""
        result = apply_patch(_ds(), body, APPLY_PATCH, kind="DaemonSet")
        assert _containers(result)[0]["image"] == "v9"
        assert _containers(result)[0]["resources"] == {"limits": {"memory": "200Mi"}}
        assert result["metadata"]["resourceVersion"] == "7"

    def test_kind_mismatch_is_refused(self) -> None:
        """Applying a Pod manifest to a DaemonSet is a bad request."""
        with pytest.raises(BadRequest, match="kind"):
            apply_patch(_ds(), b'{"kind":"Pod","apiVersion":"v1"}', APPLY_PATCH, kind="DaemonSet")


def test_unknown_media_type_is_415() -> None:
    """Only the four patch types are accepted."""
    with pytest.raises(UnsupportedMediaType, match="accepted media types"):
        apply_patch(_ds(), b"{}", "application/json", kind="DaemonSet")


_keys = st.sampled_from(["a", "b", "c", "labels", "spec"])
_scalars = st.one_of(st.integers(), st.text(max_size=3), st.booleans())
_values = st.recursive(
    _scalars, lambda inner: st.dictionaries(_keys, inner, max_size=3), max_leaves=8
)
_patches = st.recursive(
    st.one_of(_scalars, st.none()),
    lambda inner: st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)


@given(
    original=st.dictionaries(_keys, _values, max_size=4),
    patch=st.dictionaries(_keys, _patches, max_size=4),
)
def test_merge_patch_is_idempotent_and_smp_agrees_on_maps(original: Obj, patch: Obj) -> None:
    """Applying a merge patch twice changes nothing more; on maps of scalars SMP is the same."""
    body = json.dumps(patch).encode()
    once = apply_patch(original, body, MERGE_PATCH, kind="X")
    assert apply_patch(once, body, MERGE_PATCH, kind="X") == once
    assert apply_patch(original, body, STRATEGIC_MERGE_PATCH, kind="X") == once


def test_replace_directive_in_lists_without_merge_key() -> None:
    """`{"$patch": "replace"}` in a list replaces it and never lands in the result."""
    node = {"spec": {"taints": [{"key": "a"}]}, "metadata": {"finalizers": ["x", "y"]}}
    patch = {
        "spec": {"taints": [{"$patch": "replace"}, {"key": "b"}]},
        "metadata": {"finalizers": [{"$patch": "replace"}, "z"]},
    }
    result = _smp(node, patch, kind="Node")
    assert result["spec"]["taints"] == [{"key": "b"}]
    assert result["metadata"]["finalizers"] == ["z"]
