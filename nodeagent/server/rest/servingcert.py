"""POST /nodeagent.io/v1/serving-certificate: a node's agent gets its serving certificate.

The model is kubelet's serving CSR (signer kubernetes.io/kubelet-serving), approved at once for
a node asking for itself: the caller must be authenticated as a node (User.node; the admin is
not a node, 403), and the certificate is for that node only, whatever the CSR's subject says
(certsigner.py). Request and answer are one object, as a CertificateSigningRequest carries
both: `{"apiVersion": "nodeagent.io/v1", "kind": "ServingCertificateRequest",
"spec": {"request": base64(PEM CSR)}}` -> 201 with `status.certificate`: base64(PEM). Nothing
is stored: a node asks again before its certificate expires (agent/servingport.py).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

import structlog
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from nodeagent.api.bodies import Obj
from nodeagent.api.certs import (
    REQUEST_API_VERSION,
    REQUEST_KIND,
    SERVING_CERTIFICATE_PATH,
)
from nodeagent.api.errors import (
    BadRequest,
    FieldError,
    Forbidden,
    Invalid,
    RequestEntityTooLarge,
    ServiceUnavailable,
)
from nodeagent.server.certsigner import MAX_CSR_BYTES, CSRError, sign_serving
from nodeagent.server.rest import keys
from nodeagent.server.rest.handlers import respond
from nodeagent.server.rest.request import decode_object, media_type

log = structlog.get_logger()
# kube-controller-manager's --cluster-signing-duration default
DEFAULT_LIFETIME = dt.timedelta(days=365)
MAX_BODY = 4 * MAX_CSR_BYTES  # the CSR base64-encoded in a small JSON object


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingSigner:
    """The fleet CA in memory and how long the certificates it signs for agents last."""

    ca_cert: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    lifetime: dt.timedelta = DEFAULT_LIFETIME


SIGNER = web.AppKey("serving_signer", ServingSigner)


def _invalid(detail: str, value: str = "") -> Invalid:
    field, _, why = detail.partition(": ")
    error = FieldError(field=field, type="Invalid value", value=value, detail=why or detail)
    return Invalid(
        f"{REQUEST_KIND} is invalid: {error}",
        kind=REQUEST_KIND,
        group="nodeagent.io",
        causes=[error],
    )


def csr_pem_of(body: Obj) -> bytes:
    """PURE: the PEM CSR in a request object; Invalid or BadRequest naming the field."""
    if body.get("kind") not in (None, REQUEST_KIND):
        raise BadRequest(f"kind: expected {REQUEST_KIND}, got {body.get('kind')!r}")
    spec = body.get("spec")
    request = spec.get("request") if isinstance(spec, dict) else None
    if not isinstance(request, str) or not request:
        raise _invalid("spec.request: Required value: a base64 PEM certificate request")
    if len(request) > MAX_CSR_BYTES * 2:
        raise _invalid(f"spec.request: too long (at most {MAX_CSR_BYTES} bytes of PEM)")
    try:
        return base64.b64decode(request, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("spec.request: not base64") from None


async def serving_certificate(request: web.Request) -> web.StreamResponse:
    user = request[keys.USER]
    if user.node is None:
        raise Forbidden(
            f'User "{user.name}" cannot create a serving certificate: only a node may ask, '
            "for itself",
            kind="servingcertificates",
            group="nodeagent.io",
        )
    signer = request.app.get(SIGNER)
    if signer is None:
        raise ServiceUnavailable("this server signs no serving certificates (no fleet CA)")
    raw = await request.content.read(MAX_BODY + 1)  # bounded before decoding
    if len(raw) > MAX_BODY:
        raise RequestEntityTooLarge(f"the request body is too large: limit is {MAX_BODY} bytes")
    body = decode_object(raw, media_type(request))
    pem = csr_pem_of(body)
    try:
        cert = sign_serving(
            csr_pem=pem,
            node_name=user.node,
            ca_cert=signer.ca_cert,
            ca_key=signer.ca_key,
            now=dt.datetime.now(dt.UTC),
            lifetime=signer.lifetime,
        )
    except CSRError as e:
        raise _invalid(str(e)) from None
    log.info("serving_certificate_signed", node=user.node, seconds=signer.lifetime.total_seconds())
    answer: Obj = {
        "apiVersion": REQUEST_API_VERSION,
        "kind": REQUEST_KIND,
        "metadata": {"name": user.node},
        "spec": {"request": body["spec"]["request"], "username": user.name},
        "status": {"certificate": base64.b64encode(cert).decode()},
    }
    return respond(answer, status=201)


def add_routes(app: web.Application) -> None:
    """Serve the serving-certificate endpoint (the caller is authenticated by the app's
    middleware; the signer is app[SIGNER], set by whoever has the fleet CA)."""
    app.router.add_post(SERVING_CERTIFICATE_PATH, serving_certificate)
