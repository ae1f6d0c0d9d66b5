"""`nodeagent version`: print the release and the Kubernetes API version it follows."""

from __future__ import annotations

import argparse

from nodeagent import KUBERNETES_VERSION, __version__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    del args
    print(f"nodeagent {__version__} (Kubernetes API {KUBERNETES_VERSION})")
    return 0
