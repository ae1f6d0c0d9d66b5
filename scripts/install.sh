#!/usr/bin/env bash
# Installs nodeagent on a Debian 12 host (as root): Debian's podman, runc and busybox-static, and
# a virtualenv in /opt/nodeagent/venv with this checkout's package. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${NODEAGENT_PREFIX:-/opt/nodeagent}

debs=(podman runc busybox-static python3-venv)
missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$prefix"
[ -x "$prefix/venv/bin/python" ] || python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q --disable-pip-version-check .
echo "installed: $prefix/venv/bin/nodeagent"
