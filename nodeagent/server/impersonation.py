"""Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): who a request acts as, and what
the caller must be allowed for it, as kube-apiserver's WithImpersonation filter. Pure.

`requested(headers)` reads Impersonate-User, Impersonate-Group (repeated), Impersonate-Uid
and Impersonate-Extra-<key>; `checks(want)` lists the `impersonate` requests the caller must
be allowed (users or serviceaccounts, groups, uids, userextras/<key>); `acting_user(want)` is
the User the request then runs as: a ServiceAccount gets its fixed groups when none are
asked, every non-anonymous user gets system:authenticated, and a node name with the
system:nodes group is a node identity again (the node authorizer governs it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from nodeagent.api.errors import BadRequest
from nodeagent.api.tokens import NODE_USER_PREFIX
from nodeagent.server.auth import Attributes, User
from nodeagent.server.rbac import SERVICE_ACCOUNT_PREFIX

USER_HEADER = "Impersonate-User"
GROUP_HEADER = "Impersonate-Group"
UID_HEADER = "Impersonate-Uid"
EXTRA_PREFIX = "Impersonate-Extra-"
ANONYMOUS = "system:anonymous"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATION_GROUP = "authentication.k8s.io"
MAX_VALUES = 64  # header values read per request (a bound, as every parser here has)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # (key, value), keys lower-cased


def requested(headers: Iterable[tuple[str, str]]) -> Wanted | None:
    """The impersonation the headers ask for; None when they ask none. BadRequest when they
    ask groups, a uid or extras without a user (kube-apiserver answers 500 there)."""
    user: str | None = None
    uid = ""
    groups: list[str] = []
    extra: list[tuple[str, str]] = []
    asked = False
    for count, (name, value) in enumerate(headers):
        if count > 4 * MAX_VALUES:
            break
        lower = name.lower()
        if lower == USER_HEADER.lower():
            user, asked = value, True
        elif lower == GROUP_HEADER.lower():
            groups.append(value)
            asked = True
        elif lower == UID_HEADER.lower():
            uid, asked = value, True
        elif lower.startswith(EXTRA_PREFIX.lower()):
            extra.append((unquote(name[len(EXTRA_PREFIX) :]).lower(), value))
            asked = True
    if not asked:
        return None
    if not user:
        raise BadRequest(
            "requested impersonation of groups, a uid or extras without impersonating a user"
        )
    if len(groups) > MAX_VALUES or len(extra) > MAX_VALUES:
        raise BadRequest(f"at most {MAX_VALUES} impersonated groups and extras")
    return Wanted(user=user, groups=tuple(groups), uid=uid, extra=tuple(extra))


def _service_account(user: str) -> tuple[str, str] | None:
    if not user.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, _, name = user[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
    return (namespace, name) if namespace and name else None


def checks(want: Wanted) -> list[Attributes]:
    """What the caller must be allowed, in kube-apiserver's order: the user (or the
    ServiceAccount), each group, the uid, each extra value."""
    sa = _service_account(want.user)
    out = [
        Attributes(
            verb="impersonate",
            resource="serviceaccounts",
            namespace=sa[0],
            name=sa[1],
            api_group="",
        )
        if sa is not None
        else Attributes(verb="impersonate", resource="users", name=want.user, api_group="")
    ]
    out += [
        Attributes(verb="impersonate", resource="groups", name=g, api_group="") for g in want.groups
    ]
    if want.uid:
        out.append(
            Attributes(
                verb="impersonate", resource="uids", name=want.uid, api_group=AUTHENTICATION_GROUP
            )
        )
    out += [
        Attributes(
            verb="impersonate",
            resource="userextras",
            subresource=key,
            name=value,
            api_group=AUTHENTICATION_GROUP,
        )
        for key, value in want.extra
    ]
    return out


def acting_user(want: Wanted) -> User:
    """The user the request acts as."""
    groups = list(want.groups)
    sa = _service_account(want.user)
    if sa is not None and not groups:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa[0]}"]
    if want.user != ANONYMOUS and not {AUTHENTICATED, UNAUTHENTICATED} & set(groups):
        groups.append(AUTHENTICATED)
    node = None
    if want.user.startswith(NODE_USER_PREFIX) and "system:nodes" in groups:
        node = want.user[len(NODE_USER_PREFIX) :] or None
    return User(name=want.user, groups=tuple(groups), node=node)
