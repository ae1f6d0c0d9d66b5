"""The Runtime over the Docker Engine API on a unix socket (podman's API service or dockerd).

aiodocker carries the HTTP session, API-version negotiation and error mapping; the calls go
through its `_query`/`_query_json` because exec, logs and events need the raw bytes (see
docs/runtime.md). Pod-to-container decisions are in convert.py; this module only performs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import stat
import tarfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
import structlog
from aiodocker.stream import Stream
from yarl import URL

from nodeagent.api.bodies import Obj
from nodeagent.runtime import labels as L
from nodeagent.runtime.convert import (
    CONFIG_ERROR,
    SANDBOX_IMAGE,
    HostPathPrep,
    container_config,
    sandbox_config,
)
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
    RuntimeUnavailable,
)
from nodeagent.runtime.sessions import DockerAttach, DockerExec
from nodeagent.runtime.sessions import engine_errors as _engine_errors
from nodeagent.runtime.wire import StreamDemux, demux, parse_time, state_of

log = structlog.get_logger()

DEFAULT_SOCKETS = ("/run/podman/podman.sock", "/var/run/docker.sock")
EVENT_ACTIONS = frozenset({"create", "start", "die", "oom", "kill", "stop", "destroy", "remove"})
PULL_POLICIES = frozenset({"Always", "IfNotPresent", "Never"})
SANDBOX_APPLETS = ("sleep", "sh")
API_VERSION = "v1.41"
# A bound for ordinary calls; pulls, stops and the event stream set their own.
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=5)
CONFLICT = 409
EMPTY_DIR_MODE = 0o777  # kubelet's emptyDir mode (pkg/volume/emptydir: perm)
NOT_MODIFIED = 304


async def connect_runtime(
    socket: str | None = None, *, node_name: str | None = None, timeout: float = 5.0
) -> DockerRuntime:
    """The first engine answering /_ping: `socket` if given, else podman's, else dockerd's.

    Raises RuntimeUnavailable naming every socket tried and why each failed.
    """
    failures: list[str] = []
    for path in (socket,) if socket else DEFAULT_SOCKETS:
        runtime = DockerRuntime(path, node_name=node_name)
        try:
            async with asyncio.timeout(timeout):
                await runtime.ping()
        except (RuntimeError_, TimeoutError) as exc:
            failures.append(f"{path}: {exc or 'timed out'}")
            await runtime.close()
            continue
        return runtime
    raise RuntimeUnavailable("no container engine answers: " + "; ".join(failures))


def _prepare_host_path(prep: HostPathPrep) -> None:
    """Create (...OrCreate) or check a hostPath as kubelet does, else CreateContainerConfigError."""
    path = Path(prep.path)
    if prep.type == "DirectoryOrCreate":
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    elif prep.type == "FileOrCreate" and not path.exists():
        path.touch(mode=0o644)
    checks = {
        "Directory": stat.S_ISDIR,
        "DirectoryOrCreate": stat.S_ISDIR,
        "File": stat.S_ISREG,
        "FileOrCreate": stat.S_ISREG,
        "Socket": stat.S_ISSOCK,
        "CharDevice": stat.S_ISCHR,
        "BlockDevice": stat.S_ISBLK,
    }
    check = checks.get(prep.type)
    if check is None:
        return
    try:
        ok = check(path.stat().st_mode)
    except OSError:
        ok = False
    if not ok:
        raise RuntimeError_(
            f"volume {prep.volume}: hostPath type check failed: {prep.path} is not a {prep.type}",
            reason=CONFIG_ERROR,
        )


def _make_empty_dir(directory: str) -> None:
    """An emptyDir's directory, 0777 whatever the umask, as kubelet makes it: a container running
    as any user may write there. Its parents under the agent's 0700 state dir stay closed to
    host users; a container reaches the directory through its bind mount, not through them."""
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    try:
        os.mkdir(directory, EMPTY_DIR_MODE)
    except FileExistsError:
        return  # made for an earlier container of the pod: its mode is the pod's business now
    os.chmod(directory, EMPTY_DIR_MODE)  # the umask took bits off


def remove_pod_volumes(ctx: PodContext) -> None:
    """Delete the pod's emptyDir volumes (ctx.volume_dir and everything under it)."""
    shutil.rmtree(ctx.volume_dir, ignore_errors=True)


def _pause_tarball(busybox: str) -> bytes:
    """A tiny rootfs: busybox-static with the applets the sandbox needs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        bindir = tarfile.TarInfo("bin")
        bindir.type, bindir.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(bindir)
        tar.add(busybox, arcname="bin/busybox")
        for applet in SANDBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buffer.getvalue()


class DockerRuntime:
    """Runtime protocol over one Docker-API socket; containers filtered to this node's labels."""

    def __init__(
        self, socket: str, *, node_name: str | None = None, busybox: str = "/bin/busybox"
    ) -> None:
        self.socket = socket
        self.node_name = node_name
        self.busybox = busybox
        # A fixed API version both podman (1.41) and dockerd accept: aiodocker's "auto" would
        # ask /version first, which podman answers in seconds.
        self._docker = aiodocker.Docker(
            url="unix://" + socket, api_version=API_VERSION, timeout=REQUEST_TIMEOUT
        )
        self._sandbox_lock = asyncio.Lock()
        self.engine: EngineInfo | None = None  # set by ping()
        # container id -> (the listing's State when inspected, what the inspection gave)
        self._inspected: dict[str, tuple[str, ContainerInfo]] = {}

    async def _json(self, what: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
        with _engine_errors(what, reason=kwargs.pop("reason", "RuntimeError")):
            return await self._docker._query_json(path, method, **kwargs)

    async def _raw(self, what: str, path: str, method: str = "GET", **kwargs: Any) -> bytes:
        with _engine_errors(what, reason=kwargs.pop("reason", "RuntimeError")):
            async with self._docker._query(path, method, **kwargs) as response:
                return await response.read()

    # --- engine and images ----------------------------------------------------------------

    async def ping(self) -> EngineInfo:
        """GET /_ping; name and version come from its headers (podman's /version takes seconds)."""
        with _engine_errors("ping"):
            async with self._docker._query("_ping", versioned_api=False) as response:
                await response.read()
                headers = response.headers
        server = headers.get("Server", "")  # "Libpod/4.3.1 (linux)" or "Docker/24.0.7 (linux)"
        product, _, rest = server.partition("/")
        self.engine = EngineInfo(
            name="podman" if "Libpod-Api-Version" in headers or product == "Libpod" else "docker",
            version=headers.get("Libpod-Api-Version") or rest.split(" ")[0],
            api_version=headers.get("Api-Version", ""),
            socket=self.socket,
        )
        return self.engine

    async def bridge_gateway(self) -> str | None:
        """GET /networks/bridge (podman answers it with its default network, "podman")."""
        try:
            data = await self._json("inspect network bridge", "networks/bridge")
        except RuntimeError_ as exc:
            if exc.reason == "NotFound":
                return None
            raise
        configs = ((data or {}).get("IPAM") or {}).get("Config") or []
        return next((str(c["Gateway"]) for c in configs if c.get("Gateway")), None)

    async def _image(self, image: str) -> Obj | None:
        """The engine's inspection of the image, or None when it does not have it."""
        try:
            data = await self._json(f"inspect image {image}", f"images/{image}/json")
        except RuntimeError_ as exc:
            if exc.reason == "NotFound":
                return None
            raise
        return dict(data)

    async def _image_config(self, image: str) -> Obj | None:
        """The image's Config, or None when the engine does not have it."""
        data = await self._image(image)
        return None if data is None else dict(data.get("Config") or {})

    async def ensure_image(
        self, image: str, *, pull_policy: str, on_pull: Callable[[], None] | None = None
    ) -> ImageOutcome:
        if pull_policy not in PULL_POLICIES:
            raise ImagePullError(f"unknown imagePullPolicy {pull_policy!r}")
        present = await self._image(image)
        if pull_policy == "Never":
            if present is None:
                raise ImagePullError(
                    f'Container image "{image}" is not present with pull policy of Never',
                    reason="ErrImageNeverPull",
                )
            return ImageOutcome(pulled=False, size=_image_size(present))
        if pull_policy == "IfNotPresent" and present is not None:
            return ImageOutcome(pulled=False, size=_image_size(present))
        log.info("image_pull", image=image, policy=pull_policy)
        if on_pull is not None:
            on_pull()
        started = time.monotonic()
        try:
            await self._docker.images.pull(image)
        except aiodocker.DockerError as exc:
            if exc.status == 900:
                raise RuntimeUnavailable(f"pull {image}: {exc.message}") from exc
            raise ImagePullError(f'failed to pull image "{image}": {exc.message}') from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise RuntimeUnavailable(f"pull {image}: {exc}") from exc
        took = time.monotonic() - started
        pulled = await self._image(image)
        if pulled is None:
            raise ImagePullError(f'failed to pull image "{image}": not present after the pull')
        return ImageOutcome(pulled=True, seconds=took, size=_image_size(pulled))

    async def ensure_sandbox_image(self) -> str:
        """Import the pause image from the host's busybox-static unless the engine has it."""
        async with self._sandbox_lock:
            if await self._image_config(SANDBOX_IMAGE) is not None:
                return SANDBOX_IMAGE
            data = await asyncio.to_thread(_pause_tarball, self.busybox)
            log.info("sandbox_image_import", image=SANDBOX_IMAGE, busybox=self.busybox)
            await self._raw(
                "import sandbox image",
                "images/create",
                "POST",
                params={"fromSrc": "-", "repo": SANDBOX_IMAGE},  # podman ignores `tag`
                data=data,
                headers={"Content-Type": "application/x-tar"},
            )
            if await self._image_config(SANDBOX_IMAGE) is None:
                raise RuntimeError_(f"sandbox image {SANDBOX_IMAGE} missing after import")
            return SANDBOX_IMAGE

    # --- containers -----------------------------------------------------------------------

    async def _create(self, name: str, body: Obj) -> str:
        """Create a container; a stopped leftover holding the name is removed first."""
        for _ in range(2):
            try:
                created = await self._json(
                    f"create {name}",
                    "containers/create",
                    "POST",
                    params={"name": name},
                    data=body,
                    reason="CreateContainerError",
                )
                return str(created["Id"])
            except RuntimeError_ as exc:
                cause = exc.__cause__
                if not (isinstance(cause, aiodocker.DockerError) and cause.status == CONFLICT):
                    raise
                old = await self._json(f"inspect {name}", f"containers/{name}/json")
                if (old.get("State") or {}).get("Running"):
                    raise
                log.info("stale_container_removed", name=name, id=old.get("Id"))
                await self.remove_container(str(old["Id"]))
        raise RuntimeError_(f"create {name}: name still in use", reason="CreateContainerError")

    async def create_sandbox(self, pod: Obj, ctx: PodContext) -> str:
        await self.ensure_sandbox_image()
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        earlier = await self._list_raw([f"{L.POD_UID}={uid}", f"{L.SANDBOX}=true"])
        attempts = [int((c.get("Labels") or {}).get(L.ATTEMPT) or 0) for c in earlier]
        config = sandbox_config(pod, ctx, attempt=max(attempts, default=-1) + 1)
        container_id = await self._create(config.name, config.body)
        await self.start_container(container_id)
        return container_id

    async def create_container(
        self, pod: Obj, container: Obj, ctx: PodContext, *, attempt: int, is_init: bool
    ) -> tuple[str, Sequence[str]]:
        image = str(container.get("image", ""))
        image_config = await self._image_config(image)
        if image_config is None:
            raise RuntimeError_(f'image "{image}" is not present', reason="CreateContainerError")
        config = container_config(
            pod,
            container,
            ctx,
            attempt=attempt,
            is_init=is_init,
            image_config=image_config,
            join_uts=self.engine is not None and self.engine.name == "podman",
        )
        for prep in config.host_paths:
            await asyncio.to_thread(_prepare_host_path, prep)
        for directory in config.empty_dirs:
            await asyncio.to_thread(_make_empty_dir, directory)
        container_id = await self._create(config.name, config.body)
        return container_id, list(config.warnings)

    async def start_container(self, container_id: str) -> None:
        await self._raw(
            f"start {container_id[:12]}",
            f"containers/{container_id}/start",
            "POST",
            reason="RunContainerError",
        )

    async def stop_container(self, container_id: str, *, grace_seconds: int) -> None:
        grace = max(0, int(grace_seconds))
        timeout = aiohttp.ClientTimeout(total=grace + 60)
        await self._raw(
            f"stop {container_id[:12]}",
            f"containers/{container_id}/stop",
            "POST",
            params={"t": grace},
            timeout=timeout,
        )

    async def remove_container(self, container_id: str) -> None:
        """Remove at once (SIGKILL if still running; podman's force-remove would wait out the
        container's StopTimeout). Gone already is fine. Remove a sandbox after its containers."""
        try:
            await self.stop_container(container_id, grace_seconds=0)
            await self._raw(
                f"remove {container_id[:12]}",
                f"containers/{container_id}",
                "DELETE",
                params={"force": True, "v": True},
            )
        except RuntimeError_ as exc:
            if "dependent containers" in str(exc):
                raise RuntimeError_(str(exc), reason="SandboxInUse") from exc
            if exc.reason != "NotFound":
                raise

    # --- observation ----------------------------------------------------------------------

    def _label_filter(self) -> list[str]:
        selector = [L.POD_UID]
        if self.node_name is not None:
            selector.append(f"{L.NODE}={self.node_name}")
        return selector

    async def _inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            data = await self._json(
                f"inspect {container_id[:12]}", f"containers/{container_id}/json"
            )
        except RuntimeError_ as exc:
            if exc.reason == "NotFound":
                return None
            raise
        state = data.get("State") or {}
        config = data.get("Config") or {}
        labels = config.get("Labels") or {}
        network = data.get("NetworkSettings") or {}
        pod_ip = str(network.get("IPAddress") or "")
        if not pod_ip:
            pod_ip = next(
                (
                    str(n["IPAddress"])
                    for n in (network.get("Networks") or {}).values()
                    if n.get("IPAddress")
                ),
                "",
            )
        status = state_of(str(state.get("Status", "")))
        return L.info_from_labels(
            container_id=str(data.get("Id", container_id)),
            engine_name=str(data.get("Name", "")).lstrip("/"),
            labels=labels,
            image=str(config.get("Image", "")),
            image_id=str(data.get("Image", "")),
            state=status,
            exit_code=int(state.get("ExitCode", 0)) if status is ContainerState.EXITED else None,
            started_at=parse_time(state.get("StartedAt")),
            finished_at=parse_time(state.get("FinishedAt"))
            if status is ContainerState.EXITED
            else None,
            oom_killed=bool(state.get("OOMKilled")),
            pod_ip=pod_ip,
        )

    async def _list_raw(self, extra_labels: Sequence[str] = ()) -> list[Obj]:
        """GET /containers/json for our containers (all states), the engine's summary form."""
        labels = [*self._label_filter(), *extra_labels]
        listed = await self._json(
            "list containers",
            "containers/json",
            params={"all": "true", "filters": json.dumps({"label": labels})},
        )
        return [c for c in listed if L.is_ours(c.get("Labels"), self.node_name)]

    async def list_containers(self) -> list[ContainerInfo]:
        """One listing; only the containers whose State changed since their last inspection
        (or that had an event since) are inspected again (kubelet's PLEG also relists cheaply
        and inspects only what changed). An in-place restart keeps the State but sends events."""
        listed = await self._list_raw()
        infos = await asyncio.gather(*(self._inspect_if_changed(c) for c in listed))
        ours = [i for i in infos if i is not None and L.is_ours(i.labels, self.node_name)]
        present = {str(c["Id"]) for c in listed}
        for cid in [k for k in self._inspected if k not in present]:
            del self._inspected[cid]
        return sorted(ours, key=_listing_order)

    async def _inspect_if_changed(self, summary: Obj) -> ContainerInfo | None:
        cid, state = str(summary["Id"]), str(summary.get("State") or "")
        cached = self._inspected.get(cid)
        if cached is not None and cached[0] == state:
            return cached[1]
        info = await self._inspect(cid)
        if info is not None:
            self._inspected[cid] = (state, info)
        return info

    async def exec(
        self, container_id: str, command: Sequence[str], *, timeout: float
    ) -> ExecResult:
        what = f"exec in {container_id[:12]}"
        try:
            async with asyncio.timeout(timeout):
                created = await self._json(
                    what,
                    f"containers/{container_id}/exec",
                    "POST",
                    data={"AttachStdout": True, "AttachStderr": True, "Cmd": list(command)},
                )
                exec_id = str(created["Id"])
                raw = await self._raw(
                    what,
                    f"exec/{exec_id}/start",
                    "POST",
                    data=json.dumps({"Detach": False, "Tty": False}),
                )
                result = await self._json(what, f"exec/{exec_id}/json")
        except TimeoutError:
            raise RuntimeError_(
                f"{what}: command {list(command)} timed out after {timeout}s",
                reason="DeadlineExceeded",
            ) from None
        code = result.get("ExitCode")
        return ExecResult(exit_code=int(code) if code is not None else -1, output=demux(raw))

    async def start_exec(
        self, container_id: str, command: Sequence[str], *, stdin: bool, tty: bool
    ) -> DockerExec:
        what = f"exec in {container_id[:12]}"
        with _engine_errors(what):
            container = self._docker.containers.container(container_id)
            execution = await container.exec(
                list(command), stdout=True, stderr=True, stdin=stdin, tty=tty
            )
            stream = execution.start(detach=False)
            await stream.__aenter__()  # the upgraded connection: errors surface here
        return DockerExec(what=what, execution=execution, stream=stream)

    async def start_attach(
        self, container_id: str, *, stdin: bool, tty: bool, stdin_once: bool = False
    ) -> DockerAttach:
        """POST /containers/{id}/attach (stream, no earlier logs, no detach keys). The engine's
        own Config says whether there is a terminal and whether stdin is open; `tty` (the
        spec's) must agree with it. `stdin_once` is the spec's too: podman's inspect does not
        keep StdinOnce (podman closes a process's stdin when any attach's input ends, so
        DockerAttach sends that end only with stdin_once). podman holds an attach to a stopped
        container open with no end, so the state is checked before and once it is open."""
        what = f"attach to {container_id[:12]}"
        config = await self._running_config(what, container_id)
        engine_tty = bool(config.get("Tty"))
        if engine_tty != tty:
            log.warning("attach_tty_mismatch", container=container_id[:12], spec_tty=tty)
        params: dict[str, str | int] = {
            "stdin": int(stdin and bool(config.get("OpenStdin"))),
            "stdout": 1,
            "stderr": 1,
            "stream": 1,
            "logs": 0,
            "detachKeys": "",
        }

        async def setup() -> tuple[URL, bytes | None, bool]:
            return URL(f"containers/{container_id}/attach").with_query(params), None, engine_tty

        stream = Stream(self._docker, setup, None)
        with _engine_errors(what):
            await stream.__aenter__()  # the upgraded connection: errors surface here
        session = DockerAttach(
            what=what,
            docker=self._docker,
            container_id=container_id,
            stream=stream,
            stdin_once=stdin_once or bool(config.get("StdinOnce")),
        )
        try:
            await self._running_config(what, container_id)
        except BaseException:
            await session.aclose()
            raise
        return session

    async def _running_config(self, what: str, container_id: str) -> Obj:
        """The container's Config; RuntimeError_(reason NotRunning) unless it is running."""
        data = await self._json(what, f"containers/{container_id}/json")
        state = state_of(str((data.get("State") or {}).get("Status", "")))
        if state is not ContainerState.RUNNING:
            raise RuntimeError_(f"{what}: container is in {state} state", reason="NotRunning")
        return dict(data.get("Config") or {})

    async def logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> bytes:
        raw = await self._raw(
            f"logs of {container_id[:12]}",
            f"containers/{container_id}/logs",
            params=_log_params(tail=tail, timestamps=timestamps, since=since),
        )
        return demux(raw)

    async def follow_logs(
        self,
        container_id: str,
        *,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> AsyncIterator[bytes]:
        params = _log_params(tail=tail, timestamps=timestamps, since=since)
        params["follow"] = "true"
        decoder = StreamDemux()
        with _engine_errors(f"logs of {container_id[:12]}"):
            async with self._stream(f"containers/{container_id}/logs", params=params) as response:
                async for chunk in response.content.iter_any():
                    data = decoder.feed(chunk)
                    if data:
                        yield data

    async def events(self) -> AsyncIterator[ContainerEvent]:
        filters = {"type": ["container"], "label": self._label_filter()}
        with _engine_errors("events"):
            async with self._stream("events", params={"filters": json.dumps(filters)}) as response:
                self._inspected.clear()  # what changed while no stream was open is unknown
                async for line in response.content:
                    event = _decode_event(line)
                    if event is not None:
                        self._inspected.pop(event.container_id, None)
                        yield event

    @contextlib.asynccontextmanager
    async def _stream(
        self, path: str, *, params: dict[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An endless GET (events, logs -f) whose connection is closed however its reader ends.

        aiodocker's `_query` leaves releasing the response to the caller: a stream cancelled at
        stop stayed open, and aiohttp warned "Unclosed connection" at exit."""
        async with self._docker._query(path, params=params, timeout=None) as response:
            try:
                yield response
            finally:
                response.close()

    async def close(self) -> None:
        await self._docker.close()


def _image_size(inspected: Obj) -> int | None:
    size = inspected.get("Size")
    return int(size) if isinstance(size, int | float) else None


def _log_params(*, tail: int | None, timestamps: bool, since: float | None) -> dict[str, str]:
    """The Docker API's logs query: both streams, `tail`, RFC 3339 prefixes, `since`."""
    params = {"stdout": "true", "stderr": "true", "tail": "all" if tail is None else str(tail)}
    if timestamps:
        params["timestamps"] = "true"
    if since is not None:
        params["since"] = f"{since:.9f}"  # unix seconds; both engines take a fraction
    return params


def _listing_order(info: ContainerInfo) -> tuple[bool, str, str, int]:
    """Containers before sandboxes (so removing in list order works), then by pod and name."""
    return (info.is_sandbox, info.pod_uid, info.container_name, info.attempt)


def _decode_event(line: bytes) -> ContainerEvent | None:
    """One event line as a ContainerEvent, or None if it is not about a container we follow."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    action = str(data.get("Action") or data.get("status") or "").split(":")[0]
    if action not in EVENT_ACTIONS:
        return None
    actor = data.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    nanos = data.get("timeNano")
    return ContainerEvent(
        container_id=str(actor.get("ID") or data.get("id") or ""),
        action=action,
        pod_uid=str(attributes.get(L.POD_UID, "")),
        time=nanos / 1e9 if isinstance(nanos, int) else float(data.get("time") or 0),
    )
