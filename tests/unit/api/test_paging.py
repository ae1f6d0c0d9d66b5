"""List paging: limit and continue as kube-apiserver pages, its token format included."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeagent.api.errors import BadRequest
from nodeagent.api.paging import decode_continue, encode_continue, page_request, take_page


def _pod(namespace: str, name: str) -> dict[str, object]:
    return {"metadata": {"namespace": namespace, "name": name}}


def test_the_token_is_kube_apiservers() -> None:
    """URL-safe base64 without padding of {"v","rv","start": key + NUL}: a token of
    kube-apiserver decodes, and ours has the same shape."""
    theirs = base64.urlsafe_b64encode(
        json.dumps({"v": "meta.k8s.io/v1", "rv": 12, "start": "default/web-2\u0000"}).encode()
    )
    assert decode_continue(theirs.decode().rstrip("=")) == (("default", "web-2"), 12)
    ours = encode_continue(("kube-system", "fluentd-x"), 40)
    assert "=" not in ours
    body = json.loads(base64.urlsafe_b64decode(ours + "=" * (-len(ours) % 4)))
    assert body == {"v": "meta.k8s.io/v1", "rv": 40, "start": "kube-system/fluentd-x\u0000"}
    assert decode_continue(encode_continue(("", "node-1"), 7)) == (("", "node-1"), 7)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"limit": "ten"}, "invalid value for limit"),
        ({"continue": "%%%"}, "invalid continue token"),
        (
            {"continue": base64.urlsafe_b64encode(b'{"v":"x","rv":1,"start":"a\\u0000"}').decode()},
            "invalid continue token",
        ),
        (
            {"continue": base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1","rv":1}').decode()},
            "invalid continue token",
        ),
    ],
)
def test_bad_parameters_are_named(query: dict[str, str], words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        page_request(query)


@given(
    names=st.sets(
        st.tuples(
            st.sampled_from(["", "a", "kube-system"]), st.text("abc-1", min_size=1, max_size=4)
        )
    ),
    limit=st.integers(min_value=1, max_value=5),
)
def test_following_the_tokens_gives_every_item_once_in_key_order(
    names: set[tuple[str, str]], limit: int
) -> None:
    items = [_pod(ns, name) for ns, name in names]
    seen: list[tuple[str, str]] = []
    request = page_request({"limit": str(limit)})
    for _ in range(len(items) + 1):
        page = take_page(items, request, resource_version=9)
        assert len(page.items) <= limit
        seen += [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in page.items]
        assert page.remaining == len(items) - len(seen)
        if not page.continue_token:
            break
        request = page_request({"limit": str(limit), "continue": page.continue_token})
        assert request.resource_version == 9
    assert seen == sorted(names)


def test_no_limit_is_everything_as_given() -> None:
    items = [_pod("b", "x"), _pod("a", "y")]
    page = take_page(items, page_request({}), resource_version=3)
    assert page.items == items
    assert (page.continue_token, page.remaining) == ("", 0)
