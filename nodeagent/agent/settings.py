"""AgentSettings: the agent's configuration from a YAML file overridden by flags, validated once.

Every error names where it came from: `FILE: field: message` for the config file, `--flag: message`
for a flag. Keys in the file are camelCase (as kubelet's config file); CONFIG_KEYS maps them.
"""

from __future__ import annotations

import os.path
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from nodeagent.api.bodies import Obj
from nodeagent.api.decode import DecodeError, load_yaml
from nodeagent.api.nodelabels import (
    KUBELET_LABEL_NAMESPACES,
    KUBELET_LABELS,
    is_kubelet_label,
    is_kubernetes_label,
)

DEFAULT_EVICTION_HARD: Mapping[str, str] = {
    "memory.available": "100Mi",
    "nodefs.available": "10%",
    "nodefs.inodesFree": "5%",
    "imagefs.available": "15%",
    "pid.available": "10%",
}
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class SettingsError(ValueError):
    """One or more configuration errors; str() has one line per error."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSettings:
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Obj, ...] = ()  # {"key", "value"?, "effect"}
    manifest_dir: str = "/etc/nodeagent/manifests"
    state_dir: str = "/var/lib/nodeagent"
    server_url: str | None = None  # the (first) server
    # every server when several are given (servers on one etcd): the client moves on to the
    # next when one dies (agent/apiclient.py); () when there is one
    server_urls: tuple[str, ...] = ()
    token_file: str | None = None  # holds the fleet's join secret
    ca_file: str | None = None
    runtime_socket: str | None = None
    listen: str = "0.0.0.0:10248"  # plain HTTP: health for all, /pods and /metrics on loopback
    # TLS, for the server's logs/exec/attach proxy at the node's InternalIP (kubelet's 10250)
    serving_listen: str = "0.0.0.0:10250"
    manifest_url: str | None = None
    manifest_url_interval: float = 20.0
    file_check_interval: float = 20.0
    # how the manifest directory is watched: "auto" (inotify, polling when inotify cannot
    # serve) or "poll" (always polling, for a filesystem whose changes inotify does not see)
    manifest_watch: str = "auto"
    # full resync of the containers (kubelet syncFrequency); events and timers drive the rest
    sync_interval: float = 10.0
    eviction_hard: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_EVICTION_HARD))
    pressure_transition_period: float = 300.0
    # kubelet's nodeStatusUpdateFrequency: how often the node facts are measured again
    status_update_interval: float = 10.0
    # an unchanged node status is sent this often; the Lease is the heartbeat (kubelet's)
    node_status_report_frequency: float = 300.0
    lease_interval: float = 10.0
    imagefs_path: str | None = None  # the engine's storage dir; None asks the engine
    log_level: str = "info"

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def serving_host(self) -> str:
        return self.serving_listen.rpartition(":")[0].strip("[]")

    @property
    def serving_port(self) -> int:
        """The configured serving port (0: any free one; the bound one is in AgentState)."""
        return int(self.serving_listen.rpartition(":")[2])

    def join_secret(self) -> str | None:
        """The join secret read from token_file (None when no file is configured)."""
        if self.token_file is None:
            return None
        with open(self.token_file, encoding="utf-8") as f:
            return f.read().strip()


# config-file key -> field name. Rules as data.
CONFIG_KEYS: Mapping[str, str] = {
    "nodeName": "node_name",
    "labels": "labels",
    "taints": "taints",
    "manifestDir": "manifest_dir",
    "stateDir": "state_dir",
    "server": "server_url",
    "tokenFile": "token_file",
    "caFile": "ca_file",
    "runtimeSocket": "runtime_socket",
    "listen": "listen",
    "servingListen": "serving_listen",
    "manifestURL": "manifest_url",
    "manifestURLInterval": "manifest_url_interval",
    "fileCheckInterval": "file_check_interval",
    "manifestWatch": "manifest_watch",
    "syncInterval": "sync_interval",
    "evictionHard": "eviction_hard",
    "pressureTransitionPeriod": "pressure_transition_period",
    "statusUpdateInterval": "status_update_interval",
    "nodeStatusReportFrequency": "node_status_report_frequency",
    "leaseInterval": "lease_interval",
    "imagefsPath": "imagefs_path",
    "logLevel": "log_level",
}
FLAG_OF_FIELD: Mapping[str, str] = {
    "node_name": "--node-name",
    "labels": "--label",
    "taints": "--taint",
    "manifest_dir": "--manifest-dir",
    "state_dir": "--state-dir",
    "server_url": "--server",
    "token_file": "--token-file",
    "ca_file": "--ca-file",
    "runtime_socket": "--runtime-socket",
    "listen": "--listen",
    "serving_listen": "--serving-listen",
    "manifest_url": "--manifest-url",
    "log_level": "--log-level",
}
_FLOAT_FIELDS = {f.name for f in fields(AgentSettings) if f.type == "float"}
_OPTIONAL_STR = {f.name for f in fields(AgentSettings) if f.type == "str | None"}
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_PERCENT = re.compile(r"^[0-9]+(\.[0-9]+)?%$")
_SERVER_URL = re.compile(r"^https?://[^/,\s]+(/[^,\s]*)?$")
_LOG_LEVELS = ("debug", "info", "warning", "error")
MANIFEST_WATCH_MODES = ("auto", "poll")
# Paths made absolute at load: a relative one would follow the process's working directory
# (a container's bind mount needs an absolute source: emptyDir under a relative --state-dir
# failed). As kubelet's config file, relative paths in the file are relative to the file's
# directory; on the command line, to the working directory.
PATH_FIELDS = ("manifest_dir", "state_dir", "token_file", "ca_file", "imagefs_path")


def parse_label(text: str) -> tuple[str, str]:
    """`k=v` -> (k, v); ValueError naming the problem."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r}: expected key=value")
    if not _LABEL_KEY.match(key) or len(key.rpartition("/")[2]) > 63:
        raise ValueError(f"{key!r}: invalid label key")
    if not _LABEL_VALUE.match(value) or len(value) > 63:
        raise ValueError(f"{value!r}: invalid label value")
    return key, value


def check_node_labels(labels: Mapping[str, str]) -> None:
    """kubelet's --node-labels check: a node may not give itself reserved labels outside
    kubelet's set (node-role.kubernetes.io/*, node-restriction.kubernetes.io/*, ...); the
    server's NodeRestriction would refuse its registration. ValueError naming them."""
    unknown = sorted(k for k in labels if is_kubernetes_label(k) and not is_kubelet_label(k))
    if unknown:
        raise ValueError(
            f"unknown 'kubernetes.io' or 'k8s.io' labels: [{' '.join(unknown)}]; labels in the "
            "'kubernetes.io' namespace must begin with an allowed prefix "
            f"({', '.join(sorted(KUBELET_LABEL_NAMESPACES))}) or be in the specifically "
            f"allowed set ({', '.join(sorted(KUBELET_LABELS))}); an admin sets the others "
            "with kubectl label node"
        )


def parse_taint(text: str) -> Obj:
    """`k=v:Effect` or `k:Effect` -> a Taint dict; ValueError naming the problem."""
    head, sep, effect = text.rpartition(":")
    if not sep or not head:
        raise ValueError(f"{text!r}: expected key=value:Effect or key:Effect")
    if effect not in TAINT_EFFECTS:
        raise ValueError(f"{effect!r}: effect must be one of {', '.join(TAINT_EFFECTS)}")
    key, has_value, value = head.partition("=")
    if not _LABEL_KEY.match(key) or (has_value and not _LABEL_VALUE.match(value)):
        raise ValueError(f"{head!r}: invalid taint key or value")
    taint: Obj = {"key": key, "effect": effect}
    if has_value:
        taint["value"] = value
    return taint


def _check_listen(value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: expected HOST:PORT")


def _check_eviction(value: Mapping[str, str]) -> None:
    for signal, threshold in value.items():
        if signal not in DEFAULT_EVICTION_HARD:
            known = ", ".join(DEFAULT_EVICTION_HARD)
            raise ValueError(f"{signal!r}: unknown signal (known: {known})")
        text = str(threshold)
        if not (_QUANTITY.match(text) or _PERCENT.match(text)):
            raise ValueError(f"{signal}: {text!r} is neither a quantity nor a percentage")


def _server_urls(value: Any) -> str:
    """`server`: a URL, several comma-separated, or (in the file) a list of them -> the
    comma-separated form; ValueError naming the bad one."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    urls = [str(u).strip().rstrip("/") for u in items if str(u).strip()]
    if not urls:
        raise ValueError(f"{value!r}: expected https://HOST:PORT (several: comma-separated)")
    for url in urls:
        if not _SERVER_URL.match(url):
            raise ValueError(f"{url!r}: expected https://HOST:PORT or http://HOST:PORT")
    return ",".join(urls)


def _coerce(name: str, value: Any) -> Any:
    """Turn a raw file/flag value into the field's type, or raise ValueError."""
    if name == "server_url" and value is not None:
        return _server_urls(value)
    if name in _FLOAT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{value!r}: expected a positive number of seconds")
        return float(value)
    if name in _OPTIONAL_STR:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{value!r}: expected a string")
        return value or None
    if name == "labels":
        if isinstance(value, list):
            labels = dict(parse_label(str(item)) for item in value)
        elif isinstance(value, dict):
            labels = dict(parse_label(f"{k}={v}") for k, v in value.items())
        else:
            raise ValueError("expected a mapping of label key to value")
        check_node_labels(labels)
        return labels
    if name == "taints":
        if not isinstance(value, list):
            raise ValueError("expected a list of taints")
        return tuple(_coerce_taint(t) for t in value)
    if name == "eviction_hard":
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of signal to threshold")
        _check_eviction(value)
        return {**DEFAULT_EVICTION_HARD, **{k: str(v) for k, v in value.items()}}
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r}: expected a non-empty string")
    if name in ("listen", "serving_listen"):
        _check_listen(value)
    if name == "node_name" and (not _NODE_NAME.match(value) or len(value) > 253):
        raise ValueError(f"{value!r}: must be a lowercase RFC 1123 subdomain")
    if name == "log_level" and value not in _LOG_LEVELS:
        raise ValueError(f"{value!r}: expected one of {', '.join(_LOG_LEVELS)}")
    if name == "manifest_watch" and value not in MANIFEST_WATCH_MODES:
        raise ValueError(f"{value!r}: expected one of {', '.join(MANIFEST_WATCH_MODES)}")
    return value


def _absolute(name: str, value: Any, base: str) -> Any:
    """A path field's value made absolute against `base` (then the working directory)."""
    if name not in PATH_FIELDS or not isinstance(value, str):
        return value
    return os.path.abspath(os.path.join(base, value))


def _coerce_taint(item: Any) -> Obj:
    if isinstance(item, str):
        return parse_taint(item)
    if not isinstance(item, dict) or "key" not in item or "effect" not in item:
        raise ValueError(f"{item!r}: a taint needs key and effect")
    text = f"{item['key']}={item['value']}" if item.get("value") else str(item["key"])
    return parse_taint(f"{text}:{item['effect']}")


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = load_yaml(f.read(), source=path)  # the bounded loader manifests use
    except OSError as e:
        raise SettingsError([f"{path}: cannot read: {e.strerror}"]) from e
    except DecodeError as e:
        where = f"{path}:{e.line}:{e.column}" if e.line else path
        raise SettingsError([f"{where}: not valid YAML: {e.message}"]) from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError([f"{path}: expected a mapping of settings"])
    return data


def load_settings(
    *, config_file: str | None = None, overrides: Mapping[str, Any] | None = None
) -> AgentSettings:
    """Defaults, then the file's keys, then flag overrides (field name -> raw value).

    Raises SettingsError with every problem found, each naming the file and key or the flag.
    """
    errors: list[str] = []
    values: dict[str, Any] = {}
    if config_file is not None:
        for key, raw in _read_file(config_file).items():
            name = CONFIG_KEYS.get(str(key))
            if name is None:
                errors.append(f"{config_file}: {key}: unknown setting")
                continue
            try:
                values[name] = _absolute(name, _coerce(name, raw), os.path.dirname(config_file))
            except ValueError as e:
                errors.append(f"{config_file}: {key}: {e}")
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        try:
            values[name] = _absolute(name, _coerce(name, raw), "")
        except ValueError as e:
            errors.append(f"{FLAG_OF_FIELD.get(name, name)}: {e}")
    if errors:
        raise SettingsError(errors)
    if values.get("server_url"):  # the first one where one URL is wanted, and all of them
        urls = tuple(values["server_url"].split(","))
        values["server_url"], values["server_urls"] = urls[0], urls if len(urls) > 1 else ()
    settings = AgentSettings(**values)
    if settings.server_url and not settings.token_file:
        where = FLAG_OF_FIELD["token_file"] + " (or tokenFile)"
        raise SettingsError([f"{where}: required when a server is configured"])
    return settings


def with_overrides(settings: AgentSettings, **changes: Any) -> AgentSettings:
    """A copy with some fields replaced (tests, all-in-one)."""
    return replace(settings, **changes)
