"""PURE list paging: `limit` and `continue`, as kube-apiserver pages a list.

A page holds at most `limit` items in key order ((namespace, name), as etcd orders
`/registry/<resource>/<namespace>/<name>`); when more remain, its `metadata.continue` is
kube-apiserver's token: URL-safe base64 (no padding) of `{"v":"meta.k8s.io/v1","rv":RV,
"start":"<key of the last item>\\x00"}`. The next request with that token gets the items after
that key and the first page's resourceVersion.

Departure: kube-apiserver serves every page from the store as it was at the first page's
revision; this server serves later pages from the current objects (it keeps no old
snapshots). A client that lists and then watches from the list's resourceVersion still ends up
current: the watch replays every change after that version.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import BadRequest

TOKEN_VERSION = "meta.k8s.io/v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRequest:
    limit: int  # 0: everything
    after: tuple[str, str] | None  # the (namespace, name) the previous page ended with
    resource_version: int | None  # the first page's, from the continue token


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    items: list[Obj]
    continue_token: str  # "" on the last page
    remaining: int  # items after this page (0 on the last page)


def page_request(query: Mapping[str, str]) -> PageRequest:
    """`limit` and `continue` of a list request; BadRequest names the bad parameter."""
    raw_limit = query.get("limit", "") or "0"
    try:
        limit = int(raw_limit)
    except ValueError:
        raise BadRequest(f"invalid value for limit: {raw_limit!r} is not an integer") from None
    token = query.get("continue", "")
    if not token:
        return PageRequest(limit=max(limit, 0), after=None, resource_version=None)
    after, rv = decode_continue(token)
    return PageRequest(limit=max(limit, 0), after=after, resource_version=rv)


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def encode_continue(last: tuple[str, str], resource_version: int) -> str:
    namespace, name = last
    start = f"{namespace}/{name}\x00" if namespace else f"{name}\x00"
    body = {"v": TOKEN_VERSION, "rv": resource_version, "start": start}
    text = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_continue(token: str) -> tuple[tuple[str, str], int]:
    """The key the previous page ended with and its resourceVersion."""
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        version, rv, start = body["v"], body["rv"], body["start"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
        raise BadRequest(f"invalid continue token: continue key is not valid: {e}") from None
    if version != TOKEN_VERSION or not isinstance(rv, int) or rv < 1:
        raise BadRequest("invalid continue token: continue key is not valid: unknown version")
    if not isinstance(start, str) or not start.endswith("\x00"):
        raise BadRequest("invalid continue token: continue key is not valid: bad start key")
    namespace, _, name = start[:-1].rpartition("/")
    return (namespace, name), rv


def take_page(items: Sequence[Obj], request: PageRequest, *, resource_version: int) -> Page:
    """The page of `items` that `request` asks for, in key order."""
    if not request.limit and request.after is None:
        return Page(items=list(items), continue_token="", remaining=0)
    rest = sorted(items, key=_key)
    if request.after is not None:
        rest = [o for o in rest if _key(o) > request.after]
    if not request.limit or len(rest) <= request.limit:
        return Page(items=rest, continue_token="", remaining=0)
    page = rest[: request.limit]
    rv = request.resource_version or resource_version
    return Page(
        items=page,
        continue_token=encode_continue(_key(page[-1]), rv),
        remaining=len(rest) - len(page),
    )
