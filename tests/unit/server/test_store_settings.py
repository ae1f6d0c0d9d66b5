"""`--store` and the `--leader-elect-*` flags: parsed to settings, bad values name the flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodeagent.server.settings import SettingsError, build_settings, parse_store


def test_sqlite_is_the_default() -> None:
    assert parse_store("") == ()
    assert parse_store("sqlite") == ()
    assert build_settings(data_dir="/d").etcd_endpoints == ()


def test_etcd_endpoints_become_client_urls() -> None:
    assert parse_store("etcd://127.0.0.1:2379,etcd2:2379,[::1]:2379") == (
        "http://127.0.0.1:2379",
        "http://etcd2:2379",
        "http://[::1]:2379",
    )
    settings = build_settings(data_dir="/d", store="etcd://10.0.0.1:2379")
    assert (settings.etcd_endpoints, settings.store_url) == (
        ("http://10.0.0.1:2379",),
        "etcd://10.0.0.1:2379",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("postgres://x:1", "--store: 'postgres://x:1' is not sqlite or etcd://"),
        ("etcd://nohost", "--store: 'nohost' is not HOST:PORT"),
        ("etcd://:2379", "--store: ':2379' needs a host and a port"),
        ("etcd://a:2379,", "--store: '' is not HOST:PORT"),
    ],
)
def test_bad_store_names_the_flag(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("[", r"\[")):
        build_settings(data_dir="/d", store=value)


def test_leader_election_durations() -> None:
    settings = build_settings(
        data_dir="/d",
        leader_elect_lease_duration="3s",
        leader_elect_renew_deadline="2s",
        leader_elect_retry_period="500ms",
    )
    assert (
        settings.leader_elect_lease_duration,
        settings.leader_elect_renew_deadline,
        settings.leader_elect_retry_period,
    ) == (3.0, 2.0, 0.5)
    defaults = build_settings(data_dir="/d")
    assert (defaults.leader_elect_lease_duration, defaults.leader_elect_retry_period) == (15, 2)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"leader_elect_lease_duration": "10s"}, "--leader-elect-lease-duration: must be greater"),
        ({"leader_elect_retry_period": "9s"}, "--leader-elect-renew-deadline: must be greater"),
        ({"leader_elect_retry_period": "soon"}, "--leader-elect-retry-period: 'soon' is not"),
    ],
)
def test_bad_leader_election_durations_name_the_flag(flags: dict[str, str], message: str) -> None:
    durations = {
        "leader_elect_lease_duration": "15s",
        "leader_elect_renew_deadline": "10s",
        "leader_elect_retry_period": "2s",
        **flags,
    }
    with pytest.raises(SettingsError, match=message):
        build_settings(
            data_dir="/d",
            leader_elect_lease_duration=durations["leader_elect_lease_duration"],
            leader_elect_renew_deadline=durations["leader_elect_renew_deadline"],
            leader_elect_retry_period=durations["leader_elect_retry_period"],
        )


def test_etcd_tls_files_switch_to_https(tmp_path: Path) -> None:
    for name in ("ca.crt", "c.crt", "c.key"):
        (tmp_path / name).write_text("x")
    settings = build_settings(
        data_dir="/d",
        store="etcd://10.0.0.1:2379,10.0.0.2:2379",
        etcd_cafile=str(tmp_path / "ca.crt"),
        etcd_certfile=str(tmp_path / "c.crt"),
        etcd_keyfile=str(tmp_path / "c.key"),
    )
    assert settings.etcd_endpoints == ("https://10.0.0.1:2379", "https://10.0.0.2:2379")
    assert settings.etcd_key_file == tmp_path / "c.key"


def test_bad_etcd_tls_flags_name_the_flag(tmp_path: Path) -> None:
    (tmp_path / "c.crt").write_text("x")
    with pytest.raises(SettingsError, match="--etcd-cafile: only with --store etcd://"):
        build_settings(data_dir="/d", etcd_cafile=str(tmp_path / "c.crt"))
    with pytest.raises(SettingsError, match=r"--etcd-cafile: .*nope: no such file"):
        build_settings(data_dir="/d", store="etcd://a:1", etcd_cafile=str(tmp_path / "nope"))
    with pytest.raises(SettingsError, match="--etcd-certfile: --etcd-certfile and --etcd-keyfile"):
        build_settings(data_dir="/d", store="etcd://a:1", etcd_certfile=str(tmp_path / "c.crt"))
