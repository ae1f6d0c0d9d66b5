"""The fields of ServiceAccount and of authentication.k8s.io/v1 TokenRequest, as schema data.

Pure; merged into nodeagent.api.schema.TYPES. Descriptions are from the Kubernetes API
reference, shortened.
"""

from __future__ import annotations

from nodeagent.api.schemabase import CORE, TYPE_META, F, Type

AUTHENTICATION = "io.k8s.api.authentication.v1"

ACCOUNT_TYPES: dict[str, Type] = {
    "ServiceAccount": Type(
        package=CORE,
        description="An identity for processes that run in a pod; its tokens authenticate "
        "as system:serviceaccount:NAMESPACE:NAME.",
        gvk=("", "v1", "ServiceAccount"),
        fields={
            **TYPE_META,
            "secrets": F("[]ObjectReference", "Secrets pods running as this account may use."),
            "imagePullSecrets": F(
                "[]LocalObjectReference", "Secrets for pulling the images of its pods."
            ),
            "automountServiceAccountToken": F(
                "boolean", "Whether pods running as this account get a token mounted."
            ),
        },
    ),
    "ObjectReference": Type(
        package=CORE,
        description="A reference to an object.",
        fields={
            "kind": F("string", "Kind of the referent."),
            "namespace": F("string", "Namespace of the referent."),
            "name": F("string", "Name of the referent."),
            "uid": F("string", "UID of the referent."),
            "apiVersion": F("string", "API version of the referent."),
            "resourceVersion": F("string", "Specific resourceVersion of the referent."),
            "fieldPath": F("string", "A piece of the object, for a reference into it."),
        },
    ),
    "LocalObjectReference": Type(
        package=CORE,
        description="A reference to an object in the same namespace.",
        fields={"name": F("string", "Name of the referent.")},
    ),
    "TokenRequest": Type(
        package=AUTHENTICATION,
        description="Requests a token for a given service account.",
        gvk=("authentication.k8s.io", "v1", "TokenRequest"),
        fields={
            **TYPE_META,
            "spec": F("TokenRequestSpec", "What the token is for.", required=True),
            "status": F("object", "The token, filled in by the server."),
        },
    ),
    "TokenRequestSpec": Type(
        package=AUTHENTICATION,
        description="The parameters of a token request.",
        fields={
            "audiences": F("[]string", "Who the token is for; default the API's audiences."),
            "expirationSeconds": F("integer", "How long the token lives; default 3600, min 600."),
            "boundObjectRef": F(
                "BoundObjectReference", "An object whose deletion ends the token (Pod, Secret)."
            ),
        },
    ),
    "BoundObjectReference": Type(
        package=AUTHENTICATION,
        description="The object a token is bound to.",
        fields={
            "kind": F("string", "Kind of the referent: Pod or Secret."),
            "apiVersion": F("string", "API version of the referent: v1."),
            "name": F("string", "Name of the referent."),
            "uid": F("string", "UID of the referent."),
        },
    ),
}
