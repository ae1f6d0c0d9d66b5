"""The names other parts of nodeagent code against exist, with the agreed shapes."""

from __future__ import annotations

import importlib
import inspect

import pytest

SURFACE = {
    "meta": [
        "Obj",
        "name_of",
        "namespace_of",
        "labels_of",
        "annotations_of",
        "uid_of",
        "controller_ref",
        "is_controlled_by",
        "get_condition",
        "set_condition",
        "is_pod_ready",
        "is_pod_available",
        "is_pod_terminating",
        "pod_phase",
        "node_ready_status",
    ],
    "timefmt": ["format_time", "parse_time", "format_age"],
    "decode": ["decode_documents", "DecodeError", "to_yaml", "to_json"],
    "quantity": ["parse_quantity", "scaled_int_or_percent"],
    "defaults": [
        "default_object",
        "default_pod",
        "default_pod_spec",
        "default_daemonset",
        "default_node",
    ],
    "validation": [
        "validate_object",
        "validate_pod",
        "validate_pod_spec",
        "validate_daemonset",
        "validate_daemonset_update",
        "validate_object_meta",
        "validate_update",
        "validate_pod_update",
    ],
    "selectors": ["LabelSelector", "FieldSelector"],
    "scheduling": [
        "tolerates",
        "tolerates_all",
        "node_matches_node_selector",
        "node_matches_required_affinity",
        "DAEMONSET_TOLERATIONS",
        "add_daemonset_tolerations",
        "node_should_run",
        "ShouldRun",
        "pod_fits_node",
    ],
    "hashing": ["template_hash", "spec_hash", "static_pod_uid"],
    "naming": ["static_pod_name", "generate_name_suffix"],
}


@pytest.mark.parametrize(
    ("module", "names"), [pytest.param(m, n, id=m) for m, n in SURFACE.items()]
)
def test_public_names_exist(module: str, names: list[str]) -> None:
    """Every agreed name is importable from its module."""
    mod = importlib.import_module(f"nodeagent.api.{module}")
    missing = [n for n in names if not hasattr(mod, n)]
    assert missing == []


@pytest.mark.parametrize(
    ("module", "function", "params"),
    [
        pytest.param(
            "meta", "set_condition", ["conditions", "cond", "now_rfc3339"], id="set_condition"
        ),
        pytest.param(
            "meta", "is_pod_available", ["pod", "min_ready_seconds", "now"], id="is_pod_available"
        ),
        pytest.param("decode", "decode_documents", ["text", "source"], id="decode_documents"),
        pytest.param(
            "quantity", "scaled_int_or_percent", ["value", "total", "round_up"], id="scaled"
        ),
        pytest.param("validation", "validate_pod_spec", ["spec", "path"], id="validate_pod_spec"),
        pytest.param(
            "hashing", "template_hash", ["template", "collision_count"], id="template_hash"
        ),
        pytest.param(
            "hashing", "static_pod_uid", ["source_path", "content_hash", "node_name"], id="uid"
        ),
        pytest.param("scheduling", "node_should_run", ["node", "ds"], id="node_should_run"),
        pytest.param("scheduling", "tolerates_all", ["tolerations", "taints", "effects"], id="tol"),
    ],
)
def test_signatures(module: str, function: str, params: list[str]) -> None:
    """Parameter names are part of the contract (several are keyword-only)."""
    func = getattr(importlib.import_module(f"nodeagent.api.{module}"), function)
    assert list(inspect.signature(func).parameters) == params
