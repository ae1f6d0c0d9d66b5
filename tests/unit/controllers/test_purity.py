"""The decision modules are pure: they import no I/O (rule 1 and 5 of the style notes)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[3] / "nodeagent" / "server" / "controllers"
PURE = [
    "daemonset/plan.py",
    "daemonset/rollout.py",
    "daemonset/history.py",
    "daemonset/status.py",
    "daemonset/strategy.py",
    "daemonset/expectations.py",
    "daemonset/guard.py",
    "daemonset/health.py",
    "daemonset/conditions.py",
    "daemonset/metricgate.py",
    "eventfilter.py",
    "leaderelection.py",
    "nodelifecycleplan.py",
    "podgcplan.py",
]
FORBIDDEN = {"asyncio", "aiohttp", "os", "time", "socket", "subprocess", "sqlite3", "structlog"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
            if node.module.startswith("nodeagent.server") and not node.module.startswith(
                "nodeagent.server.controllers.daemonset"
            ):
                found.add(node.module)
    return found


@pytest.mark.parametrize("module", PURE)
def test_decision_module_does_no_io(module: str) -> None:
    """A pure decision module imports neither I/O libraries nor the server's I/O parts."""
    imports = _imports(PKG / module)
    assert not imports & FORBIDDEN
    assert not {i for i in imports if i.startswith("nodeagent.server")}


def test_pure_halves_of_nodelifecycle_and_podgc_take_now() -> None:
    """The node-lifecycle and pod-GC decisions take `now` rather than reading a clock."""
    import inspect

    from nodeagent.server.controllers import nodelifecycleplan, podgcplan

    for fn in (nodelifecycleplan.desired_node_taints_and_conditions, podgcplan.orphaned_pods):
        assert "now" in inspect.signature(fn).parameters
