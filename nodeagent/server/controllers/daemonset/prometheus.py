"""The metric gate's Prometheus client: one instant query (`GET /api/v1/query`), time-bounded,
its answer cached per query for a few seconds so that a burst of syncs asks once.

Errors never raise: they come back as a MetricReading with the error, and the rollout holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import structlog

from nodeagent.server.controllers.daemonset.metricgate import MetricReading, reading_of

log = structlog.get_logger()

TIMEOUT_SECONDS = 5.0
CACHE_SECONDS = 5.0
MAX_ANSWER_BYTES = 1 << 20


@dataclass(slots=True, kw_only=True)
class PrometheusClient:
    url: str  # e.g. http://127.0.0.1:9090
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, MetricReading]] = field(default_factory=dict)

    async def query(self, expr: str) -> MetricReading:
        now = self.clock()
        cached = self._cache.get(expr)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        reading = await self._ask(expr)
        if reading.error is not None:
            log.warning("metric_gate_query_failed", query=expr, error=reading.error)
        self._cache[expr] = (now, reading)
        return reading

    async def _ask(self, expr: str) -> MetricReading:
        endpoint = self.url.rstrip("/") + "/api/v1/query"
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(endpoint, params={"query": expr}) as response,
            ):
                body = await response.content.read(MAX_ANSWER_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return MetricReading(
                error=f"Prometheus at {self.url} did not answer ({type(exc).__name__})"
            )
        if len(body) > MAX_ANSWER_BYTES:
            return MetricReading(error="the answer is larger than 1 MiB")
        try:
            decoded = json.loads(body)
        except ValueError:
            return MetricReading(error=f"Prometheus answered {response.status} without JSON")
        if not isinstance(decoded, dict):
            return MetricReading(error="the answer is not a JSON object")
        return reading_of(decoded)
