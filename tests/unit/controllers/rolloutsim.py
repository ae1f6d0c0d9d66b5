"""A whole DaemonSet rollout in memory: the pure decisions in the controller's order, with the
store, the agents and the clock played by plain code (unit tests of the rollout guard)."""

from __future__ import annotations

import copy
import itertools

from nodeagent.api import meta, rolloutpolicy
from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.server.controllers.daemonset import guard, history, plan, rollout, status
from nodeagent.server.controllers.daemonset.metricgate import MetricReading
from tests.unit.controllers.objects import NOW, daemonset, node, pod_for

BAD = "fluentd:crash"  # an image whose container crash-loops
SLOW = "fluentd:never-ready"  # an image whose pod never becomes ready
UNREACHABLE_TAINTS = [
    {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
]
_ids = itertools.count(1)


class Sim:
    """Nodes n0..nN-1 (sorted, so the rollout goes in that order), one DS, its revisions."""

    def __init__(
        self,
        node_count: int = 3,
        *,
        annotations: dict[str, str] | None = None,
        labels: dict[str, dict[str, str]] | None = None,
        min_ready_seconds: int = 0,
        strategy: Obj | None = None,
    ) -> None:
        self.now = NOW
        self.ds = daemonset(
            annotations=annotations, min_ready_seconds=min_ready_seconds, strategy=strategy
        )
        self.nodes = [node(f"n{i}", labels=(labels or {}).get(f"n{i}")) for i in range(node_count)]
        self.revisions: list[Obj] = []
        self.pods = [pod_for(self.ds, meta.name_of(n)) for n in self.nodes]
        self.events: list[guard.Event] = []
        self.decision: guard.Decision | None = None
        self.metric: MetricReading | None = None  # what Prometheus answers, when asked
        self.step()  # the first sync: revision 1, status, conditions
        self.settle()

    # -- the user ---------------------------------------------------------------------------

    def set_image(self, image: str) -> None:
        self.ds["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self.ds["metadata"]["generation"] += 1

    def annotate(self, key: str, value: str | None) -> None:
        annotations = self.ds["metadata"].setdefault("annotations", {})
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value

    def partition(self, name: str) -> None:
        """The node stops reporting: Ready Unknown, unreachable taints, its pods not ready."""
        n = self.node(name)
        n["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
        n["spec"]["taints"] = copy.deepcopy(UNREACHABLE_TAINTS)
        for pod in self.pods_on(name):
            _set_ready(pod, ready=False, now=self.now)

    def heal(self, name: str) -> None:
        n = self.node(name)
        n["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        n["spec"].pop("taints", None)

    # -- reading ----------------------------------------------------------------------------

    def node(self, name: str) -> Obj:
        return next(n for n in self.nodes if meta.name_of(n) == name)

    def pods_on(self, name: str) -> list[Obj]:
        return [p for p in self.pods if plan.node_of(p) == name]

    def image_on(self, name: str) -> set[str]:
        return {p["spec"]["containers"][0]["image"] for p in self.pods_on(name) if not _gone(p)}

    def images(self) -> dict[str, set[str]]:
        return {meta.name_of(n): self.image_on(meta.name_of(n)) for n in self.nodes}

    def condition(self, type_: str) -> Obj:
        found = meta.get_condition(self.ds.get("status") or {}, type_)
        assert found is not None, f"no {type_} condition"
        return found

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]

    def revision_numbers(self) -> dict[str, int]:
        return {
            r["data"]["spec"]["template"]["spec"]["containers"][0]["image"]: r["revision"]
            for r in self.revisions
        }

    # -- the controller, the agents and time ---------------------------------------------------

    def step(self, seconds: float = 1.0) -> None:
        """One controller sync, then the agents react, then time passes."""
        hash_ = self._history()
        live = [p for p in self.pods if not _gone(p)]
        managed = plan.manage(
            ds=self.ds, nodes=self.nodes, daemon_pods=live, hash_=hash_, backoff={}, now=self.now
        )
        counts = status.compute_status(
            ds=self.ds, nodes=self.nodes, daemon_pods=live, hash_=hash_, now=self.now,
            observed=True,
        )  # fmt: skip
        decision = guard.decide(
            ds=self.ds,
            policy=rolloutpolicy.policy_of(self.ds),
            nodes=self.nodes,
            daemon_pods=live,
            revisions=self.revisions,
            hash_=hash_,
            counts=counts,
            now=self.now,
            metric=self.metric if rolloutpolicy.policy_of(self.ds).metric_query else None,
        )
        self.decision = decision
        deletes, creates = managed.delete, managed.create_on
        if not deletes and not creates:
            rolled = rollout.rolling_update(
                ds=self.ds, nodes=self.nodes, daemon_pods=live, hash_=hash_, now=self.now,
                scope=decision.scope,
            )  # fmt: skip
            deletes, creates = rolled.delete, rolled.create_on
        self._delete(deletes)
        for node_name in creates:
            self._create(node_name, hash_)
        for revision, marks in decision.annotate:
            revision["metadata"].setdefault("annotations", {}).update(marks)
        self.events.extend(decision.events)
        if decision.revert_to is not None:
            template = copy.deepcopy(decision.revert_to["data"]["spec"]["template"])
            template.pop("$patch", None)
            if template != self.ds["spec"]["template"]:
                self.ds["spec"]["template"] = template
                self.ds["metadata"]["generation"] += 1
        new_status = dict(counts)
        new_status["conditions"] = decision.conditions
        self.ds["status"] = new_status
        self._agents()
        self.now += seconds

    def settle(self, steps: int = 40, seconds: float = 1.0) -> None:
        for _ in range(steps):
            self.step(seconds)

    def _history(self) -> str:
        hplan = history.construct_history(self.ds, self.revisions, self.pods)
        if hplan.create is not None:
            rev = hplan.create
            rev["metadata"]["uid"] = f"uid-rev-{next(_ids)}"
            self.revisions.append(rev)
            return hplan.hash
        assert hplan.current is not None
        if hplan.set_revision is not None:
            hplan.current["revision"] = hplan.set_revision
            marks = hplan.current["metadata"].get("annotations") or {}
            for key in (guard.HALTED, guard.REVERTED_TO):
                marks.pop(key, None)
        return hplan.hash

    def _delete(self, pods: list[Obj]) -> None:
        gone = {meta.uid_of(p) for p in pods}
        for pod in self.pods:
            if meta.uid_of(pod) in gone:
                pod["metadata"]["deletionTimestamp"] = format_time(self.now)

    def _create(self, node_name: str, hash_: str) -> None:
        pod = plan.new_pod(self.ds, node_name=node_name, hash_=hash_)
        n = next(_ids)
        pod["metadata"].update(
            name=f"new-{n}", uid=f"uid-new-{n}", creationTimestamp=format_time(self.now)
        )
        pod["status"] = {"phase": "Pending"}
        self.pods.append(pod)

    def _agents(self) -> None:
        """Reachable nodes' agents confirm deletions and start pods; unreachable ones do
        nothing at all."""
        reachable = {meta.name_of(n) for n in self.nodes if meta.node_ready_status(n) == "True"}
        self.pods = [p for p in self.pods if not (_gone(p) and plan.node_of(p) in reachable)]
        for pod in self.pods:
            if plan.node_of(pod) not in reachable or _gone(pod):
                continue
            image = pod["spec"]["containers"][0]["image"]
            if image == BAD:
                restarts = (pod["status"].get("containerStatuses") or [{}])[0]
                count = int(restarts.get("restartCount") or 0) + 1
                pod["status"] = {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [
                        {
                            "name": "main",
                            "restartCount": count,
                            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        }
                    ],
                }
            elif image == SLOW:
                pod["status"] = {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False"}],
                }
            elif not meta.is_pod_ready(pod):
                _set_ready(pod, ready=True, now=self.now)


def _gone(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def _set_ready(pod: Obj, *, ready: bool, now: float) -> None:
    pod["status"] = {
        "phase": "Running",
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": format_time(now),
            }
        ],
    }
