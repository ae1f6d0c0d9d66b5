"""The agent's TLS serving port (kubelet's 10250): its certificate from the server, renewal, site.

`ServingPort.run(client)` gets a serving certificate for a new key (POST
/nodeagent.io/v1/serving-certificate with the agent's own API client, as kubelet's serving CSR;
at every start: without the server nothing reaches this port anyway), then opens
`servingListen` with TLS: the port's certificate is this node's, and a client may present a
certificate, verified against the fleet CA (--ca-file; the check of who it is runs per request,
http.py). It publishes the bound port in AgentState.serving_port (the Node's
daemonEndpoints.kubeletEndpoint.Port) and renews the certificate (with a new key) at a jittered
70-90 % of its life, loading the pair into the same SSL context: new connections get it, open
ones keep theirs, nothing restarts. Without a CA file it cannot verify the server's client
certificate, so the port stays closed and the log says why.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import random
import ssl
import time
from dataclasses import dataclass

import structlog
from aiohttp import web

from nodeagent.agent import pki
from nodeagent.agent.apiclient import ApiClient, Unreachable
from nodeagent.agent.state import AgentState
from nodeagent.api import errors
from nodeagent.api.certs import REQUEST_API_VERSION, REQUEST_KIND, SERVING_CERTIFICATE_PATH

log = structlog.get_logger()

RETRY_FIRST = 1.0  # a failed request is retried, doubling up to RETRY_MAX
RETRY_MAX = 300.0
MIN_WAIT = 1.0  # never ask again sooner than this (a server handing out seconds-long certs)


@dataclass(kw_only=True)
class ServingPort:
    """One agent's serving port; `app` is the serving application (http.make_serving_app)."""

    app: web.Application
    state: AgentState
    node_name: str
    state_dir: str
    ca_file: str | None
    host: str
    port: int
    names: list[str]  # this host's names and addresses, for the certificate

    async def run(self, client: ApiClient) -> None:
        """Serve until cancelled; without a CA file, log why the port stays closed and return."""
        if not self.ca_file:
            log.warning(
                "serving_port_disabled",
                reason="no --ca-file: the server's client certificate cannot be verified, so "
                "logs, exec and attach are not served",
            )
            return
        files = pki.ServingFiles.under(self.state_dir)
        life = await self._obtain(client, files)
        context = await asyncio.to_thread(self._context, files)
        runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
            try:
                await site.start()
            except OSError as e:  # as with --listen, the agent stops: a port taken is a mistake
                log.error("serving_port_failed", listen=f"{self.host}:{self.port}", error=str(e))
                raise
            self.state.serving_port = int(runner.addresses[0][1])
            self.state.changed.set()
            log.info("serving_port_listening", port=self.state.serving_port)
            while True:
                await self._sleep_until_rotation(life)
                life = await self._obtain(client, files)
                # in the loop's thread: the loop makes new connections from this context
                context.load_cert_chain(files.cert, files.key)
                log.info("serving_certificate_rotated")
        finally:
            self.state.serving_port = 0
            await runner.cleanup()

    def _context(self, files: pki.ServingFiles) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.ca_file)
        # optional, not required: a caller without a certificate gets a readable 401
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_cert_chain(files.cert, files.key)
        return ctx

    async def _sleep_until_rotation(self, life: tuple[float, float]) -> None:
        deadline = pki.rotation_deadline(
            not_before=life[0],
            not_after=life[1],
            jitter=random.random(),  # spreads renewals over the fleet; not a secret
        )
        await asyncio.sleep(max(deadline - time.time(), MIN_WAIT))

    async def _obtain(self, client: ApiClient, files: pki.ServingFiles) -> tuple[float, float]:
        """Ask the server until it signs a certificate for a new key; both go to STATE/pki/.
        The certificate's (notBefore, notAfter)."""
        delay = RETRY_FIRST
        while True:
            try:
                csr = await pki.new_request(files, node_name=self.node_name, names=self.names)
                body = {
                    "apiVersion": REQUEST_API_VERSION,
                    "kind": REQUEST_KIND,
                    "spec": {"request": base64.b64encode(csr).decode()},
                }
                answer = await client.request("POST", SERVING_CERTIFICATE_PATH, body=body)
                pem = base64.b64decode(str((answer.get("status") or {}).get("certificate", "")))
                life = await pki.install(files, pem)
            except (Unreachable, errors.APIError, pki.PKIError, ValueError) as e:
                log.warning("serving_certificate_failed", error=str(e), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            expires = dt.datetime.fromtimestamp(life[1], dt.UTC).isoformat()
            log.info("serving_certificate_issued", not_after=expires)
            return life
