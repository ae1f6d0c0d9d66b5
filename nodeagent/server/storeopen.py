"""Which Store the server runs on (--store): SQLite in DATA_DIR, or etcd; and its readiness.

An etcd that does not answer at start is an OSError naming the flag and the reason (the CLI
prints it and exits 1); later, /readyz follows the store's health (report_health).
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from nodeagent.server.settings import ServerSettings
from nodeagent.server.store.etcd import EtcdStore
from nodeagent.server.store.etcdclient import EtcdUnavailable
from nodeagent.server.store.sqlite import SqliteStore

AnyStore = SqliteStore | EtcdStore


async def open_store(settings: ServerSettings, *, sqlite_path: Path) -> AnyStore:
    if not settings.etcd_endpoints:
        return await SqliteStore.open(sqlite_path, watch_window=settings.watch_window)
    try:
        return await EtcdStore.open(
            settings.etcd_endpoints,
            watch_window=settings.watch_window,
            ssl_context=etcd_tls(settings),
        )
    except EtcdUnavailable as exc:
        raise OSError(f"--store {settings.store_url}: {exc}") from exc


def etcd_tls(settings: ServerSettings) -> ssl.SSLContext | None:
    """https to etcd when any --etcd-* file is given: its CA (else the system's), and our
    client certificate when etcd asks for one (--client-cert-auth)."""
    files = (settings.etcd_ca_file, settings.etcd_cert_file, settings.etcd_key_file)
    if all(f is None for f in files):
        return None
    ca = settings.etcd_ca_file
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if settings.etcd_cert_file is not None and settings.etcd_key_file is not None:
        context.load_cert_chain(settings.etcd_cert_file, settings.etcd_key_file)
    return context


async def report_health(store: AnyStore, ready: dict[str, str], *, period: float = 0.5) -> None:
    """Keep ready["store"] saying why the store is not ready ("" when it is): etcd answering a
    quorum read with the watch connected; SQLite committing (probed again after a failure)."""
    while True:
        await store.probe()
        ready["store"] = store.problem or ""
        await asyncio.sleep(period)
