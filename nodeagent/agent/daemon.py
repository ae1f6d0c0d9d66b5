"""Wiring only: the agent's named root tasks in one TaskGroup; a stop leaves the pods running.

Tasks: http, file-source, url-source, merge, runtime (connect, then reconcile, events and
volume-sync: ConfigMap/Secret/downward API volume files written again on a change), server-sync
(when a server is configured; it runs the TLS serving port and the object watches too),
sd-notify, heap-trim, stop. Any task that dies stops them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import structlog
from aiohttp import web

from nodeagent.agent.aio import raise_if_cancelling
from nodeagent.agent.apiendpoint import pod_api_endpoint
from nodeagent.agent.executor import Executor
from nodeagent.agent.heaptrim import run_heap_trim
from nodeagent.agent.hostaddr import internal_ip
from nodeagent.agent.http import AgentMetrics, make_app, make_serving_app
from nodeagent.agent.nodestatus import NodeFacts, build_node
from nodeagent.agent.objectcache import ObjectCache
from nodeagent.agent.podvolumes import PodVolumes
from nodeagent.agent.probers import Prober
from nodeagent.agent.reconciler import Reconciler, follow_runtime_events, merge_updates
from nodeagent.agent.satokens import TokenManager
from nodeagent.agent.settings import AgentSettings
from nodeagent.agent.sources.dirwatch import POLL_SECONDS, PollingReason
from nodeagent.agent.sources.file import run_file_source
from nodeagent.agent.sources.update import SourceName, SourceUpdate
from nodeagent.agent.state import AgentState
from nodeagent.agent.statedirwrites import StateDirWrites
from nodeagent.privatefiles import ensure_private_dir
from nodeagent.runtime.protocol import Runtime, RuntimeError_
from nodeagent.sdnotify import Notifier

log = structlog.get_logger()
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}
RuntimeFactory = Callable[[AgentSettings], Awaitable[Runtime]]
MANIFEST_POLLING_REASON = "ManifestDirectoryPolled"  # the Node Warning event when inotify fails


def _manifest_dir_polled(state: AgentState, directory: str, reason: PollingReason) -> None:
    """inotify could not serve the manifest directory: a Warning event on the Node says why."""
    state.record_node_warning(
        MANIFEST_POLLING_REASON,
        f"the manifest directory {directory} is polled every {POLL_SECONDS:g} s: {reason.message}",
    )


class _Stopped(Exception):
    """Raised by the stop task to end the TaskGroup."""


def local_node(settings: AgentSettings) -> dict[str, object]:
    """This node's own Node object, for DaemonSet manifests' node_should_run."""
    arch = ARCH.get(platform.machine(), platform.machine())
    return build_node(
        node_name=settings.node_name,
        facts=NodeFacts(arch=arch),
        labels=settings.labels,
        taints=settings.taints,
    )


def status_line(state: AgentState) -> str:
    """The one-line summary systemd shows (`systemctl status nodeagent-agent`)."""
    if state.runtime_error:
        return state.runtime_error
    running = sum(1 for r in state.pods.values() if r.status.get("phase") == "Running")
    line = f"{running}/{len(state.pods)} pods running"
    return line + (f", {len(state.rejected)} manifests rejected" if state.rejected else "")


async def _default_runtime(settings: AgentSettings) -> Runtime:
    from nodeagent.runtime.docker import connect_runtime

    return await connect_runtime(settings.runtime_socket, node_name=settings.node_name)


async def _connect(
    settings: AgentSettings,
    state: AgentState,
    factory: RuntimeFactory,
    on_change: Callable[[], None],
) -> Runtime:
    """Connect to the engine, retrying while it is down (the node is NotReady meanwhile)."""
    delay = 0.5
    while True:
        try:
            runtime = await factory(settings)
            info = await runtime.ping()
        except RuntimeError_ as e:
            raise_if_cancelling()
            message = f"container runtime is down: {e}"
            if state.runtime_error != message:
                log.warning("runtime_unavailable", error=str(e))
                state.runtime_error = message
                state.changed.set()
                on_change()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        state.runtime_info = {"name": info.name, "version": info.version}
        log.info("runtime_connected", engine=info.name, version=info.version, socket=info.socket)
        return runtime


async def _bridge_gateway(runtime: Runtime) -> str | None:
    """The engine's bridge gateway (how pods reach this host), None when it cannot say."""
    try:
        return await runtime.bridge_gateway()
    except RuntimeError_ as e:
        raise_if_cancelling()
        log.warning("bridge_gateway_unknown", error=str(e))
        return None


async def run_agent(
    settings: AgentSettings,
    *,
    stop: asyncio.Event | None = None,
    runtime_factory: RuntimeFactory | None = None,
    state: AgentState | None = None,
) -> None:
    """Run the agent until `stop` is set (or a root task fails). Containers keep running."""
    stop = stop or asyncio.Event()
    state = state or AgentState(node_name=settings.node_name)
    state.sources_expected = {SourceName.FILE}
    if settings.server_url:
        state.sources_expected.add(SourceName.API)
    if settings.manifest_url:
        state.sources_expected.add(SourceName.HTTP)
    notifier = Notifier.from_env()
    metrics = AgentMetrics()
    queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()
    host_ip = await asyncio.to_thread(internal_ip, settings.server_url)
    runtime_box: list[Runtime] = []
    status_changed = asyncio.Event()  # wakes the sd-notify loop to send a new STATUS=
    log.info("agent_starting", node=settings.node_name, manifest_dir=settings.manifest_dir)
    # the checkpoint and credentials live here; containers reach their volumes by bind mount
    await asyncio.to_thread(ensure_private_dir, Path(settings.state_dir))

    volumes_changed = asyncio.Event()  # wakes the volume sync (an object changed)
    writes = StateDirWrites(state=state)  # a failed write: StateDirUnwritable, retried
    objects = ObjectCache(state_dir=settings.state_dir, writes=writes)
    await asyncio.to_thread(objects.load_saved)
    tokens = TokenManager()  # projected ServiceAccount tokens; asked through server sync

    def runtime_of() -> Runtime | None:
        return runtime_box[0] if runtime_box else None

    async def serve_http() -> None:
        app = make_app(state=state, runtime_of=runtime_of, metrics_=metrics)
        # handler_cancellation: a `logs -f` whose client left ends instead of following on
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, settings.listen_host, settings.listen_port)
        await site.start()
        log.info("http_listening", listen=settings.listen)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    async def run_runtime(tg: asyncio.TaskGroup) -> None:
        factory = runtime_factory or _default_runtime
        runtime = await _connect(settings, state, factory, status_changed.set)
        runtime_box.append(runtime)
        gateway = await _bridge_gateway(runtime)
        reconciler = Reconciler(
            runtime=runtime,
            state=state,
            host_ip=host_ip,
            executor=Executor(
                runtime=runtime,
                node_name=settings.node_name,
                host_ip=host_ip,
                state_dir=settings.state_dir,
                on_event=state.record_pod_event,
                api_endpoint=lambda host_network: pod_api_endpoint(
                    settings.server_url, host_network=host_network, bridge_gateway=gateway
                ),
            ),
            prober=Prober(runtime=runtime, host_ip=host_ip),
            observe_duration=metrics.reconcile.observe,
            on_change=status_changed.set,
        )
        reconciler.executor.on_done = reconciler.wake.set
        reconciler.executor.objects = objects
        volumes = PodVolumes(volume_dir=reconciler.executor.volume_dir, tokens=tokens)
        reconciler.executor.volumes = volumes

        def objects_changed() -> None:
            reconciler.executor.retry_waiting_on_objects()
            reconciler.wake.set()
            volumes_changed.set()

        def source_update(update: SourceUpdate) -> None:
            if update.source is SourceName.FILE:
                objects.set_file_objects(dict(update.objects))
            elif update.source is SourceName.API:
                objects.want_for_pods(update.pods)

        objects.on_change = objects_changed
        reconciler.on_update = source_update

        async def sync_volumes() -> None:
            """An object's change reaches the mounted files at once; a pod's labels and
            annotations (downward API) at the next resync."""
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(settings.sync_interval):
                        await volumes_changed.wait()
                volumes_changed.clear()
                live = [d.pod for d in reconciler.known.values() if not d.terminating]
                await volumes.resync((p, objects.objects_for(p)) for p in live)

        tg.create_task(sync_volumes(), name="volume-sync")
        reconciler.prober.on_change = reconciler.wake.set
        reconciler.prober.on_failure = metrics.probe_failures.inc
        tg.create_task(merge_updates(queue, reconciler), name="merge")
        tg.create_task(follow_runtime_events(runtime, reconciler.wake), name="runtime-events")
        notifier.ready(status="reconciling")
        try:
            await reconciler.run(interval=settings.sync_interval)
        finally:
            await reconciler.prober.cancel()
            await reconciler.executor.cancel()  # in-flight starts/stops end; containers stay
            with contextlib.suppress(Exception):
                await runtime.close()

    async def sd_loop() -> None:
        """WATCHDOG=1 at half of WATCHDOG_USEC, and STATUS= whenever the summary changes: it
        sleeps until one of them is due (it polled every second)."""
        if not notifier.enabled:
            await asyncio.Event().wait()
        last = ""
        while True:
            status_changed.clear()
            if notifier.watchdog_interval is not None:
                notifier.watchdog()
            line = status_line(state)
            if line != last:
                notifier.status(line)
                last = line
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(notifier.watchdog_interval):
                    await status_changed.wait()

    async def wait_stop() -> None:
        await stop.wait()
        raise _Stopped

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(serve_http(), name="http")
            tg.create_task(
                run_file_source(
                    directory=settings.manifest_dir,
                    node=local_node(settings),
                    queue=queue,
                    rescan_interval=settings.file_check_interval,
                    force_polling=settings.manifest_watch == "poll",
                    on_polling=partial(_manifest_dir_polled, state, settings.manifest_dir),
                ),
                name="file-source",
            )
            if settings.manifest_url:
                from nodeagent.agent.sources.url import run_url_source

                tg.create_task(
                    run_url_source(
                        url=settings.manifest_url,
                        node=local_node(settings),
                        queue=queue,
                        interval=settings.manifest_url_interval,
                    ),
                    name="url-source",
                )
            if settings.server_url:
                from nodeagent.agent.serversync import run_server_sync
                from nodeagent.agent.servingport import ServingPort

                serving = ServingPort(
                    app=make_serving_app(state=state, runtime_of=runtime_of, metrics_=metrics),
                    state=state,
                    node_name=settings.node_name,
                    state_dir=settings.state_dir,
                    ca_file=settings.ca_file,
                    host=settings.serving_host,
                    port=settings.serving_port,
                    names=[host_ip, settings.node_name, socket.gethostname().lower()],
                )
                tg.create_task(
                    run_server_sync(
                        settings=settings,
                        state=state,
                        queue=queue,
                        serving=serving,
                        objects=objects,
                        tokens=tokens,
                        writes=writes,
                    ),
                    name="server-sync",
                )
            else:
                log.info("serving_port_disabled", reason="no server to sign its certificate")
            tg.create_task(run_runtime(tg), name="runtime")
            tg.create_task(sd_loop(), name="sd-notify")
            tg.create_task(run_heap_trim(), name="heap-trim")
            tg.create_task(writes.run(), name="state-dir-retry")
            tg.create_task(wait_stop(), name="stop")
    except* _Stopped:
        pass
    finally:
        notifier.stopping()
        log.info("agent_stopped", node=settings.node_name)
