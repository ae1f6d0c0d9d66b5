"""ServerSettings: what `nodeagent server` runs with, validated, with errors naming the flag.

Defaults: listen on 127.0.0.1:6443 (a fleet's server is exposed on purpose with
`--listen 0.0.0.0:6443`), HTTPS with a self-made CA, node monitor grace 40 s, a watch window
of 10,000 events. docs/server.md lists every setting.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:6443"
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# kube-apiserver refuses a shorter --service-account-max-token-expiration
MIN_MAX_TOKEN_SECONDS = 3600
LOG_LEVELS = ("debug", "info", "warning", "error")
# the shortest serving-certificate lifetime: agents renew at 70-90 % of it (tests use seconds)
MIN_SIGNING_SECONDS = 5.0


class SettingsError(ValueError):
    """A bad setting; the message starts with the flag's name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    data_dir: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 6443  # 0: any free port (tests)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None  # the CA of a given certificate (for the kubeconfig)
    tls_sans: tuple[str, ...] = ()
    # --pod-address: also served on these (same port) and named by the certificate, so pods on
    # the container bridge reach a loopback server (docs/rbac.md, "In-cluster config")
    pod_addresses: tuple[str, ...] = ()
    insecure_http: bool = False  # plain HTTP: kubectl sends no token over it; tests only
    node_monitor_grace_seconds: float = 40.0
    # how long a node must be gone before its pods are deleted (None: 40 s, or the node
    # grace when that is shorter; controllers/manager.py)
    pod_gc_quarantine_seconds: float | None = None
    # --prometheus-url: what the DaemonSet metric gate asks (docs/rollouts.md); "" none
    prometheus_url: str = ""
    watch_window: int = 10_000
    gc_resync_seconds: float = 10.0
    log_level: str = "info"
    run_controllers: bool = True
    # --store: () is SQLite in data_dir; else etcd endpoints as http://HOST:PORT
    etcd_endpoints: tuple[str, ...] = ()
    store_url: str = ""  # --store as given (for error messages)
    # TLS to etcd (kube-apiserver's --etcd-cafile/--etcd-certfile/--etcd-keyfile): https
    etcd_ca_file: Path | None = None
    etcd_cert_file: Path | None = None
    etcd_key_file: Path | None = None
    # leader election of the controllers (etcd only): kube-controller-manager's defaults
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    # lifetime of the agents' serving certificates (kube-controller-manager's
    # --cluster-signing-duration, default one year)
    cluster_signing_seconds: float = 365 * 86400.0
    # the audit log (docs/security.md): None is DATA_DIR/audit.log, "-" standard output, "" none
    audit_log_path: str | None = None
    audit_log_maxsize_mib: int = 100  # rotate at this size; 0: never
    audit_log_maxbackup: int = 10  # rotated files kept
    audit_log_maxage_days: int = 0  # rotated files older than this are removed; 0: kept

    @property
    def audit_log_target(self) -> str:
        """Where the audit log goes: a path, "-" (standard output) or "" (nowhere)."""
        if self.audit_log_path is None:
            return str(self.data_dir / "audit.log")
        return self.audit_log_path

    # how long a node's bearer token lives; agents rotate at 70-90 % of it (docs/security.md)
    node_token_ttl_seconds: float = 30 * 24 * 3600.0
    # ServiceAccount tokens (kube-apiserver's --service-account-* flags, docs/rbac.md)
    service_account_issuer: str = DEFAULT_ISSUER
    service_account_max_token_seconds: int = 0  # 0: no cap
    service_account_signing_key_file: Path | None = None  # None: DATA_DIR/sa.key, made once
    api_audiences: tuple[str, ...] = ()  # (): the issuer

    @property
    def client_host(self) -> str:
        """The host clients on this machine use: a wildcard listen becomes 127.0.0.1."""
        host = self.listen_host
        if host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if host == "::":
            return "[::1]"
        return f"[{host}]" if ":" in host else host


def parse_listen(value: str, *, flag: str = "--listen") -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) -> (host, port)."""
    m = re.fullmatch(r"\[(?P<v6>[^\]]+)\]:(?P<p6>\d+)|(?P<host>[^:\[\]]*):(?P<port>\d+)", value)
    if m is None:
        raise SettingsError(f"{flag}: {value!r} is not HOST:PORT (e.g. 127.0.0.1:6443)")
    host = m.group("v6") or m.group("host") or ""
    port = int(m.group("p6") or m.group("port"))
    if m.group("v6"):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SettingsError(f"{flag}: {host!r} is not an IPv6 address") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{flag}: port {port} is out of range 0-65535")
    return host, port


def parse_duration(value: str, *, flag: str) -> float:
    """`40s`, `2m`, `1m30s`, `500ms`, `720h` or plain seconds -> seconds (> 0)."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise SettingsError(f"{flag}: {value!r} is not a duration (e.g. 40s, 2m)") from None
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        seconds = sum(float(n) * scale[u] for n, u in parts)
    if seconds <= 0:
        raise SettingsError(f"{flag}: {value!r} must be greater than zero")
    return seconds


def parse_store(value: str, *, flag: str = "--store") -> tuple[str, ...]:
    """`sqlite` (or empty) -> (); `etcd://HOST:PORT[,HOST:PORT]` -> etcd's client URLs."""
    if value in ("", "sqlite"):
        return ()
    if not value.startswith("etcd://"):
        raise SettingsError(f"{flag}: {value!r} is not sqlite or etcd://HOST:PORT[,HOST:PORT]")
    out = []
    for endpoint in value.removeprefix("etcd://").split(","):
        host, port = parse_listen(endpoint.strip(), flag=flag)
        if not host or port == 0:
            raise SettingsError(f"{flag}: {endpoint!r} needs a host and a port")
        out.append(f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}")
    return tuple(out)


def _prometheus_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise SettingsError(f"--prometheus-url: {value!r} is not an http:// or https:// URL")
    return value


def build_settings(
    *,
    data_dir: str,
    listen: str = DEFAULT_LISTEN,
    tls_cert_file: str | None = None,
    tls_key_file: str | None = None,
    tls_ca_file: str | None = None,
    tls_sans: list[str] | None = None,
    insecure_http: bool = False,
    node_monitor_grace_period: str = "40s",
    pod_gc_quarantine: str | None = None,
    prometheus_url: str = "",
    watch_window: int = 10_000,
    log_level: str = "info",
    store: str = "",
    leader_elect_lease_duration: str = "15s",
    leader_elect_renew_deadline: str = "10s",
    leader_elect_retry_period: str = "2s",
    etcd_cafile: str | None = None,
    etcd_certfile: str | None = None,
    etcd_keyfile: str | None = None,
    cluster_signing_duration: str = "8760h",
    audit_log_path: str | None = None,
    audit_log_maxsize: int = 100,
    audit_log_maxbackup: int = 10,
    audit_log_maxage: int = 0,
    node_token_ttl: str = "720h",
    pod_addresses: list[str] | None = None,
    service_account_issuer: str = DEFAULT_ISSUER,
    service_account_max_token_expiration: str = "0",
    service_account_signing_key_file: str | None = None,
    api_audiences: str = "",
) -> ServerSettings:
    """Flags (as strings) -> ServerSettings; SettingsError names the first bad flag."""
    if not data_dir:
        raise SettingsError("--data-dir: must not be empty")
    host, port = parse_listen(listen)
    for address in pod_addresses or ():
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise SettingsError(f"--pod-address: {address!r} is not an IP address") from None
    if (tls_cert_file is None) != (tls_key_file is None):
        raise SettingsError("--tls-cert-file: --tls-cert-file and --tls-key-file go together")
    if tls_ca_file is not None and tls_cert_file is None:
        raise SettingsError("--tls-ca-file: only with --tls-cert-file and --tls-key-file")
    for flag, path in (
        ("--tls-cert-file", tls_cert_file),
        ("--tls-key-file", tls_key_file),
        ("--tls-ca-file", tls_ca_file),
    ):
        if path is not None and not Path(path).is_file():
            raise SettingsError(f"{flag}: {path}: no such file")
    if watch_window < 1:
        raise SettingsError(f"--watch-window: {watch_window} must be at least 1")
    if log_level.lower() not in LOG_LEVELS:
        raise SettingsError(f"--log-level: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    endpoints = parse_store(store)
    etcd_files = (
        ("--etcd-cafile", etcd_cafile),
        ("--etcd-certfile", etcd_certfile),
        ("--etcd-keyfile", etcd_keyfile),
    )
    for flag, path in etcd_files:
        if path is not None and not endpoints:
            raise SettingsError(f"{flag}: only with --store etcd://")
        if path is not None and not Path(path).is_file():
            raise SettingsError(f"{flag}: {path}: no such file")
    if (etcd_certfile is None) != (etcd_keyfile is None):
        raise SettingsError("--etcd-certfile: --etcd-certfile and --etcd-keyfile go together")
    if any(path is not None for _flag, path in etcd_files):
        endpoints = tuple(e.replace("http://", "https://", 1) for e in endpoints)
    _check_audit_log(
        maxsize=audit_log_maxsize, maxbackup=audit_log_maxbackup, maxage=audit_log_maxage
    )
    lease = parse_duration(leader_elect_lease_duration, flag="--leader-elect-lease-duration")
    renew = parse_duration(leader_elect_renew_deadline, flag="--leader-elect-renew-deadline")
    retry = parse_duration(leader_elect_retry_period, flag="--leader-elect-retry-period")
    if lease <= renew:
        raise SettingsError(
            "--leader-elect-lease-duration: must be greater than --leader-elect-renew-deadline"
        )
    if renew <= 1.2 * retry:
        raise SettingsError(
            "--leader-elect-renew-deadline: must be greater than 1.2 x --leader-elect-retry-period"
        )
    signing = parse_duration(cluster_signing_duration, flag="--cluster-signing-duration")
    if signing < MIN_SIGNING_SECONDS:
        raise SettingsError(
            f"--cluster-signing-duration: {cluster_signing_duration!r} is shorter than "
            f"{MIN_SIGNING_SECONDS:.0f}s"
        )
    node_token_ttl_seconds = parse_duration(node_token_ttl, flag="--node-token-ttl")
    if node_token_ttl_seconds < 1:
        raise SettingsError(f"--node-token-ttl: {node_token_ttl!r} must be at least 1s")
    issuer = service_account_issuer.strip()
    if not issuer:
        raise SettingsError("--service-account-issuer: must not be empty")
    if ":" in issuer and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", issuer):
        raise SettingsError(
            f"--service-account-issuer: {issuer!r} contains a ':' but is not a valid URL"
        )
    max_token = 0.0
    if service_account_max_token_expiration.strip() not in ("", "0", "0s"):
        max_token = parse_duration(
            service_account_max_token_expiration, flag="--service-account-max-token-expiration"
        )
        if max_token < MIN_MAX_TOKEN_SECONDS:
            raise SettingsError(
                "--service-account-max-token-expiration: must be at least 1h (is "
                f"{service_account_max_token_expiration!r})"
            )
    key_file = service_account_signing_key_file
    if key_file is not None and not Path(key_file).is_file():
        raise SettingsError(f"--service-account-signing-key-file: {key_file}: no such file")
    audiences = tuple(a.strip() for a in api_audiences.split(",") if a.strip())
    return ServerSettings(
        data_dir=Path(data_dir),
        listen_host=host,
        listen_port=port,
        tls_cert_file=Path(tls_cert_file) if tls_cert_file else None,
        tls_key_file=Path(tls_key_file) if tls_key_file else None,
        tls_ca_file=Path(tls_ca_file) if tls_ca_file else None,
        tls_sans=tuple(tls_sans or ()),
        pod_addresses=tuple(pod_addresses or ()),
        insecure_http=insecure_http,
        node_monitor_grace_seconds=parse_duration(
            node_monitor_grace_period, flag="--node-monitor-grace-period"
        ),
        pod_gc_quarantine_seconds=(
            parse_duration(pod_gc_quarantine, flag="--pod-gc-quarantine")
            if pod_gc_quarantine is not None
            else None
        ),
        prometheus_url=_prometheus_url(prometheus_url),
        watch_window=watch_window,
        log_level=log_level.lower(),
        etcd_endpoints=endpoints,
        store_url=store,
        etcd_ca_file=Path(etcd_cafile) if etcd_cafile else None,
        etcd_cert_file=Path(etcd_certfile) if etcd_certfile else None,
        etcd_key_file=Path(etcd_keyfile) if etcd_keyfile else None,
        leader_elect_lease_duration=lease,
        leader_elect_renew_deadline=renew,
        leader_elect_retry_period=retry,
        cluster_signing_seconds=signing,
        audit_log_path=audit_log_path,
        audit_log_maxsize_mib=audit_log_maxsize,
        audit_log_maxbackup=audit_log_maxbackup,
        audit_log_maxage_days=audit_log_maxage,
        node_token_ttl_seconds=node_token_ttl_seconds,
        service_account_issuer=issuer,
        service_account_max_token_seconds=int(max_token),
        service_account_signing_key_file=Path(key_file) if key_file else None,
        api_audiences=audiences or (issuer,),
    )


def _check_audit_log(*, maxsize: int, maxbackup: int, maxage: int) -> None:
    if maxsize < 0:
        raise SettingsError(f"--audit-log-maxsize: {maxsize} must be 0 (never rotate) or more")
    # kube-apiserver's 0 keeps every rotated file; here the disk stays bounded
    if maxbackup < 1:
        raise SettingsError(f"--audit-log-maxbackup: {maxbackup} must be at least 1")
    if maxage < 0:
        raise SettingsError(f"--audit-log-maxage: {maxage} must be 0 (no age limit) or more")
