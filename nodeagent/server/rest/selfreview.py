"""`kubectl auth can-i` and `kubectl auth whoami`: SelfSubjectAccessReview and SelfSubjectReview.

POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews answers whether the caller may do
what spec.resourceAttributes describes, decided by the server's own authorizer (auth.py);
POST /apis/authentication.k8s.io/v1/selfsubjectreviews says who the caller is. Both accept the
protobuf bodies kubectl sends. Nothing is stored. A node's rules that depend on the object
(a pod bound to it) are judged without the object, so the review may say no where the request
itself, with a bound pod, would be allowed.
"""

from __future__ import annotations

from aiohttp import web

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import BadRequest
from nodeagent.server.auth import Attributes, User, decide
from nodeagent.server.rest import keys
from nodeagent.server.rest.handlers import respond
from nodeagent.server.rest.request import decode_object, media_type

ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def review_access(user: User, review: Obj) -> Obj:
    """The review with its status filled in: allowed, or denied with the reason."""
    spec = review.get("spec") or {}
    attrs = spec.get("resourceAttributes")
    out: Obj = {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": spec,
    }
    if not isinstance(attrs, dict):
        # non-resource URLs (kubectl auth can-i get /logs): only the admin may
        out["status"] = {"allowed": user.is_admin}
        return out
    reason = decide(
        user,
        Attributes(
            verb=str(attrs.get("verb") or ""),
            resource=str(attrs.get("resource") or ""),
            subresource=str(attrs.get("subresource") or ""),
            namespace=str(attrs.get("namespace") or ""),
            name=str(attrs.get("name") or ""),
        ),
    )
    # The node authorizer's reason, when it has one (kubectl prints "no - <reason>"); RBAC's
    # "no rule allows it" has none, and kubectl prints "no".
    out["status"] = {"allowed": reason is None, **({"reason": reason} if reason else {})}
    return out


async def access_review(request: web.Request) -> web.StreamResponse:
    review = decode_object(await request.read(), media_type(request))
    if review.get("kind") not in (None, "SelfSubjectAccessReview"):
        raise BadRequest(f"expected a SelfSubjectAccessReview, got {review.get('kind')}")
    return respond(review_access(request[keys.USER], review), status=201)


def user_info(user: User) -> Obj:
    """authentication.k8s.io/v1 UserInfo: username, uid and extra when set, groups."""
    info: Obj = {"username": user.name}
    if user.uid:
        info["uid"] = user.uid
    info["groups"] = list(user.groups)
    if user.extra:
        info["extra"] = {key: list(values) for key, values in user.extra.items()}
    return info


async def subject_review(request: web.Request) -> web.StreamResponse:
    user: User = request[keys.USER]
    return respond(
        {
            "kind": "SelfSubjectReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {},
            "status": {"userInfo": user_info(user)},
        },
        status=201,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post(ACCESS_REVIEWS, access_review)
    app.router.add_post(SUBJECT_REVIEWS, subject_review)
