"""PURE: the identities in the fleet's certificates on the server-to-agent channel.

Owns the names both sides agree on (the server's kubelet-client identity, a node's serving
identity `system:node:<name>`, the serving-certificate request path and kind), reading what a
DER certificate claims (CertClaims), and the two checks: is this the server's kubelet client
(the agent asks it of every caller of its serving port), is this node X's serving certificate
(the server asks it of the agent it dialled). Chain verification against the fleet CA is the
TLS library's job; these checks come after it and read only the subject and extended key usage.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# kube-apiserver's --kubelet-client-certificate (kubeadm's apiserver-kubelet-client): a
# name the server's signer never gives a node (it always writes system:node:<name>).
KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
SERVING_CERTIFICATE_PATH = "/nodeagent.io/v1/serving-certificate"
REQUEST_API_VERSION = "nodeagent.io/v1"
REQUEST_KIND = "ServingCertificateRequest"


@dataclass(frozen=True, slots=True, kw_only=True)
class CertClaims:
    """What a certificate says about its holder (nothing here is verified by itself)."""

    common_name: str
    organizations: tuple[str, ...]
    server_auth: bool
    client_auth: bool
    not_before: float  # unix seconds
    not_after: float
    serial: int


def claims_of(cert: x509.Certificate) -> CertClaims:
    """The subject, extended key usage and validity of a parsed certificate."""
    subject = cert.subject
    cns = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    try:
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = set()
    return CertClaims(
        common_name=str(cns[0].value) if cns else "",
        organizations=tuple(str(o.value) for o in orgs),
        server_auth=ExtendedKeyUsageOID.SERVER_AUTH in usages,
        client_auth=ExtendedKeyUsageOID.CLIENT_AUTH in usages,
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        serial=cert.serial_number,
    )


def claims_of_der(der: bytes) -> CertClaims:
    """claims_of for DER bytes (what a TLS peer presented); ValueError if they do not parse."""
    return claims_of(x509.load_der_x509_certificate(der))


def node_user(node_name: str) -> str:
    """The user name a node's certificates carry: `system:node:<name>`."""
    return NODE_USER_PREFIX + node_name


def kubelet_client_problem(claims: CertClaims) -> str | None:
    """None when a verified client certificate is the server's kubelet client, else why not."""
    if claims.common_name != KUBELET_CLIENT_CN:
        return (
            f'the client certificate is for "{claims.common_name}", not the server\'s '
            f'kubelet client "{KUBELET_CLIENT_CN}"'
        )
    if not claims.client_auth:
        return "the client certificate is not for client authentication (no clientAuth usage)"
    return None


def serving_problem(claims: CertClaims, node_name: str) -> str | None:
    """None when a verified server certificate is node `node_name`'s serving certificate."""
    want = node_user(node_name)
    if claims.common_name != want:
        return f'the agent presented a certificate for "{claims.common_name}", not "{want}"'
    if not claims.server_auth:
        return "the agent's certificate is not for serving (no serverAuth usage)"
    return None
