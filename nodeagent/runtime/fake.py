"""An in-memory Runtime for pure-logic unit tests of the agent: deterministic ids, injected errors.

It keeps containers, images and an event stream in memory, labels containers exactly as the
real runtime does (labels.py), and records every call in `calls` so tests can assert intent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.timefmt import format_time
from nodeagent.runtime import labels as L
from nodeagent.runtime.protocol import (
    ContainerEvent,
    ContainerInfo,
    ContainerState,
    EngineInfo,
    ExecResult,
    ImageOutcome,
    ImagePullError,
    PodContext,
    RuntimeError_,
)

ExecHandler = Callable[[str, Sequence[str]], ExecResult]
FAKE_IMAGE_SIZE = 1_234_567  # bytes, what every image the fake pulls weighs


@dataclass(slots=True, kw_only=True)
class _Injected:
    exc: BaseException
    times: int | None  # None: every call until cleared


@dataclass(slots=True, kw_only=True)
class FakeExec:
    """An ExecSession of the fake: `result`'s output on stdout, then its exit code."""

    command: tuple[str, ...]
    stdin: bool
    tty: bool
    result: ExecResult
    received: bytearray = field(default_factory=bytearray)  # what was written to stdin
    stdin_closed: bool = False
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) resizes
    closed: bool = False
    _sent: bool = False

    async def read(self) -> tuple[int, bytes] | None:
        if self._sent or not self.result.output:
            return None
        self._sent = True
        return 1, self.result.output

    async def write(self, data: bytes) -> None:
        self.received += data

    async def close_stdin(self) -> None:
        self.stdin_closed = True

    async def resize(self, *, width: int, height: int) -> None:
        self.sizes.append((width, height))

    async def exit_code(self) -> int:
        return self.result.exit_code

    async def aclose(self) -> None:
        self.closed = True


@dataclass(slots=True)
class FakeRuntime:
    """Runtime protocol in memory. Time comes from `clock` (a float, settable by tests)."""

    images: set[str] = field(default_factory=set)
    unpullable: set[str] = field(default_factory=set)  # pulls of these fail with ErrImagePull
    now: float = 1_000_000.0  # the fake's clock (unix seconds); tests move it
    stop_exit_code: int = 0  # exit code a stopped container reports
    exec_handler: ExecHandler | None = None  # default: exit 0, no output
    containers: dict[str, ContainerInfo] = field(default_factory=dict)
    logs_of: dict[str, bytes] = field(default_factory=dict)
    exec_sessions: list[FakeExec] = field(default_factory=list)  # start_exec's, in order
    attach_output: dict[str, bytes] = field(default_factory=dict)  # container id -> output
    attach_sessions: list[FakeExec] = field(default_factory=list)  # start_attach's, in order
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    _errors: dict[str, _Injected] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _subscribers: list[asyncio.Queue[ContainerEvent]] = field(default_factory=list)
    _closed: bool = False

    # --- test helpers ---------------------------------------------------------------------

    def inject_error(self, method_name: str, exc: BaseException, *, times: int | None = 1) -> None:
        """Make the next `times` calls of `method_name` raise `exc` (None: until cleared)."""
        self._errors[method_name] = _Injected(exc=exc, times=times)

    def clear_error(self, method_name: str) -> None:
        self._errors.pop(method_name, None)

    def exit_container(self, container_id: str, code: int, *, oom: bool = False) -> None:
        """Make a running container exit now with `code` (and OOM-killed if `oom`)."""
        info = self._get(container_id)
        self.containers[container_id] = replace(
            info,
            state=ContainerState.EXITED,
            exit_code=code,
            finished_at=self.now,
            oom_killed=oom,
        )
        if oom:
            self._emit(container_id, "oom")
        self._emit(container_id, "die")

    def remove_outside(self, container_id: str) -> None:
        """A container vanishes behind the agent's back (someone ran `podman rm -f`)."""
        self.containers.pop(container_id, None)
        self._emit(container_id, "destroy")

    def names_called(self) -> list[str]:
        """The method names called so far, in order."""
        return [name for name, _ in self.calls]

    # --- internals ------------------------------------------------------------------------

    def _enter(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        injected = self._errors.get(method)
        if injected is None:
            return
        if injected.times is not None:
            injected.times -= 1
            if injected.times <= 0:
                del self._errors[method]
        raise injected.exc

    def _get(self, container_id: str) -> ContainerInfo:
        try:
            return self.containers[container_id]
        except KeyError:
            raise RuntimeError_(f"no such container: {container_id}", reason="NotFound") from None

    def _new_id(self) -> str:
        return f"fake{next(self._ids):060d}"

    def _emit(self, container_id: str, action: str) -> None:
        info = self.containers.get(container_id)
        event = ContainerEvent(
            container_id=container_id,
            action=action,
            pod_uid=info.pod_uid if info else "",
            time=self.now,
        )
        for queue in self._subscribers:
            queue.put_nowait(event)

    def _add(
        self,
        pod: Obj,
        ctx: PodContext,
        *,
        image: str,
        name: str,
        attempt: int,
        is_init: bool,
        state: ContainerState,
        pod_ip: str = "",
    ) -> str:
        container_id = self._new_id()
        labels = L.container_labels(pod, ctx, container_name=name, attempt=attempt, is_init=is_init)
        self.containers[container_id] = L.info_from_labels(
            container_id=container_id,
            engine_name=L.engine_name(pod, container_name=name, attempt=attempt),
            labels=labels,
            image=image,
            image_id="sha256:" + image.encode().hex()[:64].ljust(64, "0"),
            state=state,
            pod_ip=pod_ip,
        )
        self._emit(container_id, "create")
        return container_id

    # --- the Runtime protocol -------------------------------------------------------------

    async def ping(self) -> EngineInfo:
        self._enter("ping")
        return EngineInfo(name="fake", version="0", api_version="1.41", socket="fake://")

    async def bridge_gateway(self) -> str | None:
        return "10.88.0.1"

    async def ensure_image(
        self, image: str, *, pull_policy: str, on_pull: Callable[[], None] | None = None
    ) -> ImageOutcome:
        self._enter("ensure_image", image, pull_policy)
        present = image in self.images
        if pull_policy == "Never":
            if not present:
                raise ImagePullError(
                    f'Container image "{image}" is not present with pull policy of Never',
                    reason="ErrImageNeverPull",
                )
            return ImageOutcome(pulled=False)
        if pull_policy == "IfNotPresent" and present:
            return ImageOutcome(pulled=False)
        if on_pull is not None:
            on_pull()
        if image in self.unpullable:
            raise ImagePullError(f'failed to pull image "{image}": not found')
        self.pulled.append(image)
        self.images.add(image)
        return ImageOutcome(pulled=True, seconds=0.0, size=FAKE_IMAGE_SIZE)

    async def list_containers(self) -> list[ContainerInfo]:
        self._enter("list_containers")
        return sorted(self.containers.values(), key=lambda c: c.is_sandbox)  # as docker.py

    async def create_sandbox(self, pod: Obj, ctx: PodContext) -> str:
        self._enter("create_sandbox", pod, ctx)
        n = sum(1 for c in self.containers.values() if c.is_sandbox) + 1
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
        pod_ip = ctx.host_ip if host_network else f"10.88.{n // 250}.{n % 250 + 2}"
        attempt = sum(
            1
            for c in self.containers.values()
            if c.is_sandbox and c.pod_uid == (pod.get("metadata") or {}).get("uid")
        )
        container_id = self._add(
            pod,
            ctx,
            image="localhost/nodeagent-pause:1",
            name="",
            attempt=attempt,
            is_init=False,
            state=ContainerState.CREATED,
            pod_ip=pod_ip,
        )
        await self.start_container(container_id)
        return container_id

    async def create_container(
        self, pod: Obj, container: Obj, ctx: PodContext, *, attempt: int, is_init: bool
    ) -> tuple[str, Sequence[str]]:
        self._enter("create_container", pod, container, ctx, attempt, is_init)
        container_id = self._add(
            pod,
            ctx,
            image=str(container.get("image", "")),
            name=str(container.get("name", "")),
            attempt=attempt,
            is_init=is_init,
            state=ContainerState.CREATED,
            pod_ip=ctx.pod_ip,
        )
        return container_id, []

    async def start_container(self, container_id: str) -> None:
        self._enter("start_container", container_id)
        info = self._get(container_id)
        self.containers[container_id] = replace(
            info, state=ContainerState.RUNNING, started_at=self.now, finished_at=None
        )
        self._emit(container_id, "start")

    async def stop_container(self, container_id: str, *, grace_seconds: int) -> None:
        self._enter("stop_container", container_id, grace_seconds)
        info = self._get(container_id)
        if info.state is ContainerState.RUNNING:
            self.containers[container_id] = replace(
                info,
                state=ContainerState.EXITED,
                exit_code=self.stop_exit_code,
                finished_at=self.now,
            )
            self._emit(container_id, "kill")
            self._emit(container_id, "die")

    async def remove_container(self, container_id: str) -> None:
        self._enter("remove_container", container_id)
        info = self._get(container_id)
        if info.is_sandbox and any(
            c.pod_uid == info.pod_uid and not c.is_sandbox for c in self.containers.values()
        ):
            raise RuntimeError_(
                f"sandbox {container_id} has dependent containers", reason="SandboxInUse"
            )
        self._emit(container_id, "remove")
        del self.containers[container_id]

    async def exec(
        self, container_id: str, command: Sequence[str], *, timeout: float
    ) -> ExecResult:
        self._enter("exec", container_id, tuple(command), timeout)
        if self._get(container_id).state is not ContainerState.RUNNING:
            raise RuntimeError_(f"container {container_id} is not running", reason="NotRunning")
        if self.exec_handler is None:
            return ExecResult(exit_code=0, output=b"")
        return self.exec_handler(container_id, command)

    async def start_exec(
        self, container_id: str, command: Sequence[str], *, stdin: bool, tty: bool
    ) -> FakeExec:
        """A session whose output and exit code come from exec_handler, all at once; what
        the caller sends (stdin, EOF, sizes) is recorded on it (and in `exec_sessions`)."""
        self._enter("start_exec", container_id, tuple(command), stdin, tty)
        if self._get(container_id).state is not ContainerState.RUNNING:
            raise RuntimeError_(f"container {container_id} is not running", reason="NotRunning")
        result = ExecResult(exit_code=0, output=b"")
        if self.exec_handler is not None:
            result = self.exec_handler(container_id, command)
        session = FakeExec(command=tuple(command), stdin=stdin, tty=tty, result=result)
        self.exec_sessions.append(session)
        return session

    async def start_attach(
        self, container_id: str, *, stdin: bool, tty: bool, stdin_once: bool = False
    ) -> FakeExec:
        """A session giving attach_output[container_id] once, then its end (exit code 0, as an
        attach reports Success); what the caller sends is recorded on it (attach_sessions)."""
        self._enter("start_attach", container_id, stdin, tty, stdin_once)
        if self._get(container_id).state is not ContainerState.RUNNING:
            raise RuntimeError_(f"container {container_id} is not running", reason="NotRunning")
        output = self.attach_output.get(container_id, b"")
        session = FakeExec(
            command=(), stdin=stdin, tty=tty, result=ExecResult(exit_code=0, output=output)
        )
        self.attach_sessions.append(session)
        return session

    async def logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> bytes:
        """logs_of's lines count as written at `now`: `since` later than now keeps none."""
        self._enter("logs", container_id, tail, timestamps, since)
        self._get(container_id)
        data = self.logs_of.get(container_id, b"")
        if since is not None and since > self.now:
            return b""
        lines = data.splitlines(keepends=True)
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        if timestamps:
            stamp = format_time(self.now).encode() + b" "
            lines = [stamp + line for line in lines]
        return b"".join(lines)

    async def follow_logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> AsyncIterator[bytes]:
        """logs(), then bytes appended to logs_of while the container runs (checked often)."""
        data = await self.logs(container_id, tail=tail, timestamps=timestamps, since=since)
        sent = len(self.logs_of.get(container_id, b""))
        if data:
            yield data
        while (info := self.containers.get(container_id)) and info.state is ContainerState.RUNNING:
            await asyncio.sleep(0.01)
            now = self.logs_of.get(container_id, b"")
            if len(now) > sent:
                yield now[sent:]
                sent = len(now)
        rest = self.logs_of.get(container_id, b"")[sent:]
        if rest:
            yield rest

    def events(self) -> AsyncIterator[ContainerEvent]:
        """Events from this call on (subscribed at once, not at the first iteration)."""
        self._enter("events")
        queue: asyncio.Queue[ContainerEvent] = asyncio.Queue()
        self._subscribers.append(queue)
        return self._follow(queue)

    async def _follow(self, queue: asyncio.Queue[ContainerEvent]) -> AsyncIterator[ContainerEvent]:
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.remove(queue)

    async def close(self) -> None:
        self._enter("close")
        self._closed = True
