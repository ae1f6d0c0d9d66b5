"""Figure 6: one pure reconcile plan over 1,000 desired pods and 1,000 observed containers.

Steady state (every container running with its current spec hash), which is what the agent
plans on every tick. Baseline: grouping the same containers by pod uid, the floor of looking
at each container once in Python.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

from bench.report import Figure
from nodeagent.agent.desiredpod import DesiredPod
from nodeagent.agent.plan import plan
from nodeagent.runtime.protocol import ContainerInfo, ContainerState


def _fixture(n: int) -> tuple[dict[str, DesiredPod], list[ContainerInfo]]:
    desired: dict[str, DesiredPod] = {}
    observed: list[ContainerInfo] = []
    for i in range(n):
        uid = f"uid-{i:05d}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"daemon-{i}", "namespace": "default", "uid": uid},
            "spec": {
                "restartPolicy": "Always",
                "hostNetwork": True,
                "containers": [{"name": "main", "image": "localhost/busybox:1"}],
            },
        }
        desired[uid] = DesiredPod(pod=pod, spec_hash="h1", source="file")
        observed.append(
            ContainerInfo(
                id=f"c{i:063d}",
                engine_name=f"k8s_main_daemon-{i}_default_{uid}_0",
                pod_namespace="default",
                pod_name=f"daemon-{i}",
                pod_uid=uid,
                container_name="main",
                is_sandbox=False,
                is_init=False,
                source="file",
                spec_hash="h1",
                attempt=0,
                image="localhost/busybox:1",
                image_id="sha256:0",
                state=ContainerState.RUNNING,
                started_at=1_000.0,
            )
        )
    return desired, observed


def _group(observed: Sequence[ContainerInfo]) -> dict[str, list[ContainerInfo]]:
    groups: dict[str, list[ContainerInfo]] = defaultdict(list)
    for c in observed:
        groups[c.pod_uid].append(c)
    return groups


def run(*, pods: int = 1000, repeats: int = 50) -> list[Figure]:
    desired, observed = _fixture(pods)
    samples: list[float] = []
    baseline: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        actions = plan(desired=desired, observed=observed, restarts={}, probes={}, now=2_000.0)
        samples.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        _group(observed)
        baseline.append((time.perf_counter() - t0) * 1000)
    if actions:
        raise RuntimeError(f"steady state planned {len(actions)} actions: {actions[:3]}")
    return [
        Figure(
            name=f"plan.{pods}_pods_{pods}_containers",
            unit="ms",
            samples=tuple(samples),
            baseline_name="group containers by pod uid",
            baseline=tuple(baseline),
            target="at most 10 ms",
        )
    ]
