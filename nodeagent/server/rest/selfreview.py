"""Access reviews: `kubectl auth can-i [--list]` and `kubectl auth whoami`.

POST /apis/authorization.k8s.io/v1/ selfsubjectaccessreviews (may I?), selfsubjectrulesreviews
(what may I do in a namespace?), subjectaccessreviews (may this user?) and
namespaces/NS/localsubjectaccessreviews (may this user, in NS?) answer from the server's own
authorizer chain (auth.py, rbac.py); POST /apis/authentication.k8s.io/v1/selfsubjectreviews
says who the caller is. Each is itself a `create` the caller must be allowed (the self
reviews through system:basic-user, bound to every authenticated user; the others through
RBAC: `admin` holds localsubjectaccessreviews). Protobuf bodies as kubectl sends them are read.
Nothing is stored. A node's rules that depend on the object (a pod bound to it) are judged
without the object, so a review may say no where the request itself would be allowed, and a
node's rules cannot be listed (a rules review of a node says incomplete, as Kubernetes').
"""

from __future__ import annotations

from aiohttp import web

from nodeagent.api.bodies import Obj
from nodeagent.api.errors import BadRequest, FieldError, Invalid
from nodeagent.api.tokens import NODE_USER_PREFIX
from nodeagent.server.auth import Attributes, User, authorize, decide, subject_of
from nodeagent.server.rbac import Policy
from nodeagent.server.rest import keys
from nodeagent.server.rest.handlers import respond
from nodeagent.server.rest.request import decode_object, media_type

AUTHORIZATION = "/apis/authorization.k8s.io/v1"
ACCESS_REVIEWS = f"{AUTHORIZATION}/selfsubjectaccessreviews"
RULES_REVIEWS = f"{AUTHORIZATION}/selfsubjectrulesreviews"
SUBJECT_ACCESS_REVIEWS = f"{AUTHORIZATION}/subjectaccessreviews"
LOCAL_ACCESS_REVIEWS = f"{AUTHORIZATION}/namespaces/{{namespace}}/localsubjectaccessreviews"
SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def _attributes(spec: Obj) -> Attributes | None:
    """The request a review's spec describes (None when it describes none)."""
    attrs = spec.get("resourceAttributes")
    if isinstance(attrs, dict):
        return Attributes(
            verb=str(attrs.get("verb") or ""),
            resource=str(attrs.get("resource") or ""),
            subresource=str(attrs.get("subresource") or ""),
            namespace=str(attrs.get("namespace") or ""),
            name=str(attrs.get("name") or ""),
            api_group=str(attrs.get("group") or ""),
        )
    other = spec.get("nonResourceAttributes")
    if isinstance(other, dict):
        return Attributes(verb=str(other.get("verb") or ""), path=str(other.get("path") or ""))
    return None


def review_access(user: User, review: Obj, policy: Policy, *, kind: str) -> Obj:
    """The review with its status filled in: allowed, or denied with the reason."""
    spec = review.get("spec") or {}
    out: Obj = {
        "kind": kind,
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": review.get("metadata") or {},
        "spec": spec,
    }
    attrs = _attributes(spec)
    reason = decide(user, attrs, policy) if attrs is not None else ""
    # The node authorizer's reason, when it has one (kubectl prints "no - <reason>"); RBAC's
    # "no rule allows it" has none, and kubectl prints "no".
    out["status"] = {"allowed": reason is None, **({"reason": reason} if reason else {})}
    return out


def review_rules(user: User, namespace: str, policy: Policy) -> Obj:
    """A SelfSubjectRulesReview's status: the rules that apply to `user` in `namespace`."""
    resource_rules: list[Obj] = []
    url_rules: list[Obj] = []
    for rule in policy.rules_for(subject_of(user), namespace):
        if rule.non_resource_urls:
            url_rules.append(
                {"verbs": list(rule.verbs), "nonResourceURLs": list(rule.non_resource_urls)}
            )
        else:
            resource_rules.append(rule.as_obj())
    status: Obj = {
        "resourceRules": resource_rules,
        "nonResourceRules": url_rules,
        "incomplete": user.node is not None,
    }
    if user.node is not None:
        status["evaluationError"] = "node authorizer does not support user rule resolution"
    return status


def _review_body(request_body: bytes, content_type: str, kind: str) -> Obj:
    review = decode_object(request_body, content_type)
    if review.get("kind") not in (None, kind):
        raise BadRequest(f"expected a {kind}, got {review.get('kind')}")
    return review


def _may_create(request: web.Request, resource: str, namespace: str = "") -> None:
    denied = authorize(
        request[keys.USER],
        Attributes(
            verb="create",
            resource=resource,
            namespace=namespace,
            api_group="authentication.k8s.io"
            if resource == "selfsubjectreviews"
            else "authorization.k8s.io",
        ),
        request.app[keys.RBAC].policy,
    )
    if denied is not None:
        raise denied


def _invalid(kind: str, errors: list[FieldError]) -> Invalid:
    text = ", ".join(str(e) for e in errors)
    return Invalid(
        f'{kind}.authorization.k8s.io "" is invalid: {text}',
        kind=kind,
        group="authorization.k8s.io",
        causes=errors,
    )


def _subject(spec: Obj, kind: str) -> User:
    """The user a (Local)SubjectAccessReview asks about (ValidateSubjectAccessReviewSpec)."""
    errors: list[FieldError] = []
    has_resource = isinstance(spec.get("resourceAttributes"), dict)
    has_other = isinstance(spec.get("nonResourceAttributes"), dict)
    if has_resource == has_other:
        errors.append(
            FieldError(
                field="spec.resourceAttributes",
                type="Invalid value",
                value=None,
                detail=(
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified"
                ),
            )
        )
    name = str(spec.get("user") or "")
    groups = tuple(str(g) for g in spec.get("groups") or [] if isinstance(g, str))
    if not name and not groups:
        errors.append(
            FieldError(
                field="spec.user",
                type="Invalid value",
                value="",
                detail="at least one of user or group must be specified",
            )
        )
    if errors:
        raise _invalid(kind, errors)
    node = None
    if name.startswith(NODE_USER_PREFIX) and "system:nodes" in groups:
        node = name[len(NODE_USER_PREFIX) :] or None
    return User(name=name, groups=groups, node=node)


async def access_review(request: web.Request) -> web.StreamResponse:
    _may_create(request, "selfsubjectaccessreviews")
    kind = "SelfSubjectAccessReview"
    review = _review_body(await request.read(), media_type(request), kind)
    policy = request.app[keys.RBAC].policy
    return respond(review_access(request[keys.USER], review, policy, kind=kind), status=201)


async def rules_review(request: web.Request) -> web.StreamResponse:
    _may_create(request, "selfsubjectrulesreviews")
    kind = "SelfSubjectRulesReview"
    review = _review_body(await request.read(), media_type(request), kind)
    spec = review.get("spec") or {}
    namespace = str(spec.get("namespace") or "")
    status = review_rules(request[keys.USER], namespace, request.app[keys.RBAC].policy)
    return respond(
        {
            "kind": kind,
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": review.get("metadata") or {},
            "spec": spec,
            "status": status,
        },
        status=201,
    )


async def subject_access_review(request: web.Request) -> web.StreamResponse:
    _may_create(request, "subjectaccessreviews")
    kind = "SubjectAccessReview"
    review = _review_body(await request.read(), media_type(request), kind)
    spec = review.get("spec") or {}
    user = _subject(spec, kind)
    policy = request.app[keys.RBAC].policy
    return respond(review_access(user, review, policy, kind=kind), status=201)


async def local_access_review(request: web.Request) -> web.StreamResponse:
    namespace = request.match_info["namespace"]
    _may_create(request, "localsubjectaccessreviews", namespace)
    kind = "LocalSubjectAccessReview"
    review = _review_body(await request.read(), media_type(request), kind)
    spec = review.get("spec") or {}
    user = _subject(spec, kind)
    attrs = spec.get("resourceAttributes")
    if not isinstance(attrs, dict):
        raise _invalid(
            kind,
            [
                FieldError(
                    field="spec.nonResourceAttributes",
                    type="Invalid value",
                    value=None,
                    detail="disallowed on this kind of request",
                )
            ],
        )
    if str(attrs.get("namespace") or "") != namespace:
        raise BadRequest(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
    policy = request.app[keys.RBAC].policy
    return respond(review_access(user, review, policy, kind=kind), status=201)


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
    _may_create(request, "selfsubjectreviews")
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
    app.router.add_post(RULES_REVIEWS, rules_review)
    app.router.add_post(SUBJECT_ACCESS_REVIEWS, subject_access_review)
    app.router.add_post(LOCAL_ACCESS_REVIEWS, local_access_review)
    app.router.add_post(SUBJECT_REVIEWS, subject_review)
