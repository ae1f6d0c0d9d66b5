"""A private podman API service and a local busybox image, for tests on real containers.

Each PodmanService has its own storage, run and tmp dirs and its own containers.conf (runc,
cgroupfs, 1024 open files), so several can run side by side, one per simulated host (netns).
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

REGISTRIES_HEAD = """\
unqualified-search-registries = []
short-name-mode = "permissive"
"""

REGISTRY_ENTRY = """
[[registry]]
location = "{location}"
insecure = true
"""

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def registries_conf(insecure: tuple[str, ...] = ()) -> str:
    """The text of a registries.conf that allows plain-HTTP pulls from `insecure` (host:port)."""
    return REGISTRIES_HEAD + "".join(REGISTRY_ENTRY.format(location=loc) for loc in insecure)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def ping(socket_path: str, *, timeout: float = 1.0) -> bool:
    """True when a Docker-API engine answers GET /_ping with 200 on `socket_path`."""
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass(kw_only=True)
class PodmanService:
    """One running `podman system service` with private dirs; start() it, stop() it."""

    base_dir: Path
    netns: str | None = None
    storage_driver: str = "vfs"
    insecure_registries: tuple[str, ...] = ()
    run_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="podman-")))
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # podman refuses a runroot longer than 50 characters and a unix socket path has at most 107,
    # so the run state and the socket live in a short dir of their own (run_dir), the storage
    # and config under base_dir.

    @property
    def socket_path(self) -> str:
        return str(self.run_dir / "podman.sock")

    @property
    def url(self) -> str:
        return "unix://" + self.socket_path

    @property
    def env(self) -> dict[str, str]:
        """The environment every podman process of this service runs with."""
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.base_dir / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.base_dir / "registries.conf"),
        }

    def _argv(self, *args: str) -> list[str]:
        prefix = ["nsenter", f"--net=/run/netns/{self.netns}"] if self.netns else []
        return [
            *prefix,
            "podman",
            "--root",
            str(self.base_dir / "root"),
            "--runroot",
            str(self.run_dir / "run"),
            "--tmpdir",
            str(self.run_dir / "tmp"),
            "--storage-driver",
            self.storage_driver,
            *args,
        ]

    @classmethod
    def start(
        cls,
        base_dir: Path,
        *,
        netns: str | None = None,
        storage_driver: str = "vfs",
        insecure_registries: tuple[str, ...] = (),
        timeout: float = 30.0,
    ) -> PodmanService:
        """Write the config, start the service and wait until /_ping answers (or raise)."""
        service = cls(
            base_dir=base_dir,
            netns=netns,
            storage_driver=storage_driver,
            insecure_registries=insecure_registries,
        )
        base_dir.mkdir(parents=True, exist_ok=True)
        (base_dir / "containers.conf").write_text(CONTAINERS_CONF)
        (base_dir / "registries.conf").write_text(registries_conf(insecure_registries))
        log = (base_dir / "service.log").open("wb")
        service.process = subprocess.Popen(
            service._argv("system", "service", "--time=0", service.url),
            env=service.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=base_dir,  # conmon writes an `oom` marker file into its working directory
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not ping(service.socket_path):
            if service.process.poll() is not None or time.monotonic() > deadline:
                service.stop()
                text = (base_dir / "service.log").read_text(errors="replace")
                raise RuntimeError(f"podman service in {base_dir} did not answer /_ping:\n{text}")
            time.sleep(0.05)
        return service

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the podman CLI against this service's storage (same root, runroot and config)."""
        result = subprocess.run(
            self._argv(*args), env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed: {result.stderr}")
        return result

    def remove_node_containers(self, node: str) -> None:
        """Remove every container an agent of `node` made (agents leave them on stop)."""
        label = f"label=io.nodeagent.node={node}"
        ids = self.podman("ps", "-aq", "--filter", label, check=False).stdout.split()
        if ids:
            self.podman("rm", "-f", "-t", "0", *ids, check=False)

    def stop(self) -> None:
        """Remove every container, then end the service and its process group.

        The podman CLI works on the storage directly, so containers are removed (their conmon
        and exec sessions end with them) even when the service itself already died.
        """
        if self.process is None:
            return
        clear_containers(self._argv(), self.env)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        _unmount_under(self.base_dir, self.run_dir)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def bridge_gateway(service: PodmanService) -> str:
    """The gateway of the engine's default bridge network (podman: 10.88.0.1), as the agent
    asks for it (GET /networks/bridge): the host's address that pods on the bridge reach."""
    conn = _UnixHTTPConnection(service.socket_path, 10.0)
    try:
        conn.request("GET", "/networks/bridge")
        body = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return str(body["IPAM"]["Config"][0]["Gateway"])


def clear_containers(podman: list[str], env: dict[str, str]) -> None:
    """Remove every container; a pod's sandbox goes on a later pass than the containers that
    share its namespaces (podman 4.3's `rm --all` refuses it while they exist)."""
    for _ in range(4):
        subprocess.run([*podman, "rm", "--all", "--force", "--time", "0"], env=env,
                       capture_output=True, check=False)  # fmt: skip
        left = subprocess.run([*podman, "ps", "--all", "--quiet"], env=env, capture_output=True,
                              text=True, check=False)  # fmt: skip
        if left.returncode != 0 or not left.stdout.strip():
            return


def _unmount_under(*dirs: Path) -> None:
    """Lazily unmount whatever a killed engine left mounted under `dirs` (shm, overlay)."""
    prefixes = tuple(str(d.resolve()) + "/" for d in dirs)
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    for point in sorted(points, key=len, reverse=True):
        if point.startswith(prefixes):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def default_cache() -> Path:
    """Where the busybox tarball is kept between runs (shared by every test process)."""
    return Path(tempfile.gettempdir()) / "nodeagent-test-cache"


def busybox_tarball(cache: Path | None = None) -> Path:
    """A rootfs tarball with busybox-static and a symlink per applet, cached across runs.

    Hosts start in parallel (threads and processes) and `podman import` may open the path more
    than once, so the tarball is made at most once, under a lock, and appears whole under its
    name by an atomic rename: no import ever reads a half-written file or one replaced under it.
    """
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    digest = hashlib.sha256(busybox.read_bytes() + PASSWD.encode()).hexdigest()[:16]
    cache = cache or default_cache()
    cache.mkdir(exist_ok=True)
    tarball = cache / f"busybox-rootfs-{digest}.tar"
    if tarball.exists():
        return tarball
    with (cache / f"busybox-rootfs-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not tarball.exists():  # another thread or process may have made it meanwhile
            _write_busybox_tarball(busybox, cache, tarball)
    return tarball


def _write_busybox_tarball(busybox: Path, cache: Path, tarball: Path) -> None:
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        root = Path(tmp) / "rootfs"
        for sub in ("bin", "etc", "tmp", "root", "var/www", "proc", "sys", "dev"):
            (root / sub).mkdir(parents=True)
        (root / "tmp").chmod(0o1777)
        shutil.copy2(busybox, root / "bin" / "busybox")
        for applet in applets:
            if applet != "busybox":
                (root / "bin" / applet).symlink_to("busybox")
        (root / "etc" / "passwd").write_text(PASSWD)
        (root / "etc" / "group").write_text(GROUP)
        partial = Path(tmp) / "rootfs.tar"
        with tarfile.open(partial, "w") as tar:
            tar.add(root, arcname=".")
        partial.rename(tarball)


def busybox_image(
    service: PodmanService,
    tag: str = "localhost/busybox:1",
    *,
    changes: tuple[str, ...] = (),
    cache: Path | None = None,
) -> str:
    """Import busybox-static as `tag` (no PATH in its config) unless present; returns the tag.

    `changes` are Dockerfile instructions for `podman import --change`, e.g.
    'ENTRYPOINT ["/bin/echo"]'. `cache`: where the tarball is kept (default_cache()).
    """
    if service.podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    flags = [arg for change in changes for arg in ("--change", change)]
    service.podman("import", *flags, str(busybox_tarball(cache)), tag)
    return tag


def tag_image(service: PodmanService, src: str, dst: str) -> str:
    """Give the image `src` the extra name `dst`; returns dst."""
    service.podman("tag", src, dst)
    return dst
