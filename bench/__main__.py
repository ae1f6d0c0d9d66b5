"""`python -m bench [--smoke] [NAME ...]`: run the benchmarks and print their figures.

Each benchmark module has `run(**size) -> list[Figure]`; SIZES gives the full and the smoke
(smallest) size. The test suite runs every benchmark once with --smoke so they do not rot.
Benchmarks print figures; they never fail on a time.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any, cast

from bench.report import Figure, print_figures
from nodeagent.log import configure

# name -> (module, full-size kwargs, smoke kwargs). Rules as data.
SIZES: Mapping[str, tuple[str, Mapping[str, Any], Mapping[str, Any]]] = {
    "plan": ("bench.plan_bench", {"pods": 1000, "repeats": 50}, {"pods": 50, "repeats": 3}),
    "store": (
        "bench.store_bench",
        {"pods": 2000, "nodes": 100, "repeats": 20},
        {"pods": 50, "nodes": 5, "repeats": 2},
    ),
    "manifest": ("bench.manifest_bench", {"runs": 20}, {"runs": 1}),
    "etcd": ("bench.etcd_bench", {"pods": 2000, "rounds": 5}, {"pods": 20, "rounds": 1}),
    "fanout": (
        "bench.fanout_bench",
        {"nodes": (100, 1000, 5000), "per_process": 500},
        {"nodes": (10,), "per_process": 10},
    ),
    "capacity": (
        "bench.capacity_bench",
        {"agents": (1000, 5000, 10000), "per_process": 5000, "seconds": 30.0},
        {"agents": (50,), "per_process": 50, "seconds": 3.0},
    ),
    "watchencode": (
        "bench.watchencode_bench",
        {"nodes": 1000, "watchers": (1, 10), "events": 1000, "rounds": 10},
        {"nodes": 10, "watchers": (1,), "events": 20, "rounds": 1},
    ),
    "servers": (
        "bench.servers_bench",
        {"agents": (1000, 5000), "per_process": 1000, "seconds": 30.0},
        {"agents": (4,), "per_process": 2, "seconds": 2.0, "lease_interval": 0.5},
    ),
    "heartbeat": (
        "bench.heartbeat_bench",
        {"agents": (500,), "per_process": 500, "settle": 12.0, "seconds": 20.0},
        {"agents": (5,), "per_process": 5, "settle": 1.0, "seconds": 2.0},
    ),
    "requestcost": (
        "bench.requestcost_bench",
        {"nodes": 200, "samples": 10, "rounds": 5},
        {"nodes": 3, "samples": 2, "rounds": 1},
    ),
    "pressure": ("bench.pressure_bench", {"runs": 5}, {"runs": 1}),
    "nodegraph": (
        "bench.nodegraph_bench",
        {"pods": 2000, "per_node": (10, 100), "repeats": 200},
        {"pods": 20, "per_node": (10,), "repeats": 2},
    ),
    "rbac": ("bench.rbac_bench", {"bindings": 1000, "repeats": 50}, {"bindings": 10, "repeats": 2}),
    "audit": ("bench.audit_bench", {"batches": 50, "writes": 500}, {"batches": 2, "writes": 5}),
    "footprint": (
        "bench.footprint_bench",
        {"seconds": 60.0, "pods": 20},
        {"seconds": 2.0, "pods": 2, "settle": 2.0},
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="smallest sizes, to check they run")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {list(SIZES)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SIZES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {list(SIZES)}")
    # What runs in this process (stores, registries, simulated agents) logs warnings only, to
    # stderr: the figures on stdout stay readable.
    configure(level="warning")
    figures: list[Figure] = []
    for name in args.names or list(SIZES):
        module, full, smoke = SIZES[name]
        print(f"running {name} ...", file=sys.stderr, flush=True)
        run = cast(Callable[..., list[Figure]], importlib.import_module(module).run)
        figures += run(**(smoke if args.smoke else full))
    print_figures(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
