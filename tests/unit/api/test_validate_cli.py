"""`nodeagent validate FILE...` as a user runs it: output lines and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import FIXTURES


def validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodeagent", "validate", *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
        timeout=60,
    )


def test_seed_manifests_are_ok() -> None:
    """Valid files print one ok line per object and exit 0."""
    files = [
        str(FIXTURES / n) for n in ("daemonset-example.yaml", "fluentd-elasticsearch-seed004.yaml")
    ]
    result = validate(*files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{files[0]}: ok (DaemonSet default/daemonset-example)",
        f"{files[1]}: ok (DaemonSet kube-system/fluentd-elasticsearch)",
    ]
    assert result.stderr == ""


BROKEN = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: broken
spec:
  selector:
    matchLabels: {name: other}
  template:
    metadata:
      labels: {name: broken}
    spec:
      restartPolicy: Never
      containers: []
---
apiVersion: v1
kind: Pod
metadata: {name: fine}
spec:
  containers: [{name: c, image: busybox:1.36}]
---
apiVersion: v1
kind: Service
metadata: {name: svc}
"""


def test_bad_file_prints_every_error_and_exits_1(tmp_path: Path) -> None:
    """Each error is `FILE: field.path: message` on stderr; good objects still print ok."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    result = validate(str(bad))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{bad}: ok (Pod default/fine)"]
    assert result.stderr.splitlines() == [
        f"{bad}: spec.template.metadata.labels: Invalid value:"
        ' {"name":"broken"}: `selector` does not match template `labels`',
        f"{bad}: spec.template.spec.containers: Required value",
        f'{bad}: spec.template.spec.restartPolicy: Unsupported value: "Never": supported values:'
        ' "Always"',
        f"{bad}: kind Service is not supported here",
    ]


def test_decode_error_has_line_and_column(tmp_path: Path) -> None:
    """Unparsable YAML is reported as FILE:LINE:COL: message."""
    bad = tmp_path / "broken.yaml"
    bad.write_text("kind: Pod\nmetadata:\n  name: [x\n")
    result = validate(str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:4:1: ")


def test_unreadable_file_exits_2_and_names_it(tmp_path: Path) -> None:
    """A missing file is exit 2 (even next to a bad one), and the message names it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    missing = tmp_path / "missing.yaml"
    result = validate(str(bad), str(missing))
    assert result.returncode == 2
    assert f"cannot read {missing}" in result.stderr


def test_no_arguments_is_a_usage_error() -> None:
    """validate without files exits 2 with argparse's usage message."""
    result = validate()
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_reads_stdin_with_dash() -> None:
    """`-` reads the manifest from standard input."""
    result = validate(
        "-", stdin="kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n"
    )
    assert result.returncode == 1
    assert result.stderr == "<stdin>: spec.containers[0].image: Required value\n"


def test_file_without_objects_is_reported(tmp_path: Path) -> None:
    """A file holding no object (empty, comments only) is not silently ok."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here\n---\n")
    result = validate(str(empty))
    assert result.returncode == 1
    assert result.stderr == f"{empty}: no objects found\n"


def test_a_daemonset_with_its_namespace_configmap_and_secret(tmp_path: Path) -> None:
    """The upstream manifests (Namespace, ConfigMap, DaemonSet in one file) validate; a Secret
    whose value is not base64 is named, without its value."""
    upstream = Path(__file__).parents[2] / "data" / "upstream"
    result = validate(*(str(p) for p in sorted(upstream.glob("*.yaml"))))
    assert (result.returncode, result.stderr) == (0, "")
    assert f"{upstream / 'fluent-bit.yaml'}: ok (Namespace logging)" in result.stdout
    assert f"{upstream / 'fluent-bit.yaml'}: ok (ConfigMap logging/fluent-bit-config)" in (
        result.stdout
    )
    secret = tmp_path / "secret.yaml"
    secret.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: hunter2!}\n")
    result = validate(str(secret))
    assert result.returncode == 1
    assert result.stderr == (
        f'{secret}: data[k]: Invalid value: "<secret contents redacted>": illegal base64 data '
        "at input byte 7\n"
    )
