"""PURE: a DaemonSet's rollout policy, read from its `rollout.nodeagent.io/...` annotations.

Kubernetes has no progress deadline, health gate, auto-revert, canary, pause or unreachable-node
policy for DaemonSets (and kubectl refuses `rollout pause` for them), so these live in
annotations on the DaemonSet (docs/rollouts.md). `validate_rollout_annotations` is the
admission check (a bad value is a 422 naming the annotation); `policy_of` reads the policy with
defaults, never raising, for the controller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from nodeagent.api import meta
from nodeagent.api.bodies import Obj
from nodeagent.api.errors import FieldError
from nodeagent.api.fielderrors import Errors
from nodeagent.api.selectors import LabelSelector

PREFIX = "rollout.nodeagent.io/"
PROGRESS_DEADLINE = PREFIX + "progress-deadline-seconds"
UNHEALTHY_NODES = PREFIX + "unhealthy-nodes-threshold"
AUTO_REVERT = PREFIX + "auto-revert"
CANARY_NODES = PREFIX + "canary-nodes"
SOAK_SECONDS = PREFIX + "soak-seconds"
PAUSED = PREFIX + "paused"
UNREACHABLE_NODES = PREFIX + "unreachable-nodes"
METRIC_QUERY = PREFIX + "metric-query"
METRIC_MAX = PREFIX + "metric-max"

DEFAULT_PROGRESS_DEADLINE = 600  # Deployment's progressDeadlineSeconds
MAX_SECONDS = 10 * 365 * 24 * 3600
UNREACHABLE_POLICIES = ("skip", "halt")
MAX_QUERY_LENGTH = 4096
BOOLEANS = ("true", "false")


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutPolicy:
    """What the annotations ask for; the defaults are what a DaemonSet without any gets."""

    progress_deadline: int = DEFAULT_PROGRESS_DEADLINE
    unhealthy_nodes: int = 1
    auto_revert: bool = False
    canary: LabelSelector | None = None  # None: no canary phase
    soak_seconds: int | None = None  # None: spec.minReadySeconds
    paused: bool = False
    unreachable: str = "skip"
    metric_query: str | None = None  # PromQL asked after each batch (with metric_max)
    metric_max: float | None = None  # the bound every returned sample must stay within


def _path(key: str) -> str:
    return f"metadata.annotations[{key}]"


def _seconds(value: str, *, minimum: int) -> int | None:
    text = value.strip()
    if not text.isdigit():
        return None
    number = int(text)
    return number if minimum <= number <= MAX_SECONDS else None


def _check(key: str, value: str, errs: Errors) -> object:
    """The parsed value of one known annotation, or None after reporting why it is bad."""
    if key in (PROGRESS_DEADLINE, UNHEALTHY_NODES, SOAK_SECONDS):
        minimum = 0 if key == SOAK_SECONDS else 1
        number = _seconds(value, minimum=minimum)
        if number is None:
            what = "seconds" if key != UNHEALTHY_NODES else "nodes"
            errs.invalid(_path(key), value, f"must be a whole number of {what} >= {minimum}")
        return number
    if key in (AUTO_REVERT, PAUSED):
        if value not in BOOLEANS:
            errs.not_supported(_path(key), value, BOOLEANS)
            return None
        return value == "true"
    if key == UNREACHABLE_NODES:
        if value not in UNREACHABLE_POLICIES:
            errs.not_supported(_path(key), value, UNREACHABLE_POLICIES)
            return None
        return value
    if key == METRIC_QUERY:
        if not value.strip() or len(value) > MAX_QUERY_LENGTH:
            errs.invalid(
                _path(key), value, f"must be a PromQL query of 1 to {MAX_QUERY_LENGTH} characters"
            )
            return None
        return value
    if key == METRIC_MAX:
        try:
            bound = float(value)
        except ValueError:
            bound = math.nan
        if not math.isfinite(bound):
            errs.invalid(_path(key), value, "must be a number (the largest value allowed)")
            return None
        return bound
    if key == CANARY_NODES:
        try:
            selector = LabelSelector.parse(value)
        except ValueError as exc:
            errs.invalid(_path(key), value, f"must be a node label selector: {exc}")
            return None
        if selector.empty:
            errs.invalid(_path(key), value, "must select some nodes (an empty selector is all)")
            return None
        return selector
    return None


KNOWN = (
    PROGRESS_DEADLINE,
    UNHEALTHY_NODES,
    AUTO_REVERT,
    CANARY_NODES,
    SOAK_SECONDS,
    PAUSED,
    UNREACHABLE_NODES,
    METRIC_QUERY,
    METRIC_MAX,
)


def _parse(annotations: Mapping[str, str], errs: Errors) -> RolloutPolicy:
    values: dict[str, object] = {}
    for key, value in sorted(annotations.items()):
        if not key.startswith(PREFIX):
            continue
        if key not in KNOWN:
            names = ", ".join(k.removeprefix(PREFIX) for k in KNOWN)
            detail = f"not a rollout annotation; known under {PREFIX}: {names}"
            errs.items.append(
                FieldError(
                    field=_path(key),
                    type="Unsupported value",
                    value=key,
                    detail=detail,
                    reason="FieldValueNotSupported",
                )
            )
            continue
        if not isinstance(value, str):
            continue  # metadata validation reports a non-string annotation
        parsed = _check(key, value, errs)
        if parsed is not None:
            values[key] = parsed
    for have, need in ((METRIC_QUERY, METRIC_MAX), (METRIC_MAX, METRIC_QUERY)):
        if have in annotations and need not in annotations:
            errs.required(_path(need), f"{have} and {need} go together")
    default = RolloutPolicy()
    metric = values.get(METRIC_QUERY), values.get(METRIC_MAX)
    return RolloutPolicy(
        progress_deadline=_int(values.get(PROGRESS_DEADLINE)) or default.progress_deadline,
        unhealthy_nodes=_int(values.get(UNHEALTHY_NODES)) or default.unhealthy_nodes,
        auto_revert=values.get(AUTO_REVERT) is True,
        canary=_selector(values.get(CANARY_NODES)),
        soak_seconds=_int(values.get(SOAK_SECONDS)),
        paused=values.get(PAUSED) is True,
        unreachable=str(values.get(UNREACHABLE_NODES) or default.unreachable),
        metric_query=metric[0] if isinstance(metric[0], str) and metric[1] is not None else None,
        metric_max=metric[1] if isinstance(metric[1], float) and metric[0] is not None else None,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _selector(value: object) -> LabelSelector | None:
    return value if isinstance(value, LabelSelector) else None


def validate_rollout_annotations(ds: Obj, errs: Errors) -> None:
    """Admission: every `rollout.nodeagent.io/` annotation is known and well formed."""
    _parse(meta.annotations_of(ds), errs)


def policy_of(ds: Obj) -> RolloutPolicy:
    """The DaemonSet's rollout policy; a bad annotation (refused at admission, so only from
    an older store) counts as absent."""
    return _parse(meta.annotations_of(ds), Errors())


def soak_seconds(policy: RolloutPolicy, ds: Obj) -> int:
    """How long canaries must be ready: the soak annotation, else minReadySeconds."""
    if policy.soak_seconds is not None:
        return policy.soak_seconds
    value = (ds.get("spec") or {}).get("minReadySeconds") or 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
