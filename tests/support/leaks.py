"""The suite's guard against tokens in logs (docs/security.md, "Audit log" and issue 15's "after
the whole suite, no token appears in any log file").

Every server the test support starts registers its admin token and join secret (`remember`)
and the log files it and its agents write (`remember_log`). tests/conftest.py then looks for
those secrets, and for any valid node token of those join secrets, in every test's captured
output (the logs of in-process servers and agents) as each test ends, and in every registered
file when the session ends; a find fails the session, naming the file or test and which kind of
secret, never the secret itself.

Searching is linear in the text, whatever the number of servers: runs of token characters are
looked up in a set of the secrets, and `node.<name>.<hmac>` matches are checked against each
join secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nodeagent.api.tokens import node_of_token

# secrets.token_urlsafe's alphabet; runs at least as long as the shortest secret are candidates
_RUN = re.compile(r"[A-Za-z0-9_-]{16,}")
_NODE_TOKEN = re.compile(r"node\.[a-z0-9.-]+\.[0-9a-f]{64}")


@dataclass
class _Known:
    secrets: dict[str, str] = field(default_factory=dict)  # secret -> what it is
    join_secrets: set[str] = field(default_factory=set)
    logs: set[Path] = field(default_factory=set)


KNOWN = _Known()


def remember(*, admin_token: str, join_secret: str) -> None:
    """A server's secrets: none of them may appear in any log."""
    KNOWN.secrets[admin_token] = "an admin token"
    KNOWN.secrets[join_secret] = "a join secret"
    KNOWN.join_secrets.add(join_secret)


def remember_log(path: Path) -> None:
    """A log file to scan at the end of the session (it may not exist yet, or ever)."""
    KNOWN.logs.add(path)


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
    for match in _NODE_TOKEN.finditer(text):
        if any(node_of_token(secret, match.group()) for secret in KNOWN.join_secrets):
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
