"""`nodeagent server` wiring: store, registry, REST over HTTPS, garbage collector, controllers.

`serve(settings)` is an async context manager yielding a ServerHandle (url, tokens, CA,
kubeconfig) while the server runs inside the caller's event loop (all-in-one, tests);
`run_server(settings)` runs it until SIGTERM/SIGINT or until a root task dies (exit 1).
On every start DIR/admin.kubeconfig is (re)written; DIR/admin-token and DIR/node-token (the
join secret, which only enrols hosts: server/credentials.py) are made once, as are the fleet
CA, the kubelet-client identity (tls.py) and the ServiceAccount token signing key
DIR/sa.key (signingkey.py); writes are recorded in the audit log
(DIR/audit.log by default). The join secret is read at each start: replacing node-token and
restarting changes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import gc
import importlib
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml
from aiohttp import web

from nodeagent.privatefiles import ensure_private_dir, tighten_file, write_private
from nodeagent.sdnotify import Notifier, keep_watchdog
from nodeagent.server.auditlog import MIB, AuditLog, open_audit_log
from nodeagent.server.auth import Authenticator
from nodeagent.server.cascade import run_collector
from nodeagent.server.controllers.leaderelection import Timings
from nodeagent.server.credentials import NodeCredentials, run_orphan_sweep
from nodeagent.server.leader import LeaderElector, identity
from nodeagent.server.podlisten import freebind_socket
from nodeagent.server.registry import StoreRegistry
from nodeagent.server.registry_protocol import Registry
from nodeagent.server.rest import keys, proxy, servingcert, tokenrequest
from nodeagent.server.rest.app import make_app
from nodeagent.server.rest.audit import AUDIT_LOG
from nodeagent.server.rest.metrics import WorkqueueMetrics
from nodeagent.server.satokens import ServiceAccountTokens
from nodeagent.server.settings import ServerSettings
from nodeagent.server.signingkey import KEY_FILE, load_or_create
from nodeagent.server.storeopen import open_store, report_health
from nodeagent.server.tls import (
    KubeletClientFiles,
    TLSFiles,
    default_sans,
    ensure_ca,
    ensure_kubelet_client,
    ensure_tls,
    shrink_tls_read_buffer,
)

log = structlog.get_logger()

STORE_FILE = "store.db"
ADMIN_TOKEN_FILE = "admin-token"
JOIN_SECRET_FILE = "node-token"
KUBECONFIG_FILE = "admin.kubeconfig"
SHUTDOWN_SECONDS = 3.0  # how long in-flight requests may finish after SIGTERM
# The cyclic garbage collector's thresholds while serving (CPython's are 700, 10, 10). With
# 10,000 agent connections a full collection walks millions of objects and stops every
# request for ~0.5 s; young collections every 700 allocations promoted the objects of
# requests still waiting, so full ones came often. Young collections every 50,000
# allocations, full ones after 100 middle ones (docs/performance.md section 4).
GC_THRESHOLDS = (50_000, 50, 100)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerHandle:
    """A running server, as its embedder and tests see it."""

    url: str
    port: int
    data_dir: Path
    ca_file: Path | None  # None with --insecure-http
    admin_token: str
    join_secret: str
    kubeconfig: Path
    registry: StoreRegistry
    kubelet_client: KubeletClientFiles  # what the logs/exec proxy presents to agents
    credentials: NodeCredentials  # node credential records: mint() for tests and benchmarks
    tasks: tuple[asyncio.Task[None], ...]  # root tasks; one ending means trouble


def _secret(path: Path) -> str:
    """The secret kept in `path`, made on first use."""
    if path.exists():
        tighten_file(path)
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(32)
    write_private(path, value + "\n")
    return value


def kubeconfig_text(*, url: str, token: str, ca_file: Path | None) -> str:
    cluster: dict[str, Any] = {"server": url}
    if ca_file is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_file.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "nodeagent", "cluster": cluster}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "nodeagent", "context": {"cluster": "nodeagent", "user": "admin"}}],
        "current-context": "nodeagent",
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def _tls(settings: ServerSettings) -> TLSFiles | None:
    if settings.insecure_http:
        return None
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        return TLSFiles(
            cert=settings.tls_cert_file,
            key=settings.tls_key_file,
            ca=settings.tls_ca_file or settings.tls_cert_file,
        )
    sans = default_sans(settings.listen_host, settings.tls_sans + settings.pod_addresses)
    return ensure_tls(settings.data_dir, sans)


async def _controllers(
    registry: StoreRegistry,
    settings: ServerSettings,
    root_ca_pem: str | None,
    queue_metrics: WorkqueueMetrics,
    sa_tokens: ServiceAccountTokens,
) -> None:
    try:
        manager = importlib.import_module("nodeagent.server.controllers.manager")
    except ImportError as exc:
        log.warning("controllers_missing", error=str(exc))
        await asyncio.Event().wait()
        return
    run: Callable[..., Awaitable[None]] = manager.run_controllers
    seam: Registry = registry  # mypy checks StoreRegistry against the Registry protocol here
    await run(
        seam,
        node_monitor_grace_seconds=settings.node_monitor_grace_seconds,
        pod_gc_quarantine_seconds=settings.pod_gc_quarantine_seconds,
        root_ca_pem=root_ca_pem,
        prometheus_url=settings.prometheus_url,
        queue_metrics=queue_metrics,
        issue_token=sa_tokens.secret_token,
    )


async def _elected(
    registry: StoreRegistry,
    settings: ServerSettings,
    root_ca_pem: str | None,
    queue_metrics: WorkqueueMetrics,
    sa_tokens: ServiceAccountTokens,
) -> None:
    """The garbage collector and the controllers, while this server holds the Lease."""

    async def lead() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(run_collector(registry, resync_seconds=settings.gc_resync_seconds))
            tg.create_task(run_orphan_sweep(registry.store))
            if settings.run_controllers:
                tg.create_task(
                    _controllers(registry, settings, root_ca_pem, queue_metrics, sa_tokens)
                )

    timings = Timings(
        lease_duration=settings.leader_elect_lease_duration,
        renew_deadline=settings.leader_elect_renew_deadline,
        retry_period=settings.leader_elect_retry_period,
    )
    await LeaderElector(registry, me=identity(), timings=timings).run(lead)


@contextlib.asynccontextmanager
async def serve(settings: ServerSettings) -> AsyncIterator[ServerHandle]:
    """Run the server in this event loop until the context exits."""
    data_dir = settings.data_dir
    ensure_private_dir(data_dir)
    admin_token = _secret(data_dir / ADMIN_TOKEN_FILE)
    join_secret = _secret(data_dir / JOIN_SECRET_FILE)
    tls = await asyncio.to_thread(_tls, settings)
    # the fleet CA signs agents' serving certificates and the proxy's client identity, also
    # when the server's own certificate is given or it serves plain HTTP
    fleet_ca = await asyncio.to_thread(ensure_ca, data_dir)
    kubelet_client = await asyncio.to_thread(ensure_kubelet_client, data_dir)
    # what verifies this server's certificate: pods' ca.crt (kube-root-ca.crt ConfigMaps)
    root_ca_pem = await asyncio.to_thread((tls.ca if tls else fleet_ca.path).read_text)
    signing_key = await asyncio.to_thread(
        load_or_create,
        settings.service_account_signing_key_file or data_dir / KEY_FILE,
        create=settings.service_account_signing_key_file is None,
    )
    store = await open_store(settings, sqlite_path=data_dir / STORE_FILE)
    runner: web.AppRunner | None = None
    tasks: list[asyncio.Task[None]] = []
    exits = contextlib.ExitStack()
    audit_log: AuditLog | None = None
    try:
        registry = StoreRegistry(store)
        await registry.ensure_namespaces()
        credentials = NodeCredentials(store, ttl_seconds=settings.node_token_ttl_seconds)
        sa_tokens = ServiceAccountTokens(
            store=store,
            key=signing_key,
            issuer=settings.service_account_issuer,
            api_audiences=settings.api_audiences,
            max_expiration_seconds=settings.service_account_max_token_seconds,
        )
        authenticator = Authenticator(
            admin_token=admin_token,
            join_secret=join_secret,
            nodes=credentials,
            service_accounts=sa_tokens,
        )
        app = make_app(registry, authenticator, credentials)
        app[tokenrequest.TOKENS] = sa_tokens
        app[servingcert.SIGNER] = servingcert.ServingSigner(
            ca_cert=fleet_ca.cert,
            ca_key=fleet_ca.key,
            lifetime=dt.timedelta(seconds=settings.cluster_signing_seconds),
        )
        app[proxy.KUBELET_CLIENT] = kubelet_client
        exits.enter_context(app[keys.METRICS].timing_gc())  # GC pauses on /metrics
        queue_metrics = app[keys.METRICS].workqueues  # the controllers' queues on /metrics
        audit_log = open_audit_log(
            settings.audit_log_target,
            max_bytes=settings.audit_log_maxsize_mib * MIB,
            backups=settings.audit_log_maxbackup,
            max_age_days=settings.audit_log_maxage_days,
        )
        if audit_log is not None:
            app[AUDIT_LOG] = audit_log
        exits.callback(gc.set_threshold, *gc.get_threshold())
        gc.set_threshold(*GC_THRESHOLDS)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS
        )
        await runner.setup()
        if tls is not None:
            shrink_tls_read_buffer()  # ~300 KiB -> ~75 KiB per agent connection
        site = web.TCPSite(
            runner,
            settings.listen_host or None,
            settings.listen_port,
            ssl_context=tls.server_context() if tls else None,
            reuse_address=True,
        )
        await site.start()
        port = int(runner.addresses[0][1])
        wildcard = settings.listen_host in ("", "0.0.0.0", "::")  # already serves them all
        for address in () if wildcard else settings.pod_addresses:
            sock = freebind_socket(address, port)
            pod_site = web.SockSite(runner, sock, ssl_context=tls.server_context() if tls else None)
            await pod_site.start()
            log.info("pod_address_listening", address=address, port=port)
        scheme = "http" if tls is None else "https"
        url = f"{scheme}://{settings.client_host}:{port}"
        kubeconfig = data_dir / KUBECONFIG_FILE
        write_private(
            kubeconfig,
            kubeconfig_text(url=url, token=admin_token, ca_file=tls.ca if tls else None),
        )
        health = asyncio.create_task(report_health(store, app[keys.READY]), name="store-health")
        if settings.etcd_endpoints:  # several servers: only the elected leader controls
            tasks = [
                asyncio.create_task(
                    _elected(registry, settings, root_ca_pem, queue_metrics, sa_tokens),
                    name="leader-election",
                ),
                health,
            ]
        else:
            tasks = [
                health,
                asyncio.create_task(
                    run_collector(registry, resync_seconds=settings.gc_resync_seconds),
                    name="garbage-collector",
                ),
                asyncio.create_task(run_orphan_sweep(store), name="credential-sweep"),
            ]
            if settings.run_controllers:
                tasks.append(
                    asyncio.create_task(
                        _controllers(registry, settings, root_ca_pem, queue_metrics, sa_tokens),
                        name="controllers",
                    )
                )
        app[keys.READY].setdefault("store", "")
        log.info("server_started", url=url, data_dir=str(data_dir), kubeconfig=str(kubeconfig))
        yield ServerHandle(
            url=url,
            port=port,
            data_dir=data_dir,
            ca_file=tls.ca if tls else None,
            admin_token=admin_token,
            join_secret=join_secret,
            kubeconfig=kubeconfig,
            registry=registry,
            kubelet_client=kubelet_client,
            credentials=credentials,
            tasks=tuple(tasks),
        )
    finally:
        exits.close()
        if runner is not None:
            await runner.app[keys.RBAC].stop()  # before the store ends its watches
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        store.end_watches()
        if runner is not None:
            await runner.cleanup()
        if audit_log is not None:
            audit_log.close()  # after the last request
        await store.close()
        log.info("server_stopped")


async def run_server(settings: ServerSettings) -> int:
    """Serve until SIGTERM/SIGINT (exit 0) or until a root task dies (exit 1).

    Under systemd (NOTIFY_SOCKET) it sends READY=1 once listening, WATCHDOG=1 at half of
    WATCHDOG_USEC while the event loop runs, and STOPPING=1 when it begins to stop.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier.from_env()
    async with serve(settings) as handle:
        host = settings.listen_host or "0.0.0.0"  # what "" binds: every address
        bound = f"[{host}]:{handle.port}" if ":" in host else f"{host}:{handle.port}"
        # the address as bound (0.0.0.0:6443), not the clients' URL (https://127.0.0.1:6443)
        notifier.ready(status=f"serving on {bound}")
        watchdog = asyncio.create_task(keep_watchdog(notifier), name="sd-watchdog")
        stopper = asyncio.create_task(stop.wait(), name="signals")
        done, _ = await asyncio.wait([stopper, *handle.tasks], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        watchdog.cancel()
        notifier.stopping()
        failed = [t for t in done if t is not stopper]
        for task in failed:
            exc = task.exception() if not task.cancelled() else None
            log.error("root_task_ended", task=task.get_name(), error=repr(exc))
        return 1 if failed else 0
