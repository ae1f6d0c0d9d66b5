"""The manifest URL source (kubelet --manifest-url): one document polled with ETag / If-None-Match.

An unchanged body (304, or the same bytes) sends nothing new; a body that stops parsing keeps
the pods it gave before; fetch failures are warned about three times, then logged at debug.
"""

from __future__ import annotations

import asyncio

import aiohttp
import structlog

from nodeagent.agent.aio import raise_if_cancelling
from nodeagent.agent.sources.manifest import parse_manifest
from nodeagent.agent.sources.update import Rejected, SourceName, SourceUpdate
from nodeagent.api.bodies import Obj
from nodeagent.api.limits import MAX_MANIFEST_BYTES

log = structlog.get_logger()
LOUD_FAILURES = 3  # warnings before failures drop to debug (kubelet http.go failureLogs)


async def _read_at_most(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or ClientPayloadError past `limit` bytes (kubelet's maxConfigLength)."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise aiohttp.ClientPayloadError(f"the manifest is larger than {limit} bytes")
    return bytes(body)


async def run_url_source(
    *,
    url: str,
    node: Obj,
    queue: asyncio.Queue[SourceUpdate],
    interval: float = 20.0,
    timeout: float = 10.0,
) -> None:
    """Poll `url` every `interval` seconds; send a full SourceUpdate when its result changes."""
    etag: str | None = None
    body: bytes | None = None
    pods: tuple[Obj, ...] = ()
    failures = 0
    sent: tuple[tuple[Obj, ...], tuple[Rejected, ...]] | None = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        while True:
            rejected: tuple[Rejected, ...] = ()
            try:
                headers = {"If-None-Match": etag} if etag else {}
                async with session.get(url, headers=headers) as resp:
                    if resp.status == 304:
                        new_body = body
                    else:
                        resp.raise_for_status()
                        new_body = await _read_at_most(resp, MAX_MANIFEST_BYTES)
                        etag = resp.headers.get("ETag")
                failures = 0
                if new_body != body and new_body is not None:
                    parsed = parse_manifest(
                        new_body.decode("utf-8", errors="replace"),
                        origin=url,
                        node=node,
                        source=SourceName.HTTP,
                    )
                    if parsed.errors:
                        rejected = (Rejected(origin=url, error="\n".join(parsed.errors)),)
                        for error in parsed.errors:
                            log.warning("manifest_rejected", url=url, error=error)
                    else:
                        pods = parsed.pods
                        body = new_body
            except (aiohttp.ClientError, TimeoutError) as e:
                raise_if_cancelling()
                failures += 1
                level = log.warning if failures <= LOUD_FAILURES else log.debug
                level("manifest_url_failed", url=url, error=str(e) or "timeout", failures=failures)
                if sent is not None:
                    rejected = sent[1]
            if (pods, rejected) != sent and (body is not None or failures == 0 or sent is None):
                sent = (pods, rejected)
                await queue.put(SourceUpdate(source=SourceName.HTTP, pods=pods, rejected=rejected))
            await asyncio.sleep(interval)
