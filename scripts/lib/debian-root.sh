# Sourced by scripts/fresh-root.sh and scripts/nspawn-root.sh (from the repository's top): what
# both need to build a Debian 12 root that reaches the network as this machine does.

# The apt sources this machine uses (NODEAGENT_FRESH_MIRROR overrides), so the root reaches the
# same mirror.
host_apt_sources() {
    if [ -n "${NODEAGENT_FRESH_MIRROR:-}" ]; then
        echo "$NODEAGENT_FRESH_MIRROR"
    elif [ -s /etc/apt/sources.list.d/debian.sources ]; then
        echo /etc/apt/sources.list.d/debian.sources
    elif grep -qs '^deb ' /etc/apt/sources.list; then
        echo /etc/apt/sources.list
    else
        echo http://deb.debian.org/debian
    fi
}

# A clean clone of this repository's HEAD at ROOT/root/nodeagent.
clone_head_into() {  # ROOT REPO
    git clone --quiet --no-local "$2" "$1/root/nodeagent"
    git -C "$1/root/nodeagent" checkout --quiet --detach "$(git rev-parse HEAD)"
}

# pip's settings and the extra CAs (a TLS-inspecting proxy's) of this machine, into ROOT.
copy_pip_settings() {  # ROOT
    [ ! -f /etc/pip.conf ] || cp /etc/pip.conf "$1/etc/pip.conf"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$1/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"
    fi
}
