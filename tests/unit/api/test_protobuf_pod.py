"""The Pod that `kubectl debug node/NODE` sends as protobuf, read as the JSON object it
stands for (each profile's fields kept: host namespaces, the host's / at /host, privileges)."""

from __future__ import annotations

from nodeagent.api import protobuf

# kubectl v1.37 `debug node/n1 -it --image=busybox --image-pull-policy=Never --env=A=b
# --profile=P -- sh`, byte for byte as -v=9 showed it.
GENERAL = bytes.fromhex(
    "6b3873000a090a0276311203506f64128f020a550a166e6f64652d64656275676765722d6e312d676d6c3977"
    "12001a0022002a003200380042005a2d0a1c6170702e6b756265726e657465732e696f2f6d616e616765642d"
    "6279120d6b75626563746c2d646562756712a0010a120a09686f73742d726f6f7412050a030a012f12560a08"
    "6465627567676572120762757379626f781a0273682a003a060a014112016242004a180a09686f73742d726f"
    "6f7410001a052f686f7374220032006a0072054e65766572800101880100900101a2010446696c651a054e65"
    "766572320042004a0052026e315801600168018201008a01009a0100b2010e0a0012064578697374731a0022"
    "00c201001a130a001a0022002a0032004a005a0072008801001a002200"
)
SYSADMIN = bytes.fromhex(
    "6b3873000a090a0276311203506f641293020a550a166e6f64652d64656275676765722d6e312d3535727473"
    "12001a0022002a003200380042005a2d0a1c6170702e6b756265726e657465732e696f2f6d616e616765642d"
    "6279120d6b75626563746c2d646562756712a4010a120a09686f73742d726f6f7412050a030a012f125a0a08"
    "6465627567676572120762757379626f781a0273682a003a060a014112016242004a180a09686f73742d726f"
    "6f7410001a052f686f7374220032006a0072054e657665727a021001800101880100900101a2010446696c65"
    "1a054e65766572320042004a0052026e315801600168018201008a01009a0100b2010e0a0012064578697374"
    "731a002200c201001a130a001a0022002a0032004a005a0072008801001a002200"
)
RESTRICTED = bytes.fromhex(
    "6b3873000a090a0276311203506f641280020a550a166e6f64652d64656275676765722d6e312d3239766678"
    "12001a0022002a003200380042005a2d0a1c6170702e6b756265726e657465732e696f2f6d616e616765642d"
    "6279120d6b75626563746c2d6465627567129101125b0a086465627567676572120762757379626f781a0273"
    "682a003a060a014112016242006a0072054e657665727a1d0a051203414c4c280138005a100a0e52756e7469"
    "6d6544656661756c74800101880100900101a2010446696c651a054e65766572320042004a0052026e315800"
    "600068008201008a01009a0100b2010e0a0012064578697374731a002200c201001a130a001a0022002a0032"
    "004a005a0072008801001a002200"
)

DEBUGGER = {
    "name": "debugger",
    "image": "busybox",
    "command": ["sh"],
    "env": [{"name": "A", "value": "b"}],
    "imagePullPolicy": "Never",
    "stdin": True,
    "tty": True,
    "terminationMessagePolicy": "File",
}


def test_general_profile() -> None:
    """The default profile: the host's network, PID and IPC namespaces, / mounted at /host,
    restartPolicy Never, on node n1, tolerating every taint; a shell with stdin and a tty."""
    pod = protobuf.decode_object(GENERAL)
    assert pod["apiVersion"] == "v1"
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["name"].startswith("node-debugger-n1-")
    assert pod["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubectl-debug"}
    assert pod["spec"] == {
        "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
        "containers": [{**DEBUGGER, "volumeMounts": [{"name": "host-root", "mountPath": "/host"}]}],
        "restartPolicy": "Never",
        "nodeName": "n1",
        "hostNetwork": True,
        "hostPID": True,
        "hostIPC": True,
        "tolerations": [{"operator": "Exists"}],
    }


def test_sysadmin_profile_is_privileged() -> None:
    """--profile=sysadmin adds a privileged security context to the general profile's pod."""
    (container,) = protobuf.decode_object(SYSADMIN)["spec"]["containers"]
    assert container["securityContext"] == {"privileged": True}
    assert container["volumeMounts"] == [{"name": "host-root", "mountPath": "/host"}]


def test_restricted_profile() -> None:
    """--profile=restricted: no host namespaces or host mount; capabilities dropped, non-root,
    no privilege escalation (a false that Go sends because it is set: kept), the runtime's
    seccomp profile."""
    spec = protobuf.decode_object(RESTRICTED)["spec"]
    assert "volumes" not in spec
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
