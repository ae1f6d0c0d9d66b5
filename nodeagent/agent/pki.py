"""The agent's serving key and certificate on disk, and when to renew them.

Owns STATE/pki/ (0700): serving.key (ECDSA P-256, 0600; a new one with every certificate, as
kubelet's certificate manager makes one per CSR) and serving.crt (what the server signed); the
key of a request in flight is serving.key.new, and its certificate serving.crt.new, until they
are checked and installed. `new_request` and `install` run csrtool.py in a child process (the
agent never imports cryptography); `rotation_deadline` is kubelet's certificate manager's: a
jittered 70-90 % of the certificate's life (pure, with the jitter passed in). Talking to the
server is servingport.py's job.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from nodeagent.privatefiles import PUBLIC_FILE, ensure_private_dir, write_private

PKI_DIR = "pki"
KEY_FILE = "serving.key"
CERT_FILE = "serving.crt"
ROTATE_FROM = 0.7  # kubelet renews at 70-90 % of the certificate's life, jittered
ROTATE_SPREAD = 0.2


class PKIError(Exception):
    """A key, CSR or certificate could not be made or read; the message says which and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingFiles:
    """Where this agent keeps its serving key and certificate."""

    key: Path
    cert: Path

    @classmethod
    def under(cls, state_dir: str) -> ServingFiles:
        base = Path(state_dir) / PKI_DIR
        return cls(key=base / KEY_FILE, cert=base / CERT_FILE)

    @property
    def new_key(self) -> Path:
        return self.key.with_name(self.key.name + ".new")


async def _csrtool(*args: str) -> bytes:
    """Run csrtool.py with `args`; its stdout, or PKIError with its last line of stderr."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nodeagent.agent.csrtool", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await child.communicate()
    if child.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or [
            f"exit {child.returncode}"
        ]
        raise PKIError(last[0])
    return out


async def new_request(files: ServingFiles, *, node_name: str, names: list[str]) -> bytes:
    """A new key in serving.key.new (0600, in the 0700 pki directory) and the PEM CSR for it."""
    await asyncio.to_thread(ensure_private_dir, files.key.parent)
    return await _csrtool("request", str(files.new_key), node_name, *names)


async def install(files: ServingFiles, cert_pem: bytes) -> tuple[float, float]:
    """The certificate for serving.key.new arrived: once it is checked to be for that key, the
    two become serving.key and serving.crt (key first: after a crash between the two renames
    the pair does not load, and the next start asks again). Its (notBefore, notAfter)."""
    new_cert = files.cert.with_name(files.cert.name + ".new")
    await asyncio.to_thread(write_private, new_cert, cert_pem, mode=PUBLIC_FILE)
    out = await _csrtool("check", str(new_cert), str(files.new_key))
    not_before, not_after = (float(t) for t in out.split())
    os.replace(files.new_key, files.key)
    os.replace(new_cert, files.cert)
    return not_before, not_after


def rotation_deadline(*, not_before: float, not_after: float, jitter: float) -> float:
    """PURE: when to ask for the next certificate: ROTATE_FROM + jitter x ROTATE_SPREAD of the
    way from not_before to not_after (jitter in [0, 1); kubelet's nextRotationDeadline)."""
    return not_before + (not_after - not_before) * (ROTATE_FROM + ROTATE_SPREAD * jitter)
