"""`nodeagent server`: flags -> ServerSettings -> run_server. Nothing more."""

from __future__ import annotations

import argparse
import asyncio
import sys

from nodeagent import log
from nodeagent.server.settings import (
    DEFAULT_ISSUER,
    DEFAULT_LISTEN,
    SettingsError,
    build_settings,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default="/var/lib/nodeagent/server",
        help="where the store, TLS files, tokens and admin.kubeconfig live",
    )
    parser.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT to serve on (default {DEFAULT_LISTEN})"
    )
    parser.add_argument("--tls-cert-file", help="serving certificate (PEM); default: self-made")
    parser.add_argument("--tls-key-file", help="key of --tls-cert-file (PEM)")
    parser.add_argument(
        "--tls-ca-file", help="CA of --tls-cert-file, written into admin.kubeconfig (PEM)"
    )
    parser.add_argument(
        "--tls-san",
        action="append",
        default=[],
        help="an extra name or address for the self-made certificate (repeatable)",
    )
    parser.add_argument(
        "--pod-address",
        action="append",
        default=[],
        help="also serve on this IP (same port; may come up later, e.g. the container bridge's "
        "gateway) and name it in the certificate: pods reach the server there (repeatable)",
    )
    parser.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve plain HTTP (kubectl sends no token over it: for tests only)",
    )
    parser.add_argument(
        "--node-monitor-grace-period",
        default="40s",
        help="how long a node may miss heartbeats before it is Unknown (default 40s)",
    )
    parser.add_argument(
        "--pod-gc-quarantine",
        default=None,
        help="how long a node must be gone before its pods are deleted "
        "(default 40s, or the node grace when shorter)",
    )
    parser.add_argument(
        "--prometheus-url",
        default="",
        help="the Prometheus the DaemonSet metric gate asks, e.g. http://127.0.0.1:9090 "
        "(annotation rollout.nodeagent.io/metric-query; docs/rollouts.md)",
    )
    parser.add_argument(
        "--watch-window",
        type=int,
        default=10_000,
        help="how many recent changes watches can resume from (default 10000)",
    )
    parser.add_argument(
        "--store",
        default="sqlite",
        help="sqlite (default: DATA_DIR/store.db, one server) or etcd://HOST:PORT[,HOST:PORT] "
        "(several servers on one etcd; the controllers run in the elected leader)",
    )
    parser.add_argument("--etcd-cafile", help="with etcd: its CA (PEM); talk to etcd over https")
    parser.add_argument(
        "--etcd-certfile", help="with etcd: this server's client certificate for etcd (PEM)"
    )
    parser.add_argument("--etcd-keyfile", help="with etcd: the key of --etcd-certfile (PEM)")
    parser.add_argument(
        "--leader-elect-lease-duration",
        default="15s",
        help="with etcd: how long a silent leader's lease holds (default 15s)",
    )
    parser.add_argument(
        "--leader-elect-renew-deadline",
        default="10s",
        help="with etcd: a leader that cannot renew within this steps down (default 10s)",
    )
    parser.add_argument(
        "--leader-elect-retry-period",
        default="2s",
        help="with etcd: how often to try to acquire or renew the lease (default 2s)",
    )
    parser.add_argument(
        "--cluster-signing-duration",
        default="8760h",
        help="lifetime of the agents' serving certificates; they renew at 70-90%% of it "
        "(default 8760h, one year)",
    )
    parser.add_argument(
        "--node-token-ttl",
        default="720h",
        help="how long a node's bearer token lives (Go duration); agents rotate it at 70-90%% "
        "of that (default 720h: 30 days)",
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning or error")
    _add_audit_arguments(parser)
    _add_service_account_arguments(parser)


def _add_service_account_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--service-account-issuer",
        default=DEFAULT_ISSUER,
        help=f"the iss of the ServiceAccount tokens the server signs (default {DEFAULT_ISSUER})",
    )
    parser.add_argument(
        "--service-account-max-token-expiration",
        default="0",
        help="the longest a TokenRequest's token may live, at least 1h (Go duration; "
        "default 0: no cap)",
    )
    parser.add_argument(
        "--service-account-signing-key-file",
        default=None,
        help="RSA private key (PEM) that signs ServiceAccount tokens; default DATA_DIR/sa.key, "
        "made on first start (several servers on one etcd must share one)",
    )
    parser.add_argument(
        "--api-audiences",
        default="",
        help="comma-separated audiences the API accepts in ServiceAccount tokens "
        "(default: the issuer)",
    )


def _add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--audit-log-path",
        default=None,
        help="the audit log of writes, one JSON line each (default DATA_DIR/audit.log; "
        "'-' for standard output, '' for none)",
    )
    parser.add_argument(
        "--audit-log-maxsize",
        type=int,
        default=100,
        help="MiB at which the audit log is rotated (default 100; 0: never)",
    )
    parser.add_argument(
        "--audit-log-maxbackup",
        type=int,
        default=10,
        help="how many rotated audit logs to keep (default 10)",
    )
    parser.add_argument(
        "--audit-log-maxage",
        type=int,
        default=0,
        help="days after which a rotated audit log is removed (default 0: no age limit)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = build_settings(
            data_dir=args.data_dir,
            listen=args.listen,
            tls_cert_file=args.tls_cert_file,
            tls_key_file=args.tls_key_file,
            tls_ca_file=args.tls_ca_file,
            tls_sans=args.tls_san,
            pod_addresses=args.pod_address,
            insecure_http=args.insecure_http,
            node_monitor_grace_period=args.node_monitor_grace_period,
            pod_gc_quarantine=args.pod_gc_quarantine,
            prometheus_url=args.prometheus_url,
            watch_window=args.watch_window,
            log_level=args.log_level,
            store=args.store,
            leader_elect_lease_duration=args.leader_elect_lease_duration,
            leader_elect_renew_deadline=args.leader_elect_renew_deadline,
            leader_elect_retry_period=args.leader_elect_retry_period,
            etcd_cafile=args.etcd_cafile,
            etcd_certfile=args.etcd_certfile,
            etcd_keyfile=args.etcd_keyfile,
            cluster_signing_duration=args.cluster_signing_duration,
            audit_log_path=args.audit_log_path,
            audit_log_maxsize=args.audit_log_maxsize,
            audit_log_maxbackup=args.audit_log_maxbackup,
            audit_log_maxage=args.audit_log_maxage,
            node_token_ttl=args.node_token_ttl,
            service_account_issuer=args.service_account_issuer,
            service_account_max_token_expiration=args.service_account_max_token_expiration,
            service_account_signing_key_file=args.service_account_signing_key_file,
            api_audiences=args.api_audiences,
        )
    except SettingsError as exc:
        print(f"nodeagent server: {exc}", file=sys.stderr)
        return 2
    log.configure(level=settings.log_level)
    from nodeagent.server.main import run_server  # only now: bad flags answer fast

    try:
        return asyncio.run(run_server(settings))
    except OSError as exc:
        print(f"nodeagent server: {exc}", file=sys.stderr)
        return 1
