"""PURE the API server address a pod's containers are told (KUBERNETES_SERVICE_HOST/PORT).

Kubernetes gives pods the `kubernetes` Service's cluster IP, which kube-proxy forwards to the
API servers; here there is no Service network, so a pod is told an address of the server it can
reach itself, and that the serving certificate names (in-cluster clients check it against
ca.crt): the agent's own server URL when its host is not a loopback address; when it is
(all-in-one: https://127.0.0.1:6443), a hostNetwork pod shares the host's loopback and gets
it too, and any other pod (on the engine's bridge) gets the bridge's gateway, the host's
address on that network, where all-in-one also serves (docs/rbac.md, "In-cluster config").
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pod_api_endpoint(
    server_url: str | None, *, host_network: bool, bridge_gateway: str | None
) -> tuple[str, int] | None:
    """(host, port) for a pod's containers; None with no server (no variables, as a kubelet
    without an API server sets none)."""
    if not server_url:
        return None
    parts = urlsplit(server_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not host:
        return None
    if is_loopback(host) and not host_network and bridge_gateway:
        return bridge_gateway, port
    return host, port
