"""Errors as the Kubernetes API reports them: a reason, an HTTP code, and field causes.

Pure. The REST layer turns any APIError into a `Status` object (status_body()); validation
produces FieldError values that become an Invalid error's causes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldError:
    """One problem at one field path, e.g. spec.template.spec.containers[0].image."""

    field: str
    type: str  # "Required value", "Invalid value", "Unsupported value", "Duplicate value", ...
    detail: str = ""
    value: Any = None
    reason: str = "FieldValueInvalid"  # the Status cause reason (FieldValueRequired, ...)

    def message(self) -> str:
        """The message part as the API server words it (without the field path)."""
        if self.type in _TYPES_WITH_VALUE:
            head = f"{self.type}: {_go_repr(self.value)}"
        else:
            head = self.type
        return f"{head}: {self.detail}" if self.detail else head

    def __str__(self) -> str:
        return f"{self.field}: {self.message()}"


@dataclass(frozen=True, slots=True)
class GoValue:
    """A bad value already rendered the way the API server prints it, e.g.
    `map[string]string{"app":"x"}`; FieldError.message() shows it as is."""

    text: str


# The field error types whose message shows the bad value (field.Error.ErrorBody).
_TYPES_WITH_VALUE = frozenset(
    {"Invalid value", "Unsupported value", "Duplicate value", "Not found"}
)


def _go_repr(value: Any) -> str:
    if isinstance(value, GoValue):
        return value.text
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


class APIError(Exception):
    """An error with a Kubernetes Status shape. Subclasses fix reason and code."""

    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        name: str = "",
        group: str = "",
        causes: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes or []

    def status_body(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [
                {"reason": c.reason, "message": c.message(), "field": c.field} for c in self.causes
            ]
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details or self.reason == "NotFound":
            # kube-apiserver's NotFound always has details, if empty (`{}`): kubectl debug
            # reads details.name of a 404 without checking that there are details.
            body["details"] = details
        return body


class BadRequest(APIError):
    code, reason = 400, "BadRequest"


class Unauthorized(APIError):
    code, reason = 401, "Unauthorized"


class Forbidden(APIError):
    code, reason = 403, "Forbidden"


class NotFound(APIError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(APIError):
    code, reason = 405, "MethodNotAllowed"


class AlreadyExists(APIError):
    code, reason = 409, "AlreadyExists"


class Conflict(APIError):
    code, reason = 409, "Conflict"


class Gone(APIError):
    """A watch or list from a resourceVersion older than the server still remembers."""

    code, reason = 410, "Expired"


class RequestEntityTooLarge(APIError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(APIError):
    code, reason = 422, "Invalid"


class TooManyRequests(APIError):
    code, reason = 429, "TooManyRequests"


class InsufficientStorage(APIError):
    """The store could not commit for want of space (SQLite's "database or disk is full").
    kube-apiserver has no such reason (an etcd out of space is a 500): a 507 tells a client
    that retrying will not help until an operator frees space (docs/server.md)."""

    code, reason = 507, "InsufficientStorage"


class ServiceUnavailable(APIError):
    code, reason = 503, "ServiceUnavailable"
