"""Hostile input costs the server nothing: every bomb is answered 4xx within a client deadline,
grows the server process's resident memory by less than 50 MiB, and leaves no 500, traceback
locals or token in its log (docs/security.md, "Bounded input")."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support import bombs
from tests.support.server import ServerProcess, start_server_process

CLIENT_DEADLINE = 5.0  # seconds: a bomb that is not refused at once times the request out
RSS_GROWTH_LIMIT = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    code: int
    body: dict[str, object]
    warnings: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server_process(tmp_path_factory.mktemp("hostile") / "data")
    try:
        send(server, "POST", "/api/v1/nodes", {"kind": "Node", "metadata": {"name": "n1"}})
        yield server
    finally:
        server.stop()


def send(
    srv: ServerProcess,
    method: str,
    path: str,
    body: object = None,
    *,
    content_type: str = "application/json",
    token: str | None = None,
) -> Answer:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(srv.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token or srv.admin_token}")
    if data is not None:
        request.add_header("Content-Type", content_type)
    context = ssl.create_default_context(cafile=str(srv.ca_file))
    try:
        with urllib.request.urlopen(request, context=context, timeout=CLIENT_DEADLINE) as r:
            text, code, headers = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        text, code, headers = e.read(), e.code, e.headers
    warnings = headers.get_all("Warning") or []
    return Answer(code, json.loads(text) if text else {}, warnings)


def bounded(srv: ServerProcess, method: str, path: str, body: object, **kw: str) -> Answer:
    """`send`, asserting the server's resident memory grew by less than RSS_GROWTH_LIMIT."""
    assert srv.process is not None
    before = bombs.rss_bytes(srv.process.pid)
    answer = send(srv, method, path, body, **kw)
    grown = bombs.rss_bytes(srv.process.pid) - before
    assert grown < RSS_GROWTH_LIMIT, f"RSS grew by {grown / 2**20:.0f} MiB"
    return answer


@pytest.mark.parametrize("dry_run", ["", "?dryRun=All"], ids=["stored", "dry-run"])
def test_json_patch_copy_amplification_is_refused(srv: ServerProcess, dry_run: str) -> None:
    """One add and 25 doubling copies on a node stop at the 3 MiB copy budget: 422."""
    answer = bounded(
        srv,
        "PATCH",
        f"/api/v1/nodes/n1{dry_run}",
        bombs.copy_amplification(),
        content_type="application/json-patch+json",
    )
    assert answer.code == 422
    assert "accumulated size increase of copy" in answer.message
    assert "exceeding the limit 3145728" in answer.message


def test_json_patch_operation_count_is_limited(srv: ServerProcess) -> None:
    """10,001 operations are 413, as kube-apiserver's maxJSONPatchOperations says."""
    ops = [{"op": "test", "path": "/kind", "value": "Node"}] * 10_001
    answer = bounded(
        srv, "PATCH", "/api/v1/nodes/n1", ops, content_type="application/json-patch+json"
    )
    assert answer.code == 413
    assert answer.message == "The allowed maximum operations in a JSON patch is 10000, got 10001"


def test_patches_may_not_grow_an_object_past_the_body_limit(srv: ServerProcess) -> None:
    """Merge patches that each add 2 MiB (in a field the schema does not know: kept, with a
    warning) are refused once the object would pass 3 MiB: 413."""
    first = {"spec": {"paddingA": "x" * (2 * 2**20)}}
    second = {"spec": {"paddingB": "y" * (2 * 2**20)}}
    patch = {"content_type": "application/merge-patch+json"}
    assert bounded(srv, "PATCH", "/api/v1/nodes/n1", first, **patch).code == 200
    answer = bounded(srv, "PATCH", "/api/v1/nodes/n1", second, **patch)
    assert answer.code == 413
    assert "the limit is 3145728" in answer.message
    cleanup = {"spec": {"paddingA": None}}
    assert send(srv, "PATCH", "/api/v1/nodes/n1", cleanup, **patch).code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        pytest.param(
            bombs.yaml_alias_bomb(), "application/yaml", "excessive aliasing", id="alias-bomb"
        ),
        pytest.param(
            bombs.yaml_merge_bomb(), "application/yaml", "excessive aliasing", id="merge-bomb"
        ),
        pytest.param(bombs.deep_json(), "application/json", "more than 100 levels", id="json"),
        pytest.param(
            bombs.deep_json_object(), "application/json", "more than 100 levels", id="json-obj"
        ),
        pytest.param(
            bombs.deep_yaml_flow(), "application/yaml", "more than 100 levels", id="yaml-flow"
        ),
        pytest.param(
            bombs.deep_yaml_block(), "application/yaml", "more than 100 levels", id="yaml-block"
        ),
    ],
)
def test_decoding_bombs_are_refused(
    srv: ServerProcess, body: bytes, content_type: str, fragment: str
) -> None:
    """YAML alias and merge-key expansion past the budget and 10,000-deep JSON or YAML: 400
    before the body is expanded."""
    path = "/api/v1/namespaces/default/events"
    answer = bounded(srv, "POST", path, body, content_type=content_type)
    assert answer.code == 400, answer.body
    assert fragment in answer.message


@pytest.mark.parametrize(
    ("patch", "content_type"),
    [
        pytest.param(bombs.deep_json(), "application/merge-patch+json", id="merge"),
        pytest.param(bombs.deep_json(), "application/json-patch+json", id="json-patch"),
        pytest.param(bombs.deep_json(), "application/strategic-merge-patch+json", id="smp"),
        pytest.param(bombs.yaml_alias_bomb("Node", "n1"), "application/apply-patch+yaml", id="ap"),
    ],
)
def test_patch_bodies_are_bounded_too(srv: ServerProcess, patch: bytes, content_type: str) -> None:
    """Every patch type decodes through the same bounded loaders: 400."""
    path = "/api/v1/nodes/n1?fieldManager=t"
    answer = bounded(srv, "PATCH", path, patch, content_type=content_type)
    assert answer.code == 400, answer.body


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "typed"}}
CONTAINERS = {"containers": [{"name": "c", "image": "busybox"}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({**POD, "metadata": "x"}, 'metadata: Invalid value: "x": must be an object'),
        pytest.param({**POD, "spec": "x"}, 'spec: Invalid value: "x": must be an object'),
        pytest.param(
            {**POD, "spec": CONTAINERS, "status": 7}, "status: Invalid value: 7: must be an object"
        ),
        pytest.param(
            {**POD, "metadata": {"name": "typed", "labels": {"a": 1}}, "spec": CONTAINERS},
            "metadata.labels[a]: Invalid value: 1: must be a string",
        ),
        pytest.param(
            {**POD, "metadata": {"name": "typed", "annotations": ["x"]}, "spec": CONTAINERS},
            "metadata.annotations: Invalid value: list: must be an object",
        ),
        pytest.param(
            {**POD, "spec": {"containers": [{"name": "c", "image": 5, "ports": "80"}]}},
            "[spec.containers[0].image: Invalid value: 5: must be a string, "
            'spec.containers[0].ports: Invalid value: "80": must be a list]',
        ),
    ],
)
def test_wrong_types_are_422_with_the_field_path(
    srv: ServerProcess, body: dict[str, object], message: str
) -> None:
    """A field of the wrong JSON type anywhere in a body names its path, never a 500."""
    answer = send(srv, "POST", "/api/v1/namespaces/default/pods", body)
    assert answer.code == 422
    assert message in answer.message
    assert answer.body["reason"] == "Invalid"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        pytest.param({"metadata": "x"}, 'metadata: Invalid value: "x": must be an object'),
        pytest.param({"spec": {"taints": {}}}, "spec.taints: Invalid value: object: must be a"),
        pytest.param({"status": []}, "status: Invalid value: list: must be an object"),
    ],
)
def test_patches_that_produce_wrong_types_are_422(
    srv: ServerProcess, patch: dict[str, object], message: str
) -> None:
    """The patched object is checked as a created one is."""
    path = "/api/v1/nodes/n1"
    answer = send(srv, "PATCH", path, patch, content_type="application/merge-patch+json")
    assert answer.code == 422
    assert message in answer.message


def test_a_body_claiming_another_kind_is_checked_as_the_resource(srv: ServerProcess) -> None:
    """The URL says what a body is: a Namespace status sent with `"kind": "Other"` is still a
    Namespace status."""
    body = {"kind": "Other", "metadata": {"name": "default"}, "status": 3.7e16}
    answer = send(srv, "PUT", "/api/v1/namespaces/default/status?dryRun=All", body)
    assert answer.code == 422
    assert "status: Invalid value: 3.7e+16: must be an object" in answer.message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"gracePeriodSeconds": "x"}, 'gracePeriodSeconds: Invalid value: "x"'),
        pytest.param({"preconditions": "y"}, 'preconditions: Invalid value: "y"'),
        pytest.param({"preconditions": {"uid": 5}}, "preconditions.uid: Invalid value: 5"),
        pytest.param({"propagationPolicy": 5}, "propagationPolicy: Invalid value: 5"),
        pytest.param({"dryRun": "All"}, 'dryRun: Invalid value: "All": must be a list'),
        pytest.param({"orphanDependents": "yes"}, 'orphanDependents: Invalid value: "yes"'),
    ],
)
def test_wrongly_typed_delete_options_are_400(
    srv: ServerProcess, options: dict[str, object], message: str
) -> None:
    """DeleteOptions fields of the wrong type: 400 naming the field; nothing is deleted."""
    body = {"kind": "DeleteOptions", "apiVersion": "v1", **options}
    answer = send(srv, "DELETE", "/api/v1/nodes/n1", body)
    assert answer.code == 400
    assert message in answer.message
    assert send(srv, "GET", "/api/v1/nodes/n1").code == 200


@pytest.mark.parametrize("version", ["abc", "-1", "1e3", "99999999999999999999999", "\u0661"])
@pytest.mark.parametrize("query", ["watch=true&", "", "limit=1&"], ids=["watch", "list", "page"])
def test_bad_resource_versions_are_400(srv: ServerProcess, query: str, version: str) -> None:
    """A watch or list from a resourceVersion that is not a version number: 400."""
    answer = send(srv, "GET", f"/api/v1/pods?{query}resourceVersion={quote(version)}")
    assert answer.code == 400
    assert answer.body["reason"] == "BadRequest"
    assert answer.message.startswith("resourceVersion: Invalid value: ")


@pytest.mark.parametrize(
    "query",
    [
        "watch=true&timeoutSeconds=99999999999999999999999999",
        "watch=true&timeoutSeconds=1e400",
        "watch=true&timeoutSeconds=abc",
    ],
)
def test_integer_parameters_are_int64(srv: ServerProcess, query: str) -> None:
    """An integer query parameter past int64 is 400 (a watch would otherwise never end)."""
    answer = send(srv, "GET", f"/api/v1/pods?{query}")
    assert answer.code == 400
    assert "must be an integer" in answer.message


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", "/api/v1/pods?watch=yes", "watch"),
        ("GET", "/api/v1/pods?watch=1&allowWatchBookmarks=x", "allowWatchBookmarks"),
        ("GET", "/api/v1/pods?watch=1&sendInitialEvents=2", "sendInitialEvents"),
        ("DELETE", "/api/v1/nodes/n1?orphanDependents=maybe", "orphanDependents"),
        ("PATCH", "/api/v1/nodes/n1?force=-125", "force"),
    ],
)
def test_boolean_parameters_are_booleans(
    srv: ServerProcess, method: str, path: str, name: str
) -> None:
    """A boolean query parameter that is not one of Go's ParseBool words: 400, nothing done."""
    body: dict[str, object] | None = {} if method == "PATCH" else None
    answer = send(srv, method, path, body, content_type="application/merge-patch+json")
    assert answer.code == 400
    assert answer.message.startswith(f"invalid value for {name}: ")
    assert send(srv, "GET", "/api/v1/nodes/n1").code == 200


def test_an_unknown_field_validation_is_422(srv: ServerProcess) -> None:
    answer = send(srv, "POST", "/api/v1/namespaces?fieldValidation=Loose", {"metadata": {}})
    assert answer.code == 422
    assert answer.message == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loose": '
        'supported values: "Ignore", "Strict", "Warn"'
    )


DUPLICATED = b'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"dup-a","name":"dup-b"}}'


def test_duplicate_keys_fail_strict_field_validation(srv: ServerProcess) -> None:
    """fieldValidation=Strict: 400 strict decoding error naming the duplicate field."""
    answer = send(srv, "POST", "/api/v1/namespaces?fieldValidation=Strict", DUPLICATED)
    assert answer.code == 400
    assert answer.message == 'strict decoding error: duplicate field "metadata.name"'


def test_duplicate_keys_warn_by_default(srv: ServerProcess) -> None:
    """fieldValidation=Warn (the default): created with the last value, and a warning."""
    answer = send(srv, "POST", "/api/v1/namespaces", DUPLICATED)
    assert answer.code == 201
    assert answer.body["metadata"]["name"] == "dup-b"  # type: ignore[index]
    assert answer.warnings == ['299 - "duplicate field \\"metadata.name\\""']


def test_duplicate_keys_in_a_patch_fail_strict(srv: ServerProcess) -> None:
    """The patch's own text is checked too."""
    patch = b'{"metadata":{"labels":{"a":"1","a":"2"}}}'
    path = "/api/v1/nodes/n1?fieldValidation=Strict"
    answer = send(srv, "PATCH", path, patch, content_type="application/merge-patch+json")
    assert answer.code == 400
    assert answer.message == 'strict decoding error: duplicate field "metadata.labels.a"'


def test_null_metadata_is_absent_metadata(srv: ServerProcess) -> None:
    """`"metadata": null` is no metadata (as Go decodes it): 422 for the missing name."""
    answer = send(srv, "POST", "/api/v1/namespaces/default/events", {"metadata": None})
    assert answer.code == 422
    assert "metadata.name: Required value" in answer.message


def test_warnings_from_field_names_are_safe_headers(srv: ServerProcess) -> None:
    """An unknown field named with a newline is warned about with `?` in its place (a raw
    control character in a header made the server drop the connection unanswered)."""
    body = {"kind": "Namespace", "metadata": {"name": "warn-ctl"}, "bad\nfield": 1}
    answer = send(srv, "POST", "/api/v1/namespaces", body)
    assert answer.code == 201
    assert answer.warnings == ['299 - "unknown field \\"bad?field\\""']


def test_the_log_has_no_500_no_locals_and_no_token(srv: ServerProcess) -> None:
    """After every bomb above: no request failed as a server error, and the log carries no
    traceback locals and no secret."""
    assert srv.log_path is not None
    text = Path(srv.log_path).read_text()
    assert "request_failed" not in text
    assert '"locals"' not in text
    assert srv.admin_token not in text
    assert srv.join_secret not in text
