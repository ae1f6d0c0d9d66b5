"""PURE: the identities on the server-to-agent channel, as both sides name them.

Owns the names (the server's kubelet-client identity, a node's serving identity
`system:node:<name>`, the serving-certificate request's path and kind) and the agent's check of
a caller of its serving port, read from the peer certificate Python's ssl module decoded (chain
and extended key usage were verified in the handshake). No cryptography import: the agent loads
this module, and cryptography costs ~7 MiB of resident memory (docs/performance.md). Reading
DER certificates is the server's (nodeagent.server.certsigner).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# kube-apiserver's --kubelet-client-certificate (kubeadm's apiserver-kubelet-client): a
# name the server's signer never gives a node (it always writes system:node:<name>).
KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
SERVING_CERTIFICATE_PATH = "/nodeagent.io/v1/serving-certificate"
REQUEST_API_VERSION = "nodeagent.io/v1"
REQUEST_KIND = "ServingCertificateRequest"


def node_user(node_name: str) -> str:
    """The user name a node's certificates carry: `system:node:<name>`."""
    return NODE_USER_PREFIX + node_name


def common_name(peercert: Mapping[str, Any]) -> str:
    """The subject's CN from ssl's getpeercert() shape (((key, value),), ...); "" if none."""
    for rdn in peercert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def kubelet_client_problem(peercert: Mapping[str, Any] | None) -> tuple[int, str] | None:
    """None when the serving port's (verified) caller is the server's kubelet client, else the
    HTTP code and text to answer: 401 without a certificate, 403 with another one (a node's).

    The clientAuth usage is the handshake's check: OpenSSL verifies a client's certificate for
    the TLS-client purpose, so a serving certificate offered as a client one never gets here."""
    if not peercert:
        return 401, "a client certificate is required: the server's kubelet client\n"
    name = common_name(peercert)
    if name != KUBELET_CLIENT_CN:
        return 403, (
            f'the client certificate is for "{name}", not the server\'s kubelet client '
            f'"{KUBELET_CLIENT_CN}"\n'
        )
    return None
