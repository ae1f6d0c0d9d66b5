#!/usr/bin/env bash
# Boots a fresh Debian 12 root under systemd-nspawn, with systemd 252 as its PID 1, and runs
# docs/operations.md's install and the units' lifecycle there, as on a real host:
#   1. install.sh --role all-in-one: the unit active only after READY=1 (Type=notify), its
#      watchdog armed (WatchdogUSec=30s), the example DaemonSet's pod Running;
#   2. systemctl stop: the pod's containers keep running, no warning logged at stop; start;
#      kill -9 of the main process: restarted by systemd, the containers untouched; install.sh
#      run again: the same containers adopted;
#   3. the server and agent roles instead: the server's status names its address as bound
#      (`serving on 0.0.0.0:6443`), /var/lib/nodeagent/server is 0700, the agent registers and
#      runs the pod;
#   4. `systemctl poweroff` with the pod running: the root must be down in under 30 s (the pod
#      sandbox ends on SIGTERM: no container scope waits out systemd's 90 s stop timeout).
# Not part of the test suite: it needs root, systemd-nspawn (Debian's systemd-container),
# mmdebstrap, a reachable Debian mirror and PyPI, and a host on the unified cgroup hierarchy
# (cgroup v2), whose subtree nspawn delegates writable: on a v1 or hybrid host systemd boots
# and the units start, but runc cannot make a container's cgroup (docs/operations.md).
#
#   bash scripts/nspawn-root.sh                 # the root is removed at the end
#   bash scripts/nspawn-root.sh --keep          # keep it (its path is printed)
#   bash scripts/nspawn-root.sh --reuse ROOT    # boot a kept root again, with a fresh clone
#
# The root uses this machine's apt sources (NODEAGENT_FRESH_MIRROR overrides them), its
# /etc/pip.conf and the CA certificates in /usr/local/share/ca-certificates, as
# scripts/fresh-root.sh does. Output: each step; the root's console is in ROOT.console.log,
# the lifecycle's own log in ROOT/root/lifecycle.log. docs/operations.md ("Under a booted
# systemd") says more.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debian-root.sh
. scripts/lib/debian-root.sh
repo=$(pwd)

keep=0 reuse=""
while [ $# -gt 0 ]; do
    case "$1" in
        --keep) keep=1; shift ;;
        --reuse) reuse=${2:?--reuse needs a kept root}; keep=1; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "nspawn-root.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "nspawn-root.sh: needs root (mmdebstrap, systemd-nspawn)" >&2; exit 2; }

say() { printf '\n==> %s [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { echo "nspawn-root.sh: FAILED: $*" >&2; exit 1; }

missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null || fail "cannot install ${missing[*]} (is a Debian mirror reachable?)"
fi

# On a cgroup v1 or hybrid host nspawn mounts the controller hierarchies read-only inside, and
# runc cannot create a container's cgroup there: systemd boots and the units start, but no pod.
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    echo "nspawn-root.sh: WARNING: /sys/fs/cgroup is not the unified (v2) hierarchy: the units" \
        "will start inside but no container will (read-only cgroup v1 controllers)" >&2
fi

sources=$(host_apt_sources)

if [ -n "$reuse" ]; then
    root=$(cd "$reuse" && pwd)
    [ -x "$root/lib/systemd/systemd" ] || fail "--reuse $reuse: not a root this script made"
else
    root=$(mktemp -d /var/tmp/nodeagent-nspawn-XXXXXX)
fi
nspawn_pid=""
cleanup() {
    [ -z "$nspawn_pid" ] || kill "$nspawn_pid" 2>/dev/null || true
    if [ "$keep" = 1 ]; then
        echo "the root is kept: $root (console: $root.console.log)"
    else
        rm -rf --one-file-system "$root" "$root.console.log"
    fi
}
trap cleanup EXIT

if [ -z "$reuse" ]; then
    say "mmdebstrap bookworm with systemd into $root (sources: $sources)"
    mmdebstrap --quiet --variant=debootstrap --include=systemd-sysv,dbus,ca-certificates \
        bookworm "$root" "$sources"
fi
rm -rf "$root/root/nodeagent" "$root/root/lifecycle.log" "$root/root/lifecycle.result" \
    "$root/root/poweroff-requested"

say "git clone of $repo ($(git rev-parse --short HEAD)) into $root/root/nodeagent"
clone_head_into "$root" "$repo"

# How this machine reaches the network: name resolution, pip's settings, extra CAs.
cp /etc/hosts "$root/etc/"
rm -f "$root/etc/resolv.conf" && cp /etc/resolv.conf "$root/etc/resolv.conf"
copy_pip_settings "$root"
echo nodeagent-nspawn >"$root/etc/hostname"

# The lifecycle runs as a oneshot unit of the booted root, after multi-user.target's basics.
cat >"$root/etc/systemd/system/nodeagent-lifecycle.service" <<'UNIT'
[Unit]
Description=nodeagent units' lifecycle (scripts/nspawn-root.sh)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/bash /root/lifecycle.sh
StandardOutput=append:/root/lifecycle.log
StandardError=append:/root/lifecycle.log
TimeoutStartSec=3600

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../nodeagent-lifecycle.service \
    "$root/etc/systemd/system/multi-user.target.wants/nodeagent-lifecycle.service"

cat >"$root/root/lifecycle.sh" <<'INNER'
set -euo pipefail
cd /root/nodeagent
say() { printf '\n==> %s [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { echo "FAILED: $*"; echo "FAILED: $*" >/root/lifecycle.result; exit 1; }
# any other failure (set -e) is a result too, so the host stops waiting
trap '[ -s /root/lifecycle.result ] || echo "FAILED: exit $? (see lifecycle.log)" >/root/lifecycle.result' EXIT
until_true() {  # seconds, what, command...: poll the command until it succeeds
    local end=$(( $(date +%s) + $1 )) what=$2; shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -le "$end" ] || fail "$what (after the deadline)"
        sleep 1
    done
}
prop() { systemctl show -p "$2" --value "$1"; }
# conditions for until_true: each call reads the unit anew
active() { [ "$(prop "$1" ActiveState)" = active ]; }
restarted_after() { [ "$(prop "$1" NRestarts)" -gt "$2" ]; }
pod_running() { kubectl get pods -l name=daemonset-example --no-headers | grep -q ' 1/1 *Running '; }
containers() { podman ps -q --filter label=io.kubernetes.pod.name | sort; }
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
update-ca-certificates >/dev/null  # the host's extra CAs, copied in after the root was made

say "install.sh --role all-in-one"
bash scripts/install.sh --role all-in-one
until_true 180 "nodeagent-all-in-one active (READY=1)" active nodeagent-all-in-one
[ "$(prop nodeagent-all-in-one WatchdogUSec)" = 30s ] || fail "WatchdogUSec is not 30s"
echo "status: $(prop nodeagent-all-in-one StatusText)"
export KUBECONFIG=/var/lib/nodeagent/admin.kubeconfig
kubectl apply -f manifests/daemonset-example.yaml
until_true 300 "the example pod Running" pod_running
before=$(containers)

say "systemctl stop: the pod's containers keep running, no warning at stop"
since=$(date '+%Y-%m-%d %H:%M:%S')
systemctl stop nodeagent-all-in-one
[ "$(containers)" = "$before" ] || fail "the containers changed at stop"
if journalctl -u nodeagent-all-in-one --since "$since" --no-pager | grep -E '"level": ?"warning"|Unclosed'; then
    echo "WARNING: all-in-one logged a warning at stop (issue 21)"
fi
systemctl start nodeagent-all-in-one
until_true 120 "active again" active nodeagent-all-in-one

say "kill -9: systemd restarts it, the containers untouched"
restarts=$(prop nodeagent-all-in-one NRestarts)
kill -9 "$(prop nodeagent-all-in-one MainPID)"
until_true 60 "restarted after kill -9" restarted_after nodeagent-all-in-one "$restarts"
until_true 120 "active after the restart" active nodeagent-all-in-one
[ "$(containers)" = "$before" ] || fail "the containers changed across kill -9"

say "install.sh --role all-in-one again: the same containers adopted"
bash scripts/install.sh --role all-in-one
until_true 120 "active after a re-install" active nodeagent-all-in-one
until_true 120 "the pod Running after the re-install" pod_running
[ "$(containers)" = "$before" ] || fail "the containers changed across a re-install"

say "the server and agent roles instead of all-in-one"
systemctl disable --now nodeagent-all-in-one
bash scripts/install.sh --role server
until_true 120 "nodeagent-server active (READY=1)" active nodeagent-server
status=$(prop nodeagent-server StatusText)
echo "server status: $status"
[ "$status" = "serving on 0.0.0.0:6443" ] || fail "the server's status text: $status"
[ "$(stat -c %a /var/lib/nodeagent/server)" = 700 ] || fail "/var/lib/nodeagent/server is not 0700"
echo "/var/lib/nodeagent is $(stat -c %a /var/lib/nodeagent), /var/lib/nodeagent/server 700"
until_true 60 "the server's node-token" test -s /var/lib/nodeagent/server/node-token
bash scripts/install.sh --role agent --server https://127.0.0.1:6443 \
    --token-file /var/lib/nodeagent/server/node-token --ca-file /var/lib/nodeagent/server/ca.crt
until_true 180 "nodeagent.service active (READY=1)" active nodeagent
export KUBECONFIG=/var/lib/nodeagent/server/admin.kubeconfig
until_true 180 "the node Ready" sh -c "kubectl get nodes --no-headers | grep -q ' Ready '"
kubectl apply -f manifests/daemonset-example.yaml
until_true 300 "the example pod Running under the agent role" pod_running

say "systemctl poweroff with the pod running"
echo PASS >/root/lifecycle.result
date +%s >/root/poweroff-requested
systemctl poweroff --no-block
INNER

say "booting the root (console: $root.console.log)"
# podman inside needs the keyring and bpf syscalls, every capability and /dev/fuse.
systemd-nspawn --quiet --boot --register=no --keep-unit --directory="$root" --machine=nodeagent-nspawn \
    --capability=all --system-call-filter='@keyring bpf' --bind=/dev/fuse \
    >"$root.console.log" 2>&1 </dev/null &
nspawn_pid=$!

deadline=$(( $(date +%s) + 3600 ))
until [ -s "$root/root/lifecycle.result" ]; do
    if ! kill -0 "$nspawn_pid" 2>/dev/null; then
        tail -30 "$root.console.log"
        fail "systemd-nspawn ended before the lifecycle did (console above)"
    fi
    [ "$(date +%s)" -le "$deadline" ] || fail "no lifecycle result after an hour"
    sleep 2
done
cat "$root/root/lifecycle.log"
grep -qx PASS "$root/root/lifecycle.result" || fail "$(cat "$root/root/lifecycle.result")"

say "waiting for the poweroff"
until [ -s "$root/root/poweroff-requested" ]; do sleep 1; done
set +e
wait "$nspawn_pid"
set -e
nspawn_pid=""
took=$(( $(date +%s) - $(cat "$root/root/poweroff-requested") ))
echo "poweroff took ${took} s"
[ "$took" -lt 30 ] || fail "poweroff took ${took} s (a stop waited out a timeout: see the console)"
say "the units' lifecycle passed under systemd; poweroff in ${took} s"
