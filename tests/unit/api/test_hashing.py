"""Hashes are stable across processes and change with any change of their input."""

from __future__ import annotations

import copy
import subprocess
import sys
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeagent.api.defaults import default_object
from nodeagent.api.hashing import spec_hash, static_pod_uid, template_hash
from nodeagent.api.naming import ALPHANUMS, generate_name_suffix, static_pod_name

from .conftest import load_fixture


def template() -> dict[str, Any]:
    ds = default_object(load_fixture("daemonset-example.yaml"))
    tpl: dict[str, Any] = ds["spec"]["template"]
    return tpl


def test_template_hash_has_a_fixed_value() -> None:
    """The seed template's hash is pinned: any process, any machine, any day."""
    assert template_hash(template()) == "6b9866bfc8"
    assert template_hash(template(), 1) == "b64b6fc9f"


def test_template_hash_is_the_same_in_another_process() -> None:
    """A fresh interpreter (another hash seed) computes the same value."""
    code = (
        "from nodeagent.api.hashing import template_hash;"
        "print(template_hash({'metadata': {'labels': {'b': '1', 'a': '2'}}, 'spec': {}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == template_hash({"spec": {}, "metadata": {"labels": {"a": "2", "b": "1"}}})


def test_template_hash_ignores_key_order_and_uses_the_safe_alphabet() -> None:
    """Key order does not matter; the text uses only k8s's SafeEncodeString letters."""
    tpl = template()
    reordered = dict(reversed(list(tpl.items())))
    assert template_hash(reordered) == template_hash(tpl)
    assert set(template_hash(tpl)) <= set(ALPHANUMS)


def _edits() -> list[Any]:
    def image(t: dict[str, Any]) -> None:
        t["spec"]["containers"][0]["image"] = "heqingbao/k8s_myapp:v2"

    def label(t: dict[str, Any]) -> None:
        t["metadata"]["labels"]["extra"] = "x"

    def env(t: dict[str, Any]) -> None:
        t["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]

    def grace(t: dict[str, Any]) -> None:
        t["spec"]["terminationGracePeriodSeconds"] = 31

    def annotation(t: dict[str, Any]) -> None:
        t["metadata"]["annotations"] = {"a": "b"}

    return [
        pytest.param(image, id="image"),
        pytest.param(label, id="label"),
        pytest.param(env, id="env"),
        pytest.param(grace, id="grace"),
        pytest.param(annotation, id="annotation"),
    ]


@pytest.mark.parametrize("edit", _edits())
def test_template_hash_changes_with_any_change(edit: Any) -> None:
    """Every change of the template gives another hash, and so does the collision count."""
    before = template()
    after = copy.deepcopy(before)
    edit(after)
    assert template_hash(after) != template_hash(before)
    assert template_hash(before, 0) != template_hash(before)


def test_spec_hash_is_short_stable_hex() -> None:
    """spec_hash: 16 hex digits, order-insensitive, change-sensitive."""
    assert spec_hash({"a": 1, "b": [1, 2]}) == spec_hash({"b": [1, 2], "a": 1})
    assert spec_hash({"a": 1}) != spec_hash({"a": 2})
    assert len(spec_hash({})) == 16
    int(spec_hash({}), 16)


def test_static_pod_uid_is_a_stable_uuid() -> None:
    """Same file, content and node: same uid; any of the three changed: another uid."""
    uid = static_pod_uid("/etc/nodeagent/manifests/a.yaml", "abc", "node01")
    assert uid == "e49f5c73-80e0-5457-b04b-910319c6c78b"
    assert str(uuid.UUID(uid)) == uid
    others = {
        static_pod_uid("/etc/nodeagent/manifests/b.yaml", "abc", "node01"),
        static_pod_uid("/etc/nodeagent/manifests/a.yaml", "abd", "node01"),
        static_pod_uid("/etc/nodeagent/manifests/a.yaml", "abc", "node02"),
    }
    assert uid not in others
    assert len(others) == 3


def test_static_pod_name() -> None:
    """A static pod is named after its manifest and its node."""
    assert static_pod_name("etcd", "node01") == "etcd-node01"


@pytest.mark.parametrize(
    ("random_bytes", "suffix"),
    [
        pytest.param(bytes([0, 1, 2, 3, 4]), "bcdfg", id="first-letters"),
        pytest.param(bytes([26, 27, 255, 100, 53]), "9bqz9", id="wraps"),
    ],
)
def test_generate_name_suffix(random_bytes: bytes, suffix: str) -> None:
    """Five characters from the vowel-free alphabet, chosen by the caller's bytes."""
    assert generate_name_suffix(random_bytes) == suffix


def test_generate_name_suffix_needs_five_bytes() -> None:
    """Too few random bytes is a ValueError."""
    with pytest.raises(ValueError, match="5 random bytes"):
        generate_name_suffix(b"abc")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(deadline=None)
@given(st.dictionaries(st.text(max_size=4), _json, max_size=4), st.text(max_size=4), _json)
def test_template_hash_changes_when_any_field_changes(
    tpl: dict[str, Any], key: str, value: Any
) -> None:
    """Setting any field to a different value changes the hash; equal content, equal hash."""
    assert template_hash(copy.deepcopy(tpl)) == template_hash(tpl)
    changed = {**tpl, key: value}
    if changed != tpl:
        assert template_hash(changed) != template_hash(tpl)
