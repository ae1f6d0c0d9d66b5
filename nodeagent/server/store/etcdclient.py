"""A small etcd v3 client over etcd's JSON gRPC gateway (keys and values base64) with aiohttp.

Only what the etcd Store needs: ranges (paginated, at a revision), single-key compare-and-swap
transactions, deletes, compaction, status and one streaming watch. Endpoints are tried in
turn: the one that answered last is asked first. It knows nothing of API objects.
"""

from __future__ import annotations

import base64
import errno as errno_names
import json
import os
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

PAGE = 1000  # keys per range request when listing a prefix
_COMPACTED = "required revision has been compacted"


class EtcdUnavailable(ConnectionError):
    """No endpoint answered; the message is the reason (e.g. "connection refused")."""


class EtcdError(RuntimeError):
    """etcd answered with an error (the message is etcd's)."""


class Compacted(EtcdError):
    """A range or watch asked for a revision etcd has compacted away."""

    def __init__(self, message: str, *, compact_revision: int = 0) -> None:
        super().__init__(message)
        self.compact_revision = compact_revision


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int = 0
    version: int = 0  # writes since the key was created


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: Literal["PUT", "DELETE"]
    kv: KeyValue  # DELETE: the key and the delete's revision, no value
    prev: KeyValue | None  # the key before this change (watch with prev_kv)


@dataclass(frozen=True, slots=True, kw_only=True)
class TxnResult:
    succeeded: bool
    revision: int  # the store's revision after the transaction
    kvs: tuple[KeyValue, ...]  # failure: the key as it is now; delete: the deleted key


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with `prefix` (last byte + 1)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(raw.get("key", "")).decode(),
        value=base64.b64decode(raw.get("value", "")),
        mod_revision=int(raw.get("mod_revision", 0)),
        create_revision=int(raw.get("create_revision", 0)),
        version=int(raw.get("version", 0)),
    )


def _reason(exc: BaseException) -> str:
    """A short reason for a failed connection: "connection refused", "timed out", ..."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        if code is not None and code in errno_names.errorcode:
            return os.strerror(code).lower()
        return str(exc.os_error) or type(exc.os_error).__name__
    return str(exc) or type(exc).__name__


def _watch_events(result: dict[str, Any]) -> list[Event]:
    return [
        Event(
            type="DELETE" if ev.get("type") == "DELETE" else "PUT",
            kv=_kv(ev.get("kv") or {}),
            prev=_kv(ev["prev_kv"]) if ev.get("prev_kv") else None,
        )
        for ev in result.get("events") or ()
    ]


class EtcdClient:
    """Talks to the first endpoint that answers (`http://HOST:PORT`), sticking to it."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self._endpoints = list(endpoints)
        self._timeout = timeout
        self._ssl = ssl_context  # https endpoints: etcd's CA, and our client certificate
        self._session: aiohttp.ClientSession | None = None

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl) if self._ssl else None
            self._session = aiohttp.ClientSession(raise_for_status=False, connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(
        self, path: str, body: dict[str, Any], *, read: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        """POST to each endpoint in turn until one takes the connection; etcd errors are
        raised as such. A write that was sent is never sent again (it may have been
        applied): a timeout or a dropped connection after connecting is EtcdUnavailable. A
        read is tried once more (a kept-alive connection etcd closed when it restarted)."""
        failure: BaseException | None = None
        for attempt in range(len(self._endpoints) + (1 if read else 0)):
            base = self._endpoints[0]
            try:
                async with self._http().post(
                    base + path,
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
                ) as resp:
                    answer: dict[str, Any] = json.loads(await resp.read() or b"{}")
            except aiohttp.ClientConnectorError as exc:  # not connected: nothing was sent
                failure = exc
                self._endpoints.append(self._endpoints.pop(0))  # try the next one
                continue
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                self._endpoints.append(self._endpoints.pop(0))  # the next call tries another
                if read and attempt == 0:
                    failure = exc
                    continue
                raise EtcdUnavailable(_reason(exc)) from exc
            if "error" in answer or resp.status != 200:
                message = str(answer.get("message") or answer.get("error") or resp.status)
                if _COMPACTED in message:
                    raise Compacted(message)
                raise EtcdError(message)
            return answer
        assert failure is not None
        raise EtcdUnavailable(_reason(failure)) from failure

    async def status(self) -> int:
        """The current revision (and proof that an endpoint answers)."""
        answer = await self._post("/v3/maintenance/status", {}, read=True)
        return int((answer.get("header") or {}).get("revision", 0))

    async def quorum_read(self, key: str, *, timeout: float) -> None:
        """A linearizable range request for `key`, answered only when the cluster has a
        leader and a quorum (kube-apiserver's etcd readiness check); tried on one endpoint
        that takes the connection, never again after a timeout."""
        await self._post(
            "/v3/kv/range", {"key": _b64(key), "keys_only": True, "limit": 1}, timeout=timeout
        )

    async def get(self, key: str) -> KeyValue | None:
        answer = await self._post("/v3/kv/range", {"key": _b64(key)}, read=True)
        kvs = answer.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    async def range_prefix(
        self, prefix: str, *, revision: int | None = None
    ) -> tuple[list[KeyValue], int]:
        """Every key under `prefix` at one revision (the current one when None), in pages."""
        out: list[KeyValue] = []
        start, end = prefix, prefix_end(prefix)
        while True:
            body: dict[str, Any] = {"key": _b64(start), "range_end": _b64(end), "limit": PAGE}
            if revision is not None:
                body["revision"] = revision
            answer = await self._post("/v3/kv/range", body, read=True)
            if revision is None:
                revision = int(answer["header"]["revision"])
            page = [_kv(raw) for raw in answer.get("kvs") or []]
            out.extend(page)
            if not answer.get("more") or not page:
                return out, revision
            start = page[-1].key + "\x00"

    async def put_if(self, key: str, value: bytes, *, mod_revision: int) -> TxnResult:
        """Put when the key's mod_revision is `mod_revision` (0: the key must not exist)."""
        target = (
            {"target": "CREATE", "create_revision": 0}
            if mod_revision == 0
            else {"target": "MOD", "mod_revision": mod_revision}
        )
        put = {"key": _b64(key), "value": base64.b64encode(value).decode()}
        return await self._txn(key, target, {"request_put": put})

    async def delete_if(self, key: str, *, mod_revision: int) -> TxnResult:
        """Delete when the key's mod_revision is `mod_revision`; kvs is the deleted key."""
        target = {"target": "MOD", "mod_revision": mod_revision}
        delete = {"request_delete_range": {"key": _b64(key), "prev_kv": True}}
        return await self._txn(key, target, delete)

    async def _txn(self, key: str, compare: dict[str, Any], op: dict[str, Any]) -> TxnResult:
        answer = await self._post(
            "/v3/kv/txn",
            {
                "compare": [{"key": _b64(key), "result": "EQUAL", **compare}],
                "success": [op],
                "failure": [{"request_range": {"key": _b64(key)}}],
            },
        )
        ok = bool(answer.get("succeeded"))
        found: list[KeyValue] = []
        for r in answer.get("responses") or []:
            inner = r.get("response_range") or r.get("response_delete_range") or {}
            found.extend(_kv(raw) for raw in inner.get("kvs") or inner.get("prev_kvs") or [])
        return TxnResult(succeeded=ok, revision=int(answer["header"]["revision"]), kvs=tuple(found))

    async def compare_version_and_put(self, key: str, *, version: int, value: bytes) -> TxnResult:
        """Put when the key's version (writes since creation; 0: absent) is `version`."""
        target = {"target": "VERSION", "version": version}
        put = {"key": _b64(key), "value": base64.b64encode(value).decode()}
        return await self._txn(key, target, {"request_put": put})

    async def compact(self, revision: int) -> None:
        await self._post("/v3/kv/compaction", {"revision": revision})

    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[list[Event]]:
        """Changes under `prefix` from `start_revision` on, a batch per etcd response, until
        the stream breaks (EtcdUnavailable) or the revision is compacted (Compacted)."""
        body = {
            "create_request": {
                "key": _b64(prefix),
                "range_end": _b64(prefix_end(prefix)),
                "start_revision": start_revision,
                "prev_kv": True,
                "progress_notify": True,
            }
        }
        base = self._endpoints[0]
        try:
            async with self._http().post(
                base + "/v3/watch",
                json=body,
                timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=None),
            ) as resp:
                if resp.status != 200:
                    raise EtcdError(f"watch: HTTP {resp.status}")
                async for line in _lines(resp.content):
                    yield self._batch(json.loads(line))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._endpoints.append(self._endpoints.pop(0))  # the next attempt tries another
            raise EtcdUnavailable(_reason(exc)) from exc
        raise EtcdUnavailable("watch stream ended")

    @staticmethod
    def _batch(answer: dict[str, Any]) -> list[Event]:
        if "error" in answer:
            error = answer["error"]
            message = str(error.get("message") if isinstance(error, dict) else error)
            raise (Compacted if _COMPACTED in message else EtcdError)(message)
        result = answer.get("result") or {}
        if result.get("canceled"):
            compacted = int(result.get("compact_revision", 0))
            if compacted:
                raise Compacted(_COMPACTED, compact_revision=compacted)
            raise EtcdError(str(result.get("cancel_reason") or "watch canceled"))
        return _watch_events(result)


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Newline-delimited messages of any size (one watch response can hold many events)."""
    buffer = bytearray()
    async for chunk in stream.iter_any():
        buffer.extend(chunk)
        while (cut := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:cut]).strip()
            del buffer[: cut + 1]
            if line:
                yield line
    if buffer.strip():
        yield bytes(buffer).strip()
