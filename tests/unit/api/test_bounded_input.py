"""The pure limits on untrusted input: nesting depth from the text, Kubernetes' YAML alias
budget, JSON patch limits, the type gate and duplicate keys (docs/security.md)."""

from __future__ import annotations

import json

import pytest

from nodeagent.api import jsontext, limits
from nodeagent.api.decode import DecodeError, decode_documents, load_json, load_yaml
from nodeagent.api.errors import BadRequest, Invalid, RequestEntityTooLarge
from nodeagent.api.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    strategic_merge,
)
from nodeagent.api.typecheck import check_types, type_errors
from tests.support import bombs

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        pytest.param(b"[" * 100 + b"]" * 100, False, id="100-deep"),
        pytest.param(b"[" * 101 + b"]" * 101, True, id="101-deep"),
        pytest.param(b'{"a":"' + b"[" * 500 + b'"}', False, id="brackets-in-a-string"),
        pytest.param(b'["\\"' + b"[" * 200 + b'"]', False, id="escaped-quote"),
        pytest.param(b"[]" * 1000, False, id="wide"),
        pytest.param(bombs.deep_json(), True, id="10000-deep"),
        pytest.param(b'"' + b"[" * 200, True, id="unterminated-string-counts"),
    ],
)
def test_json_depth_is_read_from_the_text(text: bytes, too_deep: bool) -> None:
    """Depth counts brackets outside strings, without decoding."""
    assert limits.json_too_deep(text) is too_deep
    assert limits.json_too_deep(text.decode()) is too_deep


def test_deep_json_is_refused_before_decoding() -> None:
    """load_json and decode_documents name the limit, never RecursionError."""
    with pytest.raises(DecodeError, match="more than 100 levels"):
        load_json(bombs.deep_json())
    with pytest.raises(DecodeError, match="more than 100 levels"):
        decode_documents(bombs.deep_json_object().decode(), source="x.json")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(bombs.deep_yaml_flow(), id="flow"),
        pytest.param(bombs.deep_yaml_block(), id="block"),
        pytest.param(
            b"a0: &a0 [x]\n"
            + b"".join(b"a%d: &a%d [*a%d]\n" % (i, i, i - 1) for i in range(1, 150)),
            id="anchors-nested-by-aliases",
        ),
    ],
)
def test_deep_yaml_is_refused(text: bytes) -> None:
    """The composer stops at 100 levels; aliases cannot nest deeper than that either."""
    with pytest.raises(DecodeError, match="more than 100 levels"):
        load_yaml(text.decode())


@pytest.mark.parametrize(
    "text",
    [bombs.yaml_alias_bomb(), bombs.yaml_merge_bomb()],
    ids=["billion-laughs", "merge-keys"],
)
def test_alias_bombs_are_refused(text: bytes) -> None:
    """Past Kubernetes' alias budget: "document contains excessive aliasing", with where."""
    with pytest.raises(DecodeError, match="excessive aliasing") as caught:
        decode_documents(text.decode(), source="bomb.yaml")
    assert str(caught.value).startswith("bomb.yaml:")


def test_modest_aliasing_is_kept() -> None:
    """Anchors reused a few times (and merge keys) decode as before."""
    text = (
        "base: &base {image: busybox, imagePullPolicy: IfNotPresent}\n"
        "a: {<<: *base, name: a}\n"
        "b: {<<: [*base, {name: x, tty: true}], name: b}\n"
        "list: [*base, *base]\n"
    )
    value = load_yaml(text)
    assert value["a"] == {"image": "busybox", "imagePullPolicy": "IfNotPresent", "name": "a"}
    assert value["b"]["name"] == "b"
    assert value["b"]["tty"] is True
    assert value["list"] == [{"image": "busybox", "imagePullPolicy": "IfNotPresent"}] * 2


def test_a_thousand_aliases_of_a_large_document_are_within_budget() -> None:
    """The budget is a ratio: a document mostly its own nodes may alias freely."""
    items = "".join(f"  k{i}: v{i}\n" for i in range(2000))
    text = f"a: &a\n{items}" + "".join(f"b{i}: *a\n" for i in range(3))
    assert len(load_yaml(text)) == 4


def test_recursive_alias_is_an_error() -> None:
    with pytest.raises(DecodeError, match="recursive alias"):
        load_yaml("a: &a [*a]\n")


def test_alias_ratio_follows_kubernetes() -> None:
    """99 % up to 400,000 decodes, 10 % from 4,000,000, linear between."""
    assert limits.allowed_alias_ratio(1_000) == 0.99
    assert limits.allowed_alias_ratio(4_000_000) == 0.10
    assert limits.allowed_alias_ratio(2_200_000) == pytest.approx(0.545)
    assert not limits.excessive_aliasing(decoded=1000, aliased=1000)
    assert limits.excessive_aliasing(decoded=1001, aliased=1000)


def test_json_patch_operation_count() -> None:
    """At most 10,000 operations (kube-apiserver's maxJSONPatchOperations): 413 past it."""
    op = {"op": "test", "path": "/kind", "value": "Node"}
    with pytest.raises(RequestEntityTooLarge, match="is 10000, got 10001"):
        apply_patch(NODE, json.dumps([op] * 10_001).encode(), JSON_PATCH, kind="Node")
    assert apply_patch(NODE, json.dumps([op] * 10_000).encode(), JSON_PATCH, kind="Node") == NODE


def test_json_patch_copies_stop_at_the_copy_budget() -> None:
    """Each copy is measured before it is made: 422 at 3 MiB, not 32 GiB later."""
    with pytest.raises(Invalid, match="exceeding the limit 3145728"):
        apply_patch(NODE, bombs.copy_amplification(), JSON_PATCH, kind="Node")
    small = bombs.copy_amplification(copies=3, at="/spec")
    assert len(apply_patch(NODE, small, JSON_PATCH, kind="Node")["spec"]) == 4


def test_a_patched_object_may_not_outgrow_the_body_limit() -> None:
    big = {"spec": {"padding": "x" * limits.MAX_BODY_BYTES}}
    with pytest.raises(RequestEntityTooLarge, match="the limit is 3145728"):
        apply_patch(NODE, json.dumps(big).encode(), MERGE_PATCH, kind="Node")


def test_strategic_merge_of_long_lists_is_linear() -> None:
    """100,000 containers merged by name, reordered by $setElementOrder, then deleted: all
    keyed lookups (a scan per item was 10^10 comparisons)."""
    names = [f"c{i}" for i in range(100_000)]
    original = {"spec": {"containers": [{"name": n, "image": "a"} for n in names]}}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": n} for n in reversed(names)],
            "containers": [{"name": n, "image": "b"} for n in names[::2]],
        }
    }
    merged = strategic_merge(original, patch)["spec"]["containers"]
    assert [c["name"] for c in merged] == list(reversed(names))
    assert merged[-1] == {"name": "c0", "image": "b"}
    assert merged[-2] == {"name": "c1", "image": "a"}
    deleting = {"spec": {"containers": [{"name": n, "$patch": "delete"} for n in names[1:]]}}
    body = json.dumps(deleting).encode()
    result = apply_patch(original, body, STRATEGIC_MERGE_PATCH, kind="Pod")
    assert result["spec"]["containers"] == [{"name": "c0", "image": "a"}]


@pytest.mark.parametrize(
    ("obj", "errors"),
    [
        pytest.param(
            {"kind": "Pod", "metadata": "x"},
            ['metadata: Invalid value: "x": must be an object'],
            id="metadata",
        ),
        pytest.param(
            {"kind": "Pod", "spec": {"containers": [None, {"ports": [{"containerPort": "80"}]}]}},
            [
                "spec.containers[0]: Invalid value: null: must be an object",
                'spec.containers[1].ports[0].containerPort: Invalid value: "80": must be an '
                "integer",
            ],
            id="nested",
        ),
        pytest.param(
            {"kind": "Node", "metadata": {"labels": {"a": True}}, "spec": {"taints": "x"}},
            [
                "metadata.labels[a]: Invalid value: true: must be a string",
                'spec.taints: Invalid value: "x": must be a list',
            ],
            id="node",
        ),
        pytest.param(
            {"kind": "Unserved", "metadata": {"name": 1}, "spec": "anything"},
            ["metadata.name: Invalid value: 1: must be a string"],
            id="unknown-kind-meta-only",
        ),
        pytest.param(
            {"kind": "Pod", "metadata": None, "spec": {"containers": []}, "status": None},
            [],
            id="null-is-absent",
        ),
    ],
)
def test_type_errors_name_every_field(obj: dict[str, object], errors: list[str]) -> None:
    assert [str(e) for e in type_errors(obj)] == errors


def test_check_types_raises_invalid_with_causes() -> None:
    with pytest.raises(Invalid) as caught:
        check_types({"kind": "DaemonSet", "metadata": {"name": "d"}, "spec": 5}, kind="DaemonSet")
    assert caught.value.message == 'DaemonSet.apps "d" is invalid: spec: Invalid value: 5: ' + (
        "must be an object"
    )
    assert [c.field for c in caught.value.causes] == ["spec"]


def test_a_body_is_checked_as_the_resource_it_is_sent_to() -> None:
    """A body claiming another kind is still checked as the URL's kind (schemathesis found a
    Namespace status of 3.7e16 stored under `"kind": "Other"`)."""
    with pytest.raises(Invalid, match="status: Invalid value: 5: must be an object"):
        check_types({"kind": "Other", "status": 5}, kind="Namespace")


def test_delete_options_types() -> None:
    errors = type_errors({"dryRun": ["All", 1], "preconditions": {"uid": 2}}, "DeleteOptions")
    assert [str(e) for e in errors] == [
        "dryRun[1]: Invalid value: 1: must be a string",
        "preconditions.uid: Invalid value: 2: must be a string",
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param(b'{"a":1,"a":2}', ["a"], id="top"),
        pytest.param(b'{"m":{"n":1,"n":2},"l":[{"x":1,"x":1}]}', ["l[0].x", "m.n"], id="nested"),
        pytest.param(b'{"a":1,"b":{"a":1}}', [], id="same-key-in-two-objects"),
        pytest.param(b"not json", [], id="not-json"),
        pytest.param(bombs.deep_json(), [], id="too-deep"),
    ],
)
def test_duplicate_fields(text: bytes, found: list[str]) -> None:
    assert jsontext.duplicate_fields(text) == found


def test_patch_bodies_use_the_bounded_loaders() -> None:
    with pytest.raises(BadRequest, match="more than 100 levels"):
        apply_patch(NODE, bombs.deep_json(), MERGE_PATCH, kind="Node")
    with pytest.raises(BadRequest, match="excessive aliasing"):
        apply_patch(
            NODE, bombs.yaml_alias_bomb("Node", "n1"), "application/apply-patch+yaml", kind="Node"
        )
