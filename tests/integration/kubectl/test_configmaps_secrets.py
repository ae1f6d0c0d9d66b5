"""ConfigMaps and Secrets with the real kubectl: create from literals and files (generic,
tls, docker-registry), get with kubectl's columns, -o yaml, describe, edit, immutable, the
1 MiB limit, and errors worded as kube-apiserver words them."""

from __future__ import annotations

import base64
import datetime
import json
import os

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.kubectl.conftest import Cluster, table
from tests.support import leaks


def test_configmap_create_get_describe(cluster: Cluster, ns: str) -> None:
    """`kubectl create cm --from-literal --from-file`, `get cm` (NAME DATA AGE), -o yaml
    with the data as written, and describe listing each key."""
    conf = cluster.write(f"{ns}/proxy.conf", "mode: iptables\nport: 10249\n")
    created = cluster.kubectl(
        "create", "configmap", "kube-proxy", "-n", ns,
        "--from-literal=level=debug", f"--from-file=config.conf={conf}",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "configmap/kube-proxy created"
    rows = table(cluster.kubectl("get", "cm", "-n", ns, check=True).stdout)
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert rows[1][:2] == ["kube-proxy", "2"]
    shown = yaml.safe_load(cluster.kubectl("get", "cm", "kube-proxy", "-n", ns, "-o", "yaml",
                                           check=True).stdout)  # fmt: skip
    assert shown["kind"] == "ConfigMap"
    assert shown["data"] == {"level": "debug", "config.conf": "mode: iptables\nport: 10249\n"}
    described = cluster.kubectl("describe", "cm", "kube-proxy", "-n", ns, check=True).stdout
    assert "Name:         kube-proxy" in described
    assert "config.conf:\n----\nmode: iptables\nport: 10249" in described
    assert "level:\n----\ndebug" in described


def _key_pair() -> tuple[str, str]:
    """A self-signed certificate and its key, PEM (kubectl checks that they match)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def test_secret_kinds_and_columns(cluster: Cluster, ns: str) -> None:
    """generic, tls and docker-registry secrets get their types; `get secret` prints NAME
    TYPE DATA AGE; stringData is merged into data and never returned."""
    cert_pem, key_pem = _key_pair()
    cert = cluster.write(f"{ns}/tls.crt", cert_pem)
    key = cluster.write(f"{ns}/tls.key", key_pem)
    for args in (
        ("generic", "db", "--from-literal=password=s3cr3t-value"),
        ("tls", "web-tls", f"--cert={cert}", f"--key={key}"),
        ("docker-registry", "pull", "--docker-server=r.example", "--docker-username=u",
         "--docker-password=p"),
    ):  # fmt: skip
        result = cluster.kubectl("create", "secret", *args, "-n", ns)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"secret/{args[1]} created"
    rows = table(cluster.kubectl("get", "secrets", "-n", ns, check=True).stdout)
    assert rows[0] == ["NAME", "TYPE", "DATA", "AGE"]
    assert [r[:3] for r in rows[1:]] == [
        ["db", "Opaque", "1"],
        ["pull", "kubernetes.io/dockerconfigjson", "1"],
        ["web-tls", "kubernetes.io/tls", "2"],
    ]
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "mixed", "namespace": ns},
        "data": {"a": base64.b64encode(b"from-data").decode(), "b": "Yg=="},
        "stringData": {"a": "from-stringData", "c": "plain"},
    }
    path = cluster.write(f"{ns}/mixed.yaml", yaml.safe_dump(manifest))
    cluster.kubectl("apply", "-f", str(path), check=True)
    stored = json.loads(
        cluster.kubectl("get", "secret", "mixed", "-n", ns, "-o", "json", check=True).stdout
    )
    assert "stringData" not in stored
    decoded = {k: base64.b64decode(v).decode() for k, v in stored["data"].items()}
    assert decoded == {"a": "from-stringData", "b": "b", "c": "plain"}
    assert stored["type"] == "Opaque"
    described = cluster.kubectl("describe", "secret", "mixed", "-n", ns, check=True).stdout
    assert "Type:  Opaque" in described
    assert "from-stringData" not in described  # describe shows sizes, never values
    assert "a:  15 bytes" in described


def test_secret_validation_messages(cluster: Cluster, ns: str) -> None:
    """A tls secret without its key, bad keys and bad base64 are refused naming the field;
    the secret's value never appears in the message."""
    bad = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "bad", "namespace": ns},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y3J0", "bad key": "eA=="},
    }
    result = cluster.kubectl("create", "-f", "-", stdin=json.dumps(bad))
    assert result.returncode == 1
    assert 'The Secret "bad" is invalid: ' in result.stderr
    assert "data[tls.key]: Required value" in result.stderr
    assert 'data[bad key]: Invalid value: "bad key": a valid config key must consist of ' in (
        result.stderr
    )
    unencoded = {**bad, "type": "Opaque", "data": {"token": "hunter2-not-base64!"}}
    result = cluster.kubectl("create", "-f", "-", stdin=json.dumps(unencoded))
    assert result.returncode == 1
    assert 'data[token]: Invalid value: "<secret contents redacted>": illegal base64' in (
        result.stderr
    )
    assert "hunter2" not in result.stderr


def test_configmap_key_collision_and_size(cluster: Cluster, ns: str) -> None:
    """A key in both data and binaryData is refused; so is more than 1 MiB of data."""
    both = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "both", "namespace": ns},
        "data": {"k": "v"},
        "binaryData": {"k": "dg=="},
    }
    result = cluster.kubectl("create", "-f", "-", stdin=json.dumps(both))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The ConfigMap "both" is invalid: data[k]: Invalid value: "k": duplicate of key '
        "present in binaryData"
    )
    big = cluster.write(f"{ns}/big.bin", "")
    big.write_bytes(os.urandom(1024 * 1024 + 1))
    result = cluster.kubectl("create", "cm", "big", "-n", ns, f"--from-file={big}")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'error: failed to create configmap: ConfigMap "big" is invalid: []: Too long: may not '
        "be more than 1048576 bytes"
    )
    exact = cluster.write(f"{ns}/exact.txt", "x" * (1024 * 1024))
    ok = cluster.kubectl("create", "cm", "exact", "-n", ns, f"--from-file={exact}")
    assert ok.returncode == 0, ok.stderr


def test_immutable(cluster: Cluster, ns: str) -> None:
    """An immutable ConfigMap refuses data changes and going mutable, with kube-apiserver's
    words; its labels may still change; delete works."""
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "frozen", "namespace": ns},
        "data": {"k": "v1"},
        "immutable": True,
    }
    cluster.kubectl("create", "-f", "-", stdin=json.dumps(cm), check=True)
    result = cluster.kubectl(
        "patch", "cm", "frozen", "-n", ns, "--type=merge", "-p", '{"data":{"k":"v2"}}'
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when '
        "`immutable` is set"
    )
    result = cluster.kubectl(
        "patch", "cm", "frozen", "-n", ns, "--type=merge", "-p", '{"immutable":false}'
    )
    assert result.returncode == 1
    assert "immutable: Forbidden: field is immutable when `immutable` is set" in result.stderr
    cluster.kubectl("label", "cm", "frozen", "-n", ns, "tier=x", check=True)
    secret = {**cm, "kind": "Secret", "data": {"k": "djE="}}
    cluster.kubectl("create", "-f", "-", stdin=json.dumps(secret), check=True)
    result = cluster.kubectl(
        "patch", "secret", "frozen", "-n", ns, "--type=merge", "-p", '{"stringData":{"k":"v2"}}'
    )
    assert result.returncode == 1
    assert "data: Forbidden: field is immutable when `immutable` is set" in result.stderr
    cluster.kubectl("delete", "cm,secret", "frozen", "-n", ns, check=True)


def test_edit_configmap(cluster: Cluster, ns: str) -> None:
    """kubectl edit with an EDITOR that rewrites a value changes the stored data."""
    cluster.kubectl("create", "cm", "conf", "-n", ns, "--from-literal=level=info", check=True)
    editor = cluster.write(
        f"{ns}/editor.sh", "#!/bin/sh\nsed -i 's/level: info/level: warn/' \"$1\"\n"
    )
    editor.chmod(0o755)
    env = {**cluster.server.kubectl_env(), "KUBE_EDITOR": str(editor)}
    result = cluster.kubectl("edit", "cm", "conf", "-n", ns, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configmap/conf edited"
    data = cluster.get(f"/api/v1/namespaces/{ns}/configmaps/conf")["data"]
    assert data == {"level": "warn"}


def test_secret_values_never_in_server_logs(cluster: Cluster, ns: str) -> None:
    """A secret's value, plain or base64, is in no server log nor the audit log, after a
    create, a refused create, a get and a describe (and the session's leak guard knows it)."""
    value = "sekrit-" + base64.b32encode(os.urandom(15)).decode().lower()
    encoded = base64.b64encode(value.encode()).decode()
    leaks.remember_secret(value, "a Secret's value")
    leaks.remember_secret(encoded.rstrip("="), "a Secret's value in base64")
    cluster.kubectl(
        "create", "secret", "generic", "quiet", "-n", ns, f"--from-literal=v={value}", check=True
    )
    refused = secret_manifest("loud", ns, type="kubernetes.io/tls", data={"tls.crt": encoded})
    assert cluster.kubectl("create", "-f", "-", stdin=json.dumps(refused)).returncode == 1
    cluster.kubectl("get", "secret", "quiet", "-n", ns, "-o", "yaml", check=True)
    cluster.kubectl("describe", "secret", "quiet", "-n", ns, check=True)
    logs = [cluster.server.log_path, cluster.server.data_dir / "audit.log"]
    for path in logs:
        assert path is not None
        text = path.read_text(errors="replace")
        assert value not in text, path
        assert encoded not in text, path


def secret_manifest(name: str, ns: str, **fields: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            **fields}  # fmt: skip


def test_explain_and_namespace_deletion(cluster: Cluster) -> None:
    """kubectl explain knows the new kinds' fields; deleting a namespace deletes its
    ConfigMaps and Secrets."""
    explained = cluster.kubectl("explain", "secret.stringData", check=True).stdout
    assert "KIND:       Secret" in explained
    assert "merged into data on write" in explained
    ns = cluster.namespace("cm-doomed")
    cluster.kubectl("create", "cm", "c", "-n", ns, "--from-literal=a=b", check=True)
    cluster.kubectl("create", "secret", "generic", "s", "-n", ns, "--from-literal=a=b", check=True)
    cluster.kubectl("delete", "namespace", ns, check=True)
    for kind in ("configmaps", "secrets"):
        status, _ = cluster.api("GET", f"/api/v1/namespaces/{ns}/{kind}/{kind[0]}")
        assert status == 404, kind


def test_server_side_apply_keeps_no_copy(cluster: Cluster, ns: str) -> None:
    """`kubectl apply --server-side` of a Secret with stringData stores it in data and keeps
    no last-applied copy of the values (docs/security.md, "Secrets")."""
    manifest = secret_manifest("ssa", ns, stringData={"token": "plain-value-1"})
    path = cluster.write(f"{ns}/ssa.yaml", yaml.safe_dump(manifest))
    cluster.kubectl("apply", "--server-side", "-f", str(path), check=True)
    stored = cluster.get(f"/api/v1/namespaces/{ns}/secrets/ssa")
    assert base64.b64decode(stored["data"]["token"]) == b"plain-value-1"
    assert "stringData" not in stored
    assert "plain-value-1" not in json.dumps(stored["metadata"])
