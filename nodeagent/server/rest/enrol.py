"""The two credential endpoints: enrolment with the join secret, and rotation of a node's token.

POST /nodeagent.io/v1/enrol, `Authorization: Bearer <join secret>`, body
`{"nodeName", "nodePassword"}`: 201 with a NodeCredential (a new bearer token for
`system:node:<nodeName>` and its expiry); 403 when the name is enrolled with another node
password (k3s's node password check). POST /nodeagent.io/v1/token with a node's own token: 201
with a new one (rotation). POST /nodeagent.io/v1/nodes/<name>/token with the admin token: 201
with a token for that node, its password binding untouched (tests, benchmarks, checking what a
node may do). Any other credential gets 403 naming the user; none, or a wrong one, 401.
docs/security.md, "Enrolment and node credentials".
"""

from __future__ import annotations

import structlog
from aiohttp import web

from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import (
    BadRequest,
    FieldError,
    Forbidden,
    Invalid,
    RequestEntityTooLarge,
    Unauthorized,
)
from nodeagent.api.names import dns1123_subdomain
from nodeagent.api.timefmt import format_time
from nodeagent.api.tokens import NODE_GROUPS, NODE_USER_PREFIX
from nodeagent.server.auth import BOOTSTRAP, User
from nodeagent.server.credentialrules import API_VERSION, KIND, PasswordRejected
from nodeagent.server.credentials import Issued, NodeCredentials
from nodeagent.server.rest import keys
from nodeagent.server.rest.handlers import respond

log = structlog.get_logger()

ENROL_PATH = "/nodeagent.io/v1/enrol"
TOKEN_PATH = "/nodeagent.io/v1/token"
ISSUE_PATH = "/nodeagent.io/v1/nodes/{name}/token"
MAX_ENROL_BODY = 4096  # bytes: a name of 253 and a password of 512 fit many times over
PASSWORD_MIN, PASSWORD_MAX = 32, 512  # the agent's are 43 characters (256 random bits)

CREDENTIALS = web.AppKey("node_credentials", NodeCredentials)


def credential_body(issued: Issued) -> Obj:
    """The reply to an enrolment or rotation: shaped as a TokenRequest's status."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": issued.node_name},
        "status": {
            "token": issued.token,
            "expirationTimestamp": format_time(issued.expires_at),
            "expirationSeconds": int(issued.lifetime_seconds),
            "user": {
                "username": f"{NODE_USER_PREFIX}{issued.node_name}",
                "groups": list(NODE_GROUPS),
            },
        },
    }


def enrolment_request(body: bytes) -> tuple[str, str]:
    """(nodeName, nodePassword) from an enrolment body; 413/400/422 naming the field."""
    if len(body) > MAX_ENROL_BODY:
        raise RequestEntityTooLarge(f"an enrolment body is at most {MAX_ENROL_BODY} bytes")
    try:
        value = jsontext.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"error decoding JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRequest('the body must be a JSON object {"nodeName", "nodePassword"}')
    causes: list[FieldError] = []
    name, password = value.get("nodeName"), value.get("nodePassword")
    if not name:
        causes.append(
            FieldError(field="nodeName", type="Required value", reason="FieldValueRequired")
        )
    elif not isinstance(name, str):
        causes.append(
            FieldError(field="nodeName", type="Invalid value", value=name, detail="not a string")
        )
    else:
        causes += [
            FieldError(field="nodeName", type="Invalid value", value=name, detail=d)
            for d in dns1123_subdomain(name)
        ]
    if not password:
        causes.append(
            FieldError(field="nodePassword", type="Required value", reason="FieldValueRequired")
        )
    elif not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        causes.append(
            FieldError(
                field="nodePassword",
                type="Invalid value",
                value="<redacted>",
                detail=f"must be a string of {PASSWORD_MIN} to {PASSWORD_MAX} characters",
            )
        )
    if causes:
        text = "; ".join(str(c) for c in causes)
        raise Invalid(f"the enrolment is invalid: {text}", kind=KIND, causes=causes)
    return str(name), str(password)


def _refuse(user: User, what: str, why: str) -> Forbidden:
    return Forbidden(f'User "{user.name}" cannot {what}: {why}', kind=KIND)


async def enrol(request: web.Request) -> web.StreamResponse:
    user: User = request[keys.USER]
    if user != BOOTSTRAP:
        raise _refuse(user, "enrol a node", "enrolment needs the join secret")
    node_name, password = enrolment_request(await request.read())
    try:
        issued = await request.app[CREDENTIALS].enrol(node_name, password)
    except PasswordRejected:
        log.warning("node_password_rejected", node=node_name, remote=request.remote)
        raise Forbidden(
            f'node password rejected for node "{node_name}": another host is enrolled under '
            "this name (a duplicate node name), or this host's node password file "
            "(STATE_DIR/node-password) changed; give this host another --node-name, or delete "
            f"the node (kubectl delete node {node_name}) to let a new host take the name",
            name=node_name,
            kind=KIND,
        ) from None
    return respond(credential_body(issued), status=201)


async def rotate(request: web.Request) -> web.StreamResponse:
    user: User = request[keys.USER]
    if user.node is None:
        raise _refuse(user, "rotate a node token", "only a node may, with its own credential")
    token = str(request.headers.get("Authorization") or "")[len("Bearer ") :].strip()
    issued = await request.app[CREDENTIALS].rotate(user.node, token)
    if issued is None:
        raise Unauthorized("Unauthorized")
    return respond(credential_body(issued), status=201)


async def issue(request: web.Request) -> web.StreamResponse:
    user: User = request[keys.USER]
    if not user.is_admin:
        raise _refuse(user, "issue a node token", "only the admin may")
    node_name = request.match_info["name"]
    problems = dns1123_subdomain(node_name)
    if problems:
        raise BadRequest(f'node name "{node_name}": {problems[0]}')
    issued = await request.app[CREDENTIALS].issue(node_name)
    return respond(credential_body(issued), status=201)


def add_routes(app: web.Application, credentials: NodeCredentials) -> None:
    app[CREDENTIALS] = credentials
    app.router.add_post(ENROL_PATH, enrol)
    app.router.add_post(TOKEN_PATH, rotate)
    app.router.add_post(ISSUE_PATH, issue)
