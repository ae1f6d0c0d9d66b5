"""A small async Kubernetes REST client on aiohttp: the agent's only way to talk to the server.

Owns one ClientSession (the server certificate checked against the CA file, timeouts) and sends
each request with the current bearer token: a fixed one, or a TokenSource's (the agent's node
credential, agent/credentials.py), which hears of a 401 and may renew before one retry.
get/list/create/update/patch/delete, watch (newline-delimited JSON events; an ERROR event with
410 raises Gone), and the mapping of Status replies to nodeagent.api.errors classes.
A server that cannot be reached raises Unreachable. Given several server URLs (servers on one
etcd), a request that could not connect is sent to the next one at once (nothing reached the
first), and any other transport failure moves the following requests to the next one: an
agent whose server died goes on with another without a restart.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import structlog

from nodeagent.api import errors, jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.resources import BY_NAME

# Status reason -> error class; the HTTP code decides when the reason is unknown.
ERROR_BY_REASON: Mapping[str, type[errors.APIError]] = {
    cls.reason: cls
    for cls in (
        errors.BadRequest,
        errors.Unauthorized,
        errors.Forbidden,
        errors.NotFound,
        errors.MethodNotAllowed,
        errors.AlreadyExists,
        errors.Conflict,
        errors.Gone,
        errors.RequestEntityTooLarge,
        errors.UnsupportedMediaType,
        errors.Invalid,
        errors.TooManyRequests,
        errors.ServiceUnavailable,
    )
}
ERROR_BY_CODE: Mapping[int, type[errors.APIError]] = {
    400: errors.BadRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    409: errors.Conflict,
    410: errors.Gone,
    413: errors.RequestEntityTooLarge,
    415: errors.UnsupportedMediaType,
    422: errors.Invalid,
    429: errors.TooManyRequests,
    503: errors.ServiceUnavailable,
}
log = structlog.get_logger()

PATCH_TYPES: Mapping[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


class Unreachable(ConnectionError):
    """The server did not answer (refused, reset, timed out, TLS failure)."""


class TokenSource(Protocol):
    """Where a client's bearer token comes from when it can change (rotation, re-enrolment)."""

    async def token(self, client: ApiClient) -> str:
        """The token to send now (obtained first if there is none yet)."""
        ...

    async def rejected(self, client: ApiClient, token: str) -> None:
        """The server answered 401 to `token`: renew it (unless that happened already)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: Obj


def resource_path(
    resource: str,
    *,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """`resource_path("pods", namespace="ns", name="p", subresource="status")` -> URL path."""
    res = BY_NAME[resource]
    path = res.path_prefix
    if res.namespaced and namespace is not None:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{res.name}"
    if name is not None:
        path += f"/{quote(name, safe='')}"
        if subresource:
            path += f"/{subresource}"
    return path


def error_from_status(code: int, body: Any) -> errors.APIError:
    """The nodeagent.api.errors instance for a failed reply (a Status object, or anything)."""
    status: Obj = body if isinstance(body, dict) else {}
    reason = str(status.get("reason") or "")
    code = int(status.get("code") or code)
    cls = ERROR_BY_REASON.get(reason) or ERROR_BY_CODE.get(code) or errors.APIError
    details = status.get("details") or {}
    message = str(status.get("message") or f"HTTP {code}")
    err = cls(message, kind=str(details.get("kind") or ""), name=str(details.get("name") or ""))
    if cls is errors.APIError:
        err.code = code
        err.reason = reason or "InternalError"
    return err


def split_server_urls(text: str) -> tuple[str, ...]:
    """`https://a:6443,https://b:6443` -> each URL, without a trailing slash (etcd's
    --endpoints form: one flag and one config key hold every server)."""
    return tuple(u.strip().rstrip("/") for u in text.split(",") if u.strip())


class ApiClient:
    """One or more servers (one in use at a time), one token, one ClientSession. Every method
    raises APIError or Unreachable."""

    def __init__(
        self,
        *,
        server_url: str | Sequence[str],
        token: str | TokenSource,
        ca_file: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        urls = split_server_urls(server_url) if isinstance(server_url, str) else server_url
        self.servers = tuple(u.rstrip("/") for u in urls)
        if not self.servers:
            raise ValueError("ApiClient needs at least one server URL")
        self._current = 0
        self.timeout = timeout
        self._source = None if isinstance(token, str) else token
        self._fixed = token if isinstance(token, str) else ""
        self._headers = {"Accept": "application/json"}
        self._ssl: ssl.SSLContext | bool = True
        if any(u.startswith("https://") for u in self.servers):
            self._ssl = ssl.create_default_context(cafile=ca_file)
        self._session: aiohttp.ClientSession | None = None

    @property
    def server_url(self) -> str:
        """The server in use."""
        return self.servers[self._current]

    def _move_on(self, failed: str) -> None:
        """`failed` did not answer: use the next server (unless another caller moved already)."""
        if len(self.servers) > 1 and self.server_url == failed:
            self._current = (self._current + 1) % len(self.servers)
            log.warning("server_unreachable_trying_next", failed=failed, next=self.server_url)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                read_bufsize=1 << 20,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _token(self) -> str:
        return self._fixed if self._source is None else await self._source.token(self)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        bearer: str | None = None,
    ) -> Obj:
        """One request; `bearer` sends that token instead of the client's own (enrolment),
        and a 401 is then final. With a TokenSource, a 401 renews the token and retries once."""
        if bearer is not None:
            return await self._send(method, path, params, body, content_type, bearer)
        token = await self._token()
        try:
            return await self._send(method, path, params, body, content_type, token)
        except errors.Unauthorized:
            if self._source is None:
                raise
            await self._source.rejected(self, token)
        return await self._send(method, path, params, body, content_type, await self._token())

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        content_type: str,
        token: str,
    ) -> Obj:
        data = None if body is None else jsontext.dumpb(body)
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in range(len(self.servers)):
            server = self.server_url
            try:
                async with self._client().request(
                    method,
                    server + path,
                    params=dict(params or {}),
                    data=data,
                    headers=headers,
                    ssl=self._ssl,
                ) as resp:
                    reply = _json_or_none(await resp.read())
                    if resp.status >= 400:
                        raise error_from_status(resp.status, reply)
                    return reply if isinstance(reply, dict) else {}
            except aiohttp.ClientConnectorError as e:  # not connected: nothing was sent
                self._move_on(server)
                if attempt + 1 < len(self.servers):
                    continue
                raise Unreachable(f"{method} {path}: {type(e).__name__}: {e}") from e
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                # it may have been applied: the caller decides whether to send it again
                self._move_on(server)
                raise Unreachable(f"{method} {path}: {type(e).__name__}: {e}") from e
        raise AssertionError("unreachable: the loop returns or raises")

    async def get_text(self, path: str) -> str:
        """GET a plain-text path (/metrics, /healthz): the body as text."""
        headers = {"Authorization": f"Bearer {await self._token()}"}
        server = self.server_url
        try:
            async with self._client().get(server + path, ssl=self._ssl, headers=headers) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise error_from_status(resp.status, _json_or_none(text))
                return text
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            self._move_on(server)
            raise Unreachable(f"GET {path}: {type(e).__name__}: {e}") from e

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Obj:
        return await self.request("GET", path, params=params)

    async def list(self, path: str, *, params: Mapping[str, str] | None = None) -> Obj:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body=body)

    async def update(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body=body)

    async def patch(self, path: str, body: Any, *, patch_type: str = "merge") -> Obj:
        return await self.request("PATCH", path, body=body, content_type=PATCH_TYPES[patch_type])

    async def delete(self, path: str, *, options: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body=options)

    async def watch(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Follow a watch until the server ends it; ERROR events raise (410 -> errors.Gone).

        `read_timeout` bounds the silence between two lines (a partitioned server).
        """
        query = {**dict(params or {}), "watch": "true"}
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=read_timeout
        )
        # The token is checked when the watch starts; a rotation later leaves it running.
        token = await self._token()
        headers = {"Authorization": f"Bearer {token}"}
        server = self.server_url
        try:
            async with self._client().get(
                server + path,
                params=query,
                ssl=self._ssl,
                timeout=timeout,
                headers=headers,
            ) as resp:
                if resp.status == 401 and self._source is not None:
                    await self._source.rejected(self, token)  # the caller's retry uses the new
                if resp.status >= 400:
                    raise error_from_status(resp.status, _json_or_none(await resp.text()))
                async for raw in resp.content:
                    line = raw.strip()
                    if not line:
                        continue
                    event = jsontext.loads(line)
                    kind = str(event.get("type") or "")
                    obj = event.get("object") or {}
                    if kind == "ERROR":
                        raise error_from_status(int(obj.get("code") or 500), obj)
                    yield WatchEvent(type=kind, object=obj)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            self._move_on(server)  # the caller resumes from its resourceVersion on the next
            raise Unreachable(f"watch {path}: {type(e).__name__}: {e}") from e


def _json_or_none(text: str | bytes) -> Any:
    try:
        return jsontext.loads(text) if text else None
    except ValueError:
        return None
