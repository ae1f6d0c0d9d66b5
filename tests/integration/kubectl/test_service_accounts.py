"""ServiceAccounts and their tokens with the real kubectl against the real server process:
`kubectl create sa` / `get sa` / `create token`, a token that authenticates (403 with kube-
apiserver's wording until RBAC grants) and stops at once when its ServiceAccount is deleted,
an expired one (401), who may ask for a token (admin, a node for its own pod, not another
node, not an anonymous caller, not a ServiceAccount for another), pods defaulted to and
checked against their ServiceAccount, and the `default` ServiceAccount kept in every
namespace."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from kubernetes import client, config

from nodeagent.api.bodies import Obj
from nodeagent.server import tokenclaims
from nodeagent.server.signingkey import load_or_create
from tests.integration.kubectl.conftest import Cluster, daemonset_yaml, wait_for
from tests.support import leaks

ISSUER = "https://kubernetes.default.svc.cluster.local"
load_kube_config: Any = config.load_kube_config
TOKEN_REQUEST = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}


def sa_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/serviceaccounts" + (f"/{name}" if name else "")


def create_token(cluster: Cluster, ns: str, name: str, *args: str) -> str:
    result = cluster.kubectl("create", "token", name, "-n", ns, *args, check=True)
    token = result.stdout.strip()
    leaks.remember_secret(token, "a ServiceAccount token")
    return token


def as_token(cluster: Cluster, token: str, *args: str) -> tuple[int, str, str]:
    result = cluster.kubectl(f"--token={token}", *args)
    return result.returncode, result.stdout, result.stderr.strip()


def test_create_get_describe(cluster: Cluster, ns: str) -> None:
    """A new namespace has `default`; kubectl create/get/describe serviceaccount work with
    kubectl's columns (NAME SECRETS AGE); a bad name is 422 naming the field."""
    cluster.kubectl("create", "serviceaccount", "builder", "-n", ns, check=True)
    table = cluster.kubectl("get", "sa", "-n", ns, check=True).stdout.splitlines()
    assert table[0].split() == ["NAME", "SECRETS", "AGE"]
    assert [line.split()[:2] for line in table[1:]] == [["builder", "0"], ["default", "0"]]
    described = cluster.kubectl("describe", "serviceaccount", "builder", "-n", ns, check=True)
    assert "Name:                builder\n" in described.stdout
    assert f"Namespace:           {ns}\n" in described.stdout
    status, body = cluster.api(
        "POST",
        sa_path(ns),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "Bad_"}},
    )
    assert status == 422, body
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_token_is_403_without_rbac_then_401_once_its_account_is_gone(
    cluster: Cluster, ns: str
) -> None:
    """`kubectl create token` gives a token kubectl can use: it is the ServiceAccount
    (kubectl auth whoami), refused with kube-apiserver's 403 wording where nothing grants it;
    deleting the ServiceAccount ends it at once (401, kubectl's "You must be logged in")."""
    cluster.kubectl("create", "sa", "reader", "-n", ns, check=True)
    token = create_token(cluster, ns, "reader", "--duration", "10m", "--audience", ISSUER)
    code, out, err = as_token(cluster, token, "auth", "whoami", "-o", "json")
    assert code == 0, err
    assert f'"username": "system:serviceaccount:{ns}:reader"' in out
    code, _, err = as_token(cluster, token, "get", "pods", "-n", ns)
    assert code == 1
    assert err == (
        f'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:{ns}:'
        f'reader" cannot list resource "pods" in API group "" in the namespace "{ns}"'
    )
    cluster.kubectl("delete", "sa", "reader", "-n", ns, check=True)

    def refused() -> bool:
        status, _ = cluster.api("GET", f"/api/v1/namespaces/{ns}/pods", token=token)
        return status == 401

    wait_for(refused, timeout=1.0, what="the token refused once its ServiceAccount is gone")
    code, _, err = as_token(cluster, token, "get", "pods", "-n", ns)
    assert (code, err) == (
        1,
        "error: You must be logged in to the server (Unauthorized)",
    )
    # a ServiceAccount made again with the same name is another (uid): the token stays dead
    cluster.kubectl("create", "sa", "reader", "-n", ns, check=True)
    assert cluster.api("GET", f"/api/v1/namespaces/{ns}/pods", token=token)[0] == 401


def test_expired_token_is_401(cluster: Cluster, ns: str) -> None:
    """A token signed with the server's own key whose exp is past (beyond the leeway)."""
    account = cluster.get(sa_path(ns, "default"))
    key = load_or_create(cluster.server.data_dir / "sa.key", create=False)
    claims = tokenclaims.make_claims(
        issuer=ISSUER,
        audiences=(ISSUER,),
        account=account,
        now=time.time() - 1000,
        expiration_seconds=600,
        jti=str(uuid.uuid4()),
    )
    expired = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.key_id})
    fresh = jwt.encode(
        {**claims, "iat": int(time.time()), "nbf": int(time.time()), "exp": int(time.time()) + 600},
        key.private_key,
        algorithm="RS256",
    )
    leaks.remember_secret(expired, "a ServiceAccount token")
    leaks.remember_secret(fresh, "a ServiceAccount token")
    path = f"/api/v1/namespaces/{ns}/pods"
    assert cluster.api("GET", path, token=expired)[0] == 401
    assert cluster.api("GET", path, token=fresh)[0] == 403  # the same claims, in time


def test_token_request_rules(cluster: Cluster, ns: str) -> None:
    """TokenREST's answers: the default hour and the API audience, a lifetime under ten
    minutes 422, an unknown account 404, a name in the body that is not the URL's 422."""
    status, body = cluster.api("POST", sa_path(ns, "default") + "/token", TOKEN_REQUEST)
    assert status == 201, body
    leaks.remember_secret(body["status"]["token"], "a ServiceAccount token")
    assert body["spec"]["audiences"] == [ISSUER]
    assert body["spec"]["expirationSeconds"] == 3600
    claims = jwt.decode(body["status"]["token"], options={"verify_signature": False})
    assert claims["sub"] == f"system:serviceaccount:{ns}:default"
    assert claims["exp"] - claims["iat"] == 3600
    short = cluster.kubectl("create", "token", "default", "-n", ns, "--duration", "5m")
    assert short.stderr.strip() == (
        'error: failed to create token: TokenRequest.authentication.k8s.io "" is invalid: '
        "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 "
        "minutes"
    )
    missing = cluster.kubectl("create", "token", "nosuch", "-n", ns)
    assert (
        missing.stderr.strip()
        == 'error: failed to create token: serviceaccounts "nosuch" not found'
    )
    named = {**TOKEN_REQUEST, "metadata": {"name": "other"}}
    status, body = cluster.api("POST", sa_path(ns, "default") + "/token", named)
    assert status == 422, body


# ---- who may ask for a token: a node for its own pods only


@pytest.fixture(scope="module")
def nodes(cluster: Cluster) -> tuple[str, str]:
    cluster.add_node("sa-node-a")
    cluster.add_node("sa-node-b")
    return "sa-node-a", "sa-node-b"


def _pod(cluster: Cluster, ns: str, name: str, node: str, account: str) -> Obj:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "serviceAccountName": account,
            "containers": [{"name": "c", "image": "busybox:1.36"}],
        },
    }
    status, body = cluster.api("POST", f"/api/v1/namespaces/{ns}/pods", pod)
    assert status == 201, body
    return body


def _bound(pod: Obj, **change: str) -> dict[str, Any]:
    ref = {
        "kind": "Pod",
        "apiVersion": "v1",
        "name": pod["metadata"]["name"],
        "uid": pod["metadata"]["uid"],
        **change,
    }
    return {**TOKEN_REQUEST, "spec": {"boundObjectRef": ref}}


def test_who_may_request_a_token(cluster: Cluster, ns: str, nodes: tuple[str, str]) -> None:
    """Admin: yes. Node A for its own pod's ServiceAccount, bound to that pod: yes (the token
    carries pod and node). Node B (another node's pod): 403. No token: 401. Node A without a
    pod binding: 403 (NodeRestriction). A ServiceAccount's token for another one: 403."""
    node_a, node_b = nodes
    cluster.kubectl("create", "sa", "agent", "-n", ns, check=True)
    pod = _pod(cluster, ns, "agent-pod", node_a, "agent")
    url = sa_path(ns, "agent") + "/token"
    token_a, token_b = cluster.server.node_token(node_a), cluster.server.node_token(node_b)

    status, body = cluster.api("POST", url, _bound(pod), token=token_a)
    assert status == 201, body
    pod_token = body["status"]["token"]
    leaks.remember_secret(pod_token, "a ServiceAccount token")
    private = jwt.decode(pod_token, options={"verify_signature": False})["kubernetes.io"]
    assert private["pod"] == {"name": "agent-pod", "uid": pod["metadata"]["uid"]}
    assert private["node"]["name"] == node_a
    code, out, err = as_token(cluster, pod_token, "auth", "whoami", "-o", "json")
    assert code == 0, err
    extra = json.loads(out)["status"]["userInfo"]["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["agent-pod"]
    assert extra["authentication.kubernetes.io/node-name"] == [node_a]

    status, body = cluster.api("POST", url, _bound(pod), token=token_b)
    assert status == 403, body
    assert body["message"] == (
        f'serviceaccounts "agent" is forbidden: User "system:node:{node_b}" cannot create '
        f'resource "serviceaccounts/token" in API group "" in the namespace "{ns}": no '
        f"relationship found between node '{node_b}' and this object"
    )
    status, body = cluster.api("POST", url, TOKEN_REQUEST, token=token_a)
    assert (status, body["message"]) == (
        403,
        'serviceaccounts "agent" is forbidden: node requested token not bound to a pod',
    )
    status, body = cluster.api("POST", url, _bound(pod, uid="stale"), token=token_a)
    assert status == 403, body
    assert cluster.api("POST", url, _bound(pod), token="nope")[0] == 401
    assert cluster.api("POST", url, _bound(pod))[0] == 201  # the admin
    assert cluster.api("GET", sa_path(ns, "agent"), token=token_a)[0] == 200
    assert cluster.api("GET", sa_path(ns, "agent"), token=token_b)[0] == 403
    assert cluster.api("GET", sa_path(ns, "default"), token=token_a)[0] == 403

    other = cluster.api("POST", sa_path(ns, "default") + "/token", TOKEN_REQUEST, token=pod_token)
    assert other[0] == 403, other

    # deleting the pod ends its tokens (once its deletion is past kube-apiserver's 60 s
    # grace: a pod removed from the store is gone at once)
    cluster.api("DELETE", f"/api/v1/namespaces/{ns}/pods/agent-pod", {"gracePeriodSeconds": 0})

    def refused() -> bool:
        return cluster.api("GET", f"/api/v1/namespaces/{ns}/pods", token=pod_token)[0] == 401

    wait_for(refused, timeout=1.0, what="the pod's token refused once the pod is gone")


def test_issuer_discovery(cluster: Cluster, ns: str, nodes: tuple[str, str]) -> None:
    """/.well-known/openid-configuration and /openid/v1/jwks: for ServiceAccounts and the
    admin (kube-apiserver's default binding), 403 for a node, 401 without a token; the JWKS
    key verifies the tokens the server signs."""
    token = create_token(cluster, ns, "default")
    for path in ("/.well-known/openid-configuration", "/openid/v1/jwks"):
        assert cluster.api("GET", path, token=token)[0] == 200
        assert cluster.api("GET", path)[0] == 200
        assert cluster.api("GET", path, token=cluster.server.node_token(nodes[0]))[0] == 403
        assert cluster.api("GET", path, token="nope")[0] == 401
    config = cluster.get("/.well-known/openid-configuration")
    assert config["issuer"] == ISSUER
    assert config["jwks_uri"].endswith("/openid/v1/jwks")
    (jwk,) = cluster.get("/openid/v1/jwks")["keys"]
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, public, algorithms=["RS256"], audience=ISSUER)
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    assert claims["iss"] == ISSUER


# ---- pods and their ServiceAccount


def test_pods_run_as_an_existing_service_account(cluster: Cluster, ns: str) -> None:
    """A pod without one runs as `default` (serviceAccount mirrored); one naming a missing
    ServiceAccount is refused at create, as kube-apiserver's ServiceAccount admission does."""
    cluster.kubectl("run", "plain", "--image=busybox:1.36", "-n", ns, check=True)
    spec = cluster.get(f"/api/v1/namespaces/{ns}/pods/plain")["spec"]
    assert (spec["serviceAccountName"], spec["serviceAccount"]) == ("default", "default")
    result = cluster.kubectl(
        "run",
        "orphan",
        "--image=busybox:1.36",
        "-n",
        ns,
        '--overrides={"spec":{"serviceAccountName":"nosuch"}}',
    )
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): pods "orphan" is forbidden: error looking up service '
        f'account {ns}/nosuch: serviceaccount "nosuch" not found'
    )


def test_daemonset_waits_for_its_service_account(cluster: Cluster, ns: str) -> None:
    """The DaemonSet controller's creates are refused while the ServiceAccount is missing
    (FailedCreate events with the admission's message); once it exists, the pods come."""
    spec = daemonset_yaml("shipper", ns).replace(
        "      nodeSelector:", "      serviceAccountName: shipper\n      nodeSelector:"
    )
    cluster.kubectl("apply", "-f", "-", stdin=spec, check=True)

    def failed_create() -> str | None:
        events = cluster.get(f"/api/v1/namespaces/{ns}/events")["items"]
        return next((e["message"] for e in events if e["reason"] == "FailedCreate"), None)

    message = wait_for(failed_create, what="a FailedCreate event")
    assert message == (
        f'Error creating: pods "shipper-" is forbidden: error looking up service account '
        f'{ns}/shipper: serviceaccount "shipper" not found'
    )
    cluster.kubectl("create", "sa", "shipper", "-n", ns, check=True)
    wait_for(lambda: len(cluster.pods(ns)) >= 2, what="the DaemonSet's pods once it exists")


def test_default_service_account_is_made_again(cluster: Cluster, ns: str) -> None:
    """kube-controller-manager's serviceaccounts controller: `default` comes back."""
    before = cluster.get(sa_path(ns, "default"))["metadata"]["uid"]
    cluster.kubectl("delete", "sa", "default", "-n", ns, check=True)

    def again() -> str | None:
        status, body = cluster.api("GET", sa_path(ns, "default"))
        return body["metadata"]["uid"] if status == 200 else None

    assert wait_for(again, what="default made again") != before


def test_signing_key_is_private(cluster: Cluster) -> None:
    key: Path = cluster.server.data_dir / "sa.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_python_client_service_accounts_and_tokens(cluster: Cluster, ns: str) -> None:
    """The official Python client: ServiceAccounts decode, and create_namespaced_service_
    account_token returns a token the client can then authenticate with."""
    configuration = client.Configuration()
    load_kube_config(config_file=str(cluster.server.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        core: Any = client.CoreV1Api(api_client)
        core.create_namespaced_service_account(ns, {"metadata": {"name": "py"}})
        names = sorted(a.metadata.name for a in core.list_namespaced_service_account(ns).items)
        assert names == ["default", "py"]
        request = {"spec": {"audiences": [ISSUER], "expirationSeconds": 600}}
        answer = core.create_namespaced_service_account_token("py", ns, request)
        token = answer.status.token
        leaks.remember_secret(token, "a ServiceAccount token")
        assert answer.spec.expiration_seconds == 600
        assert answer.status.expiration_timestamp is not None
    as_account = client.Configuration()
    as_account.host = configuration.host
    as_account.ssl_ca_cert = configuration.ssl_ca_cert
    as_account.api_key = {"authorization": f"Bearer {token}"}
    with client.ApiClient(as_account) as api_client:
        review: Any = client.AuthenticationV1Api(api_client).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
        assert review.status.user_info.username == f"system:serviceaccount:{ns}:py"


def test_secret_bound_token_ends_with_its_secret(cluster: Cluster, ns: str) -> None:
    """kubectl create token --bound-object-kind Secret: the token names the Secret and is
    refused once the Secret is deleted; a Node binding is refused as this server does not
    serve it."""
    cluster.kubectl("create", "secret", "generic", "anchor", "-n", ns, check=True)
    token = create_token(
        cluster, ns, "default", "--bound-object-kind", "Secret", "--bound-object-name", "anchor"
    )
    private = jwt.decode(token, options={"verify_signature": False})["kubernetes.io"]
    assert private["secret"]["name"] == "anchor"
    pods = f"/api/v1/namespaces/{ns}/pods"
    assert cluster.api("GET", pods, token=token)[0] == 403
    cluster.kubectl("delete", "secret", "anchor", "-n", ns, check=True)
    assert cluster.api("GET", pods, token=token)[0] == 401
    node = cluster.kubectl(
        "create", "token", "default", "-n", ns, "--bound-object-kind", "Node",
        "--bound-object-name", "n1",
    )  # fmt: skip
    assert node.stderr.strip() == (
        "error: failed to create token: cannot bind token to object of type /v1, Kind=Node"
    )


def test_token_secret_is_filled_and_its_token_ends_with_it(cluster: Cluster, ns: str) -> None:
    """A `kubernetes.io/service-account-token` Secret made by hand (Kubernetes' long-lived
    token) gets the ServiceAccount's token, ca.crt and namespace from the tokens controller;
    the token is the ServiceAccount (kubectl auth whoami) until the Secret is deleted."""
    cluster.kubectl("create", "sa", "ci", "-n", ns, check=True)
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci-token\n  annotations:\n"
        "    kubernetes.io/service-account.name: ci\n"
        "type: kubernetes.io/service-account-token\n"
    )
    cluster.kubectl("apply", "-n", ns, "-f", "-", stdin=manifest, check=True)
    path = f"/api/v1/namespaces/{ns}/secrets/ci-token"

    def filled() -> Obj | None:
        secret = cluster.get(path)
        return secret if "token" in (secret.get("data") or {}) else None

    secret = wait_for(filled, timeout=10.0, what="the token Secret filled in")
    account = cluster.get(sa_path(ns, "ci"))
    annotations = secret["metadata"]["annotations"]
    assert annotations["kubernetes.io/service-account.uid"] == account["metadata"]["uid"]
    assert base64.b64decode(secret["data"]["namespace"]).decode() == ns
    assert "BEGIN CERTIFICATE" in base64.b64decode(secret["data"]["ca.crt"]).decode()
    token = base64.b64decode(secret["data"]["token"]).decode()
    leaks.remember_secret(token, "a token Secret's token")
    code, out, err = as_token(cluster, token, "auth", "whoami", "-o", "jsonpath={.status}")
    assert code == 0, err
    assert f'"username":"system:serviceaccount:{ns}:ci"' in out
    cluster.kubectl("delete", "secret", "ci-token", "-n", ns, check=True)
    assert cluster.api("GET", f"/api/v1/namespaces/{ns}/pods", token=token)[0] == 401
