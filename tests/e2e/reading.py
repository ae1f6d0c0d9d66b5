"""Reading the fleet the way a user does: kubectl tables, pod readiness, the example manifests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from nodeagent.api.bodies import Obj
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


def manifest(name: str, *, image: str) -> str:
    """manifests/NAME (a seed example) with its image replaced by `image`."""
    text = (ROOT / "manifests" / name).read_text()
    return text.replace("localhost/busybox:1", image)


def example_daemonset(name: str, *, image: str, node_selector: dict[str, str] | None = None) -> str:
    """Seed 001's daemonset-example renamed to `name` (its selector label too)."""
    ds = yaml.safe_load(manifest("daemonset-example.yaml", image=image))
    ds["metadata"]["name"] = name
    ds["spec"]["selector"]["matchLabels"] = {"name": name}
    ds["spec"]["template"]["metadata"]["labels"] = {"name": name}
    if node_selector is not None:
        ds["spec"]["template"]["spec"]["nodeSelector"] = node_selector
    return str(yaml.safe_dump(ds, sort_keys=False))


def table(text: str) -> list[dict[str, str]]:
    """kubectl's column output -> one dict per row, keyed by the header's column names."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {
            name: line[a:b].strip()
            for name, a, b in zip(names, starts, [*starts[1:], None], strict=True)
        }
        for line in lines[1:]
    ]


def pod_ready(pod: Obj) -> bool:
    """Ready=True and not being deleted: the pod counts as available."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def wait_for(predicate: Any, *, timeout: float, message: str) -> Any:
    """Poll `predicate` every 0.5 s until truthy (kubectl calls are not free)."""
    return wait_until(predicate, timeout=timeout, interval=0.5, message=message)
