"""`nodeagent agent`: not built yet."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    del args
    print("nodeagent: this command is not built yet", file=sys.stderr)
    return 2
