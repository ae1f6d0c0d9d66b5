"""The Runtime seam: what the agent needs from a container engine, and the values it gets back.

The agent's executor is the only caller of the writing methods. The Docker-Engine-API
implementation (podman's API service, dockerd) lives in docker.py; an in-memory fake for
pure-logic unit tests lives in fake.py.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nodeagent.api.bodies import Obj
from nodeagent.api.projection import Objects


class ContainerState(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


class RuntimeError_(Exception):
    """Base of every error the runtime raises; `reason` is a Kubernetes-style word."""

    reason: str = "RuntimeError"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class RuntimeUnavailable(RuntimeError_):
    """No engine answers on any socket tried; the message names the sockets."""

    reason = "ContainerRuntimeDown"


class ImagePullError(RuntimeError_):
    """An image could not be had; reason is ErrImagePull or ErrImageNeverPull."""

    reason = "ErrImagePull"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageOutcome:
    """What ensure_image did: pulled (and how long the pull took), or found the image there."""

    pulled: bool
    seconds: float = 0.0
    size: int | None = None  # bytes, as the engine reports the image


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineInfo:
    name: str  # "podman" or "docker"
    version: str
    api_version: str
    socket: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PodContext:
    """What a pod's containers need to know beyond the pod spec itself."""

    node_name: str
    host_ip: str
    source: str  # "file" | "api" | "http": which source desired the pod
    spec_hash: str  # hash of the pod spec this container was created from
    volume_dir: str  # where emptyDir volumes of this pod live (under the agent's state dir)
    sandbox_id: str | None = None  # the pod's network-holding container; None with hostNetwork
    pod_ip: str = ""
    # the ConfigMaps and Secrets this pod may read (env valueFrom, envFrom), by (kind, ns, name)
    objects: Objects = field(default_factory=dict)
    allocatable: Mapping[str, str] = field(default_factory=dict)  # the node's cpu, memory
    # the API server as this pod reaches it (KUBERNETES_SERVICE_HOST/PORT); None: no server
    api_server: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerInfo:
    """One container of this agent, as the engine reports it (labels decoded)."""

    id: str
    engine_name: str  # the readable name shown by `podman ps`
    pod_namespace: str
    pod_name: str
    pod_uid: str
    container_name: str  # the pod's container name; "" for the sandbox
    is_sandbox: bool
    is_init: bool
    source: str
    spec_hash: str
    attempt: int  # 0 for the first run of this container, +1 per restart
    image: str
    image_id: str
    state: ContainerState
    exit_code: int | None = None
    started_at: float | None = None  # unix seconds
    finished_at: float | None = None
    oom_killed: bool = False
    pod_ip: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerEvent:
    """The engine said something happened to one of our containers (start, die, oom, ...)."""

    container_id: str
    action: str
    pod_uid: str
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecResult:
    exit_code: int
    output: bytes


class ExecSession(Protocol):
    """One command running in a container with its streams attached (Runtime.start_exec), or
    the streams of a container's main process (Runtime.start_attach)."""

    async def read(self) -> tuple[int, bytes] | None:
        """The next output as (1 stdout | 2 stderr, bytes), as the command writes it (with a
        terminal everything is stdout); None once the command has closed its output."""

    async def write(self, data: bytes) -> None:
        """Send bytes to the command's stdin (asked for with stdin=True)."""

    async def close_stdin(self) -> None:
        """End of input: the command reads EOF; its output goes on."""

    async def resize(self, *, width: int, height: int) -> None:
        """Set the terminal's size (tty=True); a no-op once the command has ended."""

    async def exit_code(self) -> int:
        """The command's exit code, once read() has returned None."""

    async def aclose(self) -> None:
        """Detach the streams (a command still running is left to run, as docker exec)."""


class Runtime(Protocol):
    """A container engine as the agent sees it. Every method may raise RuntimeError_."""

    async def ping(self) -> EngineInfo: ...

    async def bridge_gateway(self) -> str | None:
        """The host's address on the engine's default bridge network (podman's 10.88.0.1,
        dockerd's 172.17.0.1): how a pod off the host network reaches this host; None if
        the engine has none."""
        ...

    async def ensure_image(
        self, image: str, *, pull_policy: str, on_pull: Callable[[], None] | None = None
    ) -> ImageOutcome:
        """Make `image` present per Always/IfNotPresent/Never; ImagePullError if it cannot.
        `on_pull` is called just before an actual pull starts (kubelet's Pulling event)."""

    async def list_containers(self) -> list[ContainerInfo]:
        """Every container this agent created (any state), found by its labels."""

    async def create_sandbox(self, pod: Obj, ctx: PodContext) -> str:
        """Create and start the container that holds the pod's network namespace; its id."""

    async def create_container(
        self, pod: Obj, container: Obj, ctx: PodContext, *, attempt: int, is_init: bool
    ) -> tuple[str, Sequence[str]]:
        """Create (not start) one container; its id and warnings for unhonoured fields (the
        caller logs them and records them as events; the runtime does not log them)."""

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, *, grace_seconds: int) -> None:
        """SIGTERM (or the image's stop signal), SIGKILL after grace_seconds."""

    async def remove_container(self, container_id: str) -> None: ...

    async def exec(
        self, container_id: str, command: Sequence[str], *, timeout: float
    ) -> ExecResult: ...

    async def start_exec(
        self, container_id: str, command: Sequence[str], *, stdin: bool, tty: bool
    ) -> ExecSession:
        """Start `command` in the container with stdout and stderr attached (and stdin, a
        terminal, when asked); the caller relays the session and must aclose() it."""
        ...

    async def start_attach(
        self, container_id: str, *, stdin: bool, tty: bool, stdin_once: bool = False
    ) -> ExecSession:
        """Attach to the container's main process (kubectl attach): what it writes from now on,
        and its stdin when asked (the container must have been created with stdin open).
        `tty` and `stdin_once` are the container spec's. close_stdin() closes the process's
        stdin only with stdin_once (else only this attach's input ends); exit_code() is 0 once the
        output ends (an attach has no status of its own: kubelet reports Success); aclose()
        detaches and leaves the process running. RuntimeError_(reason "NotRunning") for a
        container that is not running."""
        ...

    async def logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> bytes:
        """The log, stdout and stderr in order: the last `tail` lines, only lines written
        after `since` (unix seconds), each prefixed with its RFC 3339 time if `timestamps`."""
        ...

    def follow_logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> AsyncIterator[bytes]:
        """The log (as logs() selects it), then what the container writes, in chunks, until
        it stops (ends at once for a stopped one); closing the iterator ends the stream."""
        ...

    def events(self) -> AsyncIterator[ContainerEvent]:
        """Follow the engine's event stream for our containers (reconnects are the caller's)."""
        ...

    async def close(self) -> None: ...
