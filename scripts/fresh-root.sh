#!/usr/bin/env bash
# Runs README.md's two commands as a new user would: in a fresh Debian 12 root (mmdebstrap) with
# a clean clone of this repository's HEAD, nothing else. Inside (its own mount, PID and network
# namespaces, pivot_root, /proc /sys /dev and the cgroups as podman needs them):
#   1. command 1 in the background (install.sh, then all-in-one), README's kubectl lines exactly
#      as printed once the banner is out, then waits for the node Ready and the example pod
#      Running, then stops all-in-one (Ctrl-C) and checks it printed no warning;
#   2. command 2 (`bash scripts/test.sh`), with ARGS for pytest when given.
# Not part of the test suite (it takes a root of ~2 GB and the whole suite's time). Needs root.
#
#   bash scripts/fresh-root.sh                   # both commands; the root is removed at the end
#   bash scripts/fresh-root.sh --no-tests        # command 1 and the kubectl lines only
#   bash scripts/fresh-root.sh --keep [-- ARGS]  # keep the root (its path is printed); ARGS to pytest
#
# The root has a network of its own (slirp4netns: user-mode NAT, nothing on the host changes),
# so its test hosts' links and netns never meet this machine's. It uses this machine's apt
# sources (NODEAGENT_FRESH_MIRROR overrides them), /etc/pip.conf and the CA certificates in
# /usr/local/share/ca-certificates: where apt or PyPI are reached through a mirror or a proxy,
# the root reaches them the same way.
# Output: each step as it runs; the root's logs are in ROOT/root/*.log. docs/operations.md
# ("A fresh machine") says more.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debian-root.sh
. scripts/lib/debian-root.sh
repo=$(pwd)

keep=0 tests=1 test_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --keep) keep=1; shift ;;
        --no-tests) tests=0; shift ;;
        --) shift; test_args=("$@"); break ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fresh-root.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "fresh-root.sh: needs root (mmdebstrap, mounts)" >&2; exit 2; }

say() { printf '\n==> %s [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }

need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v slirp4netns >/dev/null || need+=(slirp4netns)
if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
        >/dev/null
fi

# The apt sources this machine uses, so the root reaches the same mirror.
sources=$(host_apt_sources)

root=$(mktemp -d /var/tmp/nodeagent-fresh-XXXXXX)
netns=$(basename "$root")
slirp=""
cleanup() {
    [ -z "$slirp" ] || { kill "$slirp" 2>/dev/null; wait "$slirp" 2>/dev/null || true; }
    ip netns del "$netns" 2>/dev/null || true
    if [ "$keep" = 1 ]; then
        echo "the root is kept: $root"
    else
        rm -rf --one-file-system "$root"
    fi
}
trap cleanup EXIT

say "mmdebstrap bookworm into $root (sources: $sources)"
mmdebstrap --quiet --variant=debootstrap bookworm "$root" "$sources"

say "git clone of $repo ($(git rev-parse --short HEAD)) into $root/root/nodeagent"
clone_head_into "$root" "$repo"

# How this machine reaches the network: name resolution, pip's settings, extra CAs. A
# nameserver on this machine's loopback is out of the root's reach: slirp4netns's own then.
cp /etc/hosts "$root/etc/hosts"
if grep -qE '^nameserver[[:space:]]+(127\.|::1)' /etc/resolv.conf; then
    echo "nameserver 10.0.2.3" >"$root/etc/resolv.conf"
else
    cp /etc/resolv.conf "$root/etc/resolv.conf"
fi
copy_pip_settings "$root"

# What runs inside, as PID 1 of its own PID namespace: everything it started ends with it.
cat >"$root/root/fresh-inner.sh" <<'INNER'
#!/bin/bash
set -euo pipefail
umount -l /oldroot && rmdir /oldroot
cd /root/nodeagent
say() { printf '\n==> %s [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { echo "FAILED: $*"; exit 1; }
deadline() { end=$(( $(date +%s) + $1 )); }
expired() { [ "$(date +%s)" -gt "$end" ]; }

# README's command 1 and its kubectl lines, read from README.md itself.
command1=$(grep -m1 '^bash scripts/install.sh && ' README.md)
kubectl_lines=$(awk '/^Then, in another shell/ {f=1; next} f && /^```sh/ {b=1; next}
                     b && /^```/ {exit} b {print}' README.md)
[ -n "$command1" ] && [ -n "$kubectl_lines" ] || fail "README.md: command 1 or its kubectl lines not found"

say "command 1 (in the background, output in /root/all-in-one.log): $command1"
setsid bash -c "$command1" >/root/all-in-one.log 2>&1 &
aio=$!
deadline 900
until grep -q '^nodeagent all-in-one is running' /root/all-in-one.log; do
    kill -0 "$aio" 2>/dev/null || { cat /root/all-in-one.log; fail "command 1 ended"; }
    expired && { tail -50 /root/all-in-one.log; fail "no banner after 900 s"; }
    sleep 1
done
grep -v '^{' /root/all-in-one.log | grep -v '^[[:space:]]*$' || true

say "README's kubectl lines, as printed"
while IFS= read -r line; do
    echo "+ $line"
    eval "$line"
done <<<"$kubectl_lines"

say "waiting for the node Ready and the example pod Running"
deadline 180
until [[ "$(kubectl get nodes --no-headers)" == *" Ready "* ]]; do
    expired && fail "the node is not Ready"; sleep 1
done
until [[ "$(kubectl get pods -l name=daemonset-example --no-headers)" =~ \ 1/1\ +Running\  ]]; do
    expired && { kubectl describe pods; fail "the example pod is not Running"; }; sleep 1
done
echo "+ kubectl get daemonset; kubectl get pods -o wide"
kubectl get daemonset; kubectl get pods -o wide

say "stopping all-in-one (SIGINT, as Ctrl-C)"
before=$(wc -c </root/all-in-one.log)
kill -INT -- "-$aio"
set +e; wait "$aio"; rc=$?; set -e
[ "$rc" = 0 ] || { tail -30 /root/all-in-one.log; fail "all-in-one exited $rc"; }
stray=$(tail -c +"$((before + 1))" /root/all-in-one.log | grep -v '^{' || true)
[ -z "$stray" ] || { echo "$stray"; fail "all-in-one printed more than log lines at stop"; }
echo "all-in-one exited 0 and printed nothing but log lines at stop"

if [ "${FRESH_TESTS:-1}" = 1 ]; then
    say "command 2: bash scripts/test.sh $*"
    bash scripts/test.sh "$@" 2>&1 | tee /root/test.log
    say "command 2 ended"
fi
INNER
chmod +x "$root/root/fresh-inner.sh"

# A network namespace of its own, reaching out through slirp4netns (user-mode NAT: no route,
# link or firewall rule of this machine changes): the suite's e2e hosts make links and netns
# that its clean-up of earlier runs would otherwise take for this machine's, and the reverse.
say "a network of its own (netns $netns, slirp4netns)"
ip netns add "$netns"
slirp4netns --configure --mtu=65520 --disable-host-loopback --netns-type=path \
    "/run/netns/$netns" tap0 >"$root/root/slirp4netns.log" 2>&1 &
slirp=$!
# (no `| grep -q` under pipefail: grep leaving early fails the pipeline by SIGPIPE)
tap_up() { [[ "$(ip netns exec "$netns" ip -o -4 addr show tap0 2>/dev/null)" == *inet* ]]; }
for _ in $(seq 300); do
    tap_up && break
    kill -0 "$slirp" 2>/dev/null || break
    sleep 0.1
done
tap_up ||
    { cat "$root/root/slirp4netns.log"; echo "fresh-root.sh: slirp4netns did not come up" >&2; exit 1; }
ip netns exec "$netns" ip link set lo up

# Mount and PID namespaces of their own too; the root becomes / by pivot_root (runc's own
# pivot_root refuses a chroot'ed caller), with /proc, /sys (the cgroups) and /dev beside it.
say "entering the root"
set +e
FRESH_TESTS=$tests nsenter --net="/run/netns/$netns" \
    unshare --mount --pid --fork --kill-child --propagation private \
    bash -euc '
        root=$1; shift
        mount --bind "$root" "$root"
        mount -t proc proc "$root/proc"
        mount -t sysfs sysfs "$root/sys"  # the devices of this network namespace
        mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs -o mode=755 tmpfs "$root/run"
        cd "$root"
        mkdir -p oldroot
        pivot_root . oldroot
        exec chroot . /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            FRESH_TESTS="$FRESH_TESTS" /root/fresh-inner.sh "$@"
    ' fresh-root "$root" "${test_args[@]+"${test_args[@]}"}"
code=$?
set -e
say "the fresh root's run exited $code"
exit "$code"
