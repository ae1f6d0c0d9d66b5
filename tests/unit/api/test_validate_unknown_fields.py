"""`nodeagent validate` reports a misspelt field, as `kubectl apply` (fieldValidation=Strict)
rejects it; before, the file was "ok" and only kubectl failed."""

from __future__ import annotations

from nodeagent.cli.validate import check_text

MANIFEST = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: d}
spec:
  selector: {matchLabels: {name: d}}
  template:
    metadata: {labels: {name: d}}
    spec:
      containers:
      - name: c
        image: busybox:1
        imagePullPolice: Always
"""


def test_misspelt_field_is_an_error_with_its_path() -> None:
    oks, problems = check_text(MANIFEST, "ds.yaml")
    assert oks == []
    assert problems == ["ds.yaml: spec.template.spec.containers[0].imagePullPolice: unknown field"]


def test_known_fields_are_ok() -> None:
    oks, problems = check_text(MANIFEST.replace("imagePullPolice", "imagePullPolicy"), "ds.yaml")
    assert (oks, problems) == (["ds.yaml: ok (DaemonSet default/d)"], [])
