"""PURE: the rollout guard: what a RollingUpdate may do now, and the DaemonSet's conditions.

One decision per sync over (DaemonSet, policy, nodes, pods, revisions, hash, now):
- the Scope rolling_update() works in: stopped while paused or halted (or, under the `halt`
  unreachable-node policy, while a node is unreachable), only the canary nodes until they have
  been ready for the soak time, unreachable nodes skipped (the default policy);
- the health gate: a new-revision pod failing (health.py) on `unhealthy-nodes-threshold`
  reachable nodes halts the rollout, as does a metric query above its bound (metricgate.py);
  the halt is written on the revision (sticky), and with auto-revert the last revision that
  was available everywhere is written back;
- status.conditions Progressing / Available / RolledBack with Deployment's shapes, the
  progress deadline, and the events that go with each change.

State lives where a user can read it: the Progressing condition's lastUpdateTime (the last
progress, as Deployments keep it) and annotations on the ControllerRevisions (`completed`,
`halted`, `reverted-to`). The controller applies what this returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from nodeagent.api import meta, scheduling
from nodeagent.api.bodies import Obj
from nodeagent.api.rolloutpolicy import PREFIX, RolloutPolicy, soak_seconds
from nodeagent.api.timefmt import format_time, parse_time
from nodeagent.server.controllers.daemonset import conditions as cond
from nodeagent.server.controllers.daemonset.health import (
    node_unreachable,
    pod_problem,
    ready_deadline_in,
)
from nodeagent.server.controllers.daemonset.metricgate import MetricReading, breach
from nodeagent.server.controllers.daemonset.plan import (
    HASH_LABEL,
    is_pod_updated,
    is_terminating,
    pod_order,
    pods_by_node,
)
from nodeagent.server.controllers.daemonset.rollout import Scope

# Annotations the controller writes on its ControllerRevisions.
COMPLETED = PREFIX + "completed"  # when this revision was available on every node
HALTED = PREFIX + "halted"  # why the health gate stopped this revision
REVERTED_TO = PREFIX + "reverted-to"  # the revision written back in its place
METRIC_RECHECK_SECONDS = 5.0  # while a metric gate watches a rollout, look again this often


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    scope: Scope
    conditions: list[Obj]  # the DaemonSet's new status.conditions
    events: list[Event] = field(default_factory=list)
    annotate: list[tuple[Obj, dict[str, str]]] = field(default_factory=list)  # revision marks
    revert_to: Obj | None = None  # revision whose template goes back onto the DS
    requeue_after: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Nodes:
    """The fleet as the rollout sees it: which nodes hold or want a daemon, which are gone."""

    desired: set[str]
    unreachable: set[str]
    pods: dict[str, list[Obj]]  # node -> live pods, oldest first


def _fleet(ds: Obj, nodes: Iterable[Obj], daemon_pods: Iterable[Obj]) -> _Nodes:
    placement = scheduling.daemon_placement(ds)
    by_node = {
        n: sorted((p for p in pods if not is_terminating(p)), key=pod_order)
        for n, pods in pods_by_node(daemon_pods).items()
    }
    desired: set[str] = set()
    unreachable: set[str] = set()
    for node in nodes:
        name = meta.name_of(node)
        if placement.on(node).should_run:
            desired.add(name)
        if node_unreachable(node) and (name in desired or by_node.get(name)):
            unreachable.add(name)
    return _Nodes(desired=desired, unreachable=unreachable, pods=by_node)


def _revision_named(revisions: list[Obj], hash_: str) -> Obj | None:
    return next((r for r in revisions if meta.labels_of(r).get(HASH_LABEL) == hash_), None)


def _number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def describe(revision: Obj | None, hash_: str) -> str:
    if revision is None:
        return f"template {hash_}"
    return f"revision {_number(revision)} ({meta.name_of(revision)})"


def last_good_revision(revisions: list[Obj], current: Obj | None) -> Obj | None:
    """The newest other revision that was once available on every node."""
    good = [
        r
        for r in revisions
        if COMPLETED in meta.annotations_of(r)
        and (current is None or meta.name_of(r) != meta.name_of(current))
    ]
    return max(good, key=_number, default=None)


def rolled_back_from(revisions: list[Obj], current: Obj | None) -> Obj | None:
    """The revision the controller reverted away from to reach the current one, while no
    newer revision has come since (the one numbered just below the current one)."""
    if current is None:
        return None
    older = [r for r in revisions if _number(r) < _number(current)]
    previous = max(older, key=_number, default=None)
    if previous is None:
        return None
    if meta.annotations_of(previous).get(REVERTED_TO) != meta.name_of(current):
        return None
    return previous


def decide(
    *,
    ds: Obj,
    policy: RolloutPolicy,
    nodes: Iterable[Obj],
    daemon_pods: Iterable[Obj],
    revisions: list[Obj],
    hash_: str,
    counts: Obj,
    now: float,
    metric: MetricReading | None = None,
) -> Decision:
    """The rollout's scope, conditions, events and revision marks for this sync. `counts` is
    the new status (status.compute_status) over the same pods; `metric` the answer to the
    policy's metric query (None when none was asked)."""
    fleet = _fleet(ds, nodes, daemon_pods)
    current = _revision_named(revisions, hash_)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    deadline = policy.progress_deadline
    reachable = fleet.desired - fleet.unreachable
    what = describe(current, hash_)

    def newest_updated(node: str) -> Obj | None:
        return next((p for p in fleet.pods.get(node, []) if is_pod_updated(p, hash_)), None)

    def done(node: str, seconds: int) -> bool:
        pods = fleet.pods.get(node, [])
        return (
            len(pods) == 1
            and is_pod_updated(pods[0], hash_)
            and (meta.is_pod_available(pods[0], seconds, now))
        )

    # Nodes still to update: reachable ones, and the unreachable ones a rollout skips.
    pending_reachable = sorted(n for n in reachable if not done(n, min_ready))
    pending_unreachable = sorted(
        n
        for n in fleet.unreachable
        if any(not is_pod_updated(p, hash_) for p in fleet.pods.get(n, []))
        or (n in fleet.desired and not fleet.pods.get(n))
    )
    complete = not pending_reachable and not pending_unreachable
    rolling_update = _strategy(ds) == "RollingUpdate"
    requeue: list[float] = []

    # The health gate: new-revision pods failing on reachable nodes.
    problems: list[str] = []
    for node in sorted(reachable):
        pod = newest_updated(node)
        if pod is None:
            continue
        problem = pod_problem(pod, now=now, deadline=deadline)
        if problem is not None:
            problems.append(f"{node}: {problem}")
        else:
            wait = ready_deadline_in(pod, now=now, deadline=deadline)
            if wait is not None:
                requeue.append(wait + 1)
    marks = meta.annotations_of(current) if current is not None else {}
    halted_why = marks.get(HALTED)
    events: list[Event] = []
    annotate: list[tuple[Obj, dict[str, str]]] = []
    # A revision that was once available everywhere (a revert, an undo to it) is trusted: it
    # goes everywhere without gate or canary, so a revert is never halted half way.
    trusted = COMPLETED in marks
    gate_applies = rolling_update and not policy.paused and not complete and not trusted
    if halted_why is None and gate_applies and len(problems) >= policy.unhealthy_nodes:
        count = len(problems)
        halted_why = (
            f"{what} is failing on {count} node{'s' if count != 1 else ''} "
            f"(threshold {policy.unhealthy_nodes}): " + "; ".join(problems[:3])
        )
        events.append(Event(type="Warning", reason="RolloutHalted", message=halted_why))
        if current is not None:
            annotate.append((current, {HALTED: halted_why}))
    # The metric gate: once a batch runs the new revision, before the next one.
    metric_hold: str | None = None
    batch_done = any(newest_updated(n) is not None for n in reachable)
    if policy.metric_query is not None and policy.metric_max is not None and gate_applies:
        requeue.append(METRIC_RECHECK_SECONDS)
        if halted_why is None and batch_done:
            if metric is None or metric.error is not None:
                error = metric.error if metric is not None else "no reading"
                metric_hold = f"metric gate: {error}"
            else:
                why = breach(metric, query=policy.metric_query, bound=policy.metric_max)
                if why is not None:
                    halted_why = why
                    events.append(Event(type="Warning", reason="RolloutHalted", message=why))
                    if current is not None:
                        annotate.append((current, {HALTED: why}))
    halted = halted_why is not None and not complete

    # Auto-revert: write back the newest revision that was once available everywhere. The
    # patch is repeated until the cache shows it (the same template again changes nothing).
    revert_to: Obj | None = None
    if halted and policy.auto_revert and current is not None and not policy.paused:
        revert_to = last_good_revision(revisions, current)
        first_time = REVERTED_TO not in marks
        if revert_to is not None and first_time:
            assert halted_why is not None
            annotate.append((current, {HALTED: halted_why, REVERTED_TO: meta.name_of(revert_to)}))
            message = f"Reverted to {describe(revert_to, '')} because {halted_why}"
            events.append(Event(type="Warning", reason="RolloutReverted", message=message))
        elif revert_to is None and annotate:
            message = (
                "No earlier revision was ever available on every node: the rollout stays halted."
            )
            events.append(Event(type="Warning", reason="RevertImpossible", message=message))

    # Scope: what rolling_update may touch.
    canary_wait: str | None = None
    only: frozenset[str] | None = None
    soaking = False
    if policy.canary is not None and rolling_update and not complete and not trusted:
        canaries = {
            meta.name_of(n)
            for n in nodes
            if meta.name_of(n) in reachable and policy.canary.matches(meta.labels_of(n))
        }
        soak = soak_seconds(policy, ds)
        soaked = [n for n in canaries if done(n, soak)]
        if not canaries:
            only = frozenset()
            canary_wait = f"no reachable node matches the canary selector {policy.canary}"
        elif len(soaked) < len(canaries):
            only = frozenset(canaries)
            canary_wait = (
                f"{len(soaked)} of {len(canaries)} canary nodes ready for {soak} s; "
                "the other nodes wait"
            )
            soaking = all(done(n, 0) for n in canaries)
            for n in canaries:
                pod = newest_updated(n)
                if pod is not None and meta.is_pod_ready(pod):
                    requeue.append(_ready_for(pod, soak, now) + 1)
    waiting_unreachable = policy.unreachable == "halt" and bool(fleet.unreachable)
    stopped = (
        policy.paused or halted or metric_hold is not None or (waiting_unreachable and not complete)
    )
    scope = Scope(
        stopped=stopped,
        skip=frozenset(fleet.unreachable) if policy.unreachable == "skip" else frozenset(),
        only=only,
    )

    # Conditions.
    old_conditions = list((ds.get("status") or {}).get("conditions") or [])
    old = meta.get_condition(old_conditions, cond.PROGRESSING)
    stamp = format_time(now)
    status = ds.get("status") or {}
    new_spec = int(status.get("observedGeneration") or 0) < int(
        (ds.get("metadata") or {}).get("generation") or 1
    )
    progressed = new_spec or cond.counts_progressed(status, counts)
    state = cond.Progress(
        what=what,
        node_total=len(fleet.desired | fleet.unreachable),
        halted_why=halted_why if halted else None,
        pending_reachable=bool(pending_reachable),
        pending_unreachable=pending_unreachable,
        rolling_message=cond.rolling_message(
            what,
            canary_wait=canary_wait,
            metric_hold=metric_hold,
            waiting_unreachable=waiting_unreachable,
        ),
        deadline=deadline if rolling_update and not soaking else None,
    )
    progressing = cond.next_progressing(
        old, state, paused=policy.paused, progressed=progressed, now=now
    )
    if progressing.get("reason") == cond.DEADLINE and (old or {}).get("reason") != cond.DEADLINE:
        events.append(Event(type="Warning", reason=cond.DEADLINE, message=progressing["message"]))
    if state.deadline is not None and progressing.get("reason") in (cond.ROLLING, cond.RESUMED):
        requeue.append(max(0.0, cond.last_update(progressing, now) + deadline - now) + 1)
    events.extend(_transition_events(str((old or {}).get("reason") or ""), progressing))

    new_conditions = meta.set_condition(old_conditions, progressing, stamp)
    new_conditions = meta.set_condition(new_conditions, cond.available(ds, counts), stamp)
    reverted_from = rolled_back_from(revisions, current)
    if reverted_from is not None:
        why = meta.annotations_of(reverted_from).get(HALTED, "it was unhealthy")
        new_conditions = meta.set_condition(
            new_conditions,
            cond.rolled_back(f"Reverted from {describe(reverted_from, '')} to {what}: {why}"),
            stamp,
        )
    else:
        new_conditions = [c for c in new_conditions if c.get("type") != cond.ROLLED_BACK]

    if complete and current is not None and COMPLETED not in marks:
        annotate.append((current, {COMPLETED: stamp}))
    return Decision(
        scope=scope,
        conditions=new_conditions,
        events=events,
        annotate=_merged(annotate),
        revert_to=revert_to,
        requeue_after=min(requeue) if requeue else None,
    )


def _merged(annotate: list[tuple[Obj, dict[str, str]]]) -> list[tuple[Obj, dict[str, str]]]:
    """One write per revision (a second update from the same cached copy would conflict)."""
    by_name: dict[str, tuple[Obj, dict[str, str]]] = {}
    for revision, marks in annotate:
        entry = by_name.setdefault(meta.name_of(revision), (revision, {}))
        entry[1].update(marks)
    return list(by_name.values())


def _strategy(ds: Obj) -> str:
    return str(((ds.get("spec") or {}).get("updateStrategy") or {}).get("type") or "RollingUpdate")


def _ready_for(pod: Obj, seconds: int, now: float) -> float:
    """Seconds until a ready pod has been ready for `seconds`."""
    ready = meta.get_condition(pod.get("status") or {}, "Ready") or {}
    try:
        since = parse_time(str(ready.get("lastTransitionTime") or ""))
    except ValueError:
        return 0.0
    return max(0.0, since + seconds - now)


def _transition_events(old_reason: str, new: Obj) -> list[Event]:
    reason = str(new.get("reason") or "")
    if reason == old_reason:
        return []
    if reason == cond.PAUSED:
        return [Event(type="Normal", reason="RolloutPaused", message=cond.PAUSED_MESSAGE)]
    if reason == cond.RESUMED:
        return [Event(type="Normal", reason="RolloutResumed", message=cond.RESUMED_MESSAGE)]
    if reason == cond.AVAILABLE_REASON and old_reason:
        return [Event(type="Normal", reason="RolloutComplete", message=str(new["message"]))]
    if reason == cond.UNREACHABLE_REASON:
        return [Event(type="Normal", reason=cond.UNREACHABLE_REASON, message=str(new["message"]))]
    return []
