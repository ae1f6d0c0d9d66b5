"""The fields of the access and identity reviews (authorization.k8s.io/v1 SubjectAccessReview,
SelfSubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview;
authentication.k8s.io/v1 SelfSubjectReview), as schema data.

Pure; merged into nodeagent.api.schema.TYPES, so that their OpenAPI documents let `kubectl
create -f` hand validation to the server and `kubectl explain subjectaccessreview.spec`
works. The statuses are the server's to fill in and stay free-form. Descriptions are from the
Kubernetes API reference, shortened.
"""

from __future__ import annotations

from nodeagent.api.schemabase import TYPE_META, F, Field, Type

AUTHENTICATION = "io.k8s.api.authentication.v1"
AUTHORIZATION = "io.k8s.api.authorization.v1"
_GROUP = "authorization.k8s.io"
_STATUS = F("object", "Filled in by the server: whether the request is allowed, and why.")

_SUBJECT: dict[str, Field] = {
    "user": F("string", "The user to test for."),
    "groups": F("[]string", "The groups to test for."),
    "uid": F("string", "The UID of the user to test for."),
    "extra": F("map[string][]string", "The user's extra attributes."),
}
_ATTRIBUTES: dict[str, Field] = {
    "resourceAttributes": F("ResourceAttributes", "The request to a resource to test."),
    "nonResourceAttributes": F("NonResourceAttributes", "The request to a URL path to test."),
}


def _review(kind: str, description: str, spec: str) -> Type:
    return Type(
        package=AUTHORIZATION,
        description=description,
        gvk=(_GROUP, "v1", kind),
        fields={
            **TYPE_META,
            "spec": F(spec, "The request being evaluated.", required=True),
            "status": _STATUS,
        },
    )


REVIEW_TYPES: dict[str, Type] = {
    "SubjectAccessReview": _review(
        "SubjectAccessReview",
        "Checks whether a user or group can perform an action.",
        "SubjectAccessReviewSpec",
    ),
    "LocalSubjectAccessReview": _review(
        "LocalSubjectAccessReview",
        "Checks whether a user or group can perform an action in a given namespace.",
        "SubjectAccessReviewSpec",
    ),
    "SelfSubjectAccessReview": _review(
        "SelfSubjectAccessReview",
        "Checks whether the current user can perform an action.",
        "SelfSubjectAccessReviewSpec",
    ),
    "SelfSubjectRulesReview": _review(
        "SelfSubjectRulesReview",
        "Lists the actions the current user can perform in a namespace.",
        "SelfSubjectRulesReviewSpec",
    ),
    "SubjectAccessReviewSpec": Type(
        package=AUTHORIZATION,
        description="A request to check: exactly one of resourceAttributes and "
        "nonResourceAttributes, and the subject.",
        fields={**_ATTRIBUTES, **_SUBJECT},
    ),
    "SelfSubjectAccessReviewSpec": Type(
        package=AUTHORIZATION,
        description="A request to check for the current user: exactly one of "
        "resourceAttributes and nonResourceAttributes.",
        fields=_ATTRIBUTES,
    ),
    "SelfSubjectRulesReviewSpec": Type(
        package=AUTHORIZATION,
        description="The namespace to list the rules of.",
        fields={"namespace": F("string", "The namespace to evaluate rules for.")},
    ),
    "ResourceAttributes": Type(
        package=AUTHORIZATION,
        description="The attributes of a request to a resource.",
        fields={
            "namespace": F("string", "The namespace of the action; empty for all."),
            "verb": F("string", "A Kubernetes verb: get, list, watch, create, update, ..."),
            "group": F("string", "The API group of the resource; empty for the core group."),
            "version": F("string", "The API version of the resource."),
            "resource": F("string", "A resource type: pods, daemonsets, ..."),
            "subresource": F("string", "A subresource: status, log, exec, ..."),
            "name": F("string", "The name of the object; empty for all."),
        },
    ),
    "NonResourceAttributes": Type(
        package=AUTHORIZATION,
        description="The attributes of a request to a URL path.",
        fields={
            "path": F("string", "The URL path of the request."),
            "verb": F("string", "The standard HTTP verb."),
        },
    ),
    "SelfSubjectReview": Type(
        package=AUTHENTICATION,
        description="Who the current user is, as the server authenticated them.",
        gvk=("authentication.k8s.io", "v1", "SelfSubjectReview"),
        fields={**TYPE_META, "status": F("object", "Filled in by the server: the user's info.")},
    ),
}
