"""Validation of a PodSpec as the API server does it (ValidatePodSpec and the helpers it
calls), reporting every error with its field path. Pure; never raises on any input."""

from __future__ import annotations

from typing import Any

from nodeagent.api import names
from nodeagent.api.bodies import Obj
from nodeagent.api.envvalidation import env_from, env_name_problems, value_from
from nodeagent.api.fielderrors import Errors
from nodeagent.api.placementvalidation import validate_node_selector, validate_tolerations
from nodeagent.api.quantity import parse_quantity
from nodeagent.api.volumevalidation import local_descending_path, validate_volume_source

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
HOST_PATH_TYPES = (
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
)
URI_SCHEMES = ("HTTP", "HTTPS")
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
PROBE_FIELDS = ("livenessProbe", "readinessProbe", "startupProbe")
PROBE_COUNTS = (
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
)
# Volume sources Kubernetes knows; exactly one per volume.
VOLUME_SOURCES = (  # in validateVolumeSource's order: the second one found is reported
    "hostPath",
    "emptyDir",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flexVolume",
    "persistentVolumeClaim",
    "rbd",
    "quobyte",
    "cinder",
    "cephfs",
    "downwardAPI",
    "fc",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
)
STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "storage", "pods"})


def validate_pod_spec(spec: Any, path: str, errs: Errors | None = None) -> Errors:
    """Every error in a PodSpec at path (e.g. "spec" or "spec.template.spec")."""
    errs = errs if errs is not None else Errors()
    if spec is None:
        spec = {}  # a missing spec is an empty one: its containers are missing
    if not isinstance(spec, dict):
        errs.wrong_type(path, spec, dict)
        return errs
    volumes = _volumes(spec, path, errs)
    host_network = errs.get_bool(spec, "hostNetwork", f"{path}.hostNetwork")
    containers = errs.get_maps(spec, "containers", f"{path}.containers")
    if spec.get("containers") in (None, []):
        errs.required(f"{path}.containers")
    init = errs.get_maps(spec, "initContainers", f"{path}.initContainers")
    seen_names: set[str] = set()
    for cpath, container in init + containers:
        _container(container, cpath, errs, volumes=volumes, seen_names=seen_names)
        if host_network:
            _host_network_ports(container, cpath, errs)
    _unique_host_ports(init + containers, errs)
    for cpath, container in init:
        for probe in PROBE_FIELDS:
            if probe in container and container.get("restartPolicy") != "Always":
                errs.forbidden(
                    f"{cpath}.{probe}",
                    "may not be set for init containers without restartPolicy=Always",
                )
    _enum(errs, spec, "restartPolicy", f"{path}.restartPolicy", RESTART_POLICIES)
    _enum(errs, spec, "dnsPolicy", f"{path}.dnsPolicy", DNS_POLICIES)
    _string_map_labels(errs, spec, "nodeSelector", f"{path}.nodeSelector")
    node_name = errs.get_str(spec, "nodeName", f"{path}.nodeName")
    for msg in names.dns1123_subdomain(node_name) if node_name else []:
        errs.invalid(f"{path}.nodeName", node_name, msg)
    grace = errs.get_int(
        spec, "terminationGracePeriodSeconds", f"{path}.terminationGracePeriodSeconds"
    )
    errs.nonnegative(f"{path}.terminationGracePeriodSeconds", grace)
    deadline = errs.get_int(spec, "activeDeadlineSeconds", f"{path}.activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errs.invalid(
            f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive"
        )
    _tolerations(spec, f"{path}.tolerations", errs)
    _affinity(spec, f"{path}.affinity", errs)
    return errs


def _enum(errs: Errors, obj: Obj, key: str, path: str, allowed: tuple[str, ...]) -> str:
    value = errs.get_str(obj, key, path)
    if key not in obj:
        return value
    if value == "" and "" not in allowed:
        if isinstance(obj.get(key), str):
            errs.required(path)
    elif value not in allowed:
        errs.not_supported(path, value, [a for a in allowed if a])
    return value


def _string_map_labels(errs: Errors, obj: Obj, key: str, path: str) -> None:
    for k, v in errs.get_map(obj, key, path).items():
        for msg in names.qualified_name(k):
            errs.invalid(path, k, msg)
        if not isinstance(v, str):
            errs.wrong_type(f"{path}[{k}]", v, str)
            continue
        for msg in names.label_value(v):
            errs.invalid(path, v, msg)


def _volumes(spec: Obj, path: str, errs: Errors) -> set[str]:
    seen: set[str] = set()
    for vpath, volume in errs.get_maps(spec, "volumes", f"{path}.volumes"):
        name = errs.get_str(volume, "name", f"{vpath}.name")
        if not name:
            errs.required(f"{vpath}.name")
        else:
            for msg in names.dns1123_label(name):
                errs.invalid(f"{vpath}.name", name, msg)
            if name in seen:
                errs.duplicate(f"{vpath}.name", name)
            seen.add(name)
        sources = [s for s in VOLUME_SOURCES if volume.get(s) is not None]
        if not sources:
            errs.required(vpath, "must specify a volume type")
        for extra in sources[1:]:
            errs.forbidden(f"{vpath}.{extra}", "may not specify more than 1 volume type")
        host_path = errs.get_map(volume, "hostPath", f"{vpath}.hostPath")
        if "hostPath" in volume:
            host_dir = errs.get_str(host_path, "path", f"{vpath}.hostPath.path")
            if not host_dir:
                errs.required(f"{vpath}.hostPath.path")
            elif ".." in host_dir.split("/"):  # kube-apiserver's validatePathNoBacksteps
                errs.invalid(f"{vpath}.hostPath.path", host_dir, "must not contain '..'")
            _enum(errs, host_path, "type", f"{vpath}.hostPath.type", HOST_PATH_TYPES)
        empty_dir = errs.get_map(volume, "emptyDir", f"{vpath}.emptyDir")
        if empty_dir.get("sizeLimit") is not None:
            _quantity(errs, empty_dir["sizeLimit"], f"{vpath}.emptyDir.sizeLimit")
        if sources:
            validate_volume_source({sources[0]: volume[sources[0]]}, vpath, errs)
    return seen


def _quantity(errs: Errors, value: Any, path: str) -> Any:
    """The parsed quantity, or None after reporting it."""
    try:
        parsed = parse_quantity(value)
    except ValueError:
        errs.invalid(
            path,
            value if isinstance(value, str | int | float) else str(value),
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        )
        return None
    if parsed < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")
    return parsed


def _container(
    container: Obj, path: str, errs: Errors, *, volumes: set[str], seen_names: set[str]
) -> None:
    name = errs.get_str(container, "name", f"{path}.name")
    if not name:
        errs.required(f"{path}.name")
    else:
        for msg in names.dns1123_label(name):
            errs.invalid(f"{path}.name", name, msg)
        if name in seen_names:
            errs.duplicate(f"{path}.name", name)
        seen_names.add(name)
    if not errs.get_str(container, "image", f"{path}.image"):
        errs.required(f"{path}.image")
    policy = errs.get_str(container, "imagePullPolicy", f"{path}.imagePullPolicy")
    if policy and policy not in PULL_POLICIES:
        errs.not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES)
    _enum(
        errs,
        container,
        "terminationMessagePolicy",
        f"{path}.terminationMessagePolicy",
        TERMINATION_MESSAGE_POLICIES,
    )
    errs.get_strings(container, "command", f"{path}.command")
    errs.get_strings(container, "args", f"{path}.args")
    _ports(container, path, errs)
    _env(container, path, errs)
    _resources(container, path, errs)
    _volume_mounts(container, path, errs, volumes)
    for probe in PROBE_FIELDS:
        if container.get(probe) is not None:
            _probe(
                errs.get_map(container, probe, f"{path}.{probe}"), f"{path}.{probe}", errs, probe
            )


def _ports(container: Obj, path: str, errs: Errors) -> None:
    seen: set[str] = set()
    for ppath, port in errs.get_maps(container, "ports", f"{path}.ports"):
        name = errs.get_str(port, "name", f"{ppath}.name")
        if name:
            msgs = names.port_name(name)
            for msg in msgs:
                errs.invalid(f"{ppath}.name", name, msg)
            if not msgs and name in seen:
                errs.duplicate(f"{ppath}.name", name)
            seen.add(name)
        container_port = errs.get_int(port, "containerPort", f"{ppath}.containerPort")
        if not container_port:
            if "containerPort" not in port or container_port == 0:
                errs.required(f"{ppath}.containerPort")
        else:
            for msg in names.port_number(container_port):
                errs.invalid(f"{ppath}.containerPort", container_port, msg)
        host_port = errs.get_int(port, "hostPort", f"{ppath}.hostPort")
        if host_port:
            for msg in names.port_number(host_port):
                errs.invalid(f"{ppath}.hostPort", host_port, msg)
        protocol = errs.get_str(port, "protocol", f"{ppath}.protocol")
        if not protocol:
            errs.required(f"{ppath}.protocol")
        elif protocol not in PROTOCOLS:
            errs.not_supported(f"{ppath}.protocol", protocol, PROTOCOLS)


def _host_network_ports(container: Obj, path: str, errs: Errors) -> None:
    for i, port in enumerate(container.get("ports") or []):
        if not isinstance(port, dict):
            continue
        host_port, container_port = port.get("hostPort"), port.get("containerPort")
        if isinstance(host_port, int) and host_port != 0 and host_port != container_port:
            errs.invalid(
                f"{path}.ports[{i}].hostPort",
                host_port,
                "must match `containerPort` when `hostNetwork` is true",
            )


def _unique_host_ports(containers: list[tuple[str, Obj]], errs: Errors) -> None:
    """AccumulateUniqueHostPorts: a hostPort/protocol pair may be used once per pod."""
    seen: set[str] = set()
    for cpath, container in containers:
        for i, port in enumerate(container.get("ports") or []):
            if not isinstance(port, dict) or not isinstance(port.get("hostPort"), int):
                continue
            if port["hostPort"] == 0:
                continue
            key = f"{port['hostPort']}/{port.get('protocol') or 'TCP'}"
            if key in seen:
                errs.duplicate(f"{cpath}.ports[{i}].hostPort", key)
            seen.add(key)


def _env(container: Obj, path: str, errs: Errors) -> None:
    for epath, env in errs.get_maps(container, "env", f"{path}.env"):
        name = errs.get_str(env, "name", f"{epath}.name")
        if not name:
            errs.required(f"{epath}.name")
        for msg in env_name_problems(name) if name else []:
            errs.invalid(f"{epath}.name", name, msg)
        errs.get_str(env, "value", f"{epath}.value")
        value_from(env, epath, errs)
    env_from(container, path, errs)


def _resources(container: Obj, path: str, errs: Errors) -> None:
    rpath = f"{path}.resources"
    resources = errs.get_map(container, "resources", rpath)
    parsed: dict[str, dict[str, Any]] = {}
    for part in ("limits", "requests"):
        parsed[part] = {}
        for name, value in errs.get_map(resources, part, f"{rpath}.{part}").items():
            qpath = f"{rpath}.{part}[{name}]"
            standard = name in STANDARD_RESOURCES or name.startswith("hugepages-")
            if not standard and ("/" not in name or names.qualified_name(name)):
                errs.invalid(qpath, name, "must be a standard resource type or fully qualified")
            parsed[part][name] = _quantity(errs, value, qpath)
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if request is not None and limit is not None and request > limit:
            errs.invalid(
                f"{rpath}.requests[{name}]",
                str(resources["requests"][name]),
                f"must be less than or equal to {name} limit of {resources['limits'][name]}",
            )


def _volume_mounts(container: Obj, path: str, errs: Errors, volumes: set[str]) -> None:
    mount_paths: set[str] = set()
    for mpath, mount in errs.get_maps(container, "volumeMounts", f"{path}.volumeMounts"):
        name = errs.get_str(mount, "name", f"{mpath}.name")
        if not name:
            errs.required(f"{mpath}.name")
        elif name not in volumes:
            errs.not_found(f"{mpath}.name", name)
        mount_path = errs.get_str(mount, "mountPath", f"{mpath}.mountPath")
        if not mount_path:
            errs.required(f"{mpath}.mountPath")
        elif mount_path in mount_paths:
            errs.invalid(f"{mpath}.mountPath", mount_path, "must be unique")
        mount_paths.add(mount_path)
        sub_path = errs.get_str(mount, "subPath", f"{mpath}.subPath")
        if sub_path:
            local_descending_path(sub_path, f"{mpath}.subPath", errs)
        if sub_path and mount.get("subPathExpr"):
            errs.invalid(
                f"{mpath}.subPathExpr",
                mount.get("subPathExpr"),
                "subPathExpr and subPath are mutually exclusive",
            )
        errs.get_bool(mount, "readOnly", f"{mpath}.readOnly")


def _probe(probe: Obj, path: str, errs: Errors, kind: str) -> None:
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        errs.required(path, "must specify a handler type")
    for extra in handlers[1:]:
        errs.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type")
    for count in PROBE_COUNTS:
        errs.nonnegative(f"{path}.{count}", errs.get_int(probe, count, f"{path}.{count}"))
    success = probe.get("successThreshold")
    if kind != "readinessProbe" and isinstance(success, int) and success != 1:
        errs.invalid(f"{path}.successThreshold", success, "must be 1")
    exec_ = errs.get_map(probe, "exec", f"{path}.exec")
    if "exec" in probe and not errs.get_strings(exec_, "command", f"{path}.exec.command"):
        errs.required(f"{path}.exec.command")
    http = errs.get_map(probe, "httpGet", f"{path}.httpGet")
    if "httpGet" in probe:
        if not errs.get_str(http, "path", f"{path}.httpGet.path"):
            errs.required(f"{path}.httpGet.path")
        _port_ref(http, f"{path}.httpGet.port", errs)
        _enum(errs, http, "scheme", f"{path}.httpGet.scheme", URI_SCHEMES)
    tcp = errs.get_map(probe, "tcpSocket", f"{path}.tcpSocket")
    if "tcpSocket" in probe:
        _port_ref(tcp, f"{path}.tcpSocket.port", errs)


def _port_ref(action: Obj, path: str, errs: Errors) -> None:
    """A probe port: a number 1-65535 or a port name (IANA_SVC_NAME)."""
    port = action.get("port")
    if isinstance(port, bool) or port is None:
        errs.required(path)
    elif isinstance(port, int):
        for msg in names.port_number(port):
            errs.invalid(path, port, msg)
    elif isinstance(port, str):
        for msg in names.port_name(port):
            errs.invalid(path, port, msg)
    else:
        errs.wrong_type(path, port, int)


def _tolerations(spec: Obj, path: str, errs: Errors) -> None:
    if spec.get("tolerations") is not None:
        validate_tolerations(spec.get("tolerations"), path, errs)


def _affinity(spec: Obj, path: str, errs: Errors) -> None:
    affinity = errs.get_map(spec, "affinity", path)
    node_affinity = errs.get_map(affinity, "nodeAffinity", f"{path}.nodeAffinity")
    rpath = f"{path}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    if node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") is None:
        return
    required = errs.get_map(node_affinity, "requiredDuringSchedulingIgnoredDuringExecution", rpath)
    validate_node_selector(required, rpath, errs)
