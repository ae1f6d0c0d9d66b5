"""Pod spec -> Docker create body: each Kubernetes field lands where the engine expects it."""

from __future__ import annotations

import copy
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from nodeagent.api.bodies import Obj
from nodeagent.api.projection import Objects
from nodeagent.runtime import labels as L
from nodeagent.runtime.convert import (
    DEFAULT_PATH,
    SANDBOX_IMAGE,
    ContainerConfig,
    HostPathPrep,
    container_config,
    expand,
    quantity,
    sandbox_config,
)
from nodeagent.runtime.protocol import PodContext, RuntimeError_

CTX = PodContext(
    node_name="node-1",
    host_ip="192.0.2.10",
    source="api",
    spec_hash="abc",
    volume_dir="/var/lib/nodeagent/pods/uid-1/volumes",
    sandbox_id="sandbox123",
    pod_ip="10.88.0.7",
)
IMAGE: Obj = {"Entrypoint": ["/entry"], "Cmd": ["default-arg"], "Env": [], "User": ""}


def pod(container: Obj | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {
            "name": "web",
            "namespace": "prod",
            "uid": "1234abcd-5678",
            "labels": {"app": "web"},
        },
        "spec": {"containers": [{"name": "app", "image": "img:1", **(container or {})}], **spec},
    }


def convert(p: Obj, *, ctx: PodContext = CTX, image: Obj | None = None) -> ContainerConfig:
    return container_config(
        p,
        p["spec"]["containers"][0],
        ctx,
        attempt=2,
        is_init=False,
        image_config=IMAGE if image is None else image,
    )


def env_of(config: ContainerConfig) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config.body["Env"])


@pytest.mark.parametrize(
    ("container", "entrypoint", "cmd"),
    [
        ({}, ["/entry"], ["default-arg"]),
        ({"command": ["/bin/sh", "-c"]}, ["/bin/sh", "-c"], []),
        ({"args": ["x", "y"]}, ["/entry"], ["x", "y"]),
        ({"command": ["/run"], "args": ["a"]}, ["/run"], ["a"]),
        ({"command": ["echo", "$(GREETING)", "$$(GREETING)", "$(MISSING)"]},
         ["echo", "hello", "$(GREETING)", "$(MISSING)"], []),
    ],
    ids=["image-defaults", "command-drops-cmd", "args-keep-entrypoint", "both", "expansion"],
)  # fmt: skip
def test_command_and_args_follow_kubernetes_rules(
    container: Obj, entrypoint: list[str], cmd: list[str]
) -> None:
    """command replaces ENTRYPOINT and CMD; args alone replace CMD; $(VAR) expands from env."""
    container = {"env": [{"name": "GREETING", "value": "hello"}], **container}
    body = convert(pod(container)).body
    assert (body["Entrypoint"], body["Cmd"]) == (entrypoint, cmd)


@pytest.mark.parametrize(
    ("field_path", "value"),
    [
        ("metadata.name", "web"),
        ("metadata.namespace", "prod"),
        ("metadata.uid", "1234abcd-5678"),
        ("spec.nodeName", "node-1"),
        ("status.hostIP", "192.0.2.10"),
        ("status.podIP", "10.88.0.7"),
        ("metadata.labels['app']", "web"),
    ],
)
def test_env_field_refs(field_path: str, value: str) -> None:
    """valueFrom.fieldRef resolves from the pod and the node context."""
    container = {"env": [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": field_path}}}]}
    assert env_of(convert(pod(container)))["V"] == value


def test_pod_ip_is_host_ip_with_host_network() -> None:
    """A hostNetwork pod's podIP is the host's address."""
    container = {"env": [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}
    assert env_of(convert(pod(container, hostNetwork=True)))["V"] == "192.0.2.10"


def test_default_path_only_when_the_image_has_none() -> None:
    """PATH is supplied when neither the image nor the container sets it."""
    assert env_of(convert(pod()))["PATH"] == DEFAULT_PATH
    image = {**IMAGE, "Env": ["PATH=/opt/bin"]}
    assert "PATH" not in env_of(convert(pod(), image=image))
    own = convert(pod({"env": [{"name": "PATH", "value": "/mine"}]}))
    assert env_of(own)["PATH"] == "/mine"


OBJECTS: Objects = {
    ("ConfigMap", "prod", "c"): {"A": b"from-cm", "B": b"b", "bad-key": b"x", "1X": b"y"},
    ("Secret", "prod", "s"): {"k": b"s3cret", "A": b"from-secret"},
}
WITH_OBJECTS = replace(CTX, objects=OBJECTS, allocatable={"cpu": "4", "memory": "8Gi"})


def test_env_from_config_maps_and_secrets() -> None:
    """envFrom in order, then env over it; keys that are no env names are skipped with
    kubelet's InvalidEnvironmentVariableNames message; a prefix applies to each key."""
    container = {
        "envFrom": [{"configMapRef": {"name": "c"}}, {"secretRef": {"name": "s"}, "prefix": "S_"}],
        "env": [
            {"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "A"}}},
            {"name": "E", "value": "$(B)-x"},
        ],
    }
    config = convert(pod(container), ctx=WITH_OBJECTS)
    env = env_of(config)
    assert (env["A"], env["S_k"], env["S_A"], env["K"], env["B"], env["E"]) == (
        "from-cm", "s3cret", "from-secret", "s3cret", "from-cm", "from-cm-x"
    )  # fmt: skip
    assert "bad-key" in env  # '-' is allowed in env names (IsEnvVarName)
    assert "1X" not in env  # a name may not start with a digit
    assert config.warnings == (
        "Keys [1X] from the EnvFrom configmap prod/c were skipped since they are considered "
        "invalid environment variable names.",
    )


def test_env_from_invalid_names_are_a_warning() -> None:
    """A key that cannot be an environment variable name is skipped and named."""
    objects: Objects = {("ConfigMap", "prod", "c"): {"a b": b"1", "ok": b"2"}}
    config = convert(pod({"envFrom": [{"configMapRef": {"name": "c"}}]}),
                     ctx=replace(CTX, objects=objects))  # fmt: skip
    assert env_of(config)["ok"] == "2"
    assert config.warnings == (
        "Keys [a b] from the EnvFrom configmap prod/c were skipped since they are considered "
        "invalid environment variable names.",
    )


@pytest.mark.parametrize(
    ("value_from", "message"),
    [
        ({"configMapKeyRef": {"name": "nope", "key": "A"}}, 'configmap "nope" not found'),
        ({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found'),
        ({"configMapKeyRef": {"name": "c", "key": "Z"}}, "couldn't find key Z in ConfigMap prod/c"),
        ({"secretKeyRef": {"name": "s", "key": "Z"}}, "couldn't find key Z in Secret prod/s"),
        ({"fieldRef": {"fieldPath": "spec.unknown"}}, "unsupported fieldPath: spec.unknown"),
    ],
    ids=["configmap", "secret", "configmap-key", "secret-key", "field-path"],
)  # fmt: skip
def test_missing_references_are_config_errors(value_from: Obj, message: str) -> None:
    """A missing object or key keeps the container from being created, with kubelet's words."""
    container = {"env": [{"name": "V", "valueFrom": value_from}]}
    with pytest.raises(RuntimeError_) as info:
        convert(pod(container), ctx=WITH_OBJECTS)
    assert info.value.reason == "CreateContainerConfigError"
    assert str(info.value) == message


def test_optional_references_leave_the_variable_unset() -> None:
    """optional: true on a missing object or key: no variable, no error."""
    container = {
        "env": [
            {
                "name": "V",
                "valueFrom": {"configMapKeyRef": {"name": "x", "key": "A", "optional": True}},
            },
            {
                "name": "W",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "Z", "optional": True}},
            },
        ],
        "envFrom": [{"secretRef": {"name": "gone", "optional": True}}],
    }
    env = env_of(convert(pod(container), ctx=WITH_OBJECTS))
    assert "V" not in env
    assert "W" not in env


@pytest.mark.parametrize(
    ("resources", "ref", "value"),
    [
        ({"limits": {"cpu": "500m"}}, {"resource": "limits.cpu"}, "1"),
        ({"limits": {"cpu": "500m"}}, {"resource": "limits.cpu", "divisor": "1m"}, "500"),
        ({}, {"resource": "limits.cpu"}, "4"),
        ({"requests": {"memory": "64Mi"}}, {"resource": "requests.memory", "divisor": "1Mi"}, "64"),
        ({}, {"resource": "limits.memory", "divisor": "1Gi"}, "8"),
        ({"limits": {"memory": "1Gi"}}, {"resource": "requests.memory"}, str(2**30)),
        ({}, {"resource": "requests.cpu"}, "0"),
    ],
    ids=["cpu-rounded-up", "cpu-millis", "cpu-allocatable", "memory-request", "memory-allocatable",
         "request-from-limit", "no-request"],
)  # fmt: skip
def test_resource_field_refs(resources: Obj, ref: Obj, value: str) -> None:
    """resourceFieldRef: divided by the divisor, rounded up; an unset limit is the node's."""
    container = {"resources": resources,
                 "env": [{"name": "V", "valueFrom": {"resourceFieldRef": ref}}]}  # fmt: skip
    assert env_of(convert(pod(container), ctx=WITH_OBJECTS))["V"] == value


def test_projected_volumes_bind_their_directory() -> None:
    """configMap/secret/downwardAPI/projected volumes bind the directory the agent filled, always
    read-only (as kubelet mounts them); a subPath binds one file of it."""
    volumes = [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "info", "downwardAPI": {}}]
    mounts = [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
              {"name": "info", "mountPath": "/etc/name", "subPath": "name"}]  # fmt: skip
    config = convert(pod({"volumeMounts": mounts}, volumes=volumes), ctx=WITH_OBJECTS)
    assert config.body["HostConfig"]["Binds"] == [
        f"{CTX.volume_dir}/cfg:/etc/cfg:ro",
        f"{CTX.volume_dir}/info/name:/etc/name:ro",
    ]
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("spec", "host"),
    [
        ({}, {"NetworkMode": "container:sandbox123"}),
        ({"hostNetwork": True}, {"NetworkMode": "host"}),
        ({"hostPID": True}, {"NetworkMode": "container:sandbox123", "PidMode": "host"}),
        ({"shareProcessNamespace": True},
         {"NetworkMode": "container:sandbox123", "PidMode": "container:sandbox123"}),
        ({"hostIPC": True}, {"NetworkMode": "container:sandbox123", "IpcMode": "host"}),
    ],
    ids=["sandbox-netns", "host-network", "host-pid", "share-pid", "host-ipc"],
)  # fmt: skip
def test_namespaces(spec: Obj, host: Obj) -> None:
    """Containers join the sandbox's network unless hostNetwork; host PID/IPC as asked."""
    got = convert(pod(None, **spec)).body["HostConfig"]
    assert {k: got[k] for k in ("NetworkMode", "PidMode", "IpcMode") if k in got} == host


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"limits": {"cpu": "500m", "memory": "64Mi"}},
         {"NanoCpus": 500_000_000, "Memory": 2**26, "MemorySwap": 2**26, "CpuShares": 512}),
        ({"limits": {"cpu": "2"}, "requests": {"cpu": "100m"}},
         {"NanoCpus": 2_000_000_000, "CpuShares": 102}),
        ({"requests": {"cpu": "1m"}}, {"CpuShares": 2}),
        ({"limits": {"memory": "1G"}}, {"Memory": 10**9, "MemorySwap": 10**9}),
    ],
)  # fmt: skip
def test_resources(resources: Obj, expected: Obj) -> None:
    """limits.cpu -> NanoCpus, limits.memory -> Memory (no swap), requests.cpu -> CpuShares."""
    host = convert(pod({"resources": resources})).body["HostConfig"]
    assert {k: host[k] for k in expected} == expected
    assert not ({"NanoCpus", "Memory", "CpuShares"} - set(expected)) & set(host)


def test_bad_quantity_is_a_config_error() -> None:
    """An unparseable limit stops the container with CreateContainerConfigError."""
    with pytest.raises(RuntimeError_) as error:
        convert(pod({"resources": {"limits": {"memory": "lots"}}}))
    assert error.value.reason == "CreateContainerConfigError"


@pytest.mark.parametrize(
    ("pod_sc", "sc", "config", "host"),
    [
        ({}, {"privileged": True}, {}, {"Privileged": True}),
        ({}, {"runAsUser": 1000}, {"User": "1000"}, {}),
        ({"runAsUser": 5, "runAsGroup": 6}, {"runAsUser": 7}, {"User": "7:6"}, {}),
        ({}, {"runAsGroup": 9}, {"User": "0:9"}, {}),
        ({}, {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}, {},
         {"CapAdd": ["NET_ADMIN"], "CapDrop": ["ALL"]}),
        ({}, {"readOnlyRootFilesystem": True}, {}, {"ReadonlyRootfs": True}),
        ({}, {"allowPrivilegeEscalation": False}, {}, {"SecurityOpt": ["no-new-privileges"]}),
        ({"supplementalGroups": [10, 11]}, {}, {}, {"GroupAdd": ["10", "11"]}),
    ],
    ids=["privileged", "user", "pod-group", "group-only", "caps", "ro-root", "no-new-privs",
         "groups"],
)  # fmt: skip
def test_security_context(pod_sc: Obj, sc: Obj, config: Obj, host: Obj) -> None:
    """securityContext fields map to User, Privileged, CapAdd/CapDrop, ReadonlyRootfs, ..."""
    p = pod({"securityContext": sc}, securityContext=pod_sc)
    body = convert(p).body
    assert {k: body[k] for k in ("User",) if k in body} == config
    keys = ("Privileged", "CapAdd", "CapDrop", "ReadonlyRootfs", "SecurityOpt", "GroupAdd")
    assert {k: body["HostConfig"][k] for k in keys if k in body["HostConfig"]} == host


def test_run_as_non_root_refuses_a_root_image() -> None:
    """runAsNonRoot with an image running as root is CreateContainerConfigError."""
    with pytest.raises(RuntimeError_, match="runAsNonRoot") as error:
        convert(pod({"securityContext": {"runAsNonRoot": True}}))
    assert error.value.reason == "CreateContainerConfigError"
    ok = convert(pod({"securityContext": {"runAsNonRoot": True, "runAsUser": 1}}))
    assert ok.body["User"] == "1"


def test_volumes_host_path_empty_dir_read_only_and_unsupported() -> None:
    """hostPath and emptyDir become binds (ro if readOnly); other volume kinds are warned about."""
    p = pod(
        {
            "volumeMounts": [
                {"name": "logs", "mountPath": "/var/log/host", "readOnly": True},
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "conf", "mountPath": "/etc/app", "subPath": "sub/dir"},
                {"name": "disk", "mountPath": "/disk"},
            ]
        },
        volumes=[
            {"name": "logs", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "conf", "hostPath": {"path": "/etc/app", "type": "DirectoryOrCreate"}},
            {"name": "disk", "persistentVolumeClaim": {"claimName": "d"}},
        ],
    )
    config = convert(p)
    assert config.body["HostConfig"]["Binds"] == [
        "/var/log:/var/log/host:ro",
        f"{CTX.volume_dir}/scratch:/scratch",
        "/etc/app/sub/dir:/etc/app",
    ]
    assert config.host_paths == (
        HostPathPrep(volume="logs", path="/var/log", type="Directory"),
        HostPathPrep(volume="conf", path="/etc/app", type="DirectoryOrCreate"),
    )
    assert config.empty_dirs == (f"{CTX.volume_dir}/scratch",)
    assert any("persistentVolumeClaim" in w and "not supported" in w for w in config.warnings)


@pytest.mark.parametrize("sub_path", ["../etc", "/abs", "a/../../b"])
def test_escaping_sub_path_is_refused(sub_path: str) -> None:
    """A subPath that leaves its volume is a config error, never a bind of the host's files."""
    p = pod(
        {"volumeMounts": [{"name": "v", "mountPath": "/m", "subPath": sub_path}]},
        volumes=[{"name": "v", "hostPath": {"path": "/data"}}],
    )
    with pytest.raises(RuntimeError_):
        convert(p)


def test_labels_name_and_stop_timeout() -> None:
    """The labels say whose container it is; the engine name is kubelet-style; grace is kept."""
    config = convert(pod(None, terminationGracePeriodSeconds=7))
    labels = config.body["Labels"]
    assert labels[L.POD_UID] == "1234abcd-5678"
    assert labels[L.NAMESPACE] == "prod"
    assert labels[L.CONTAINER_NAME] == "app"
    assert (labels[L.SPEC_HASH], labels[L.SOURCE], labels[L.ATTEMPT]) == ("abc", "api", "2")
    assert (labels[L.INIT], labels[L.SANDBOX], labels[L.NODE]) == ("false", "false", "node-1")
    assert config.name == "k8s_app_web_prod_1234abcd_2"
    assert config.body["StopTimeout"] == 7
    assert config.body["HostConfig"]["RestartPolicy"] == {"Name": "no"}


def test_ports_go_on_the_sandbox() -> None:
    """hostPort bindings belong to the sandbox that owns the network namespace."""
    p = pod(
        {
            "ports": [
                {"containerPort": 80, "hostPort": 8080},
                {"containerPort": 53, "protocol": "UDP"},
            ]
        }
    )
    sandbox = sandbox_config(p, CTX)
    assert sandbox.body["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}]
    }
    assert set(sandbox.body["ExposedPorts"]) == {"80/tcp", "53/udp"}
    assert sandbox.body["Image"] == SANDBOX_IMAGE
    assert sandbox.body["Hostname"] == "web"
    assert sandbox.body["Labels"][L.SANDBOX] == "true"
    assert sandbox.name == "k8s_POD_web_prod_1234abcd_0"
    assert "PortBindings" not in convert(p).body["HostConfig"]


def test_host_network_sandbox_has_no_bindings_or_hostname() -> None:
    """With hostNetwork the ports are the host's own: nothing to bind."""
    p = pod({"ports": [{"containerPort": 9100, "hostPort": 9100}]}, hostNetwork=True)
    body = sandbox_config(p, CTX).body
    assert body["HostConfig"]["NetworkMode"] == "host"
    assert "PortBindings" not in body["HostConfig"]
    assert "Hostname" not in body


def test_unknown_fields_are_warned_about_and_input_is_not_mutated() -> None:
    """Fields nobody honours come back as warnings; the pod dict is left untouched."""
    p = pod({"volumeDevices": [{"name": "d", "devicePath": "/dev/x"}]}, runtimeClassName="gvisor")
    before = copy.deepcopy(p)
    warnings = convert(p).warnings
    assert any("volumeDevices" in w for w in warnings)
    assert any("runtimeClassName" in w for w in warnings)
    assert p == before


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("1", 1), ("1.5", Decimal("1.5")), ("128Mi", 128 * 2**20),
     ("1k", 1000), ("1e3", 1000), ("2Gi", 2 * 2**30), (3, 3)],
)  # fmt: skip
def test_quantity(text: object, value: Decimal) -> None:
    """Kubernetes quantities parse exactly."""
    assert quantity(text) == value


def test_expand_edge_cases() -> None:
    """$$ escapes, unknown names stay, unterminated references stay literal."""
    env = {"A": "1"}
    assert expand("$(A)-$$(A)-$(B)-$(A", env) == "1-$(A)-$(B)-$(A"
    assert expand("cost $5 $", env) == "cost $5 $"


def test_host_aliases_and_shared_hostname() -> None:
    """hostAliases go to the sandbox's /etc/hosts (to each container with hostNetwork); with
    join_uts the container takes the sandbox's hostname."""
    aliases = [{"ip": "10.1.2.3", "hostnames": ["foo", "bar"]}]
    p = pod(None, hostAliases=aliases)
    assert sandbox_config(p, CTX).body["HostConfig"]["ExtraHosts"] == [
        "foo:10.1.2.3",
        "bar:10.1.2.3",
    ]
    joined = container_config(
        p,
        p["spec"]["containers"][0],
        CTX,
        attempt=0,
        is_init=False,
        image_config=IMAGE,
        join_uts=True,
    )
    assert joined.body["HostConfig"]["UTSMode"] == "container:sandbox123"
    assert "ExtraHosts" not in joined.body["HostConfig"]
    assert "UTSMode" not in convert(p).body["HostConfig"]
    on_host = convert(pod(None, hostAliases=aliases, hostNetwork=True)).body["HostConfig"]
    assert on_host["ExtraHosts"] == ["foo:10.1.2.3", "bar:10.1.2.3"]
    assert not [w for w in convert(p).warnings if "hostAliases" in w]


SERVICE_ENV = {
    "KUBERNETES_SERVICE_HOST": "10.88.0.1",
    "KUBERNETES_SERVICE_PORT": "6443",
    "KUBERNETES_SERVICE_PORT_HTTPS": "6443",
    "KUBERNETES_PORT": "tcp://10.88.0.1:6443",
    "KUBERNETES_PORT_6443_TCP": "tcp://10.88.0.1:6443",
    "KUBERNETES_PORT_6443_TCP_PROTO": "tcp",
    "KUBERNETES_PORT_6443_TCP_PORT": "6443",
    "KUBERNETES_PORT_6443_TCP_ADDR": "10.88.0.1",
}


def test_kubernetes_service_variables() -> None:
    """With a server, every container gets kubelet's variables of the `kubernetes` Service
    naming it (even with enableServiceLinks false); env overrides them and may use them; with
    no server there are none."""
    ctx = replace(CTX, api_server=("10.88.0.1", 6443))
    env = env_of(convert(pod(enableServiceLinks=False), ctx=ctx))
    assert {k: v for k, v in env.items() if k.startswith("KUBERNETES_")} == SERVICE_ENV
    url = "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"
    own = {"env": [{"name": "KUBERNETES_SERVICE_HOST", "value": "api.example"},
                   {"name": "URL", "value": url}]}  # fmt: skip
    env = env_of(convert(pod(own), ctx=ctx))
    assert env["KUBERNETES_SERVICE_HOST"] == "api.example"
    assert env["URL"] == "https://api.example:6443"
    assert not [k for k in env_of(convert(pod())) if k.startswith("KUBERNETES_")]


def test_kubernetes_service_variables_ipv6() -> None:
    """An IPv6 server address is bracketed in the tcp:// URLs, bare in _HOST and _ADDR."""
    env = env_of(convert(pod(), ctx=replace(CTX, api_server=("fd00::1", 6443))))
    assert env["KUBERNETES_SERVICE_HOST"] == "fd00::1"
    assert env["KUBERNETES_PORT"] == "tcp://[fd00::1]:6443"
    assert env["KUBERNETES_PORT_6443_TCP_ADDR"] == "fd00::1"
