"""The registry's view of the API core's rules: defaults, validation, selectors, times, names.

The registry calls the rule modules of nodeagent.api (defaults, validation, selectors, timefmt,
naming) only through here, so it reads as Kubernetes semantics (`.importlinter` holds it to
that). It imports the API's vocabulary directly: object bodies, errors, metadata accessors,
the resource table, JSON text and patches.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from nodeagent.api import defaults, naming, selectors, timefmt, validation
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import BadRequest, FieldError


def default_object(obj: Obj) -> Obj:
    """The object with the API server's defaults filled in (a new dict)."""
    return defaults.default_object(obj)


def validate_object(obj: Obj) -> list[FieldError]:
    return validation.validate_object(obj)


def validate_update(kind: str, new: Obj, old: Obj) -> list[FieldError]:
    """Rules that compare a (defaulted) update with the stored object: a DaemonSet's selector
    is immutable, a Pod's spec may change only in images, activeDeadlineSeconds, added
    tolerations (validation.validate_update). The stored object is defaulted first, as
    kube-apiserver defaults what it reads from storage, so a default added since it was
    written is no change."""
    return validation.validate_update({**new, "kind": kind}, default_object(old))


def format_time(t: float) -> str:
    return timefmt.format_time(t)


def generate_name_suffix() -> str:
    return naming.generate_name_suffix(secrets.token_bytes(naming.SUFFIX_LENGTH))


# ---- selectors ----


@dataclass(frozen=True, slots=True, kw_only=True)
class Selector:
    """A parsed label or field selector: `matches(obj)` and the value an `=` pins a field to."""

    match: Callable[[Obj], bool]
    pinned: Callable[[str], str | None]
    # (field, value) when the selector is that one `field=value` and nothing else: whether an
    # object matches is then known from that field alone (a pod watch of one node)
    sole_pin: tuple[str, str] | None = None

    def matches(self, obj: Obj) -> bool:
        return self.match(obj)

    def value_for(self, field: str) -> str | None:
        return self.pinned(field)


EVERYTHING = Selector(match=lambda _o: True, pinned=lambda _f: None)


def label_selector(text: str | None) -> Selector:
    """BadRequest for a selector that does not parse (the API server's 400)."""
    if not text:
        return EVERYTHING
    try:
        parsed = selectors.LabelSelector.parse(text)
    except ValueError as exc:
        raise BadRequest(f"unable to parse requirement: {exc}") from exc
    return Selector(
        match=lambda o: parsed.matches((o.get("metadata") or {}).get("labels") or {}),
        pinned=lambda _f: None,
    )


def field_selector(text: str | None) -> Selector:
    if not text:
        return EVERYTHING
    try:
        parsed = selectors.FieldSelector.parse(text)
    except ValueError as exc:
        raise BadRequest(f"{exc}") from exc
    only = parsed.terms[0] if len(parsed.terms) == 1 else None
    sole = (only.field, only.value) if only is not None and only.operator != "!=" else None
    return Selector(match=parsed.matches, pinned=parsed.value_for, sole_pin=sole)
