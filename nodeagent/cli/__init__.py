"""The `nodeagent` command line: one subcommand per module, imported only when it runs.

Each subcommand module exposes `add_arguments(parser)` and `run(args) -> int`. Modules are
imported lazily so that `nodeagent agent` never pays for the server's imports (resident
memory on every host is a goal: docs/performance.md), and structlog is imported first, without
`rich` (nodeagent.log.import_structlog).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from nodeagent import __version__
from nodeagent.log import import_structlog

# (subcommand, module under nodeagent.cli, help). Rules as data: a row per command.
SUBCOMMANDS: tuple[tuple[str, str, str], ...] = (
    ("agent", "agent", "run the node agent (a small kubelet) on this host"),
    ("server", "server", "run the control plane (Kubernetes API for nodes, pods, DaemonSets)"),
    ("all-in-one", "allinone", "run the server and an agent in one process on this host"),
    ("validate", "validate", "check manifests as the server would"),
    ("version", "version", "print the version"),
)


class _Subcommand(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


def _load(module: str) -> _Subcommand:
    return cast(_Subcommand, importlib.import_module(f"nodeagent.cli.{module}"))


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Build the root parser; only the chosen subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="nodeagent",
        description="A DaemonSet engine for fleets of Linux hosts, driven by kubectl.",
    )
    parser.add_argument("--version", action="version", version=f"nodeagent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, module, help_text in SUBCOMMANDS:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(module=module)
        if name == chosen:
            _load(module).add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import_structlog()  # before any subcommand module imports it (with rich, 5.5 MiB more)
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    if not getattr(args, "module", None):
        parser.print_help()
        return 2
    return _load(args.module).run(args)
