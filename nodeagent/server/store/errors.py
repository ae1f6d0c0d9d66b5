"""The errors every Store answers with, worded as the API server words them (409, 404).

One home for the SQLite store, the etcd store, the dry-run store and the registry. PURE.
"""

from __future__ import annotations

from nodeagent.api.errors import AlreadyExists, Conflict, NotFound
from nodeagent.api.resources import BY_NAME


def _qualified(resource: str) -> str:
    r = BY_NAME.get(resource)
    return r.qualified_name if r else resource


def _group(resource: str) -> str:
    r = BY_NAME.get(resource)
    return r.group if r else ""


def conflict(resource: str, name: str) -> Conflict:
    """The 409 the API server answers for a stale resourceVersion."""
    return Conflict(
        f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        name=name,
        group=_group(resource),
        kind=resource,
    )


def already_exists(resource: str, name: str) -> AlreadyExists:
    """The 409 the API server answers for a create of a taken name."""
    message = f'{_qualified(resource)} "{name}" already exists'
    return AlreadyExists(message, name=name, group=_group(resource), kind=resource)


def not_found(resource: str, name: str) -> NotFound:
    """The 404 for an object that is not there (or no longer)."""
    message = f'{_qualified(resource)} "{name}" not found'
    return NotFound(message, name=name, group=_group(resource), kind=resource)
