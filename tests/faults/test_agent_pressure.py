"""Pressure and storage faults on a real agent process joined to a real server process.

One agent (node `pressure-0`) runs for the whole module with its state dir on a small tmpfs
(which is also its nodefs), a pressure transition period of PERIOD seconds and thresholds set
from what this host has free at start (issue 19, "Pressure" and "Storage"):

- memory: stress-ng holds memory on and off around the threshold (free at start minus
  MEMORY_MARGIN): MemoryPressure True once, the memory-pressure:NoSchedule taint, no flapping
  while the memory comes and goes, False and the taint gone a transition period after the end;
- disk, one case for both signals (one transition period): empty files until no inode is
  left: DiskPressure True naming inodesFree; then, those removed, the tmpfs filled up:
  DiskPressure naming nodefs.available with the disk-pressure taint, and the agent's own
  writes there fail (ENOSPC): StateDirUnwritable True, a Warning event naming the error, one
  log line for the streak, the running pod untouched; all clears once the file is removed,
  and the checkpoint then holds the latest pods;
- PIDs: a bounded fork loop of sleepers: PIDPressure True, cleared after;
- the state dir remounted read-only (EROFS): StateDirUnwritable True, cleared when writable;
- the agent starved of CPU (a cgroup quota of 1 % of one CPU) for longer than the server's
  node-monitor grace: the node stays Ready, its Lease renewTime keeps advancing.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nodeagent.agent.checkpoint import decode_checkpoint
from nodeagent.api.bodies import Obj
from tests.faults.agentfaults import AgentRun, FaultHost, Watch, phase_ready, pod_containers
from tests.faults.hostpressure import (
    MI,
    can_starve_cpu,
    cpu_throttled,
    fill_inodes,
    hog_memory,
    memory_available,
    remove_files,
    sleepers,
    starved_cpu,
)
from tests.faults.serverfaults import can_mount, fill_disk
from tests.support.podman import PodmanService
from tests.support.server import start_server_process
from tests.support.wait import wait_until

pytestmark = pytest.mark.podman

NODE = "pressure-0"
PERIOD = 3.0  # the agent's pressureTransitionPeriod here
TICK = 1.0  # the agent measures the host this often
GRACE = 5  # the server's --node-monitor-grace-period here
# The threshold this far under MemAvailable at start, and each hog takes it this far under the
# threshold. Issue 19 says 300 MiB; on the shared 2-core machine MemAvailable moved by more
# than that while the agent and other test runs started (MemoryPressure True before any hog).
MEMORY_MARGIN = 1024 * MI
PID_MARGIN = 300  # pid.available's threshold this far under the figure at start
SLEEPERS = 2 * PID_MARGIN
STATE_SIZE = "16m"
STATE_INODES = 2048
UNWRITABLE = "StateDirUnwritable"
MEMORY_TAINT = "node.kubernetes.io/memory-pressure:NoSchedule"
DISK_TAINT = "node.kubernetes.io/disk-pressure:NoSchedule"


@dataclass(kw_only=True)
class Pressured:
    host: FaultHost
    agent: AgentRun
    state: Path  # the agent's state dir, a tmpfs of its own
    memory_threshold: int
    pod: str  # a sleeper pod running on the node
    pod_uid: str


def _pid_available() -> int:
    """pid_max minus the tasks now running (the agent's pid.available)."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    return pid_max - int(Path("/proc/loadavg").read_text().split()[3].split("/")[1])


@pytest.fixture(scope="module")
def pressured(
    tmp_path_factory: pytest.TempPathFactory, podman_service: PodmanService, busybox: str
) -> Iterator[Pressured]:
    reason = can_mount()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("agent-pressure")
    server = start_server_process(root / "server", "--node-monitor-grace-period", f"{GRACE}s")
    host = FaultHost(server=server, podman=podman_service, root=root, image=busybox)
    state = root / NODE / "state"
    state.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o",
         f"size={STATE_SIZE},nr_inodes={STATE_INODES},mode=0700", "tmpfs", str(state)],
        check=True,
    )  # fmt: skip
    threshold = memory_available() - MEMORY_MARGIN
    config = root / "agent.yaml"
    config.write_text(
        json.dumps(
            {
                "pressureTransitionPeriod": PERIOD,
                "leaseInterval": 1,
                "evictionHard": {
                    "memory.available": str(threshold),
                    "nodefs.available": "25%",
                    "nodefs.inodesFree": "25%",
                    "imagefs.available": "1%",
                    "pid.available": str(_pid_available() - PID_MARGIN),
                },
            }
        )
    )
    try:
        name = "steady"
        uid = host.create_pod(host.sleeper(name, NODE))["metadata"]["uid"]
        agent = host.start_agent(NODE, extra_args=("--config", str(config)))
        wait_until(lambda: phase_ready(host.pod(name)), timeout=60, message=f"{name} Ready")
        yield Pressured(
            host=host, agent=agent, state=state, memory_threshold=threshold, pod=name, pod_uid=uid
        )
    finally:
        host.close()
        subprocess.run(["umount", "-l", str(state)], check=False, capture_output=True)
        server.stop()


def _condition(node: Obj | None, kind: str) -> Obj:
    for cond in ((node or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def _status(p: Pressured, kind: str) -> str:
    return str(_condition(p.host.node(NODE), kind).get("status", ""))


def _condition_at(p: Pressured, kind: str, status: str) -> Obj | None:
    """The Node's condition `kind` when its status is `status`, else None (for wait_until)."""
    cond = _condition(p.host.node(NODE), kind)
    return cond if cond.get("status") == status else None


def _label_pod(p: Pressured, value: str) -> None:
    """A change to the steady pod: the agent checkpoints its server pods again."""
    status, reply = p.host.api(
        "PATCH",
        f"/api/v1/namespaces/default/pods/{p.pod}",
        {"metadata": {"labels": {"change": value}}},
        content_type="application/merge-patch+json",
    )
    assert status == 200, reply


def _agent_log_since(p: Pressured, offset: int) -> list[Obj]:
    with p.agent.log_path.open("rb") as f:
        f.seek(offset)
        return [json.loads(line) for line in f.read().splitlines() if line.startswith(b"{")]


def _taints(node: Obj | None) -> set[str]:
    taints = ((node or {}).get("spec") or {}).get("taints") or []
    return {f"{t['key']}:{t['effect']}" for t in taints}


def _has_taint(p: Pressured, taint: str) -> bool:
    return taint in _taints(p.host.node(NODE))


def _events(p: Pressured, reason: str) -> list[Obj]:
    return [e for e in p.host.events_about("Node", NODE) if e.get("reason") == reason]


def _spells(statuses: list[str]) -> list[str]:
    """Consecutive repeats folded: [F, F, T, T, F] -> [F, T, F]."""
    out: list[str] = []
    for status in statuses:
        if not out or out[-1] != status:
            out.append(status)
    return out


def _watch_node(p: Pressured) -> Watch:
    version = str(((p.host.node(NODE) or {}).get("metadata") or {}).get("resourceVersion"))
    return Watch(p.host, f"/api/v1/nodes?fieldSelector=metadata.name={NODE}", version)


def _untouched(p: Pressured, before: Obj) -> None:
    """The steady pod: the very same container, running, and Ready on the server."""
    (now,) = pod_containers(p.host.containers(NODE), p.pod_uid)
    assert (now["Id"], now["State"]) == (before["Id"], "running")
    assert phase_ready(p.host.pod(p.pod))


def _hog_to_pressure(p: Pressured) -> int:
    """Bytes to take now so MemAvailable ends MEMORY_MARGIN under the threshold (memory others
    took or gave back meanwhile is made up for)."""
    return max(64 * MI, memory_available() - p.memory_threshold + MEMORY_MARGIN)


def test_memory_flapping_at_the_threshold_turns_the_condition_once(pressured: Pressured) -> None:
    """Memory taken and given back twice around the threshold, the gap shorter than the
    transition period: MemoryPressure True once with its NoSchedule taint, False (and the
    taint gone) only a transition period after the last, one event each way."""
    p = pressured
    wait_until(lambda: _status(p, "MemoryPressure") == "False", timeout=30, message="no pressure")
    insufficient = len(_events(p, "NodeHasInsufficientMemory"))
    watch = _watch_node(p)
    try:
        for flap in range(2):
            if flap:
                time.sleep(PERIOD / 3)  # given back for less than the transition period
            with hog_memory(_hog_to_pressure(p)):
                wait_until(lambda: _status(p, "MemoryPressure") == "True", timeout=20,
                           message="MemoryPressure True while the memory is taken")  # fmt: skip
                time.sleep(TICK)  # measured again under pressure: held, not new
            released = time.monotonic()
        wait_until(lambda: _status(p, "MemoryPressure") == "False", timeout=30,
                   message="MemoryPressure False after the period")  # fmt: skip
        held = time.monotonic() - released
        wait_until(lambda: not _has_taint(p, MEMORY_TAINT), timeout=20,
                   message="the memory-pressure taint removed")  # fmt: skip
    finally:
        watch.close()
    assert held >= PERIOD - TICK, f"False {held:.1f}s after the memory came back"
    seen = [_condition(node, "MemoryPressure").get("status", "") for _, node in watch.objects]
    # no flap while the memory came and went: one True spell (a write before it shows False)
    assert _spells(seen) in (["True", "False"], ["False", "True", "False"]), seen
    tainted = [str(MEMORY_TAINT in _taints(node)) for _, node in watch.objects]
    assert _spells(tainted) in (["False", "True", "False"], ["True", "False"]), tainted
    assert len(_events(p, "NodeHasInsufficientMemory")) == insufficient + 1
    assert _condition(p.host.node(NODE), "MemoryPressure")["reason"] == "KubeletHasSufficientMemory"


def test_a_full_state_dir_is_disk_pressure_and_an_unwritable_condition(
    pressured: Pressured,
) -> None:
    """Empty files until the state dir's filesystem has no inode left: DiskPressure True
    naming nodefs.inodesFree. Then, the files removed, the same filesystem filled to the
    last byte: DiskPressure True (on, in one transition period with the inodes) naming
    nodefs.available, with its taint; pod changes the agent must checkpoint fail with ENOSPC:
    StateDirUnwritable True and one Warning event naming the error, one log line for the
    whole streak; the running pod is untouched; space back: the checkpoint is written (the
    latest pods), both conditions clear and the taint goes."""
    p = pressured
    (before,) = pod_containers(p.host.containers(NODE), p.pod_uid)
    wait_until(lambda: _status(p, "DiskPressure") == "False", timeout=30, message="no pressure")
    made = fill_inodes(p.state)
    try:
        assert made
        cond = wait_until(lambda: _condition_at(p, "DiskPressure", "True"), timeout=20,
                          message="DiskPressure True")  # fmt: skip
        assert cond["message"].startswith(f"nodefs.inodesFree on {p.state} (tmpfs) is "), cond
    finally:
        remove_files(made)
    log_at = p.agent.log_path.stat().st_size
    warned = len(_events(p, UNWRITABLE))
    filler = fill_disk(p.state)
    try:
        for i in range(3):  # three changes to checkpoint, none of them written
            _label_pod(p, str(i))
        cond = wait_until(lambda: _condition_at(p, UNWRITABLE, "True"), timeout=20,
                          message=f"{UNWRITABLE} True")  # fmt: skip
        assert cond["reason"] == "StateDirWriteFailed"
        assert "api-pods.checkpoint.json: No space left on device (ENOSPC)" in cond["message"]
        # DiskPressure stayed True; the status that turned StateDirUnwritable True was measured
        # after the write failed, on the full disk: its message names the bytes now
        disk = _condition_at(p, "DiskPressure", "True")
        assert disk, "DiskPressure not True on a full disk"
        assert disk["message"].startswith(f"nodefs.available on {p.state} (tmpfs) is "), disk
        events = wait_until(lambda: _events(p, UNWRITABLE)[warned:], timeout=20,
                            message=f"a {UNWRITABLE} event")  # fmt: skip
        assert [e["type"] for e in events] == ["Warning"]
        assert "No space left on device (ENOSPC)" in events[0]["message"]
        wait_until(lambda: _has_taint(p, DISK_TAINT), timeout=20,
                   message="the disk-pressure taint")  # fmt: skip
        _untouched(p, before)
    finally:
        filler.unlink()
    cond = wait_until(lambda: _condition_at(p, UNWRITABLE, "False"), timeout=20,
                      message=f"{UNWRITABLE} False once written")  # fmt: skip
    assert cond["reason"] == "StateDirWritable"
    pods = decode_checkpoint((p.state / "api-pods.checkpoint.json").read_bytes())
    assert [pod["metadata"]["labels"].get("change") for pod in pods] == ["2"]
    wait_until(lambda: _condition_at(p, "DiskPressure", "False"), timeout=20,
               message="DiskPressure False")  # fmt: skip
    wait_until(lambda: not _has_taint(p, DISK_TAINT), timeout=20,
               message="the disk-pressure taint removed")  # fmt: skip
    _untouched(p, before)
    assert len(_events(p, UNWRITABLE)) == warned + 1
    lines = _agent_log_since(p, log_at)
    failed = [e for e in lines if e.get("event") == "state_dir_write_failed"]
    assert len(failed) == 1, failed
    assert failed[0]["error"] == "No space left on device (ENOSPC)"
    assert not [e for e in lines if "exception" in e or e.get("level") == "error"]


def test_a_fork_loop_is_pid_pressure(pressured: Pressured) -> None:
    """SLEEPERS more processes (twice the threshold's margin): PIDPressure True naming
    pid.available; False after they are gone and the period passed."""
    p = pressured
    with sleepers(SLEEPERS):
        cond = wait_until(lambda: _condition_at(p, "PIDPressure", "True"), timeout=20,
                          message="PIDPressure True")  # fmt: skip
        assert cond["reason"] == "KubeletHasInsufficientPID"
        assert cond["message"].startswith("pid.available is "), cond
    wait_until(lambda: _condition_at(p, "PIDPressure", "False"), timeout=20,
               message="PIDPressure False")  # fmt: skip


def test_a_read_only_state_dir_is_an_unwritable_condition(pressured: Pressured) -> None:
    """The state dir remounted read-only: a pod change fails to checkpoint with EROFS,
    StateDirUnwritable True naming it; writable again: False, the pod untouched throughout."""
    p = pressured
    (before,) = pod_containers(p.host.containers(NODE), p.pod_uid)
    subprocess.run(["mount", "-o", "remount,ro", str(p.state)], check=True)
    try:
        _label_pod(p, "read-only")
        cond = wait_until(lambda: _condition_at(p, UNWRITABLE, "True"), timeout=20,
                          message=f"{UNWRITABLE} True")  # fmt: skip
        assert "Read-only file system (EROFS)" in cond["message"], cond
        _untouched(p, before)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(p.state)], check=True)
    wait_until(lambda: _condition_at(p, UNWRITABLE, "False"), timeout=20,
               message=f"{UNWRITABLE} False once written")  # fmt: skip
    pods = decode_checkpoint((p.state / "api-pods.checkpoint.json").read_bytes())
    assert [pod["metadata"]["labels"].get("change") for pod in pods] == ["read-only"]
    _untouched(p, before)


def _renewed(p: Pressured) -> str:
    status, lease = p.host.api(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}"
    )
    assert status == 200, lease
    return str(lease["spec"]["renewTime"])


def test_a_cpu_starved_agent_keeps_its_lease(pressured: Pressured) -> None:
    """The agent limited to 1 % of one CPU for longer than the node-monitor grace: its Lease
    goes on being renewed and the node stays Ready."""
    reason = can_starve_cpu()
    if reason:
        pytest.skip(reason)
    p = pressured
    wait_until(lambda: _status(p, "Ready") == "True", timeout=30, message="Ready")
    renewals = {_renewed(p)}
    with starved_cpu(p.agent.process.pid, share=0.01) as group:
        deadline = time.monotonic() + GRACE + 1  # past the grace
        while time.monotonic() < deadline:
            assert _status(p, "Ready") == "True", "the node left Ready while the agent starved"
            renewals.add(_renewed(p))
            time.sleep(0.5)
        throttled = cpu_throttled(group)
    assert throttled > 0, "the quota never held the agent back: no starvation"
    assert len(renewals) >= 3, renewals
