"""Pull policies against a real registry on 127.0.0.1 (plain HTTP, allowed as insecure)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nodeagent.runtime.docker import DockerRuntime, connect_runtime
from nodeagent.runtime.protocol import ImagePullError
from tests.support.podman import PodmanService, busybox_image
from tests.support.registry import LocalRegistry

pytestmark = pytest.mark.podman


@pytest.fixture
async def pull_runtime(puller: PodmanService) -> AsyncIterator[DockerRuntime]:
    rt = await connect_runtime(puller.socket_path)
    yield rt
    await rt.close()


def push(source: PodmanService, image: str, target: str) -> None:
    source.podman("push", "--tls-verify=false", image, target)


def image_id(service: PodmanService, ref: str) -> str:
    return service.podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


async def test_never_if_not_present_and_always(
    pull_runtime: DockerRuntime,
    puller: PodmanService,
    podman_service: PodmanService,
    busybox: str,
    image_registry: LocalRegistry,
) -> None:
    """Never refuses a missing image; IfNotPresent pulls once and then keeps what it has;
    Always fetches the tag's new content."""
    ref = f"{image_registry.address}/tools/busybox:1"
    push(podman_service, busybox, ref)
    with pytest.raises(ImagePullError) as never:
        await pull_runtime.ensure_image(ref, pull_policy="Never")
    assert never.value.reason == "ErrImageNeverPull"

    pulls: list[str] = []
    pulled = await pull_runtime.ensure_image(
        ref, pull_policy="IfNotPresent", on_pull=lambda: pulls.append(ref)
    )
    assert pulls == [ref]  # told before the pull (kubelet's Pulling event)
    assert pulled.pulled
    assert pulled.seconds > 0
    first = image_id(puller, ref)
    size = int(puller.podman("image", "inspect", "--format", "{{.Size}}", ref).stdout)
    assert pulled.size == size
    present = await pull_runtime.ensure_image(
        ref, pull_policy="Never", on_pull=lambda: pulls.append(ref)
    )
    assert (present.pulled, present.size, pulls) == (False, size, [ref])  # present now

    changed = busybox_image(podman_service, "localhost/busybox:v2", changes=('CMD ["/bin/true"]',))
    push(podman_service, changed, ref)
    assert not (await pull_runtime.ensure_image(ref, pull_policy="IfNotPresent")).pulled
    assert image_id(puller, ref) == first
    assert (await pull_runtime.ensure_image(ref, pull_policy="Always")).pulled
    assert image_id(puller, ref) != first
    assert image_id(puller, ref) == image_id(podman_service, changed)


async def test_missing_image_and_secure_only_engine_fail_with_err_image_pull(
    pull_runtime: DockerRuntime,
    podman_service: PodmanService,
    busybox: str,
    image_registry: LocalRegistry,
) -> None:
    """A tag the registry lacks is ErrImagePull; an engine not told the registry is insecure
    refuses plain HTTP with ErrImagePull too."""
    with pytest.raises(ImagePullError) as missing:
        await pull_runtime.ensure_image(
            f"{image_registry.address}/nope:1", pull_policy="IfNotPresent"
        )
    assert missing.value.reason == "ErrImagePull"
    assert "nope" in str(missing.value)

    ref = f"{image_registry.address}/tools/secure-only:1"
    push(podman_service, busybox, ref)
    strict = await connect_runtime(podman_service.socket_path)
    try:
        with pytest.raises(ImagePullError) as refused:
            await strict.ensure_image(ref, pull_policy="Always")
        assert refused.value.reason == "ErrImagePull"
    finally:
        await strict.close()
