#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian 12 machine (as root) and runs it:
# Debian packages (podman, runc, busybox-static, docker-registry, iproute2, etcd, prometheus,
# vagrant, python3-venv, ca-certificates), a virtualenv in .venv with the package and its test and dev
# extras, then pytest. Safe to run again; a .venv left half-made (no pip) is made anew.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -x`.
# pytest runs on NODEAGENT_TEST_WORKERS pytest-xdist workers (2 by default; `-n 0` among the
# arguments runs in this one process), the tests grouped as tests/support/parallel.py says;
# then the host-pressure modules run alone (they take the whole host's memory and PIDs), in a
# second pytest over the same arguments. Either failing fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(podman runc busybox-static docker-registry iproute2 etcd-server prometheus systemd
      vagrant python3-venv ca-certificates stress-ng)
missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# `python3 -m venv` stopped half-way (no ensurepip, a full disk) leaves a .venv without pip:
# make it again rather than fail on .venv/bin/pip.
if [ ! -x .venv/bin/pip ]; then
    rm -rf .venv
    python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test,dev]'
status=0
NODEAGENT_HOST_PRESSURE=skip .venv/bin/python -m pytest -n "${NODEAGENT_TEST_WORKERS:-2}" "$@" \
    || status=$?
NODEAGENT_HOST_PRESSURE=only .venv/bin/python -m pytest -n 0 "$@" || {
    code=$?
    [ "$code" = 5 ] || status=$code  # 5: the arguments chose no host-pressure test
}
[ "$status" = 5 ] && status=0  # the same for the first phase (only host-pressure tests chosen)
exit "$status"
