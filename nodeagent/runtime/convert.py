"""PURE pod spec -> Docker Engine API create bodies (sandbox and containers), with warnings.

No I/O: the caller passes the image's config (for ENTRYPOINT/CMD/PATH/User) and performs the
returned host-path preparations (HostPathPrep) and emptyDir creations before creating. A field
that cannot be honoured is named in `warnings`, never dropped silently.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nodeagent.api import projection as P
from nodeagent.api.bodies import Obj
from nodeagent.api.quantity import parse_quantity
from nodeagent.runtime import labels as L
from nodeagent.runtime.protocol import PodContext, RuntimeError_

if TYPE_CHECKING:
    from fractions import Fraction

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SANDBOX_IMAGE = "localhost/nodeagent-pause:1"
# The sandbox's PID 1, from the busybox applets the pause image has (sh, sleep): as
# Kubernetes' pause, it exits (0) on SIGTERM or SIGINT, so `podman stop` and systemd's stop of
# its scope return at once, and it reaps the orphans reparented to it (ash's `wait` collects
# any child). A process with no handler ignores the signal as a namespace's PID 1: `sleep`
# alone made every host shutdown wait out systemd's 90 s stop timeout.
SANDBOX_COMMAND = ("/bin/sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait")
CONFIG_ERROR = "CreateContainerConfigError"
INVALID_ENV_PREFIX = "Keys ["  # kubelet's InvalidEnvironmentVariableNames message starts so

# Container fields honoured here, or by the agent (probes, lifecycle, pull policy...).
CONTAINER_FIELDS = frozenset(
    {
        "name", "image", "command", "args", "workingDir", "ports", "env", "envFrom", "resources",
        "volumeMounts", "securityContext", "stdin", "stdinOnce", "tty", "imagePullPolicy",
        "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "restartPolicy",
        "terminationMessagePath", "terminationMessagePolicy", "resizePolicy",
    }
)  # fmt: skip
# Pod spec fields honoured here, by the agent, or meaningful only to the server.
POD_FIELDS = frozenset(
    {
        "containers", "initContainers", "volumes", "restartPolicy", "hostNetwork", "hostPID",
        "hostIPC", "shareProcessNamespace", "securityContext", "hostname", "subdomain",
        "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "dnsConfig",
        "nodeSelector", "nodeName", "serviceAccountName", "serviceAccount",
        "automountServiceAccountToken", "affinity", "schedulerName", "tolerations",
        "priorityClassName", "priority", "preemptionPolicy", "readinessGates",
        "enableServiceLinks", "topologySpreadConstraints", "os", "schedulingGates",
        "setHostnameAsFQDN", "overhead", "hostAliases",
    }
)  # fmt: skip
CONTAINER_SECURITY_FIELDS = frozenset(
    {
        "privileged", "runAsUser", "runAsGroup", "runAsNonRoot", "capabilities",
        "readOnlyRootFilesystem", "allowPrivilegeEscalation", "seccompProfile",
    }
)  # fmt: skip
POD_SECURITY_FIELDS = frozenset(
    {
        "runAsUser", "runAsGroup", "runAsNonRoot", "supplementalGroups", "fsGroup", "sysctls",
        "seccompProfile", "fsGroupChangePolicy",
    }
)  # fmt: skip
RESOURCE_NAMES = frozenset({"cpu", "memory", "ephemeral-storage"})
HOST_PATH_TYPES = frozenset(
    {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
     "BlockDevice"}
)  # fmt: skip
PROPAGATION = {"None": "", "HostToContainer": "rslave", "Bidirectional": "rshared"}

_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


@dataclass(frozen=True, slots=True, kw_only=True)
class HostPathPrep:
    """A hostPath the shell must create or check before the container is created."""

    volume: str
    path: str
    type: str  # a HOST_PATH_TYPES value


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """Everything needed to create one engine container."""

    name: str  # engine name
    body: Obj  # Docker Engine API create body
    host_paths: tuple[HostPathPrep, ...] = ()
    empty_dirs: tuple[str, ...] = ()  # host dirs to create (emptyDir volumes)
    warnings: tuple[str, ...] = ()


def quantity(text: object) -> Fraction:
    """A Kubernetes quantity ("500m", "128Mi", "1e3", 2), exact (api.quantity); ValueError if
    malformed."""
    if not isinstance(text, str | int | float):
        raise ValueError(f"invalid quantity {text!r}")
    return parse_quantity(text)


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes $(VAR) expansion: known names are replaced, $$ escapes, the rest is kept."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
        elif text[i + 1] == "$":
            out.append("$")
            i += 2
        elif text[i + 1] == "(" and (end := text.find(")", i + 2)) != -1:
            name = text[i + 2 : end]
            out.append(env.get(name, text[i : end + 1]))
            i = end + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _spec(pod: Obj) -> Obj:
    return pod.get("spec") or {}


def _meta(pod: Obj) -> Obj:
    return pod.get("metadata") or {}


def _label_ref(pod: Obj, path: str) -> str | None:
    match = _LABEL_REF.match(path)
    if match is None:
        return None
    return str((_meta(pod).get(match.group(1)) or {}).get(match.group(2), ""))


FieldGetter = Callable[[Obj, PodContext], str]
FIELD_REFS: dict[str, FieldGetter] = {
    "metadata.name": lambda pod, ctx: str(_meta(pod).get("name", "")),
    "metadata.namespace": lambda pod, ctx: str(_meta(pod).get("namespace") or "default"),
    "metadata.uid": lambda pod, ctx: str(_meta(pod).get("uid", "")),
    "spec.nodeName": lambda pod, ctx: ctx.node_name,
    "spec.serviceAccountName": lambda pod, ctx: str(_spec(pod).get("serviceAccountName", "")),
    "status.hostIP": lambda pod, ctx: ctx.host_ip,
    "status.hostIPs": lambda pod, ctx: ctx.host_ip,
    "status.podIP": lambda pod, ctx: ctx.host_ip if _spec(pod).get("hostNetwork") else ctx.pod_ip,
    "status.podIPs": lambda pod, ctx: ctx.host_ip if _spec(pod).get("hostNetwork") else ctx.pod_ip,
}


_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # kubelet's IsEnvVarName


def _key_ref(pod: Obj, ctx: PodContext, ref: Obj, kind: str) -> str | None:
    """A configMapKeyRef or secretKeyRef's value; None when optional and absent."""
    name, key = str(ref.get("name", "")), str(ref.get("key", ""))
    namespace = P.namespace_of(pod)
    optional = bool(ref.get("optional"))
    data = P.lookup(ctx.objects, kind=kind, namespace=namespace, name=name, optional=optional)
    if data is None:
        return None
    if key not in data:
        if optional:
            return None
        raise P.ReferenceFailure(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key].decode("utf-8", "replace")


def _env_from(pod: Obj, container: Obj, ctx: PodContext, warnings: list[str]) -> dict[str, str]:
    """envFrom, in order (a later source overrides an earlier one); invalid names are skipped
    with kubelet's InvalidEnvironmentVariableNames message."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for field_name, kind in (("configMapRef", P.CONFIG_MAP), ("secretRef", P.SECRET)):
            ref = source.get(field_name)
            if not isinstance(ref, dict):
                continue
            name = str(ref.get("name", ""))
            data = P.lookup(
                ctx.objects,
                kind=kind,
                namespace=P.namespace_of(pod),
                name=name,
                optional=bool(ref.get("optional")),
            )
            invalid = []
            for key, value in (data or {}).items():
                if not _ENV_NAME.match(prefix + key):
                    invalid.append(prefix + key)
                    continue
                env[prefix + key] = value.decode("utf-8", "replace")
            if invalid:
                warnings.append(
                    f"{INVALID_ENV_PREFIX}{', '.join(sorted(invalid))}] from the EnvFrom "
                    f"{kind.lower()} {P.namespace_of(pod)}/{name} were skipped since they are "
                    "considered invalid environment variable names."
                )
    return env


def _value_from(pod: Obj, container: Obj, ctx: PodContext, value_from: Obj) -> str | None:
    """One env valueFrom; None: leave the variable unset (an optional reference)."""
    if value_from.get("configMapKeyRef") is not None:
        return _key_ref(pod, ctx, value_from["configMapKeyRef"] or {}, P.CONFIG_MAP)
    if value_from.get("secretKeyRef") is not None:
        return _key_ref(pod, ctx, value_from["secretKeyRef"] or {}, P.SECRET)
    if value_from.get("resourceFieldRef") is not None:
        return P.resource_value(
            pod,
            value_from["resourceFieldRef"] or {},
            container_name=str(container.get("name", "")),
            allocatable=ctx.allocatable,
        )
    path = str((value_from.get("fieldRef") or {}).get("fieldPath", ""))
    if path in FIELD_REFS:
        return FIELD_REFS[path](pod, ctx)
    value = _label_ref(pod, path)
    if value is None:
        raise P.ReferenceFailure(f"unsupported fieldPath: {path or value_from}")
    return value


def kubernetes_service_env(host: str, port: int) -> dict[str, str]:
    """The variables kubelet sets for the `kubernetes` Service (envvars.FromServices) in every
    pod, whatever enableServiceLinks says: here naming the server itself (ctx.api_server), its
    one port named https."""
    joined = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    prefix = f"KUBERNETES_PORT_{port}_TCP"
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{joined}",
        prefix: f"tcp://{joined}",
        f"{prefix}_PROTO": "tcp",
        f"{prefix}_PORT": str(port),
        f"{prefix}_ADDR": host,
    }


def _env(
    pod: Obj, container: Obj, ctx: PodContext, image_env: list[str], warnings: list[str]
) -> dict[str, str]:
    """kubelet's makeEnvironmentVariables: the `kubernetes` Service's variables, then envFrom,
    then env (which may refer to earlier names with $(VAR)); a later one overrides. A reference
    that cannot be met raises CreateContainerConfigError."""
    service = kubernetes_service_env(*ctx.api_server) if ctx.api_server else {}
    try:
        env = {**service, **_env_from(pod, container, ctx, warnings)}
        for item in container.get("env") or []:
            name = str(item.get("name", ""))
            if "valueFrom" not in item:
                env[name] = expand(str(item.get("value", "")), env)
                continue
            value = _value_from(pod, container, ctx, item.get("valueFrom") or {})
            if value is not None:
                env[name] = value
    except P.ReferenceFailure as e:
        raise RuntimeError_(str(e), reason=CONFIG_ERROR) from e
    if "PATH" not in env and not any(e.startswith("PATH=") for e in image_env):
        env = {"PATH": DEFAULT_PATH, **env}
    return env


def _command(container: Obj, image: Obj, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Kubernetes' rules: command replaces ENTRYPOINT (and drops CMD); args replace CMD."""
    command = [expand(str(c), env) for c in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    if command:
        return command, args
    entrypoint = list(image.get("Entrypoint") or [])
    return entrypoint, args or list(image.get("Cmd") or [])


def _limits(container: Obj, warnings: list[str]) -> Obj:
    where = f"container {container.get('name')}"
    resources = container.get("resources") or {}
    out: Obj = {}
    for kind in ("limits", "requests"):
        for name in resources.get(kind) or {}:
            if name not in RESOURCE_NAMES:
                warnings.append(f"{where}: resources.{kind}.{name} is not supported")
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    try:
        if "cpu" in limits:
            out["NanoCpus"] = int(quantity(limits["cpu"]) * 10**9)
            out["CpuPeriod"] = 0
        cpu_request = requests.get("cpu", limits.get("cpu"))
        if cpu_request is not None:
            out["CpuShares"] = max(2, int(quantity(cpu_request) * 1024))
        if "memory" in limits:
            out["Memory"] = int(quantity(limits["memory"]))
            out["MemorySwap"] = out["Memory"]
    except ValueError as exc:
        raise RuntimeError_(f"{where}: resources: {exc}", reason=CONFIG_ERROR) from exc
    if "ephemeral-storage" in limits:
        warnings.append(f"{where}: resources.limits.ephemeral-storage is not enforced")
    return out


def _security(pod: Obj, container: Obj, image: Obj, warnings: list[str]) -> tuple[Obj, Obj]:
    """(config fields, host-config fields) from the pod's and the container's securityContext."""
    where = f"container {container.get('name')}"
    pod_sc = _spec(pod).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    for key in sc:
        if key not in CONTAINER_SECURITY_FIELDS:
            warnings.append(f"{where}: securityContext.{key} is not supported")
    config: Obj = {}
    host: Obj = {}
    user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    group = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    if user is not None or group is not None:
        base = str(user) if user is not None else str(image.get("User") or "0").split(":")[0]
        config["User"] = base if group is None else f"{base}:{group}"
    if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
        effective = str(config.get("User") or image.get("User") or "0").split(":")[0]
        if effective in ("0", "root", ""):
            raise RuntimeError_(
                f"{where}: container has runAsNonRoot and image will run as root",
                reason=CONFIG_ERROR,
            )
    if sc.get("privileged"):
        host["Privileged"] = True
    caps = sc.get("capabilities") or {}
    if caps.get("add"):
        host["CapAdd"] = [str(c) for c in caps["add"]]
    if caps.get("drop"):
        host["CapDrop"] = [str(c) for c in caps["drop"]]
    if sc.get("readOnlyRootFilesystem"):
        host["ReadonlyRootfs"] = True
    options: list[str] = []
    if sc.get("allowPrivilegeEscalation") is False:
        options.append("no-new-privileges")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp == "Unconfined":
        options.append("seccomp=unconfined")
    elif seccomp == "Localhost":
        warnings.append(f"{where}: seccompProfile Localhost is not supported; engine default used")
    if options:
        host["SecurityOpt"] = options
    groups = [str(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None:
        groups.append(str(pod_sc["fsGroup"]))
        warnings.append(f"{where}: fsGroup is added as a group; volume ownership is not changed")
    if groups:
        host["GroupAdd"] = groups
    return config, host


def _volumes(
    pod: Obj, container: Obj, ctx: PodContext, warnings: list[str]
) -> tuple[list[str], list[HostPathPrep], list[str]]:
    """(Binds, host paths to prepare, emptyDir dirs to create) for this container's mounts.

    configMap, secret, downwardAPI and projected volumes are directories under ctx.volume_dir
    that the agent has filled (agent/podvolumes.py)."""
    where = f"container {container.get('name')}"
    volumes = {str(v.get("name")): v for v in _spec(pod).get("volumes") or []}
    binds: list[str] = []
    preps: list[HostPathPrep] = []
    empty: list[str] = []
    for mount in container.get("volumeMounts") or []:
        name = str(mount.get("name", ""))
        volume = volumes.get(name)
        if volume is None:
            warnings.append(f"{where}: volumeMount {name}: no such volume; not mounted")
            continue
        if "hostPath" in volume:
            host_path = volume["hostPath"] or {}
            source = str(host_path.get("path", ""))
            kind = str(host_path.get("type") or "")
            if kind not in HOST_PATH_TYPES:
                raise RuntimeError_(
                    f"volume {name}: unknown hostPath type {kind!r}", reason=CONFIG_ERROR
                )
            preps.append(HostPathPrep(volume=name, path=source, type=kind))
        elif "emptyDir" in volume:
            source = posixpath.join(ctx.volume_dir, name)
            empty.append(source)
            medium = (volume["emptyDir"] or {}).get("medium")
            if medium:
                warnings.append(f"volume {name}: emptyDir medium {medium} is backed by disk")
            if (volume["emptyDir"] or {}).get("sizeLimit"):
                warnings.append(f"volume {name}: emptyDir sizeLimit is not enforced")
        elif P.is_projected_volume(volume):
            # written by the agent before the container is created (agent/podvolumes.py); a
            # subPath binds the file as it is then, and does not follow updates (as kubelet)
            source = posixpath.join(ctx.volume_dir, name)
        else:
            kind = next((k for k in volume if k != "name"), "?")
            warnings.append(f"{where}: volume {name} of type {kind} is not supported; not mounted")
            continue
        sub_path = str(mount.get("subPath") or "")
        if sub_path:
            if sub_path.startswith("/") or ".." in sub_path.split("/"):
                raise RuntimeError_(
                    f"volumeMount {name}: invalid subPath {sub_path!r}", reason=CONFIG_ERROR
                )
            source = posixpath.join(source, sub_path)
        # kubelet mounts configMap, secret, downwardAPI and projected volumes read-only always
        read_only = mount.get("readOnly") or P.is_projected_volume(volume)
        options = ["ro"] if read_only else []
        propagation = PROPAGATION.get(str(mount.get("mountPropagation") or "None"), "")
        if propagation:
            options.append(propagation)
        target = str(mount.get("mountPath", ""))
        binds.append(":".join([source, target, *([",".join(options)] if options else [])]))
    return binds, preps, empty


def _unknown_fields(pod: Obj, container: Obj, warnings: list[str]) -> None:
    where = f"container {container.get('name')}"
    warnings.extend(
        f"{where}: field {key} is not supported" for key in container if key not in CONTAINER_FIELDS
    )
    spec = _spec(pod)
    warnings.extend(f"spec.{key} is not supported" for key in spec if key not in POD_FIELDS)
    pod_sc = spec.get("securityContext") or {}
    warnings.extend(
        f"spec.securityContext.{key} is not supported"
        for key in pod_sc
        if key not in POD_SECURITY_FIELDS
    )


def _ports(containers: list[Obj], host_ip_default: str) -> tuple[Obj, Obj]:
    """(ExposedPorts, PortBindings) for the ports of `containers`."""
    exposed: Obj = {}
    bindings: Obj = {}
    for container in containers:
        for port in container.get("ports") or []:
            key = f"{port.get('containerPort')}/{str(port.get('protocol') or 'TCP').lower()}"
            exposed[key] = {}
            if port.get("hostPort"):
                bindings.setdefault(key, []).append(
                    {
                        "HostIp": str(port.get("hostIP") or host_ip_default),
                        "HostPort": str(port["hostPort"]),
                    }
                )
    return exposed, bindings


def _host_aliases(pod: Obj) -> list[str]:
    """hostAliases as ExtraHosts ("name:ip"), in the order given."""
    return [
        f"{name}:{alias.get('ip')}"
        for alias in _spec(pod).get("hostAliases") or []
        for name in alias.get("hostnames") or []
    ]


def _namespaces(pod: Obj, sandbox_id: str | None, *, join_uts: bool = False) -> Obj:
    spec = _spec(pod)
    host: Obj = {}
    if spec.get("hostNetwork"):
        host["NetworkMode"] = "host"
    elif sandbox_id:
        host["NetworkMode"] = f"container:{sandbox_id}"
        if join_uts:
            host["UTSMode"] = f"container:{sandbox_id}"
    if spec.get("hostPID"):
        host["PidMode"] = "host"
    elif spec.get("shareProcessNamespace") and sandbox_id:
        host["PidMode"] = f"container:{sandbox_id}"
    if spec.get("hostIPC"):
        host["IpcMode"] = "host"
    return host


def container_config(
    pod: Obj,
    container: Obj,
    ctx: PodContext,
    *,
    attempt: int,
    is_init: bool,
    image_config: Obj | None,
    join_uts: bool = False,
) -> ContainerConfig:
    """The create body of one container of `pod`; image_config is the image's `Config` object.

    join_uts: also join the sandbox's UTS namespace (the pod's hostname). podman needs it and
    accepts `UTSMode: container:<id>`; dockerd shares it with the network and refuses it.
    Raises RuntimeError_(reason CreateContainerConfigError) for a spec that cannot run at all.
    """
    image = image_config or {}
    warnings: list[str] = []
    _unknown_fields(pod, container, warnings)
    spec = _spec(pod)
    name = str(container.get("name", ""))
    env = _env(pod, container, ctx, list(image.get("Env") or []), warnings)
    entrypoint, cmd = _command(container, image, env)
    config, security_host = _security(pod, container, image, warnings)
    binds, preps, empty = _volumes(pod, container, ctx, warnings)
    host: Obj = {
        **_namespaces(pod, ctx.sandbox_id, join_uts=join_uts),
        **security_host,
        **_limits(container, warnings),
        "RestartPolicy": {"Name": "no"},
    }
    if binds:
        host["Binds"] = binds
    if spec.get("hostNetwork") and _host_aliases(pod):
        host["ExtraHosts"] = _host_aliases(pod)
    if not spec.get("hostNetwork") and not ctx.sandbox_id:
        warnings.append(f"container {name}: no sandbox; the container gets a network of its own")
    exposed, bindings = _ports([container], "")
    if bindings and "NetworkMode" not in host:
        host["PortBindings"] = bindings
    grace = int(spec.get("terminationGracePeriodSeconds", 30))
    body: Obj = {
        "Image": str(container.get("image", "")),
        "Entrypoint": entrypoint,
        "Cmd": cmd,
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Labels": L.container_labels(
            pod, ctx, container_name=name, attempt=attempt, is_init=is_init
        ),
        "StopTimeout": grace,
        "HostConfig": host,
        **config,
    }
    if container.get("workingDir"):
        body["WorkingDir"] = str(container["workingDir"])
    if exposed:
        body["ExposedPorts"] = exposed
    if container.get("tty"):
        body["Tty"] = True
    if container.get("stdin"):
        body["OpenStdin"] = True
        body["StdinOnce"] = bool(container.get("stdinOnce"))
    stop_signal = (container.get("lifecycle") or {}).get("stopSignal")
    if stop_signal:
        body["StopSignal"] = str(stop_signal)
    return ContainerConfig(
        name=L.engine_name(pod, container_name=name, attempt=attempt),
        body=body,
        host_paths=tuple(preps),
        empty_dirs=tuple(empty),
        warnings=tuple(warnings),
    )


def sandbox_config(pod: Obj, ctx: PodContext, *, attempt: int = 0) -> ContainerConfig:
    """The create body of the pod's sandbox: holds its network (ports, hostname, DNS, sysctls)."""
    spec = _spec(pod)
    host: Obj = {**_namespaces(pod, None), "RestartPolicy": {"Name": "no"}}
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    exposed, bindings = _ports(containers, "")
    if bindings and not spec.get("hostNetwork"):
        host["PortBindings"] = bindings
    if not spec.get("hostNetwork") and _host_aliases(pod):
        host["ExtraHosts"] = _host_aliases(pod)  # the pod's containers share its /etc/hosts
    sysctls = (spec.get("securityContext") or {}).get("sysctls") or []
    if sysctls:
        host["Sysctls"] = {str(s.get("name")): str(s.get("value")) for s in sysctls}
    dns = spec.get("dnsConfig") or {}
    if dns.get("nameservers"):
        host["Dns"] = [str(n) for n in dns["nameservers"]]
    if dns.get("searches"):
        host["DnsSearch"] = [str(s) for s in dns["searches"]]
    if dns.get("options"):
        host["DnsOptions"] = [
            f"{o.get('name')}:{o['value']}" if o.get("value") else str(o.get("name"))
            for o in dns["options"]
        ]
    body: Obj = {
        "Image": SANDBOX_IMAGE,
        "Entrypoint": list(SANDBOX_COMMAND[:1]),
        "Cmd": list(SANDBOX_COMMAND[1:]),
        "Labels": L.container_labels(pod, ctx, container_name="", attempt=attempt, is_init=False),
        "StopTimeout": 0,
        "HostConfig": host,
    }
    if not spec.get("hostNetwork"):
        body["Hostname"] = str(spec.get("hostname") or _meta(pod).get("name", ""))[:63]
    if exposed:
        body["ExposedPorts"] = exposed
    return ContainerConfig(name=L.engine_name(pod, container_name="", attempt=attempt), body=body)
