"""TokenRequest (`kubectl create token`) and the issuer's OpenID discovery documents.

POST /api/v1/namespaces/NS/serviceaccounts/NAME/token answers an authentication.k8s.io/v1
TokenRequest with status.token and status.expirationTimestamp, as kube-apiserver's TokenREST
does: the body's name and namespace must match the URL, the ServiceAccount must exist, the
spec is defaulted and validated (api/serviceaccounts.py), a node caller is held to
NodeRestriction (a token bound to one of its pods), a bound Pod or Secret must exist with
the uid given (a Pod must run as this ServiceAccount; its node is put in the token), and the
lifetime is cut to --service-account-max-token-expiration with a warning.
GET /.well-known/openid-configuration and /openid/v1/jwks publish the issuer and its public
key for anyone holding a ServiceAccount token (kube-apiserver's default binding of
system:service-account-issuer-discovery to system:serviceaccounts) and the admin.
"""

from __future__ import annotations

from aiohttp import web

from nodeagent.api import jsontext, meta, serviceaccounts, timefmt
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Invalid,
    NotFound,
    ServiceUnavailable,
)
from nodeagent.api.fielderrors import Errors
from nodeagent.api.resources import BY_NAME
from nodeagent.api.typecheck import check_types
from nodeagent.server import noderestriction
from nodeagent.server.auth import User
from nodeagent.server.rest import keys
from nodeagent.server.rest.handlers import authorize_call, check_fields, respond
from nodeagent.server.rest.request import Call, Target, decode_object, media_type
from nodeagent.server.satokens import ServiceAccountTokens

TOKENS = web.AppKey("service_account_tokens", ServiceAccountTokens)

TOKEN_PATH = "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
OPENID_CONFIGURATION = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
KIND = "TokenRequest"
GROUP = "authentication.k8s.io"
DISCOVERY_CACHE = "public, max-age=3600"


def _invalid(name: str, causes: list[FieldError]) -> Invalid:
    text = str(causes[0]) if len(causes) == 1 else "[" + ", ".join(map(str, causes)) + "]"
    return Invalid(
        f'{KIND}.{GROUP} "{name}" is invalid: {text}',
        kind=KIND,
        group=GROUP,
        name=name,
        causes=causes,
    )


async def _get(request: web.Request, resource: str, namespace: str, name: str) -> Obj:
    return await request.app[keys.REGISTRY].get(resource, namespace, name)


async def _get_or_none(
    request: web.Request, resource: str, namespace: str, name: str
) -> Obj | None:
    try:
        return await _get(request, resource, namespace, name)
    except NotFound:
        return None


def _check_names(body: Obj, *, namespace: str, name: str) -> None:
    """TokenREST: a name or namespace in the body must be the URL's."""
    given = body.get("metadata") or {}
    errs = Errors()
    if given.get("name") and given["name"] != name:
        errs.invalid(
            "metadata.name", given["name"], "must match the service account name if specified"
        )
    elif given.get("namespace") and given["namespace"] != namespace:
        errs.invalid(
            "metadata.namespace",
            given["namespace"],
            "must match the service account namespace if specified",
        )
    if errs.items:
        raise _invalid(name, errs.items)


async def create_token(request: web.Request) -> web.StreamResponse:
    tokens = request.app.get(TOKENS)
    if tokens is None:
        raise ServiceUnavailable("this server issues no ServiceAccount tokens")
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    call = Call(
        target=Target(resource=BY_NAME["serviceaccounts"], item=True, subresource="token"),
        verb="create",
        namespace=namespace,
        name=name,
    )
    request[keys.CALL] = call
    await authorize_call(request, call)
    raw = await request.read()
    body = decode_object(raw, media_type(request))
    if body.get("kind") not in (None, "", KIND):
        raise BadRequest(f"expected a {KIND}, got {body.get('kind')}")
    check_types({**body, "kind": KIND}, kind=KIND, name=name)
    warnings = check_fields(request, {**body, "kind": KIND}, raw)
    _check_names(body, namespace=namespace, name=name)
    account = await _get(request, "serviceaccounts", namespace, name)
    spec, errors = serviceaccounts.token_request_spec(body, api_audiences=tokens.api_audiences)
    if errors:
        raise _invalid("", errors)  # kube-apiserver names no object here
    now = tokens.clock()
    bound = spec.bound
    bound_pod = None
    if bound is not None and bound.kind == "Pod" and bound.name:
        bound_pod = await _get_or_none(request, "pods", namespace, bound.name)
    user: User = request[keys.USER]
    if user.node is not None:
        refused = noderestriction.admit(
            user.node,
            noderestriction.Write(
                operation="CREATE",
                resource="serviceaccounts",
                subresource="token",
                namespace=namespace,
                name=name,
                obj={"spec": spec.as_json()},
                bound_pod=bound_pod,
            ),
        )
        if refused is not None:
            raise refused
    pod = secret = node = None
    if bound is not None:
        refusal = serviceaccounts.bind_refusal(bound)
        if refusal is not None:
            raise BadRequest(refusal)
        if bound.kind == "Pod":
            pod = bound_pod or await _get(request, "pods", namespace, bound.name)
            if (pod.get("spec") or {}).get("serviceAccountName") != name:
                raise BadRequest(
                    f'cannot bind token for serviceaccount "{name}" to pod running with '
                    "different serviceaccount name."
                )
            node_name = str((pod.get("spec") or {}).get("nodeName") or "")
            if node_name:
                node = await _get_or_none(request, "nodes", "", node_name)
            uid = meta.uid_of(pod)
        else:
            secret = await _get(request, "secrets", namespace, bound.name)
            uid = meta.uid_of(secret)
        if bound.uid and bound.uid != uid:
            raise Conflict(
                f'Operation cannot be fulfilled on {bound.kind} "{bound.name}": the UID in the '
                f"bound object reference ({bound.uid}) does not match the UID in record. The "
                "object might have been deleted and then recreated",
                name=bound.name,
                kind=bound.kind,
            )
    expiration = spec.expiration_seconds
    if tokens.max_expiration_seconds and expiration > tokens.max_expiration_seconds:
        warnings.append(
            f"requested expiration of {expiration} seconds shortened to "
            f"{tokens.max_expiration_seconds} seconds"
        )
        expiration = tokens.max_expiration_seconds
    issued = tokens.issue(
        account=account,
        audiences=spec.audiences,
        expiration_seconds=expiration,
        now=now,
        pod=pod,
        secret=secret,
        node=node,
    )
    answer_spec = {**spec.as_json(), "expirationSeconds": expiration}
    answer = {
        "kind": KIND,
        "apiVersion": serviceaccounts.TOKEN_REQUEST_API_VERSION,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": timefmt.format_time(now),
        },
        "spec": answer_spec,
        "status": {
            "token": issued.token,
            "expirationTimestamp": timefmt.format_time(now + expiration),
        },
    }
    return respond(answer, status=201, warnings=warnings)


def _json(body: Obj, content_type: str) -> web.Response:
    return web.Response(
        body=jsontext.dumpb(body),
        content_type=None,
        headers={"Content-Type": content_type, "Cache-Control": DISCOVERY_CACHE},
    )


def openid_configuration(*, issuer: str, jwks_uri: str) -> Obj:
    """The OpenID provider metadata kube-apiserver serves for its issuer."""
    return {
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


async def openid_configuration_handler(request: web.Request) -> web.StreamResponse:
    # who may read it is RBAC's (system:service-account-issuer-discovery), asked by the
    # middleware as for every non-resource path
    tokens = request.app.get(TOKENS)
    if tokens is None:
        raise NotFound("the server could not find the requested resource")
    # kube-apiserver's default: the jwks URI on its external address (here, as asked)
    jwks_uri = f"https://{request.host}{JWKS_PATH}"
    return _json(openid_configuration(issuer=tokens.issuer, jwks_uri=jwks_uri), "application/json")


async def jwks_handler(request: web.Request) -> web.StreamResponse:
    # who may read it is RBAC's (system:service-account-issuer-discovery), asked by the
    # middleware as for every non-resource path
    tokens = request.app.get(TOKENS)
    if tokens is None:
        raise NotFound("the server could not find the requested resource")
    return _json({"keys": [tokens.key.jwk()]}, "application/jwk-set+json")


def add_routes(app: web.Application) -> None:
    app.router.add_post(TOKEN_PATH, create_token)
    app.router.add_get(OPENID_CONFIGURATION, openid_configuration_handler)
    app.router.add_get(JWKS_PATH, jwks_handler)
