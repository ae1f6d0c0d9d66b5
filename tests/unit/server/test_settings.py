"""`nodeagent server` flags become ServerSettings; a bad one is named in the error."""

from __future__ import annotations

import pytest

from nodeagent.server.settings import SettingsError, build_settings, parse_duration, parse_listen


def test_defaults() -> None:
    s = build_settings(data_dir="/tmp/x")
    assert (s.listen_host, s.listen_port) == ("127.0.0.1", 6443)
    assert s.node_monitor_grace_seconds == 40.0
    assert not s.insecure_http


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.0.0.0:6443", ("0.0.0.0", 6443)), ("[::1]:443", ("::1", 443)), (":8080", ("", 8080))],
)
def test_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["6443", "host", "h:99999", "[nope]:1"])
def test_bad_listen_names_the_flag(text: str) -> None:
    with pytest.raises(SettingsError, match=r"^--listen: "):
        parse_listen(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("40s", 40.0), ("2m", 120.0), ("1m30s", 90.0), ("500ms", 0.5), ("7", 7.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, flag="--x") == seconds


@pytest.mark.parametrize("text", ["soon", "0s", "-1", "4d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(SettingsError, match=r"^--x: "):
        parse_duration(text, flag="--x")


def test_wildcard_listen_is_reached_on_loopback() -> None:
    assert build_settings(data_dir="/d", listen="0.0.0.0:6443").client_host == "127.0.0.1"
    assert build_settings(data_dir="/d", listen="10.0.0.5:6443").client_host == "10.0.0.5"


def test_pod_gc_quarantine() -> None:
    """--pod-gc-quarantine is a duration; unset leaves the controllers' default."""
    assert build_settings(data_dir="/d").pod_gc_quarantine_seconds is None
    assert build_settings(data_dir="/d", pod_gc_quarantine="2m").pod_gc_quarantine_seconds == 120
    with pytest.raises(SettingsError, match=r"^--pod-gc-quarantine: 'soon'"):
        build_settings(data_dir="/d", pod_gc_quarantine="soon")


def test_cluster_signing_duration() -> None:
    """A year by default (kube-controller-manager's); at least 5 s; the flag named on error."""
    assert build_settings(data_dir="/d").cluster_signing_seconds == 365 * 86400
    assert build_settings(data_dir="/d", cluster_signing_duration="6s").cluster_signing_seconds == 6
    with pytest.raises(SettingsError, match=r"^--cluster-signing-duration: '2s' is shorter"):
        build_settings(data_dir="/d", cluster_signing_duration="2s")


def test_audit_log_flags() -> None:
    """The audit log is DATA_DIR/audit.log unless --audit-log-path says otherwise ('-' is
    standard output, '' none); its size and backups are checked, naming the flag."""
    assert build_settings(data_dir="/d").audit_log_target == "/d/audit.log"
    assert build_settings(data_dir="/d", audit_log_path="-").audit_log_target == "-"
    assert build_settings(data_dir="/d", audit_log_path="").audit_log_target == ""
    s = build_settings(
        data_dir="/d", audit_log_maxsize=5, audit_log_maxbackup=3, audit_log_maxage=7
    )
    assert (s.audit_log_maxsize_mib, s.audit_log_maxbackup, s.audit_log_maxage_days) == (5, 3, 7)


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"audit_log_maxsize": -1}, "--audit-log-maxsize"),
        ({"audit_log_maxbackup": 0}, "--audit-log-maxbackup"),
        ({"audit_log_maxage": -2}, "--audit-log-maxage"),
    ],
)
def test_bad_audit_log_flags_are_named(changes: dict[str, int], flag: str) -> None:
    with pytest.raises(SettingsError, match=f"^{flag}: "):
        build_settings(data_dir="/d", **changes)  # type: ignore[arg-type]
