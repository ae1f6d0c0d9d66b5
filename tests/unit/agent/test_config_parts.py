"""Source merge, settings errors, the checkpoint file and sd_notify datagrams."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from nodeagent.agent.checkpoint import (
    CheckpointCorrupt,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from nodeagent.agent.podconfig import PodConfig
from nodeagent.agent.settings import SettingsError, load_settings
from nodeagent.agent.sources.update import Rejected, SourceName, SourceUpdate
from nodeagent.sdnotify import Notifier

from .helpers import pod


def test_each_update_replaces_its_sources_set() -> None:
    """A SET replaces that source's pods; an empty SET removes them and marks the source seen."""
    cfg = PodConfig()
    assert cfg.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(uid="a", name="x"),)))
    assert set(cfg.desired()) == {"a"}
    assert cfg.apply(SourceUpdate(source=SourceName.FILE, pods=()))
    assert cfg.desired() == {}
    assert cfg.seen == {SourceName.FILE}
    assert not cfg.apply(SourceUpdate(source=SourceName.FILE, pods=()))


def test_name_claimed_by_two_sources_goes_to_the_first() -> None:
    """The second source's pod of the same name is rejected with a message naming both."""
    cfg = PodConfig()
    cfg.apply(SourceUpdate(source=SourceName.FILE, pods=(pod(uid="a", name="x"),)))
    cfg.apply(SourceUpdate(source=SourceName.API, pods=(pod(uid="b", name="x"),)))
    assert set(cfg.desired()) == {"a"}
    [rejected] = cfg.rejected()
    assert "source api conflicts" in rejected.error
    assert "source file" in rejected.error
    cfg.apply(SourceUpdate(source=SourceName.FILE, pods=()))  # the first lets go
    assert set(cfg.desired()) == {"b"}
    assert cfg.rejected() == []


def test_rejected_manifests_are_kept_per_source() -> None:
    """A source's rejected files are listed until that source sends a set without them."""
    cfg = PodConfig()
    bad = Rejected(origin="/m/bad.yaml", error="/m/bad.yaml:3:1: boom")
    cfg.apply(SourceUpdate(source=SourceName.FILE, pods=(), rejected=(bad,)))
    assert cfg.rejected() == [bad]
    cfg.apply(SourceUpdate(source=SourceName.FILE, pods=()))
    assert cfg.rejected() == []


def test_settings_file_and_flag_errors_name_their_place(tmp_path: Path) -> None:
    """Every bad key names the file and key; every bad flag names the flag; all at once."""
    conf = tmp_path / "agent.yaml"
    conf.write_text(
        "nodeName: Bad_Name\nlisten: nope\nevictionHard: {memory.available: lots}\nfoo: 1\n"
        "manifestWatch: inotify\n"
    )
    with pytest.raises(SettingsError) as e:
        load_settings(
            config_file=str(conf), overrides={"taints": ["a=b:Sometimes"], "labels": ["x"]}
        )
    errors = e.value.errors
    assert f"{conf}: nodeName: 'Bad_Name': must be a lowercase RFC 1123 subdomain" in errors
    assert any(x.startswith(f"{conf}: listen:") for x in errors)
    assert any(x.startswith(f"{conf}: evictionHard:") for x in errors)
    assert f"{conf}: foo: unknown setting" in errors
    assert f"{conf}: manifestWatch: 'inotify': expected one of auto, poll" in errors
    assert any(x.startswith("--taint: 'Sometimes'") for x in errors)
    assert any(x.startswith("--label:") for x in errors)


def test_flags_override_the_file(tmp_path: Path) -> None:
    """Flags win over the file; labels and taints parse into API shapes; defaults fill the rest."""
    conf = tmp_path / "agent.yaml"
    conf.write_text(
        "nodeName: a\nlisten: 127.0.0.1:1\nlabels: {zone: one}\n"
        "evictionHard: {memory.available: 1Gi}\n"
    )
    s = load_settings(
        config_file=str(conf),
        overrides={"node_name": "b", "taints": ["dedicated=db:NoSchedule", "gpu:NoExecute"]},
    )
    assert s.node_name == "b"
    assert s.listen_port == 1
    assert s.labels == {"zone": "one"}
    assert s.taints == (
        {"key": "dedicated", "value": "db", "effect": "NoSchedule"},
        {"key": "gpu", "effect": "NoExecute"},
    )
    assert s.eviction_hard["memory.available"] == "1Gi"
    assert s.eviction_hard["nodefs.available"] == "10%"


def test_bad_yaml_config_names_line(tmp_path: Path) -> None:
    """A config file that is not YAML is reported with its line and column."""
    conf = tmp_path / "agent.yaml"
    conf.write_text("nodeName: a\n  listen: [\n")
    with pytest.raises(SettingsError, match=rf"{conf}:\d+:\d+: not valid YAML"):
        load_settings(config_file=str(conf))


def test_checkpoint_round_trip_and_corrupt_set_aside(tmp_path: Path) -> None:
    """Pods saved come back; a corrupt file is renamed .corrupt and reported, not read."""
    assert load_checkpoint(tmp_path) is None
    save_checkpoint(tmp_path, [pod()])
    assert load_checkpoint(tmp_path) == [pod()]
    checkpoint_path(tmp_path).write_text("{half")
    with pytest.raises(CheckpointCorrupt, match="not JSON"):
        load_checkpoint(tmp_path)
    assert not checkpoint_path(tmp_path).exists()
    assert checkpoint_path(tmp_path).with_name(checkpoint_path(tmp_path).name + ".corrupt").exists()


def test_sd_notify_sends_datagrams(tmp_path: Path) -> None:
    """READY, STATUS, WATCHDOG and STOPPING arrive on a real datagram socket."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(2)
        n = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})
        assert n.watchdog_interval == 2.0
        assert n.ready(status="reconciling")
        assert sock.recv(256) == b"READY=1\nSTATUS=reconciling"
        n.watchdog()
        assert sock.recv(256) == b"WATCHDOG=1"
        n.stopping()
        assert sock.recv(256) == b"STOPPING=1"


def test_sd_notify_abstract_socket_and_unset() -> None:
    """`@name` is the abstract namespace; without NOTIFY_SOCKET nothing is sent."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0nodeagent-test-notify")
        sock.settimeout(2)
        assert Notifier.from_env({"NOTIFY_SOCKET": "@nodeagent-test-notify"}).status("hi")
        assert sock.recv(64) == b"STATUS=hi"
    off = Notifier.from_env({})
    assert not off.enabled
    assert not off.ready()
    assert off.watchdog_interval is None


def test_relative_paths_are_made_absolute_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative --state-dir or --manifest-dir is taken from the working directory, a relative
    path in the config file from the file's directory (as kubelet's config file)."""
    monkeypatch.chdir(tmp_path)
    conf = tmp_path / "etc" / "agent.yaml"
    conf.parent.mkdir()
    conf.write_text("manifestDir: manifests\ncaFile: ../ca.crt\n")
    s = load_settings(config_file=str(conf), overrides={"state_dir": "state"})
    assert s.state_dir == str(tmp_path / "state")
    assert s.manifest_dir == str(tmp_path / "etc" / "manifests")
    assert s.ca_file == str(tmp_path / "ca.crt")


def test_several_servers_comma_separated_or_listed(tmp_path: Path) -> None:
    """`server` takes one URL, several comma-separated (the flag) or a YAML list (the file);
    a bad one is named."""
    token = tmp_path / "token"
    token.write_text("x")
    flag = load_settings(
        overrides={"server_url": "https://a:6443/, https://b:6443", "token_file": str(token)}
    )
    assert flag.server_url == "https://a:6443"
    assert flag.server_urls == ("https://a:6443", "https://b:6443")
    conf = tmp_path / "agent.yaml"
    conf.write_text(f"server: [https://a:6443, https://b:6443]\ntokenFile: {token}\n")
    assert load_settings(config_file=str(conf)).server_urls == flag.server_urls
    one = load_settings(overrides={"server_url": "https://a:6443", "token_file": str(token)})
    assert (one.server_url, one.server_urls) == ("https://a:6443", ())
    with pytest.raises(SettingsError) as e:
        load_settings(overrides={"server_url": "https://a:6443,b:6443", "token_file": str(token)})
    assert e.value.errors == ["--server: 'b:6443': expected https://HOST:PORT or http://HOST:PORT"]
