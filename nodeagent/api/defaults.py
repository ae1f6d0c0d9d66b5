"""Defaults as the API server applies them (k8s pkg/apis/core/v1 and apps/v1 defaults.go).

Pure: every function returns a new object and never overwrites a field already set.
Fields of the wrong type are left alone for validation to report.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from nodeagent.api import jsontext
from nodeagent.api.bodies import Obj
from nodeagent.api.rbacvalidation import default_binding
from nodeagent.api.resources import BY_KIND

POD_SPEC_DEFAULTS: dict[str, Any] = {
    "restartPolicy": "Always",
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "terminationGracePeriodSeconds": 30,
    "securityContext": {},
}
CONTAINER_DEFAULTS: dict[str, Any] = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}
PROBE_DEFAULTS: dict[str, Any] = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}
HTTP_GET_DEFAULTS: dict[str, Any] = {"path": "/", "scheme": "HTTP"}
# NodeSystemInfo's fields, all serialized even when empty (kubeProxyVersion is "" since 1.31).
NODE_INFO_FIELDS = (
    "machineID",
    "systemUUID",
    "bootID",
    "kernelVersion",
    "osImage",
    "containerRuntimeVersion",
    "kubeletVersion",
    "kubeProxyVersion",
    "operatingSystem",
    "architecture",
)
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
CONTAINER_LISTS = ("initContainers", "containers")
# Volume sources with a defaulted mode (SetDefaults_ConfigMapVolumeSource & co.).
DEFAULT_MODE_SOURCES = ("configMap", "secret", "downwardAPI", "projected")


def _fill(target: Obj, defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        if target.get(key) is None:
            target[key] = jsontext.clone(value)


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def image_pull_policy(image: str) -> str:
    """Always for `:latest` or no tag, IfNotPresent for other tags and digests."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "IfNotPresent" if tag and tag != "latest" else "Always"


def _default_container(container: Obj) -> None:
    _fill(container, CONTAINER_DEFAULTS)
    image = container.get("image")
    if container.get("imagePullPolicy") in (None, "") and isinstance(image, str):
        container["imagePullPolicy"] = image_pull_policy(image)
    for port in _dicts(container.get("ports")):
        _fill(port, {"protocol": "TCP"})
    for probe_name in PROBES:
        probe = container.get(probe_name)
        if isinstance(probe, dict):
            _fill(probe, PROBE_DEFAULTS)
            if isinstance(probe.get("httpGet"), dict):
                _fill(probe["httpGet"], HTTP_GET_DEFAULTS)
    for env in _dicts(container.get("env")):
        field_ref = (
            env.get("valueFrom", {}).get("fieldRef")
            if isinstance(env.get("valueFrom"), dict)
            else None
        )
        if isinstance(field_ref, dict):
            _fill(field_ref, {"apiVersion": "v1"})
        resource_ref = (
            env.get("valueFrom", {}).get("resourceFieldRef")
            if isinstance(env.get("valueFrom"), dict)
            else None
        )
        if isinstance(resource_ref, dict):
            _fill(resource_ref, {"divisor": "0"})  # Go writes a zero Quantity as "0"


def _default_downward_items(source: Any) -> None:
    """A downwardAPI item's fieldRef.apiVersion defaults to v1, its resourceFieldRef's
    divisor is written "0" (SetDefaults_ObjectFieldSelector, a zero Quantity)."""
    for item in _dicts(source.get("items") if isinstance(source, dict) else None):
        if isinstance(item.get("fieldRef"), dict):
            _fill(item["fieldRef"], {"apiVersion": "v1"})
        if isinstance(item.get("resourceFieldRef"), dict):
            _fill(item["resourceFieldRef"], {"divisor": "0"})


def _default_volume(volume: Obj) -> None:
    if len(volume) == 1 and "name" in volume:
        volume["emptyDir"] = {}
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        _fill(host_path, {"type": ""})
    for source in DEFAULT_MODE_SOURCES:
        if isinstance(volume.get(source), dict):
            _fill(volume[source], {"defaultMode": 420})
    _default_downward_items(volume.get("downwardAPI"))
    projected = volume.get("projected")
    for projection in _dicts(projected.get("sources") if isinstance(projected, dict) else None):
        _default_downward_items(projection.get("downwardAPI"))
        if isinstance(projection.get("serviceAccountToken"), dict):
            _fill(projection["serviceAccountToken"], {"expirationSeconds": 3600})


def default_pod_spec(spec: Obj) -> Obj:
    """A defaulted copy of a PodSpec (SetDefaults_PodSpec and the nested types)."""
    out = jsontext.clone(spec)
    _default_pod_spec_in_place(out)
    return out


def _default_pod_spec_in_place(out: Obj) -> None:
    """default_pod_spec on a copy the caller owns already (every write copies a pod once, not
    once per level)."""
    _fill(out, POD_SPEC_DEFAULTS)
    for list_name in CONTAINER_LISTS:
        for container in _dicts(out.get(list_name)):
            _default_container(container)
    for volume in _dicts(out.get("volumes")):
        _default_volume(volume)
    # the v1 conversion: serviceAccount is the deprecated alias of serviceAccountName
    account = out.get("serviceAccountName") or out.get("serviceAccount")
    if isinstance(account, str) and account:
        out["serviceAccountName"] = out["serviceAccount"] = account


def _metadata(obj: Obj) -> None:
    meta = obj.get("metadata")
    if meta is None:
        obj["metadata"] = meta = {}
    kind = obj.get("kind")
    resource = BY_KIND.get(kind) if isinstance(kind, str) else None
    namespaced = resource is not None and resource.namespaced
    if namespaced and isinstance(meta, dict) and not meta.get("namespace"):
        meta["namespace"] = "default"


def default_pod(obj: Obj) -> Obj:
    """A defaulted copy of a Pod: metadata, spec, and requests copied from limits."""
    out = jsontext.clone(obj)
    _metadata(out)
    spec = out.get("spec")
    if isinstance(spec, dict):
        _default_pod_spec_in_place(spec)
        if spec.get("enableServiceLinks") is None:
            spec["enableServiceLinks"] = True
        for list_name in CONTAINER_LISTS:
            for container in _dicts(spec.get(list_name)):
                _requests_from_limits(container)
                if spec.get("hostNetwork") is True:
                    _host_network_ports(container)
    return out


def _requests_from_limits(container: Obj) -> None:
    resources = container.get("resources")
    if not isinstance(resources, dict) or not isinstance(resources.get("limits"), dict):
        return
    if resources.get("requests") is None:
        resources["requests"] = {}
    requests = resources["requests"]
    if isinstance(requests, dict):
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)


def _host_network_ports(container: Obj) -> None:
    """With hostNetwork, a Pod's hostPort defaults to its containerPort (not in templates:
    the DefaultHostNetworkHostPortsInPodTemplates gate is off)."""
    for port in _dicts(container.get("ports")):
        if port.get("hostPort") is None and port.get("containerPort") is not None:
            port["hostPort"] = port["containerPort"]


def _default_pod_template_in_place(template: Obj) -> None:
    if isinstance(template.get("spec"), dict):
        _default_pod_spec_in_place(template["spec"])


def default_daemonset(obj: Obj) -> Obj:
    """A defaulted copy of a DaemonSet (SetDefaults_DaemonSet): RollingUpdate with
    maxUnavailable 1 and maxSurge 0, revisionHistoryLimit 10, the template's pod spec.
    minReadySeconds stays absent (0), as the API server leaves it."""
    out = jsontext.clone(obj)
    _metadata(out)
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    strategy = spec.get("updateStrategy")
    if strategy is None:
        spec["updateStrategy"] = strategy = {}
    if isinstance(strategy, dict):
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
        if strategy["type"] == "RollingUpdate":
            if strategy.get("rollingUpdate") is None:
                strategy["rollingUpdate"] = {}
            if isinstance(strategy["rollingUpdate"], dict):
                _fill(strategy["rollingUpdate"], {"maxUnavailable": 1, "maxSurge": 0})
    _fill(spec, {"revisionHistoryLimit": 10})
    if isinstance(spec.get("template"), dict):
        _default_pod_template_in_place(spec["template"])
    return out


def default_node(obj: Obj) -> Obj:
    """A defaulted copy of a Node: allocatable defaults to capacity; nodeInfo has every field."""
    out = jsontext.clone(obj)
    _metadata(out)
    status = out.get("status")
    status = status if isinstance(status, dict) else {}
    if isinstance(status.get("capacity"), dict) and status.get("allocatable") is None:
        status["allocatable"] = jsontext.clone(status["capacity"])
    if isinstance(status.get("nodeInfo"), dict):
        # Go always writes these (no omitempty): clients such as the Python one require them.
        _fill(status["nodeInfo"], dict.fromkeys(NODE_INFO_FIELDS, ""))
    return out


def default_secret(obj: Obj) -> Obj:
    """A defaulted copy of a Secret: type Opaque, and stringData merged into data (its keys
    win) and dropped, as the v1 -> internal conversion does: stringData is write-only and is
    never stored nor returned. A wrongly typed stringData is left for validation."""
    out = _default_meta_only(obj)
    if not out.get("type"):
        out["type"] = "Opaque"
    plain = out.get("stringData")
    if isinstance(plain, dict) and all(isinstance(v, str) for v in plain.values()):
        data = out.get("data")
        if data is None:
            data = out["data"] = {}
        if isinstance(data, dict):
            for key, value in plain.items():
                data[key] = base64.b64encode(value.encode()).decode()
            del out["stringData"]
    elif plain is None:
        out.pop("stringData", None)
    return out


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def default_namespace(obj: Obj) -> Obj:
    """A defaulted copy of a Namespace: the label `kubernetes.io/metadata.name` is its name, on
    every write (SetDefaults_Namespace), so selectors can pick namespaces by name."""
    out = _default_meta_only(obj)
    meta = out["metadata"]
    name = meta.get("name") if isinstance(meta, dict) else None
    if isinstance(name, str) and name:
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = meta["labels"] = {} if labels is None else labels
        if isinstance(labels, dict):
            labels[NAMESPACE_NAME_LABEL] = name
    return out


def _default_meta_only(obj: Obj) -> Obj:
    out = jsontext.clone(obj)
    _metadata(out)
    return out


def _default_required_struct(field: str, zero: Any) -> Callable[[Obj], Obj]:
    """A field Go always writes (a struct or number without omitempty), so the published
    schema marks it required: an object that lacks it gets Go's zero value."""

    def default(obj: Obj) -> Obj:
        out = _default_meta_only(obj)
        if out.get(field) is None:
            out[field] = jsontext.clone(zero)
        return out

    return default


DEFAULTERS: dict[str, Callable[[Obj], Obj]] = {
    "Pod": default_pod,
    "DaemonSet": default_daemonset,
    "Node": default_node,
    "Secret": default_secret,
    "Namespace": default_namespace,
    "Event": _default_required_struct("involvedObject", {}),
    "ControllerRevision": _default_required_struct("revision", 0),
    "RoleBinding": lambda obj: default_binding(_default_meta_only(obj)),
    "ClusterRoleBinding": lambda obj: default_binding(_default_meta_only(obj)),
}


def default_object(obj: Obj) -> Obj:
    """A defaulted copy of any object, by its kind (unknown kinds: metadata only)."""
    return DEFAULTERS.get(str(obj.get("kind", "")), _default_meta_only)(obj)
