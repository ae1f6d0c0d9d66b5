"""The flags that give a node its labels and taints at registration, shared by `nodeagent
agent` and `nodeagent all-in-one` (kubelet's --node-labels and --register-with-taints)."""

from __future__ import annotations

import argparse


def add_node_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label",
        dest="labels",
        action="append",
        metavar="K=V",
        help="node label (repeatable; kubelet's set only in kubernetes.io)",
    )
    parser.add_argument(
        "--taint",
        dest="taints",
        action="append",
        metavar="K=V:EFFECT",
        help="node taint set at registration (repeatable)",
    )
