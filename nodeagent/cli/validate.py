"""`nodeagent validate FILE...`: decode, default and validate Pod, DaemonSet, ConfigMap, Secret,
Namespace, ServiceAccount and RBAC (Role, ClusterRole and their bindings) manifests as the
server would, one line per object or error.

Valid objects print `FILE: ok (Kind namespace/name)` on stdout; every problem prints on
stderr as `FILE: field.path: message` (decode errors `FILE:LINE:COL: message`). Exit 0 when
all are valid, 1 when any is not, 2 when a file cannot be read (that wins over 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nodeagent.api.decode import DecodeError, decode_documents
from nodeagent.api.defaults import default_object
from nodeagent.api.meta import name_of, namespace_of
from nodeagent.api.schema import unknown_fields
from nodeagent.api.typecheck import type_errors
from nodeagent.api.validation import validate_object

# the kinds a manifest of a DaemonSet brings along (its Namespace, ConfigMaps, Secrets and
# ServiceAccount)
SUPPORTED_KINDS = (
    "Pod",
    "DaemonSet",
    "ConfigMap",
    "Secret",
    "Namespace",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
)
EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="manifest files (YAML or JSON, several documents allowed); - reads stdin",
    )


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def check_text(text: str, source: str) -> tuple[list[str], list[str]]:
    """(ok lines, error lines) for one file's text."""
    try:
        objects = decode_documents(text, source=source)
    except DecodeError as exc:
        return [], [str(exc)]
    if not objects:
        return [], [f"{source}: no objects found"]
    oks: list[str] = []
    problems: list[str] = []
    for obj in objects:
        kind = obj.get("kind")
        if not isinstance(kind, str) or not kind:
            problems.append(f"{source}: kind: Required value")
            continue
        if kind not in SUPPORTED_KINDS:
            problems.append(f"{source}: kind {kind} is not supported here")
            continue
        defaulted = default_object(obj)
        # as the server: a wrongly typed field (a Secret value that is not base64) first
        errors = type_errors(obj) or validate_object(defaulted)
        problems.extend(f"{source}: {error}" for error in errors)
        # kubectl sends fieldValidation=Strict: a misspelt field fails `kubectl apply` too.
        unknown = [f"{source}: {path}: unknown field" for path in unknown_fields(obj)]
        problems.extend(unknown)
        if not errors and not unknown:
            where = "/".join(p for p in (namespace_of(defaulted), name_of(defaulted)) if p)
            oks.append(f"{source}: ok ({kind} {where})")
    return oks, problems


def run(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            text = _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"nodeagent validate: cannot read {path}: {reason}", file=sys.stderr)
            status = EXIT_UNREADABLE
            continue
        oks, problems = check_text(text, "<stdin>" if path == "-" else path)
        for line in oks:
            print(line)
        for line in problems:
            print(line, file=sys.stderr)
        if problems and status == EXIT_OK:
            status = EXIT_INVALID
    return status
