"""Debian's docker-registry on 127.0.0.1:<free port>, storage in a temp dir, for pull tests."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CONFIG = """\
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {address}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(kw_only=True)
class LocalRegistry:
    """A running plain-HTTP registry; `address` is host:port (insecure for podman)."""

    base_dir: Path
    address: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, base_dir: Path, *, timeout: float = 20.0) -> LocalRegistry:
        """Write the config, start the registry and wait until GET /v2/ answers."""
        base_dir.mkdir(parents=True, exist_ok=True)
        registry = cls(base_dir=base_dir, address=f"127.0.0.1:{free_port()}")
        config = base_dir / "config.yml"
        config.write_text(CONFIG.format(root=base_dir / "data", address=registry.address))
        log = (base_dir / "registry.log").open("wb")
        registry.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not registry.ready():
            if registry.process.poll() is not None or time.monotonic() > deadline:
                registry.stop()
                text = (base_dir / "registry.log").read_text(errors="replace")
                raise RuntimeError(f"registry at {registry.address} did not start:\n{text}")
            time.sleep(0.05)
        return registry

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1) as response:
                return int(response.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
