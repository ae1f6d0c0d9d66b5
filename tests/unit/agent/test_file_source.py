"""The manifest directory: which files are read, what pods they give, and what a bad file does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from nodeagent.agent.sources.file import DirectorySource
from nodeagent.agent.sources.manifest import is_manifest_name, parse_manifest

NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "node-a", "labels": {"kubernetes.io/hostname": "node-a", "disk": "ssd"}},
    "spec": {},
}
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: app
    image: localhost/busybox:1
    command: ["/bin/sleep", "3600"]
"""
DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: kube-system
spec:
  selector:
    matchLabels: {name: agent}
  template:
    metadata:
      labels: {name: agent}
    spec:
      nodeSelector: {disk: DISK}
      containers:
      - name: agent
        image: localhost/busybox:1
"""


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("web.yaml", True),
        ("web.yml", True),
        ("web.json", True),
        ("web.yaml.bak", False),
        ("web.yaml~", False),
        (".web.yaml.swp", False),
        (".hidden.yaml", False),
        ("web.txt", False),
        ("README", False),
    ],
)
def test_only_manifest_names_are_read(name: str, read: bool) -> None:
    """Only *.yaml, *.yml and *.json; never hidden files or editor leftovers."""
    assert is_manifest_name(name) is read


def test_pod_file_becomes_a_static_pod() -> None:
    """Name gets the node suffix, uid is stable, annotations mark the file source."""
    parsed = parse_manifest(POD, origin="/m/web.yaml", node=NODE)
    [pod] = parsed.pods
    meta = pod["metadata"]
    assert meta["name"] == "web-node-a"
    assert meta["namespace"] == "default"
    assert pod["spec"]["nodeName"] == "node-a"
    assert meta["annotations"]["kubernetes.io/config.source"] == "file"
    assert meta["annotations"]["kubernetes.io/config.hash"] == meta["uid"]
    assert pod["spec"]["restartPolicy"] == "Always"  # defaulted
    again = parse_manifest(POD + "\n\n", origin="/m/web.yaml", node=NODE)
    assert again.pods[0]["metadata"]["uid"] == meta["uid"]
    edited = parse_manifest(POD.replace("3600", "60"), origin="/m/web.yaml", node=NODE)
    assert edited.pods[0]["metadata"]["uid"] != meta["uid"]


def test_daemonset_file_runs_its_template_only_where_it_matches() -> None:
    """A DaemonSet's template runs here when the node matches; otherwise nothing, no error."""
    here = parse_manifest(DAEMONSET.replace("DISK", "ssd"), origin="/m/ds.yaml", node=NODE)
    [pod] = here.pods
    assert pod["metadata"]["name"] == "agent-node-a"
    assert pod["metadata"]["namespace"] == "kube-system"
    assert pod["metadata"]["labels"] == {"name": "agent"}
    tolerated = {t.get("key") for t in pod["spec"]["tolerations"]}
    assert "node.kubernetes.io/not-ready" in tolerated
    elsewhere = parse_manifest(DAEMONSET.replace("DISK", "hdd"), origin="/m/ds.yaml", node=NODE)
    assert elsewhere.pods == ()
    assert elsewhere.errors == ()
    assert elsewhere.skipped == ("agent",)


def test_syntax_error_names_file_line_and_column() -> None:
    """A YAML error is reported as FILE:LINE:COL: message."""
    parsed = parse_manifest("kind: Pod\nmetadata: [\n", origin="/m/bad.yaml", node=NODE)
    assert parsed.pods == ()
    assert parsed.errors[0].startswith("/m/bad.yaml:")


def test_invalid_pod_names_the_field() -> None:
    """A validation error names the file and the field path."""
    parsed = parse_manifest(
        POD.replace("    image: localhost/busybox:1\n", ""), origin="/m/w.yaml", node=NODE
    )
    assert parsed.pods == ()
    assert any(
        "spec.containers[0].image" in e and e.startswith("/m/w.yaml: ") for e in parsed.errors
    )


def test_unsupported_kind_is_an_error() -> None:
    """Only Pod and DaemonSet manifests are accepted."""
    parsed = parse_manifest(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", origin="/m/s.yaml", node=NODE
    )
    assert "kind" in parsed.errors[0]


def test_directory_keeps_the_last_good_pod_of_a_broken_file(tmp_path: Path) -> None:
    """A file that stops parsing keeps its pod and is reported; removing it removes the pod."""
    src = DirectorySource(directory=tmp_path, node=NODE)
    (tmp_path / "web.yaml").write_text(POD)
    (tmp_path / "web.yaml.bak").write_text(POD)
    (tmp_path / ".web.yaml.swp").write_text("junk")
    first = src.scan()
    assert [p["metadata"]["name"] for p in first.pods] == ["web-node-a"]
    assert first.rejected == ()
    (tmp_path / "web.yaml").write_text(POD[:40])  # half-written
    broken = src.scan()
    assert broken.pods == first.pods
    assert [r.origin for r in broken.rejected] == [str(tmp_path / "web.yaml")]
    (tmp_path / "web.yaml").unlink()
    gone = src.scan()
    assert gone.pods == ()
    assert gone.rejected == ()


def test_missing_directory_is_an_empty_set(tmp_path: Path) -> None:
    """A manifest dir that does not exist yet gives an empty SET, not an error."""
    update = DirectorySource(directory=tmp_path / "nope", node=NODE).scan()
    assert update.pods == ()
    assert update.rejected == ()


def test_rejected_file_is_logged_once_with_its_place(tmp_path: Path) -> None:
    """The warning names the file and FILE:LINE:COL; the same error is not logged again."""
    src = DirectorySource(directory=tmp_path, node=NODE)
    (tmp_path / "bad.yaml").write_text("kind: Pod\nmetadata: [\n")
    with structlog.testing.capture_logs() as logs:
        src.scan()
        src.scan()
    rejected = [entry for entry in logs if entry["event"] == "manifest_rejected"]
    assert len(rejected) == 1
    assert rejected[0]["file"] == str(tmp_path / "bad.yaml")
    assert rejected[0]["error"].startswith(f"{tmp_path / 'bad.yaml'}:")
    assert rejected[0]["log_level"] == "warning"


def test_rescan_parses_only_the_files_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The periodic rescan reads every file but parses again only one whose text changed; the
    unchanged file gives the very same pod objects, the edited one its new pod."""
    from nodeagent.agent.sources import file as file_source
    from nodeagent.agent.sources.manifest import parse_manifest as real

    parsed: list[str] = []

    def counting(text: str, **kw: Any) -> Any:
        parsed.append(kw["origin"])
        return real(text, **kw)

    monkeypatch.setattr(file_source, "parse_manifest", counting)
    (tmp_path / "a.yaml").write_text(POD)
    (tmp_path / "b.yaml").write_text(POD.replace("name: web", "name: db"))
    src = DirectorySource(directory=tmp_path, node=NODE)
    first = src.scan()
    assert len(parsed) == 2
    (tmp_path / "b.yaml").write_text(POD.replace("name: web", "name: cache"))
    second = src.scan()
    assert parsed[2:] == [str(tmp_path / "b.yaml")]
    assert second.pods[0] is first.pods[0]
    assert second.pods[1]["metadata"]["name"] == "cache-node-a"


CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {app.conf: "port=80"}
---
"""
SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: web-secret}
stringData: {password: hunter2}
---
"""


def test_config_maps_and_secrets_travel_with_their_file(tmp_path: Path) -> None:
    """A file's ConfigMaps and Secrets are sent by file, beside its pods."""
    path = tmp_path / "web.yaml"
    path.write_text(CONFIG + SECRET + POD)
    path.chmod(0o600)
    update = DirectorySource(directory=tmp_path, node=NODE).scan()
    assert [p["metadata"]["name"] for p in update.pods] == ["web-node-a"]
    [(origin, objects)] = update.objects
    assert origin == str(path)
    assert [o["metadata"]["name"] for o in objects] == ["web-config", "web-secret"]


def test_a_secret_in_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    """Secrets are read only from 0600 files; the error names the mode and the fix."""
    path = tmp_path / "web.yaml"
    path.write_text(SECRET + POD)
    path.chmod(0o644)
    update = DirectorySource(directory=tmp_path, node=NODE).scan()
    assert update.pods == ()
    [rejected] = update.rejected
    assert rejected.error == (
        f"{path}: holds a Secret, so its mode must be 0600, not 0644 (chmod 600 {path})"
    )
    assert "hunter2" not in rejected.error
    path.chmod(0o600)
    assert len(DirectorySource(directory=tmp_path, node=NODE).scan().pods) == 1


def test_a_config_map_with_a_bad_key_names_the_field() -> None:
    """A ConfigMap or Secret is validated as kube-apiserver does; the file is refused whole."""
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {'a/b': x}\n---\n" + POD
    parsed = parse_manifest(text, origin="f.yaml", node=NODE)
    assert parsed.pods == ()
    [error] = parsed.errors
    assert error.startswith(
        'f.yaml: data[a/b]: Invalid value: "a/b": a valid config key must consist of '
        "alphanumeric characters, '-', '_' or '.'"
    )
