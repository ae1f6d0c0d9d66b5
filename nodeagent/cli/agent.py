"""`nodeagent agent`: flags -> AgentSettings -> run_agent, with SIGTERM/SIGINT as a clean stop."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from nodeagent import log as logsetup
from nodeagent.agent.settings import SettingsError, load_settings
from nodeagent.cli.nodeflags import add_node_flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--config", metavar="FILE", help="YAML config file (flags override it)")
    a("--node-name", help="this node's name (default: the hostname)")
    a("--manifest-dir", help="static pod manifests (default /etc/nodeagent/manifests)")
    a("--state-dir", help="checkpoints and pod volumes (default /var/lib/nodeagent)")
    a(
        "--server",
        dest="server_url",
        metavar="URL",
        help="the nodeagent server, https://HOST:PORT; several (on one etcd) comma-separated",
    )
    a("--token-file", help="file holding the fleet's join secret")
    a(
        "--ca-file",
        help="the fleet CA (the server's ca.crt): verifies the server, and the server's client "
        "certificate on the serving port (without it the serving port stays closed)",
    )
    a("--runtime-socket", help="Docker-API socket of podman or dockerd")
    a(
        "--listen",
        metavar="HOST:PORT",
        help="plain HTTP: /healthz, /readyz; /pods, /metrics on loopback (default 0.0.0.0:10248)",
    )
    a(
        "--serving-listen",
        metavar="HOST:PORT",
        help="TLS for the server's logs/exec/attach, with a certificate the server signs "
        "(default 0.0.0.0:10250; port 0: any free one)",
    )
    a("--manifest-url", help="a URL polled for a manifest, like kubelet --manifest-url")
    add_node_flags(parser)
    a("--log-level", choices=("debug", "info", "warning", "error"))


FIELDS = (
    "node_name",
    "manifest_dir",
    "state_dir",
    "server_url",
    "token_file",
    "ca_file",
    "runtime_socket",
    "listen",
    "serving_listen",
    "manifest_url",
    "labels",
    "taints",
    "log_level",
)


def run(args: argparse.Namespace) -> int:
    overrides = {name: getattr(args, name, None) for name in FIELDS}
    try:
        settings = load_settings(config_file=args.config, overrides=overrides)
    except SettingsError as e:
        for line in e.errors:
            print(f"nodeagent agent: {line}", file=sys.stderr)
        return 2
    logsetup.configure(level=settings.log_level)
    from nodeagent.agent.daemon import run_agent

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_agent(settings, stop=stop)

    asyncio.run(main())
    return 0
