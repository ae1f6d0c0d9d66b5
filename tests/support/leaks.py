"""The suite's guard against tokens in logs (docs/security.md, "Audit log", and issue 15's
"after the whole suite, no token appears in any log file").

Every server the test support starts registers its admin token and join secret (`remember`),
node tokens it hands out (`remember_secret`), the credentials its agent processes keep
(`remember_secrets_under`, at their exit) and the log files they all write (`remember_log`).
tests/conftest.py then looks for those secrets, and for any node token of the HMAC scheme made
from a known join secret, in every test's captured output (the logs of in-process servers and
agents) as each test ends, and in every registered file when the session ends; a find fails the
session, naming the file or test and the kind of secret, never the secret itself.

Under pytest-xdist each worker knows only its own tests' secrets and logs: it checks its tests'
output itself and hands what it knows to the controller as it ends (`exported`), which merges
every worker's (`merge`) and checks all the log files against all the secrets.

Searching is linear in the text, whatever the number of secrets: runs of token characters are
looked up in a dict of the secrets, and `node.<name>.<hmac>` matches are checked against each
join secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# secrets.token_urlsafe's alphabet (and hex); runs as long as the shortest secret are candidates
_RUN = re.compile(r"[A-Za-z0-9_-]{16,}")
_HMAC_NODE_TOKEN = re.compile(r"node\.([a-z0-9.-]+)\.([0-9a-f]{64})")
MIN_SECRET = 16  # a shorter value could match by chance
# a file under a data or state dir whose name holds one of these keeps a credential
CREDENTIAL_WORDS = ("token", "key", "password", "credential", "secret")


@dataclass
class _Known:
    secrets: dict[str, str] = field(default_factory=dict)  # secret -> what it is
    join_secrets: set[str] = field(default_factory=set)
    logs: set[Path] = field(default_factory=set)


KNOWN = _Known()


def remember(*, admin_token: str, join_secret: str) -> None:
    """A server's secrets: none of them may appear in any log."""
    remember_secret(admin_token, "an admin token")
    remember_secret(join_secret, "a join secret")
    KNOWN.join_secrets.add(join_secret)


def exported() -> dict[str, Any]:
    """What this process knows, in plain types (to go from an xdist worker to the controller)."""
    return {
        "secrets": dict(KNOWN.secrets),
        "join_secrets": sorted(KNOWN.join_secrets),
        "logs": sorted(str(p) for p in KNOWN.logs),
    }


def merge(known: dict[str, Any]) -> None:
    """Add what another process knew (`exported`) to what this one knows."""
    KNOWN.secrets.update(known["secrets"])
    KNOWN.join_secrets.update(known["join_secrets"])
    KNOWN.logs.update(Path(p) for p in known["logs"])


def remember_secret(value: str, kind: str) -> None:
    # The search looks at runs of token characters: a node token (nodecred.<node>.<secret>) is
    # found by its secret part, a line of a PEM key (base64: + and / split it) by its runs.
    last = value.rpartition(".")[2]
    for part in {value, last, *_RUN.findall(last)}:
        if len(part) >= MIN_SECRET:
            KNOWN.secrets[part] = kind


def remember_log(path: Path) -> None:
    """A log file to scan at the end of the session (it may not exist yet, or ever)."""
    KNOWN.logs.add(path)


def secrets_under(*dirs: Path) -> set[str]:
    """The credentials kept under data or state dirs: the lines of every file named like a
    credential (admin-token, node-token, *.key, node-password...), and the string values of
    the token, password and secret fields of such a JSON file (node-credential.json)."""
    found: set[str] = set()
    for d in dirs:
        for path in d.rglob("*") if d.is_dir() else []:
            if not path.is_file() or not any(w in path.name for w in CREDENTIAL_WORDS):
                continue
            text = path.read_text(errors="replace")
            if path.suffix == ".json":
                found |= _secret_fields(json.loads(text))
                continue
            for line in text.splitlines():
                line = line.strip()
                if len(line) >= MIN_SECRET and not line.startswith("-----"):  # PEM armour
                    found.add(line)
    return found


def _secret_fields(value: Any, key: str = "") -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_secret_fields(v, str(k)) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(_secret_fields(v, key) for v in value))
    wanted = any(w in key.lower() for w in ("token", "password", "secret"))
    return {value} if wanted and isinstance(value, str) and len(value) >= MIN_SECRET else set()


def remember_secrets_under(*dirs: Path) -> None:
    for value in secrets_under(*dirs):
        remember_secret(value, "a credential from a data or state dir")


def leaks_in(text: str) -> list[str]:
    """What kinds of known secrets `text` holds (empty when none)."""
    found = []
    lengths = {len(s) for s in KNOWN.secrets}
    for match in _RUN.finditer(text):
        run = match.group()
        for n in lengths:
            for i in range(len(run) - n + 1):
                kind = KNOWN.secrets.get(run[i : i + n])
                if kind is not None:
                    found.append(kind)
    for match in _HMAC_NODE_TOKEN.finditer(text):
        name, mac = match.group(1).encode(), match.group(2)
        for secret in KNOWN.join_secrets:
            expected = hmac.new(secret.encode(), name, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, mac):
                found.append("a node token")
    return sorted(set(found))


def leaks_in_files() -> dict[Path, list[str]]:
    """Every registered log file (and its rotated copies) that holds a known secret."""
    out: dict[Path, list[str]] = {}
    for log in sorted(KNOWN.logs):
        for path in sorted(log.parent.glob(log.name + "*")) if log.parent.is_dir() else []:
            kinds = leaks_in(path.read_text(errors="replace"))
            if kinds:
                out[path] = kinds
    return out
